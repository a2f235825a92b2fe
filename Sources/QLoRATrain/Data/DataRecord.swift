import QLoRATokenizer

/// One training record as read from a JSONL line, before it is rendered into tokens.
public enum DataRecord: Sendable, Equatable {
    /// `{"text": …}`: plain text; every token is a response token.
    case text(String)
    /// Alpaca `{"instruction", "input", "output"}` (`input` may be empty or absent); the response
    /// is `output`.
    case alpaca(instruction: String, input: String, output: String)
    /// `{"messages": [{"role", "content"}, …]}`, rendered with the model's chat template; the
    /// responses are the assistant turns.
    case chat([ChatMessage])
    /// The fields a `--template` prompt and its target name, as text.
    case fields([String: String])
}

/// A record and the 1-based line of the file it came from (for error messages).
public struct LineRecord: Sendable, Equatable {
    public var record: DataRecord
    public var line: Int

    public init(_ record: DataRecord, line: Int) {
        self.record = record
        self.line = line
    }
}
