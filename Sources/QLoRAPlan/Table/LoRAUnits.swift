import QLoRAFormats

/// The adapted modules of a plan, one LoRA (A, B) pair each: the model's own linears
/// (`LlamaLinear.modules(of:)`, so Phi-3's fused `qkv_proj` and `gate_up_proj` are one module each,
/// as PEFT and `qlora train` adapt them) that hold a targeted projection.
struct LoRAUnit: Sendable {
    var linear: LlamaLinear
    var out: Int, inp: Int
    var outAxis: String, inAxis: String
    /// A projection it holds (layer prefix, MoE copies).
    var representative: Projection
    var name: String { linear.rawValue }
    var moduleName: String { linear.moduleName }
    var isMLP: Bool { representative.isMLP }
}

extension ModelDims {
    func loraUnits(_ request: PlanRequest) -> [LoRAUnit] {
        let config = request.model.config
        let held: [LlamaLinear: [Projection]] = [.qkv: [.q, .k, .v], .gateUp: [.gate, .up]]
        return LlamaLinear.modules(of: config).compactMap { linear in
            let projections = held[linear] ?? [Projection(rawValue: linear.rawValue)!]
            guard let first = projections.first(where: request.targets.projections.contains) else { return nil }
            let (inp, out) = linear.features(config)
            let axes = projections.map { self.axes($0).out }.joined(separator: "+")
            return LoRAUnit(linear: linear, out: out, inp: inp, outAxis: axes,
                            inAxis: self.axes(first).in, representative: first)
        }
    }
}
