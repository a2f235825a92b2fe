import Foundation
import QLoRACore
import QLoRATokenizer

/// The questions of a task: its evaluation file rendered as training renders it.
public enum TaskSet {
    /// The evaluation file of a task: `DIR/eval.jsonl` for a directory (such as `datasets/`), or the
    /// file itself.
    public static func evaluationFile(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw QLoRAError.io(path, "no such file or directory")
        }
        guard isDirectory.boolValue else { return path }
        let file = (path as NSString).appendingPathComponent("eval.jsonl")
        guard FileManager.default.fileExists(atPath: file) else {
            throw QLoRAError.io(path, "a task directory needs an eval.jsonl")
        }
        return file
    }

    /// Reads and renders the first `limit` questions (all when nil) of a task file or directory.
    public static func load(_ path: String, tokenizer: Tokenizer, options: DataOptions = DataOptions(),
                            limit: Int? = nil) throws -> (examples: [TaskExample], file: DataFile) {
        let file = try JSONLReader.read(evaluationFile(path), format: options.format, limits: options.limits,
                                        skipBadLines: options.skipBadLines)
        let renderer = try ExampleRenderer(tokenizer: tokenizer, format: file.format, trainOnPrompt: false)
        let records = limit.map { Array(file.records.prefix($0)) } ?? file.records
        let examples = try records.map { r -> TaskExample in
            do { return try renderer.taskExample(r) } catch let error as QLoRAError {
                throw QLoRAError.format(file.path, "line \(r.line): \(error.message)")
            }
        }
        return (examples, file)
    }
}
