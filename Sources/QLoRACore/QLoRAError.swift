/// Every error the engine reports to a person: one line that names the file (or option) and the problem.
public struct QLoRAError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        case io, format, unsupported, invalidArgument, shape, numeric, notFound
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// A malformed or unexpected file: "<path>: <problem>".
    public static func format(_ path: String, _ problem: String) -> QLoRAError {
        QLoRAError(.format, "\(path): \(problem)")
    }

    public static func io(_ path: String, _ problem: String) -> QLoRAError {
        QLoRAError(.io, "\(path): \(problem)")
    }

    public static func unsupported(_ path: String, _ problem: String) -> QLoRAError {
        QLoRAError(.unsupported, "\(path): \(problem)")
    }

    public static func invalid(_ problem: String) -> QLoRAError {
        QLoRAError(.invalidArgument, problem)
    }
}
