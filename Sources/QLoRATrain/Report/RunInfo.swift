import Foundation
import QLoRACore

/// `OUT/run.json`: what a run was started with, for the people and tools that watch it
/// (`qlora board`, TensorBoard's text tab): the command line, the trainer's options and this
/// trainer's CPU memory plan of the run (the line the board draws RSS against).
public struct RunInfo: Codable, Sendable {
    public static let fileName = "run.json"

    /// `qlora` arguments, as given.
    public var arguments: [String]
    public var options: TrainOptions
    /// `qlora memplan --device cpu` of this run's configuration, in bytes.
    public var memoryPlanBytes: Int?
    /// When this (possibly resumed) process started, Unix seconds.
    public var started: Double

    public init(arguments: [String], options: TrainOptions, memoryPlanBytes: Int?, started: Double = Date().timeIntervalSince1970) {
        self.arguments = arguments
        self.options = options
        self.memoryPlanBytes = memoryPlanBytes
        self.started = started
    }

    enum CodingKeys: String, CodingKey {
        case arguments, options, memoryPlanBytes = "memory_plan_bytes", started
    }

    public func json() throws -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return [UInt8](try enc.encode(self))
    }

    /// Written atomically, outside `WriteFaults`' budget: a watcher's file, not one the run needs.
    public func write(to directory: String) throws {
        do {
            try Data(try json()).write(to: URL(fileURLWithPath: directory + "/" + Self.fileName), options: .atomic)
        } catch {
            throw QLoRAError.io(directory + "/" + Self.fileName, "cannot write: \(error.localizedDescription)")
        }
    }

    public static func read(from directory: String) -> RunInfo? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        return try? JSONDecoder().decode(RunInfo.self, from: data)
    }

    /// The options as TensorBoard's text plugin shows them (markdown: an indented code block).
    public var markdown: String {
        let text = String(decoding: (try? json()) ?? [], as: UTF8.self)
        return "`qlora " + arguments.joined(separator: " ") + "`\n\n"
            + text.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
    }
}
