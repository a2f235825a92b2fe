/// A record rendered into token ids, with which of them are learned.
/// Legend: N = the example's length in tokens.
public struct TokenizedExample: Sendable, Equatable {
    public var ids: [Int32]       // (N)
    /// `trained[i]`: token i is predicted with a loss (a response token, or any token when
    /// training on the prompt). The first token is never trained: nothing before it predicts it.
    public var trained: [Bool]    // (N)
    /// The line of the data file the example came from.
    public var line: Int

    public init(ids: [Int32], trained: [Bool], line: Int) {
        precondition(ids.count == trained.count, "one flag per token")
        self.ids = ids
        self.trained = trained
        self.line = line
    }

    /// Tokens that carry a loss.
    public var trainedCount: Int { trained.reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// A piece of a rendered example: prompt text, or response text, or the end-of-sequence token.
public struct ExampleSegment: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case text(String)
        case endOfSequence
    }

    public var content: Content
    /// Part of the response (learned) rather than the prompt.
    public var isResponse: Bool

    public static func prompt(_ text: String) -> ExampleSegment { ExampleSegment(content: .text(text), isResponse: false) }
    public static func response(_ text: String) -> ExampleSegment { ExampleSegment(content: .text(text), isResponse: true) }
    public static let responseEnd = ExampleSegment(content: .endOfSequence, isResponse: true)
}
