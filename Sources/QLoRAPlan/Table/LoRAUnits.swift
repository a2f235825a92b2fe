/// The adapted modules of a plan, one LoRA (A, B) pair each: one per targeted projection, or — on a
/// model stored with Phi-3's fused projections — one `qkv` module for any of q, k, v and one
/// `gate_up` for gate and up, since PEFT (and `qlora train`) adapt the fused module as one linear
/// (one A over the input, one B over the fused output).
struct LoRAUnit: Sendable {
    var name: String          // buffer-name part: q, k, …, qkv, gate_up
    var moduleName: String    // q_proj, …, qkv_proj, gate_up_proj
    var out: Int, inp: Int
    var outAxis: String, inAxis: String
    /// A projection it stands for (layer prefix, MoE copies).
    var representative: Projection
    var isMLP: Bool { representative.isMLP }
}

extension ModelDims {
    func loraUnits(_ request: PlanRequest) -> [LoRAUnit] {
        let ps = request.targets.projections
        func unit(_ p: Projection) -> LoRAUnit {
            let (out, inp) = shape(p), (outAxis, inAxis) = axes(p)
            return LoRAUnit(name: p.rawValue, moduleName: p.moduleName, out: out, inp: inp, outAxis: outAxis,
                            inAxis: inAxis, representative: p)
        }
        guard request.model.config.fusedProjections else { return ps.map(unit) }
        var units: [LoRAUnit] = []
        if ps.contains(where: { [.q, .k, .v].contains($0) }) {
            units.append(LoRAUnit(name: "qkv", moduleName: "qkv_proj", out: QD + 2 * KVD, inp: C,
                                  outAxis: "QD+2·KVD", inAxis: "C", representative: .q))
        }
        if ps.contains(.o) { units.append(unit(.o)) }
        if ps.contains(where: { [.gate, .up].contains($0) }) {
            units.append(LoRAUnit(name: "gate_up", moduleName: "gate_up_proj", out: 2 * FF, inp: C,
                                  outAxis: "2·FF", inAxis: "C", representative: .gate))
        }
        if ps.contains(.down) { units.append(unit(.down)) }
        return units
    }
}
