import ArgumentParser
import QLoRA

/// The JSONL forms on the command line (`--format`).
enum DataFormatName: String, CaseIterable, ExpressibleByArgument {
    case auto, text, alpaca, chat, template
}

/// Options shared by the commands that read training-style data (`qlora eval --task`, and the
/// trainer): which form the records have and how strictly they are read.
struct DataInputOptions: ParsableArguments {
    @Option(help: "Record form: auto (from the first record's keys), text, alpaca, chat, or template (needs --template).")
    var format: DataFormatName = .auto

    @Option(help: ArgumentHelp("A prompt with {field} placeholders, e.g. \"分类任务:{text},请给出类别标签:\" ({{ and }} are braces).",
                               valueName: "text"))
    var template: String?

    @Option(help: ArgumentHelp("The response for --template: a field name or a {field} template, e.g. {label}.",
                               valueName: "text"))
    var target: String?

    @Flag(help: "Skip malformed lines (counted and reported) instead of stopping at the first.")
    var skipBadLines = false

    @Option(help: "Longest line accepted, in bytes.")
    var maxLineBytes: Int = DataLimits.default.maxLineBytes

    @Option(help: "Most records accepted in one file.")
    var maxRecords: Int = DataLimits.default.maxRecords

    func validate() throws {
        if (template == nil) != (target == nil) { throw QLoRAError.invalid("--template and --target go together") }
        if template != nil && format != .auto && format != .template {
            throw QLoRAError.invalid("--template is for --format template")
        }
        if format == .template && template == nil { throw QLoRAError.invalid("--format template needs --template and --target") }
        guard maxLineBytes >= 1 else { throw QLoRAError.invalid("--max-line-bytes must be ≥ 1") }
        guard maxRecords >= 1 else { throw QLoRAError.invalid("--max-records must be ≥ 1") }
    }

    /// The library's data options for these flags.
    func dataOptions(trainOnPrompt: Bool = false) throws -> DataOptions {
        let form: DataFormat
        if let template, let target {
            form = .template(prompt: try FieldTemplate(template), target: try FieldTemplate.target(target))
        } else {
            switch format {
            case .auto: form = .auto
            case .text: form = .text
            case .alpaca: form = .alpaca
            case .chat: form = .chat
            case .template: throw QLoRAError.invalid("--format template needs --template and --target")
            }
        }
        return DataOptions(format: form, trainOnPrompt: trainOnPrompt, skipBadLines: skipBadLines,
                           limits: DataLimits(maxLineBytes: maxLineBytes, maxRecords: maxRecords))
    }
}
