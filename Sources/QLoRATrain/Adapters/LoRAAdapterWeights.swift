import Foundation
import QLoRACore
import QLoRAFormats

/// The trainable matrices of a LoRA adapter: for each adapted linear of the base model, A (r, in)
/// and B (out, r) as `Parameter`s named with PEFT's keys, so the optimizer, checkpoints and the
/// adapter file all speak of the same tensors.
///
/// The adapted linear computes y = W·x + scaling · B·(A·dropout(x)), scaling = alpha/r (alpha/√r
/// with rsLoRA) — `config.scaling`. With DoRA (`config.useDoRA`) each module also trains a magnitude
/// m (out): y = m ⊙ (W + s·B·A)·x / ‖W + s·B·A‖_row (see `LoRALinear+DoRA.swift`).
public final class LoRAAdapterWeights {
    /// One adapted linear.
    public struct Module {
        /// Hugging Face module path, `model.layers.3.mlp.up_proj`.
        public let path: String
        public let layer: Int
        public let linear: LlamaLinear
        /// A, (r, in).
        public let a: Parameter
        /// B, (out, r).
        public let b: Parameter
        /// DoRA's magnitude m, (out); nil for plain LoRA.
        public let magnitude: Parameter?
    }

    public let config: LoRAConfig
    /// By module path.
    public let modules: [String: Module]
    /// In model order: layer by layer, q, k, v, o, gate, up, down within a layer (Phi-3: qkv, o, gate_up, down).
    public let orderedModules: [Module]

    /// Every parameter, A, B (and DoRA's m) per module, in model order (the optimizer's order).
    public var parameters: [Parameter] { orderedModules.flatMap { [$0.a, $0.b] + ($0.magnitude.map { [$0] } ?? []) } }

    /// The module adapting `linear` of `layer`, if it is a target.
    public func module(layer: Int, _ linear: LlamaLinear) -> Module? {
        orderedModules.first { $0.layer == layer && $0.linear == linear }
    }

    /// A new adapter on every linear of `model` that `config` targets, initialized as PEFT does:
    /// A ~ Kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in), drawn from `rng` module by module
    /// in model order, row-major; B = 0, so the adapter starts as the identity. DoRA's magnitudes
    /// start at zero here: `LoRALlama` sets them to ‖W‖_row from the base weights (PEFT's init).
    public convenience init(config: LoRAConfig, model: LlamaConfig, rng: inout SeededRNG) throws {
        var found: [Module] = []
        for layer in 0..<model.numHiddenLayers {
            for linear in LlamaLinear.modules(of: model)
            where config.targets(modulePath: linear.modulePath(layer: layer, prefix: model.modulePrefix)) {
                let (inF, outF) = linear.features(model)
                let path = linear.modulePath(layer: layer, prefix: model.modulePrefix)
                let a = Parameter(name: PEFTKeys.loraA(path), shape: [config.r, inF])
                let bound = 1 / Float(inF).squareRoot()
                for i in 0..<a.count { a.value[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
                let b = Parameter(name: PEFTKeys.loraB(path), shape: [outF, config.r])
                let m = config.useDoRA ? Parameter(name: PEFTKeys.magnitude(path), shape: [outF]) : nil
                found.append(Module(path: path, layer: layer, linear: linear, a: a, b: b, magnitude: m))
            }
        }
        guard !found.isEmpty else { throw QLoRAError.invalid("LoRA targets match no linear layer of the model") }
        self.init(config: config, ordered: found)
    }

    /// The adapter read from PEFT files (already validated against the model).
    public convenience init(_ adapter: PEFTLoRAAdapter) {
        let ordered = adapter.modules.keys.compactMap { path -> Module? in
            guard let (layer, linear) = LlamaLinear.parse(modulePath: path) else { return nil }
            let m = adapter.modules[path]!
            let r = adapter.config.r
            return Module(path: path, layer: layer, linear: linear,
                          a: Parameter(name: PEFTKeys.loraA(path), shape: [r, m.inFeatures], values: m.a),
                          b: Parameter(name: PEFTKeys.loraB(path), shape: [m.outFeatures, r], values: m.b),
                          magnitude: m.magnitude.map {
                              Parameter(name: PEFTKeys.magnitude(path), shape: [m.outFeatures], values: $0)
                          })
        }.sorted { ($0.layer, $0.linear) < ($1.layer, $1.linear) }
        self.init(config: adapter.config, ordered: ordered)
    }

    private init(config: LoRAConfig, ordered: [Module]) {
        self.config = config
        orderedModules = ordered
        modules = Dictionary(uniqueKeysWithValues: ordered.map { ($0.path, $0) })
    }

    /// The adapter's current values in PEFT's form (a copy).
    public func peftAdapter() -> PEFTLoRAAdapter {
        var out: [String: LoRAModuleWeights] = [:]
        for m in orderedModules {
            out[m.path] = LoRAModuleWeights(inFeatures: m.a.shape[1], outFeatures: m.b.shape[0], a: m.a.values, b: m.b.values,
                                            magnitude: m.magnitude?.values)
        }
        return PEFTLoRAAdapter(config: config, modules: out)
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` into `dir`.
    public func save(to dir: String) throws { try peftAdapter().write(to: dir) }

    /// Reads a PEFT LoRA adapter from `dir`, checked against `model`.
    public static func load(from dir: String, model: LlamaConfig) throws -> LoRAAdapterWeights {
        LoRAAdapterWeights(try PEFTLoRAAdapter.read(from: dir, model: model))
    }
}
