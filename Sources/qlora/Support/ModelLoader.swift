import ArgumentParser
import Foundation
import QLoRA

/// How the base model's linears are held: NF4 (QLoRA) or dense Float32 (the unquantized reference).
enum BaseWeights: String, ExpressibleByArgument, CaseIterable {
    case nf4, f32
}

/// Options shared by the commands that run a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A directory written by `qlora quantize`, an HF checkpoint directory, or a .gguf file.")
    var model: String

    @Option(help: "Base linears: nf4 (quantized on load unless already) or f32 (unquantized reference).")
    var base: BaseWeights = .nf4

    @Option(help: "Worker threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "An adapter directory in PEFT's format (adapter_config.json + adapter_model.safetensors): LoRA, prompt tuning or prefix tuning.")
    var adapter: String?

    @Option(name: .customLong("compute-dtype"),
            help: "Arithmetic of the frozen base's products: f32 (reference), bf16 (bf16 operands, Float32 accumulation; vdpbf16ps on AVX512-BF16), or auto (bf16 where this CPU's bf16 dot product is faster).")
    var computeDType: ComputeDType = .f32

    /// The training and merging commands call this first: int8 is for inference only.
    func refuseInt8() throws {
        if computeDType == .int8 { throw QLoRAError.invalid(ComputeDType.int8TrainingRefusal) }
    }

    /// `--compute-dtype` with `auto` resolved; prints what `auto` chose (stderr) once.
    var resolvedComputeDType: ComputeDType { ComputeDTypeReport.resolve(computeDType) }

    func validate() throws {
        guard (1...256).contains(threads) else { throw QLoRAError.invalid("--threads must be in 1…256") }
    }
}

/// A model and its tokenizer, loaded from what the user named.
struct LoadedModel {
    let model: LlamaModel
    let tokenizer: Tokenizer
    let seconds: Double
    /// Resident bytes the tokenizer added when it loaded.
    let tokenizerBytes: Int

    static func load(_ o: ModelOptions) throws -> LoadedModel {
        let t0 = Date()
        let path = o.model
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw QLoRAError.io(path, "no such file or directory")
        }
        // The architecture first, so an unsupported model is named before anything else is read.
        if isDir.boolValue {
            _ = try LlamaConfig.load(path: path + "/config.json")
            try PickleRefusal.checkDirectory(path)
        } else if path.hasSuffix(".gguf") {
            _ = try LlamaConfig(gguf: GGUFFile(path: path))
        } else {
            try PickleRefusal.checkFile(path)
        }
        let beforeTokenizer = ProcessMemory.residentBytes
        // The tokenizer first: its JSON parse has a transient peak that should not stack on the weights.
        let tokenizer = try Tokenizer(model: path)
        let afterTokenizer = ProcessMemory.residentBytes
        let weights: LlamaWeights
        if isDir.boolValue {
            let isQuantized = (try? String(contentsOfFile: path + "/config.json", encoding: .utf8))?
                .contains("\"quantization_config\"") ?? false
            if isQuantized {
                guard o.base == .nf4 else {
                    throw QLoRAError.invalid("\(path) is a 4-bit checkpoint; --base f32 needs an unquantized one")
                }
                weights = try LlamaWeights.loadQuantized(directory: path)
            } else {
                weights = try LlamaWeights.load(from: HFCheckpoint(directory: path), linears: o.base.storage,
                                                embeddings: o.base == .f32 ? .f32 : .bf16, threads: o.threads)
            }
        } else if path.hasSuffix(".gguf") {
            weights = try LlamaWeights.load(from: GGUFCheckpoint(path: path), linears: o.base.storage,
                                            embeddings: o.base == .f32 ? .f32 : .bf16, threads: o.threads)
        } else {
            throw QLoRAError.unsupported(path, "not a checkpoint directory or a .gguf file")
        }
        guard tokenizer.vocabularySize <= weights.config.vocabSize else {
            throw QLoRAError.format(path, "tokenizer has \(tokenizer.vocabularySize) tokens, the model only \(weights.config.vocabSize)")
        }
        weights.computeDType = o.resolvedComputeDType
        let model = try LlamaModel(weights: weights, threads: o.threads)
        if let dir = o.adapter { try AdapterRegistry.attach(dir, to: model) }
        return LoadedModel(model: model, tokenizer: tokenizer, seconds: Date().timeIntervalSince(t0),
                           tokenizerBytes: afterTokenizer - beforeTokenizer)
    }
}

extension BaseWeights {
    var storage: LlamaWeights.LinearStorage { self == .nf4 ? .qlora : .float32 }
}
