/// Activations of the f32 CPU trainer (`qlora train`), buffer by buffer — the design its arena
/// follows (llm.c's `ActivationTensors`): every tensor a backward op reads is a named output of the
/// forward, shaped (L, B, T, …); with checkpointing only the layer inputs keep an L extent and the
/// rest is one layer's worth, rebuilt before that layer's backward.
///
/// Choices this table fixes for the trainer: attention keeps its softmax probabilities
/// (B, NH, T, Tk) as llm.c does (reference first; a flash-style kernel would keep a logsumexp
/// instead); LoRA dropout masks are regenerated from a counter-based RNG, so they cost nothing; the
/// backward reuses one layer's gradient scratch; logits and their gradient are separate f32
/// (B, T, V) buffers. Not calibrated against measured runs yet (docs/memplan.md).
enum CPUActivationBuffers {
    /// Swift runtime, Foundation, code, tokenizer and data loader: a stated, uncalibrated constant.
    static let processBaselineBytes = 64 << 20

    static func add(to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest) {
        let ckpt = request.gradientCheckpointing
        let Ls = ckpt ? 1 : d.L
        let lAxis = ckpt ? "layer" : "L"
        let Tk = d.T + (request.method == .prefixTuning ? d.P : 0)
        func act(_ name: String, _ tail: [Int], _ tailAxes: [String], _ note: String) {
            table.add(PlannedBuffer(name, .layerActivations, shape: [Ls, d.B] + tail,
                                    axes: [lAxis, "B"] + tailAxes, .f32, note: note))
        }
        if ckpt {
            table.add(PlannedBuffer("ckpt.residual", .activationCheckpoints, shape: [d.L, d.B, d.T, d.C],
                                    axes: ["L", "B", "T", "C"], .f32, note: "input of every layer"))
            table.explain(.activationCheckpoints, "4·L·B·T·C: each layer's input, f32")
        } else {
            act("act.residual_in", [d.T, d.C], ["T", "C"], "layer input, for RMSNorm backward")
        }
        act("act.ln1", [d.T, d.C], ["T", "C"], "normalized input of q/k/v")
        act("act.ln1_rstd", [d.T], ["T"], "1/RMS per row")
        act("act.q", [d.T, d.QD], ["T", "QD"], "rotated queries")
        act("act.k", [d.T, d.KVD], ["T", "KVD"], "rotated keys")
        act("act.v", [d.T, d.KVD], ["T", "KVD"], "values")
        act("act.att_probs", [d.NH, d.T, Tk], ["NH", "T", request.method == .prefixTuning ? "T+P" : "T"],
            "softmax probabilities (causal, full square stored)")
        act("act.att_out", [d.T, d.QD], ["T", "QD"], "attention output, input of o_proj")
        act("act.residual_mid", [d.T, d.C], ["T", "C"], "residual after attention")
        act("act.ln2", [d.T, d.C], ["T", "C"], "normalized input of gate/up")
        act("act.ln2_rstd", [d.T], ["T"], "1/RMS per row")
        act("act.gate", [d.T, d.K * d.FF], ["T", "K·FF"], "gate projection before SiLU")
        act("act.up", [d.T, d.K * d.FF], ["T", "K·FF"], "up projection")
        act("act.swiglu", [d.T, d.K * d.FF], ["T", "K·FF"], "silu(gate)·up, input of down")
        if d.E > 1 { act("act.router_probs", [d.T, d.E], ["T", "E"], "router probabilities") }
        if request.method.usesLoRA {
            for p in request.targets.projections {
                let width = d.r * (p.isMLP ? d.K : 1)
                act("act.lora.\(p.rawValue).hidden", [d.T, width], ["T", p.isMLP && d.K > 1 ? "K·r" : "r"],
                    "x·Aᵀ of \(p.moduleName)'s adapter, input of B")
            }
        }
        let perToken = table.buffers.filter { $0.component == .layerActivations }
            .reduce(0) { $0 + $1.bytes } / max(1, Ls * d.B * d.T)
        table.explain(.layerActivations, (ckpt ? "one layer rebuilt before its backward: " : "L layers × ")
                      + "\(ByteCount.format(perToken)) per token (incl. NH·Tk attention probabilities) × B·T")
        addFinal(&table, d)
        addScratch(&table, d, request, Tk: Tk)
        table.add(PlannedBuffer("runtime.process", .runtimeOverhead, shape: [processBaselineBytes],
                                axes: ["bytes"], .u8, note: "process baseline, not in the arena"))
        table.explain(.runtimeOverhead, "stated constant 64 MiB: runtime, code, tokenizer, data (uncalibrated)")
    }

    private static func addFinal(_ table: inout BufferTable, _ d: ModelDims) {
        func buf(_ name: String, _ c: Component, _ shape: [Int], _ axes: [String], _ note: String) {
            table.add(PlannedBuffer(name, c, shape: shape, axes: axes, .f32, note: note))
        }
        buf("act.residual_out", .layerActivations, [d.B, d.T, d.C], ["B", "T", "C"], "last layer's output")
        buf("act.lnf", .layerActivations, [d.B, d.T, d.C], ["B", "T", "C"], "final norm output")
        buf("act.lnf_rstd", .layerActivations, [d.B, d.T], ["B", "T"], "final 1/RMS per row")
        buf("act.logits", .logitsAndLoss, [d.B, d.T, d.V], ["B", "T", "V"], "logits, softmaxed in place")
        buf("act.dlogits", .logitsAndLoss, [d.B, d.T, d.V], ["B", "T", "V"], "gradient of the logits")
        buf("act.losses", .logitsAndLoss, [d.B, d.T], ["B", "T"], "per-token loss")
        table.explain(.logitsAndLoss, "4·B·T·V logits + 4·B·T·V their gradient + 4·B·T losses")
    }

    private static func addScratch(_ table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, Tk: Int) {
        func buf(_ name: String, _ tail: [Int], _ axes: [String], _ note: String) {
            table.add(PlannedBuffer(name, .backwardWorkspace, shape: [d.B] + tail, axes: ["B"] + axes, .f32,
                                    note: note))
        }
        buf("grad.residual", [d.T, d.C], ["T", "C"], "gradient of the residual stream")
        buf("grad.ln", [d.T, d.C], ["T", "C"], "gradient of a norm output")
        buf("grad.qkv", [d.T, d.QD + 2 * d.KVD], ["T", "QD+2·KVD"], "dQ, dK, dV")
        buf("grad.att_probs", [d.NH, d.T, Tk], ["NH", "T", "Tk"], "gradient of the probabilities")
        buf("grad.att_out", [d.T, d.QD], ["T", "QD"], "gradient of the attention output")
        buf("grad.mlp", [d.T, 3 * d.K * d.FF], ["T", "3·K·FF"], "dGate, dUp, dSwiGLU")
        if request.method.usesLoRA {
            buf("grad.lora_hidden", [d.T, d.K * d.r], ["T", "K·r"], "gradient of x·Aᵀ")
        }
        table.explain(.backwardWorkspace, "one layer's gradient scratch, reused by every layer")
    }
}
