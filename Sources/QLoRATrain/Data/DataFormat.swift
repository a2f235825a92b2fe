/// Which JSONL form a data file holds.
public enum DataFormat: Sendable, Equatable {
    /// Decided by the first record's keys: `messages` → chat, `instruction` → Alpaca,
    /// `text` → text. Every later record must have the same form.
    case auto
    case text
    case alpaca
    case chat
    /// Records of arbitrary fields, rendered by `prompt` (a `{field}` template) with `target` as
    /// the response, e.g. prompt `"分类任务:{text},请给出类别标签:"` and target `"{label}"`.
    case template(prompt: FieldTemplate, target: FieldTemplate)

    /// The name used in messages and on the command line.
    public var name: String {
        switch self {
        case .auto: return "auto"
        case .text: return "text"
        case .alpaca: return "alpaca"
        case .chat: return "chat"
        case .template: return "template"
        }
    }

    /// The form of a record with these top-level keys, or nil when none fits.
    static func detect(keys: Set<String>) -> DataFormat? {
        if keys.contains("messages") { return .chat }
        if keys.contains("instruction") { return .alpaca }
        if keys.contains("text") { return .text }
        return nil
    }
}
