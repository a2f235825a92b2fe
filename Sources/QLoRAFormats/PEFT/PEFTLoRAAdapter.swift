import Foundation
import QLoRACore

/// One adapted linear's LoRA matrices, Float32 row-major.
public struct LoRAModuleWeights: Equatable, Sendable {
    public var inFeatures: Int
    public var outFeatures: Int
    /// A, (r, in).
    public var a: [Float]
    /// B, (out, r).
    public var b: [Float]
    /// DoRA's magnitude m, (out); nil for plain LoRA.
    public var magnitude: [Float]?

    public init(inFeatures: Int, outFeatures: Int, a: [Float], b: [Float], magnitude: [Float]? = nil) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.a = a
        self.b = b
        self.magnitude = magnitude
    }
}

/// A LoRA adapter in PEFT's on-disk form: a directory holding `adapter_config.json` and
/// `adapter_model.safetensors`, whose keys are `base_model.model.<module path>.lora_A.weight`
/// (r, in) and `….lora_B.weight` (out, r), as `PeftModel.save_pretrained` writes them; with
/// `use_dora` also `….lora_magnitude_vector` (out).
public struct PEFTLoRAAdapter: Equatable, Sendable {
    public static let weightsFileName = PEFTFiles.weightsFileName

    public var config: LoRAConfig
    /// Keyed by Hugging Face module path (`model.layers.3.mlp.up_proj`).
    public var modules: [String: LoRAModuleWeights]

    public init(config: LoRAConfig, modules: [String: LoRAModuleWeights]) {
        self.config = config
        self.modules = modules
    }

    /// Writes both files into `dir` (created if needed), each atomically.
    public func write(to dir: String) throws {
        try PEFTFiles.write(to: dir, configJSON: config.json()) { writer in
            for path in modules.keys.sorted() {
                let m = modules[path]!
                precondition(m.a.count == config.r * m.inFeatures && m.b.count == m.outFeatures * config.r,
                             "\(path): LoRA matrices do not match r = \(config.r)")
                writer.add(PEFTKeys.loraA(path), shape: [config.r, m.inFeatures], floats: m.a)
                writer.add(PEFTKeys.loraB(path), shape: [m.outFeatures, config.r], floats: m.b)
                precondition((m.magnitude != nil) == config.useDoRA, "\(path): DoRA magnitude and use_dora disagree")
                if let mag = m.magnitude {
                    precondition(mag.count == m.outFeatures, "\(path): DoRA magnitude does not match out features")
                    writer.add(PEFTKeys.magnitude(path), shape: [m.outFeatures], floats: mag)
                }
            }
        }
    }

    /// Reads the adapter in `dir` and checks it against the base model `model`: every tensor must
    /// be a LoRA A or B (or, with `use_dora`, a magnitude) of one of its layers' seven linears, with
    /// every part present, of the model's dimensions and the config's rank, and a module the config
    /// targets.
    public static func read(from dir: String, model: LlamaConfig) throws -> PEFTLoRAAdapter {
        let (configPath, data) = try PEFTFiles.readConfig(in: dir)
        let weightsPath = try fileInside(dir, weightsFileName)
        let config = try LoRAConfig.parse(data, path: configPath)
        return try read(config: config, weights: SafetensorsFile(path: weightsPath), model: model)
    }

    /// The adapter whose `adapter_config.json` is `config` and whose `adapter_model.safetensors`
    /// is `file` (read from disk or from bytes), checked against `model` as `read(from:model:)` says.
    public static func read(config: LoRAConfig, weights file: SafetensorsFile, model: LlamaConfig) throws -> PEFTLoRAAdapter {
        let weightsPath = file.path
        var a: [String: [Float]] = [:], b: [String: [Float]] = [:], mag: [String: [Float]] = [:]
        for name in file.names {
            let info = try file.info(name)
            guard let (path, matrix) = PEFTKeys.parse(name), let (layer, linear) = LlamaLinear.parse(modulePath: path) else {
                throw QLoRAError.format(weightsPath, "unexpected tensor '\(name)' (expected base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_A|lora_B.weight)")
            }
            guard LlamaLinear.modules(of: model).contains(linear) else {
                throw QLoRAError.format(weightsPath, "tensor '\(name)' is for \(linear.moduleName), which this model does not have (its linears: \(LlamaLinear.modules(of: model).map(\.moduleName).joined(separator: ", ")))")
            }
            if matrix == "m" && !config.useDoRA {
                throw QLoRAError.format(weightsPath, "tensor '\(name)' is a DoRA magnitude but adapter_config.json has use_dora false")
            }
            guard layer < model.numHiddenLayers else {
                throw QLoRAError.format(weightsPath, "tensor '\(name)' is for layer \(layer); the model has \(model.numHiddenLayers) layers")
            }
            guard config.targets(modulePath: path) else {
                throw QLoRAError.format(weightsPath, "tensor '\(name)' is for a module target_modules does not name")
            }
            let (inF, outF) = linear.features(model)
            let expected = matrix == "A" ? [config.r, inF] : matrix == "B" ? [outF, config.r] : [outF]
            guard info.shape == expected else {
                throw QLoRAError.format(weightsPath, "tensor '\(name)' has shape \(info.shape), expected \(expected) (r = \(config.r))")
            }
            guard [.f32, .f16, .bf16].contains(info.dtype) else {
                throw QLoRAError.unsupported(weightsPath, "tensor '\(name)' is \(info.dtype.rawValue); LoRA weights must be F32, F16 or BF16")
            }
            switch matrix {
            case "A": a[path] = try file.floats(name)
            case "B": b[path] = try file.floats(name)
            default: mag[path] = try file.floats(name)
            }
        }
        guard !a.isEmpty || !b.isEmpty else { throw QLoRAError.format(weightsPath, "no LoRA tensors") }
        var modules: [String: LoRAModuleWeights] = [:]
        for path in Set(a.keys).union(b.keys).union(mag.keys).sorted() {
            guard let ma = a[path], let mb = b[path] else {
                let has = a[path] != nil ? "lora_A" : b[path] != nil ? "lora_B" : "lora_magnitude_vector"
                throw QLoRAError.format(weightsPath, "module '\(path)' has \(has) but no lora_\(a[path] == nil ? "A" : "B")")
            }
            if config.useDoRA && mag[path] == nil {
                throw QLoRAError.format(weightsPath, "module '\(path)' has no lora_magnitude_vector (use_dora is true)")
            }
            let (inF, outF) = LlamaLinear.parse(modulePath: path)!.linear.features(model)
            modules[path] = LoRAModuleWeights(inFeatures: inF, outFeatures: outF, a: ma, b: mb, magnitude: mag[path])
        }
        return PEFTLoRAAdapter(config: config, modules: modules)
    }

    /// `dir/name`, refusing a name whose real location (after symlinks) is outside `dir`.
    static func fileInside(_ dir: String, _ name: String) throws -> String {
        let path = dir + "/" + name
        guard let realDir = realPath(dir) else { throw QLoRAError.io(dir, "no such adapter directory") }
        guard FileManager.default.fileExists(atPath: path) else {
            if name == weightsFileName, FileManager.default.fileExists(atPath: dir + "/adapter_model.bin") {
                throw QLoRAError.unsupported(dir + "/adapter_model.bin", "PyTorch pickle adapters are not read; save it with safe_serialization=True")
            }
            throw QLoRAError.io(path, "missing")
        }
        guard let real = realPath(path), real.hasPrefix(realDir.hasSuffix("/") ? realDir : realDir + "/") else {
            throw QLoRAError.format(path, "resolves outside the adapter directory")
        }
        return path
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
