import QLoRACore
import QLoRAFormats

/// The CPU trainer's own buffers (`LoRALlama` in QLoRATrain), one row per allocation, so that
/// `--device cpu` predicts what `qlora train` holds:
/// - the residual stream at every layer boundary (L+1 of B·T·C), kept in both modes;
/// - per layer (all L, or one when checkpointing): norm outputs and 1/RMS, rotated q/k, v, the
///   attention probabilities (B·NH·T·T), the attention output, the mid residual, gate and up
///   (silu(gate)·up is recomputed, not stored), and each adapter's x·Aᵀ (B·T·r);
/// - backward scratch shared by all layers, the logits of one 256-row chunk (the gradient is
///   written in place), and the panel-GEMM workspace of the largest product (the lm_head chunk).
enum CPUActivationBuffers {
    /// Measured: resident bytes of a loaded process before its weights (Swift runtime, Foundation,
    /// OpenBLAS, code) plus the tokenizer, on this project's machine.
    static let processBaselineBytes = 44 << 20
    /// Rows of logits the trainer materializes at a time (LoRALlama.logitsChunk).
    static let logitsChunkRows = 256

    static func add(to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest) {
        let ckpt = request.gradientCheckpointing
        let Ls = ckpt ? 1 : d.L
        let lAxis = ckpt ? "layer" : "L"
        let Tk = d.T + (request.method == .prefixTuning ? d.P : 0)
        let M = d.B * d.T
        func act(_ name: String, _ tail: [Int], _ tailAxes: [String], _ note: String) {
            table.add(PlannedBuffer(name, .layerActivations, shape: [Ls, d.B] + tail,
                                    axes: [lAxis, "B"] + tailAxes, .f32, note: note))
        }
        table.add(PlannedBuffer("act.residual", ckpt ? .activationCheckpoints : .layerActivations,
                                shape: [d.L + 1, d.B, d.T, d.C], axes: ["L+1", "B", "T", "C"], .f32,
                                note: "the residual stream at every layer boundary"))
        if ckpt { table.explain(.activationCheckpoints, "4·(L+1)·B·T·C: each layer's input (and the last output), f32") }
        act("act.ln1", [d.T, d.C], ["T", "C"], "normalized input of q/k/v")
        act("act.ln1_rstd", [d.T], ["T"], "1/RMS per row")
        act("act.q", [d.T, d.QD], ["T", "QD"], "rotated queries")
        act("act.k", [d.T, d.KVD], ["T", "KVD"], "rotated keys")
        act("act.v", [d.T, d.KVD], ["T", "KVD"], "values")
        if request.model.config.hasQKNorm {  // Qwen3: q and k before their per-head norms, and the norms' 1/RMS
            act("act.qk_prenorm", [d.T, d.QD + d.KVD], ["T", "QD+KVD"], "q and k before the per-head RMSNorm")
            act("act.qk_rstd", [d.T, d.NH + d.NKV], ["T", "NH+NKV"], "1/RMS per head of q and k")
        }
        act("act.att_probs", [d.NH, d.T, Tk], ["NH", "T", request.method == .prefixTuning ? "T+P" : "T"],
            "softmax probabilities (causal, full square stored)")
        act("act.att_out", [d.T, d.QD], ["T", "QD"], "attention output, input of o_proj")
        act("act.residual_mid", [d.T, d.C], ["T", "C"], "residual after attention")
        act("act.ln2", [d.T, d.C], ["T", "C"], "normalized input of gate/up")
        act("act.ln2_rstd", [d.T], ["T"], "1/RMS per row")
        if request.method == .prefixTuning {
            act("act.kv_with_prefix", [2, Tk, d.KVD], ["2", "T+P", "KVD"],
                "keys and values behind the prefix positions (attention's input)")
        }
        if request.model.config.family.sandwichNorms {  // Gemma: o_proj's and down_proj's outputs before their norms
            act("act.post_norm_inputs", [d.T, 2 * d.C], ["T", "2·C"], "attention and MLP outputs before Gemma's post-norms")
            act("act.post_norm_rstd", [d.T, 2], ["T", "2"], "1/RMS per row of the two post-norms")
        }
        act("act.gate", [d.T, d.K * d.FF], ["T", "K·FF"], "gate projection before SiLU")
        act("act.up", [d.T, d.K * d.FF], ["T", "K·FF"], "up projection")
        if d.E > 1 { act("act.router_probs", [d.T, d.E], ["T", "E"], "router probabilities") }
        if request.method.usesLoRA {
            for u in d.loraUnits(request) {
                let width = d.r * (u.isMLP ? d.K : 1)
                table.add(PlannedBuffer("act.lora.\(u.name).hidden", .layerActivations, shape: [d.L, d.B, d.T, width],
                                        axes: ["L", "B", "T", "r"], .f32,
                                        note: "x·Aᵀ of \(u.moduleName)'s adapter (kept by every adapter)"))
                if request.dora {
                    let out = u.out * (u.isMLP ? d.K : 1)
                    table.add(PlannedBuffer("act.dora.\(u.name).output", .layerActivations, shape: [Ls, d.B, d.T, out],
                                            axes: [lAxis, "B", "T", "out"], .f32,
                                            note: "W·x + s·B·A·x of \(u.moduleName), kept for the magnitude's gradient"))
                }
            }
        }
        let perToken = table.buffers.filter { $0.component == .layerActivations }
            .reduce(0) { $0 + $1.bytes } / max(1, d.B * d.T)
        table.explain(.layerActivations, (ckpt ? "one layer rebuilt before its backward, plus adapters' x·Aᵀ: "
                                                : "residual stream + L layers: ") + "\(ByteCount.format(perToken)) per token × B·T")
        let chunk = min(logitsChunkRows, M)
        table.add(PlannedBuffer("act.lnf", .layerActivations, shape: [d.B, d.T, d.C], axes: ["B", "T", "C"], .f32,
                                note: "final norm output"))
        table.add(PlannedBuffer("act.logits", .logitsAndLoss, shape: [chunk, d.V], axes: ["chunk", "V"], .f32,
                                note: "logits of \(chunk) rows at a time; the gradient is written in place"))
        table.explain(.logitsAndLoss, "4·min(256, B·T)·V: one chunk of logits, overwritten by its gradient")
        addScratch(&table, d, request, Tk: Tk, chunk: chunk)
        table.add(PlannedBuffer("runtime.process", .runtimeOverhead, shape: [processBaselineBytes],
                                axes: ["bytes"], .u8, note: "process baseline, not in the arena"))
        table.explain(.runtimeOverhead, "44 MiB measured: Swift runtime, OpenBLAS, code, tokenizer")
    }

    private static func addScratch(_ table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, Tk: Int,
                                   chunk: Int) {
        func buf(_ name: String, _ shape: [Int], _ axes: [String], _ note: String) {
            table.add(PlannedBuffer(name, .backwardWorkspace, shape: shape, axes: axes, .f32, note: note))
        }
        let M = d.B * d.T
        buf("grad.hidden", [3, M, d.C], ["3", "B·T", "C"], "dx, d(norm output), linear outputs")
        buf("grad.q_att", [2, M, d.QD], ["2", "B·T", "QD"], "dQ and d(attention output)")
        buf("grad.kv", [2, M, d.KVD], ["2", "B·T", "KVD"], "dK, dV")
        if request.model.config.hasQKNorm {
            buf("grad.qk_prenorm", [M, d.QD + d.KVD], ["B·T", "QD+KVD"], "dq, dk before the per-head RMSNorm (Qwen3)")
        }
        if request.model.config.family.sandwichNorms {
            buf("grad.post_norm", [M, d.C], ["B·T", "C"], "the gradient before a Gemma post-norm")
        }
        if request.model.config.family.finalSoftcap != nil {
            buf("grad.capped_logits", [chunk, d.V], ["chunk", "V"], "the soft-capped logits of a chunk, for their gradient")
        }
        buf("grad.mlp", [4, M, d.K * d.FF], ["4", "B·T", "K·FF"], "dGate, dUp, dSwiGLU and the recomputed SwiGLU")
        if request.model.config.fusedProjections {  // LoRALlama's `fused`: a fused product before its split, its gradient after the join
            buf("fused.projection", [M, max(d.QD + 2 * d.KVD, 2 * d.FF)], ["B·T", "max(QD+2·KVD, 2·FF)"],
                "Phi-3's qkv_proj / gate_up_proj output before the split, and its gradient")
        }
        // Attention.backward: per thread, dP of one head (and the recomputed capped scores with a soft-cap).
        let nt = request.threads, softcapped = request.model.config.family.attentionSoftcap != nil
        buf("grad.att_probs", [nt, d.T, (softcapped ? 2 : 1) * Tk], ["threads", "T", softcapped ? "2·Tk" : "Tk"],
            "per-thread gradient of one head's probabilities" + (softcapped ? " and its recomputed capped scores" : ""))
        if request.gradientCheckpointing { buf("recompute.out", [M, d.C], ["B·T", "C"], "recomputed layer output") }
        if request.method == .prefixTuning {
            buf("grad.kv_with_prefix", [2, d.B, Tk, d.KVD], ["2", "B", "T+P", "KVD"],
                "dK, dV over the prefix and the row's own positions")
            if let h = request.prefixProjectionHidden {
                buf("prefix.encoder", [2, d.P, d.L * 2 * d.KVD + h], ["2", "P", "L·2·KVD + H"],
                    "the projection's output and tanh activations, and their gradients")
            }
        }
        if request.method.usesLoRA && request.dora {
            let maxOut = d.loraUnits(request).map(\.out).max() ?? 0
            let maxIn = d.loraUnits(request).map(\.inp).max() ?? 0
            buf("dora.backward", [M, 2 * maxOut + (request.loraDropout ? maxIn : 0)], ["B·T", "2·out (+ in)"],
                "an adapter's scaled output gradients (and dropped input's gradient) while it runs")
        }
        if request.method.usesLoRA && request.loraDropout {
            buf("lora.dropout", [2, M, max(d.C, d.QD, d.K * d.FF)], ["2", "B·T", "max in"],
                "an adapter's dropped input and its input gradient (while it runs)")
        }
        // Panel GEMM workspace of the widest product, the lm_head chunk's.
        let mpad = (chunk + 31) / 32 * 32
        if request.computeDType == .bf16 && CPUFeatures.current.usesBF16DotProduct {
            // PanelGEMMBF16: the forward holds X as bf16 pairs (chunk · C / 2) and per thread a pair panel
            // (96 × 512), a row segment (1024) and an edge tile (12 × 32) — it writes Y in place; the
            // transposed product holds the chunk's logit gradient in bf16 (chunk · V / 2) and per thread
            // a 2048 × 32 pair panel. The larger is the lm_head backward's.
            buf("workspace.gemm", [max(chunk * d.C / 2 + nt * (96 * 512 + 1024 + 12 * 32),
                                       (chunk * d.V + 31) / 32 * 16 + nt * (1024 * 32 + 64))], ["floats"],
                "bf16 pairs of the lm_head chunk's logit gradient and the bf16 W panels")
        } else {
            buf("workspace.gemm", [mpad * d.C + (d.V + 11) / 12 * 12 * mpad + nt * 96 * 1024], ["floats"],
                "Xᵀ, Yᵀ and W panels of the lm_head chunk's product")
        }
        if request.computeDType == .bf16 {
            // Attention+BF16's backward allocates, per thread, `BF16Products.scratchFloats` of a head's widest
            // product (its forward's two shapes are among these): dV, dK (Tk × HS, K = T), dP (T × Tk, K = HS),
            // dQ (T × HS, K = Tk). The same formula: op(A) and op(B) as pairs along K (B's columns rounded to
            // 32), each rounded to 16 floats, and the 12 × 32 tiles.
            func align(_ n: Int) -> Int { (n + 15) / 16 * 16 }
            func scratch(_ m: Int, _ n: Int, _ k: Int) -> Int {
                let kp = (k + 1) / 2
                return align(kp * m) + align(kp * ((n + 31) / 32 * 32))
                    + 2 * align(12 * 32) + align(12 * 2 * kp) + align(2 * kp * 32)
            }
            let pairs = max(scratch(Tk, d.HS, d.T), scratch(d.T, Tk, d.HS), scratch(d.T, d.HS, Tk))
            buf("attention.bf16_pairs", [nt, pairs], ["threads", "floats"],
                "bf16 pairs of one head's attention product operands, per thread")
        }
        if request.computeDType == .bf16 && !CPUFeatures.current.usesBF16DotProduct {
            // Without AVX512-BF16 the bf16 products run the Float32 kernels on a rounded copy of the
            // activation operand; the largest is the lm_head chunk's logit gradient.
            buf("workspace.bf16_operand", [chunk, d.V], ["chunk", "V"],
                "bf16-rounded copy of a product's activation operand (CPUs without AVX512-BF16)")
        }
        table.explain(.backwardWorkspace, "one layer's gradient scratch, reused by every layer, and the GEMM workspace")
    }
}
