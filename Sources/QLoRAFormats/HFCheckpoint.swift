import Foundation
import QLoRACore

/// A Hugging Face checkpoint directory: `config.json` plus `model.safetensors`, or shards listed in
/// `model.safetensors.index.json`. Shard names must stay inside the directory (no `..`, no absolute
/// paths, no symlinks that lead out).
public final class HFCheckpoint: CheckpointSource {
    public let path: String
    public let config: LlamaConfig
    public let tensorNames: [String]
    /// tensor name → the shard that holds it.
    let shardOf: [String: SafetensorsFile]
    public let shards: [SafetensorsFile]

    /// Files beside the weights that describe the tokenizer and generation defaults.
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "generation_config.json",
                                        "special_tokens_map.json", "chat_template.jinja", "tokenizer.model"]

    /// Refuse a checkpoint with more shards than this (a hostile index could name thousands).
    public static let maxShards = 4096

    public init(directory: String) throws {
        path = directory
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw QLoRAError.io(directory, "not a checkpoint directory")
        }
        let configPath = directory + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw QLoRAError.io(directory, "missing config.json")
        }
        config = try LlamaConfig.load(path: configPath)
        let single = directory + "/model.safetensors"
        let index = directory + "/model.safetensors.index.json"
        var files: [String: SafetensorsFile] = [:]
        var owner: [String: SafetensorsFile] = [:]
        if FileManager.default.fileExists(atPath: index) {
            let map = try Self.readIndex(index)
            for shard in Set(map.values).sorted() {
                let full = try Self.containedPath(shard, in: directory, index: index)
                files[shard] = try SafetensorsFile(path: full)
            }
            for (name, shard) in map {
                guard let f = files[shard], f.tensors[name] != nil else {
                    throw QLoRAError.format(index, "tensor '\(name)' is not in shard '\(shard)'")
                }
                owner[name] = f
            }
        } else if FileManager.default.fileExists(atPath: single) {
            let f = try SafetensorsFile(path: single)
            files["model.safetensors"] = f
            for name in f.names { owner[name] = f }
        } else {
            try PickleRefusal.checkDirectory(directory)
            throw QLoRAError.io(directory, "no model.safetensors or model.safetensors.index.json")
        }
        shardOf = owner
        shards = files.keys.sorted().map { files[$0]! }
        tensorNames = owner.keys.sorted(by: Self.naturalOrder)
    }

    static func readIndex(_ index: String) throws -> [String: String] {
        guard let data = try MetadataFile.read(index, limit: MetadataFile.indexLimit) else {
            throw QLoRAError.io(index, "cannot read")
        }
        return try parseIndex(data, path: index)
    }

    /// The `weight_map` (tensor name → shard file name) of `model.safetensors.index.json` text;
    /// `index` names the file in errors. Shard names are not checked here (see `containedPath`).
    public static func parseIndex(_ data: Data, path index: String) throws -> [String: String] {
        let obj: JSONValue
        do { obj = try JSONValue.parse(data) } catch {
            throw QLoRAError.format(index, "not a JSON object (not valid JSON: \(error))")
        }
        guard case .object = obj else { throw QLoRAError.format(index, "not a JSON object") }
        guard let map = obj["weight_map"]?.members else {
            throw QLoRAError.format(index, "missing weight_map")
        }
        var out: [String: String] = [:]
        for (k, v) in map {
            guard let s = v.string else { throw QLoRAError.format(index, "weight_map['\(k)'] is not a file name") }
            out[k] = s
        }
        guard Set(out.values).count <= maxShards else {
            throw QLoRAError.format(index, "more than \(maxShards) shards")
        }
        return out
    }

    /// `directory/name`, refusing names that escape the directory (directly or through a symlink).
    public static func containedPath(_ name: String, in directory: String, index: String) throws -> String {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.split(separator: "/").contains(".."), !name.contains("\0") else {
            throw QLoRAError.format(index, "shard name '\(name)' escapes the checkpoint directory")
        }
        let full = directory + "/" + name
        let real = URL(fileURLWithPath: full).resolvingSymlinksInPath().path
        let root = URL(fileURLWithPath: directory).resolvingSymlinksInPath().path
        guard real.hasPrefix(root + "/") else {
            throw QLoRAError.format(index, "shard '\(name)' resolves outside the checkpoint directory")
        }
        return full
    }

    /// Orders `model.layers.10` after `model.layers.9`.
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: [.numeric]) == .orderedAscending
    }

    func info(_ name: String) throws -> (SafetensorsFile, TensorInfo) {
        guard let f = shardOf[name] else { throw QLoRAError(.notFound, "\(path): no tensor named '\(name)'") }
        return (f, try f.info(name))
    }

    public func shape(of name: String) throws -> [Int] { try info(name).1.shape }
    public func storedBytes(of name: String) throws -> Int { try info(name).1.byteCount }
    public func dtypeName(of name: String) throws -> String { try info(name).1.dtype.torchName }

    public func floats(_ name: String) throws -> [Float] {
        let (f, t) = try info(name)
        guard t.dtype.isFloatingPoint else {
            throw QLoRAError.unsupported(f.path, "tensor '\(name)' has non-float dtype \(t.dtype.rawValue)")
        }
        return try f.floats(name)
    }

    public func safetensors(for name: String) throws -> SafetensorsFile { try info(name).0 }

    public var concurrentReads: Bool { true }

    public func raw(_ name: String) throws -> (dtype: TensorDType, bytes: UnsafeRawBufferPointer)? {
        let (f, t) = try info(name)
        return (t.dtype, try f.raw(name))
    }

    public func release(_ name: String) { shardOf[name]?.dropPages(name) }
}
