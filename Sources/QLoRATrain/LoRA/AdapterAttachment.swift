import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel

/// Attaches a PEFT LoRA adapter to an inference model through its linear hook point (no dropout).
public enum AdapterAttachment {
    public static func attach(_ directory: String, to model: LlamaModel) throws {
        let adapter = try LoRAAdapterWeights.load(from: directory, model: model.config)
        guard let blas = BLAS.shared else { throw QLoRAError(.notFound, "OpenBLAS not found (install libopenblas-dev)") }
        var table = [[String: LoRALinear]](repeating: [:], count: model.config.numHiddenLayers)
        for m in adapter.orderedModules {
            table[m.layer][m.linear.moduleName] = LoRALinear(name: m.path, a: m.a, b: m.b,
                                                             scale: Float(adapter.config.scaling), dropout: 0)
        }
        let threads = model.threads
        model.linearDelta = { layer, name, x, M, y in
            table[layer][name]?.forward(x, M: M, y, blas: blas, threads: threads)
        }
    }
}
