import Foundation
import QLoRA

/// A PEFT LoRA adapter: `adapter_config.json`, a NUL, then `adapter_model.safetensors`, read
/// against a small LLaMA config (2 layers, hidden 64) as `qlora` reads an adapter for its base model.
enum PEFTAdapterTarget {
    static let model = try! LlamaConfig(vocabSize: 128, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2,
                                        numAttentionHeads: 4, numKeyValueHeads: 2)

    static func run(_ data: UnsafeRawBufferPointer) {
        let (json, weights) = splitAtFirstNUL(data)
        expectingCleanErrors("peft-adapter") {
            let config = try LoRAConfig.parse(json, path: "adapter_config.json")
            _ = config.scaling
            let file = try SafetensorsFile(file: MappedFile(bytes: weights, path: "adapter_model.safetensors"))
            let adapter = try PEFTLoRAAdapter.read(config: config, weights: file, model: model)
            for (_, m) in adapter.modules {
                precondition(m.a.count == config.r * m.inFeatures && m.b.count == m.outFeatures * config.r,
                             "adapter matrices accepted with the wrong size")
            }
        }
    }
}
