import Foundation
import QLoRACore

/// The two files of a PEFT adapter directory, `adapter_config.json` and
/// `adapter_model.safetensors`, as every method (LoRA, prompt and prefix tuning) writes and reads
/// them: each written atomically, the config read within the config size limit and only from inside
/// the directory.
enum PEFTFiles {
    static let configFileName = "adapter_config.json"
    static let weightsFileName = "adapter_model.safetensors"

    /// Writes `dir/adapter_model.safetensors` (the tensors `addTensors` adds, with PEFT's
    /// `format: pt` metadata) and then `dir/adapter_config.json` (`configJSON` and a newline),
    /// each atomically; `dir` is created if needed.
    static func write(to dir: String, configJSON: String, addTensors: (inout SafetensorsWriter) -> Void) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw QLoRAError.io(dir, "cannot create the adapter directory")
        }
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt"]
        addTensors(&writer)
        try writer.write(to: dir + "/" + weightsFileName)
        try AtomicOutput.write(configJSON + "\n", to: dir + "/" + configFileName)
    }

    /// `dir/adapter_config.json`'s path and bytes.
    static func readConfig(in dir: String) throws -> (path: String, data: Data) {
        let path = try PEFTLoRAAdapter.fileInside(dir, configFileName)
        guard let data = try MetadataFile.read(path, limit: MetadataFile.configLimit) else {
            throw QLoRAError.io(path, "cannot read")
        }
        return (path, data)
    }

    /// The config's JSON object; anything else is "not a JSON object" (with the parser's reason
    /// when the text is not JSON at all).
    static func configObject(_ data: Data, path: String) throws -> JSONValue {
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch {
            throw QLoRAError.format(path, "not a JSON object (not valid JSON: \(error))")
        }
        guard case .object = value else { throw QLoRAError.format(path, "not a JSON object") }
        return value
    }

    /// An integer config value: an integer, or a float with an integral value (PEFT configs saved
    /// from Python may hold `8.0`); booleans are not numbers here.
    static func integer(_ value: JSONValue) -> Int? {
        switch value {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }
}
