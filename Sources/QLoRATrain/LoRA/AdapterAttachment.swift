import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel

/// Attaches a PEFT LoRA (or DoRA) adapter to an inference model through its linear hook point (no
/// dropout). DoRA's row norms are computed once: the adapter does not change at inference.
public enum AdapterAttachment {
    public static func attach(_ directory: String, to model: LlamaModel) throws {
        let adapter = try LoRAAdapterWeights.load(from: directory, model: model.config)
        guard let blas = BLAS.shared else { throw QLoRAError(.notFound, "OpenBLAS not found (install libopenblas-dev)") }
        var table = [[String: LoRALinear]](repeating: [:], count: model.config.numHiddenLayers)
        let workspace = KernelWorkspace()
        for m in adapter.orderedModules {
            let ad = LoRALinear(name: m.path, a: m.a, b: m.b, magnitude: m.magnitude,
                                scale: Float(adapter.config.scaling), dropout: 0)
            ad.freezesWeightNorm = true
            table[m.layer][m.linear.moduleName] = ad
        }
        let threads = model.threads
        let layers = model.weights.layers
        model.linearDelta = { layer, name, x, M, y in
            guard let ad = table[layer][name] else { return }
            ad.forward(x, M: M, y, base: layers[layer].linear(named: name), blas: blas, threads: threads,
                       workspace: workspace)
        }
    }
}
