import QLoRA

/// A JSONL training data file. The first byte picks the form the reader is told to expect (auto,
/// text, instruction/input/output, chat messages, or a `{prompt}`/`{completion}` template) and
/// whether bad lines are skipped; the rest is the file.
enum JSONLTarget {
    static let template = DataFormat.template(prompt: try! FieldTemplate("{prompt}", option: "--template"),
                                              target: try! FieldTemplate("{completion}", option: "--target"))
    static let formats: [DataFormat] = [.auto, .text, .alpaca, .chat, template]

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let selector = data.first else { return }
        let format = formats[Int(selector & 0x7) % formats.count]
        let skip = selector & 0x8 != 0
        expectingCleanErrors("jsonl") {
            let file = try JSONLReader.read(file: MappedFile(bytes: data.dropFirst(), path: "fuzz.jsonl"),
                                            format: format, skipBadLines: skip)
            precondition(!file.records.isEmpty, "a data file was accepted with no records")
        }
    }
}
