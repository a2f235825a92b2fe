/// Activation memory of one training step of Hugging Face transformers + PEFT + bitsandbytes on
/// CUDA — the stack the published measurements used — derived from the tensors autograd saves.
///
/// Per decoder layer and token (c = compute bytes, 2 for bf16):
/// - LlamaRMSNorm upcasts its input to f32 and keeps it, and its output feeds the projections:
///   2 norms × (4 + c)·C;
/// - attention: RoPE multiplies by cos and sin, which need no gradient, so autograd keeps neither the
///   q/k/v projection outputs nor rotate_half (mul saves an operand only for the other's gradient);
///   SDPA (flash / memory-efficient) keeps q, k and v as it receives them — k and v expanded to every
///   query head by repeat_kv under GQA — c·3·QD, its output c·QD (which o_proj also keeps) and an
///   f32 logsumexp per head, no T×T matrix. (PyTorch < 2.2 also kept mean()'s input, the norm's f32
///   x²: planned for `--stack litgpt`, whose tables ran 2.1.)
/// - SwiGLU MLP keeps gate, up, silu(gate) and their product: c·4·FF (×K experts per token);
/// - LoRA with dropout keeps each dropped input (c + 1-byte mask per input feature) and A's output
///   (c·r) per targeted linear.
/// With gradient checkpointing only each layer's input (c·C) is kept, and one layer's set is rebuilt
/// during its backward. Logits follow transformers' ForCausalLMLoss: c-byte logits, then three f32
/// (B, T, V) tensors at the loss backward's peak; the f32 logits stay in the model output the
/// training loop holds until the step ends (transformers < 4.45 upcasts them in the model's forward).
/// torchtune (`--stack torchtune`) chunks the cross-entropy and compiles it: c-byte logits saved for
/// the loss's backward and one chunk's c-byte gradient at a time, all freed before the layers'
/// backward; LitGPT chunks without compile (each chunk's f32 log-softmax saved).
///
/// Phases (`Phase`): the loss's tensors are alive at the end of forward; one layer's rebuilt set and
/// the backward workspace during that layer's backward; checkpoints in both. Without checkpointing
/// every layer's set is alive at the end of forward and at the first layer's backward.
enum GPUActivationBuffers {
    static func add(to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest) {
        let c = request.computeDType.storage
        let ckpt = request.gradientCheckpointing
        let Ls = ckpt ? 1 : d.L
        let lAxis = ckpt ? "layer" : "L"
        let layerPhases: Set<Phase> = ckpt ? [.layerBackward] : [.forwardEnd, .layerBackward]
        func layer(_ name: String, _ width: Int, _ widthAxis: String, _ type: StorageType, _ note: String) {
            table.add(PlannedBuffer(name, .layerActivations, shape: [Ls, d.B, d.T, width],
                                    axes: [lAxis, "B", "T", widthAxis], type, phases: layerPhases, note: note))
        }
        if ckpt {
            table.add(PlannedBuffer("ckpt.layer_in", .activationCheckpoints, shape: [d.L, d.B, d.T, d.C],
                                    axes: ["L", "B", "T", "C"], c,
                                    note: "each decoder layer's input, kept by gradient checkpointing"))
            table.explain(.activationCheckpoints, "c·L·B·T·C: one hidden state per layer")
        }
        layer("act.norm_in_f32", 2 * d.C, "2·C", .f32, "RMSNorm inputs upcast to f32 (two norms)")
        if request.stack.normKeepsSquare {
            layer("act.norm_square_f32", 2 * d.C, "2·C", .f32,
                  "x² saved by mean() (PyTorch < 2.2, pytorch#109935), two norms")
        }
        layer("act.norm_out", 2 * d.C, "2·C", c, "RMSNorm outputs, inputs of the projections")
        // RoPE multiplies by cos and sin, which need no gradient, so autograd keeps only them (mul
        // saves an operand only for the other operand's gradient); the projection outputs are not
        // kept. SDPA keeps what it was given: q, and k and v expanded to every query head (repeat_kv
        // materializes them under GQA; with NH = KVH they are the heads themselves).
        layer("act.attn_qkv", 3 * d.QD, "3·QD", c, "q, k, v as SDPA receives them (k, v expanded to every head)")
        layer("act.attn_out", d.QD, "QD", c, "attention output, also the input of o_proj")
        table.add(PlannedBuffer("act.attn_lse", .layerActivations, shape: [Ls, d.B, d.NH, d.T],
                                axes: [lAxis, "B", "NH", "T"], .f32, phases: layerPhases, note: "SDPA logsumexp per head"))
        if request.method == .prefixTuning {
            table.add(PlannedBuffer("act.prefix_kv", .layerActivations, shape: [Ls, d.B, d.P, 2 * d.KVD],
                                    axes: [lAxis, "B", "P", "2·KVD"], c, phases: layerPhases,
                                    note: "prefix keys/values expanded per batch (past_key_values)"))
        }
        layer("act.mlp", 4 * d.K * d.FF, "4·K·FF", c, "gate, up, silu(gate), gate·up")
        if d.E > 1 {
            layer("act.router", d.E, "E", .f32, "router probabilities")
        }
        if request.method.usesLoRA { addLoRA(&table, d, request, Ls: Ls, lAxis: lAxis, c: c, phases: layerPhases) }
        table.add(PlannedBuffer("act.final_norm", .layerActivations, shape: [d.B, d.T, d.C],
                                axes: ["B", "T", "C"], .f32, phases: [.forwardEnd],
                                note: "final RMSNorm input upcast to f32 (freed before the layers' backward)"))
        let perToken = table.buffers.filter { $0.component == .layerActivations && $0.shape.first == Ls }
            .reduce(0) { $0 + $1.bytes } / max(1, Ls * d.B * d.T)
        table.explain(.layerActivations, ckpt
            ? "one layer rebuilt during its backward: \(ByteCount.format(perToken)) per token × B·T"
            : "L layers × \(ByteCount.format(perToken)) per token per layer × B·T (no checkpointing)")
        addWorkspace(&table, d, c: c)
        switch request.stack {
        case .hf: addLogits(&table, d, c: c)
        case .torchtune: addChunkedLogits(&table, d, c: c, savesLogSoftmax: false, compiled: true)
        case .litgpt: addChunkedLogits(&table, d, c: c, savesLogSoftmax: true, compiled: false)
        }
        let (out, inp) = d.largestLinear
        var scratch: [String] = []
        if request.quantizedBase {
            table.add(PlannedBuffer("dequant.weight", .dequantScratch, shape: [out, inp], axes: ["out", "in"],
                                    c, note: "bitsandbytes dequantizes a whole weight per matmul"))
            scratch.append("bitsandbytes' dequantized weight")
        }
        if request.dora {
            // get_weight_norm: B·A (out × in), the dequantized base (QLoRA) and W + s·B·A, all at once.
            let copies = request.method == .qlora ? 3 : 2
            table.add(PlannedBuffer("dora.weight_norm", .dequantScratch, shape: [copies, out, inp],
                                    axes: ["copies", "out", "in"], c,
                                    note: "DoRA's row norm of W + s·B·A, materialized per linear (transient)"))
            scratch.append("DoRA's B·A" + (request.method == .qlora ? ", dequantized W" : "") + " and W + s·B·A")
        }
        if request.dora {
            table.explain(.dequantScratch, "largest linear (\(out) × \(inp)) in \(c.rawValue): "
                          + scratch.joined(separator: "; "))
        } else if request.quantizedBase {
            table.explain(.dequantScratch, "largest linear (\(out) × \(inp)) dequantized to \(c.rawValue)")
        }
    }

    private static func addLoRA(
        _ table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, Ls: Int, lAxis: String,
        c: StorageType, phases: Set<Phase>
    ) {
        // A token passes through K experts, so MLP targets of a MoE see K inputs per token.
        // One dropped copy per adapter (PEFT, torchtune); LitGPT's fused qkv linear has one dropout
        // for q, k and v together.
        var inputs = request.targets.projections.reduce(0) { $0 + d.shape($1).in * ($1.isMLP ? d.K : 1) }
        if request.stack.fusesQKV {
            let qkv = request.targets.projections.filter { [.q, .k, .v].contains($0) }
            if qkv.count > 1 { inputs -= (qkv.count - 1) * d.C }
        }
        let hidden = d.loraUnits(request).reduce(0) { $0 + d.r * ($1.isMLP ? d.K : 1) }
        if request.loraDropout {
            table.add(PlannedBuffer("act.lora_dropout", .layerActivations, shape: [Ls, d.B, d.T, inputs],
                                    axes: [lAxis, "B", "T", "Σin"], c, phases: phases, note: "dropped LoRA inputs"))
            table.add(PlannedBuffer("act.lora_mask", .layerActivations, shape: [Ls, d.B, d.T, inputs],
                                    axes: [lAxis, "B", "T", "Σin"], .bool, phases: phases, note: "dropout masks"))
        }
        table.add(PlannedBuffer("act.lora_hidden", .layerActivations, shape: [Ls, d.B, d.T, hidden],
                                axes: [lAxis, "B", "T", "Σr"], c, phases: phases, note: "x·Aᵀ of each adapter, input of B"))
        if request.dora {
            // PEFT's DoraLinearLayer: result = (m/‖W‖ − 1)·base + (m/‖W‖)·s·lora; autograd keeps both
            // products for the magnitude's and the adapter's gradients.
            let outs = request.targets.projections.reduce(0) { $0 + d.shape($1).out * ($1.isMLP ? d.K : 1) }
            table.add(PlannedBuffer("act.dora_products", .layerActivations, shape: [Ls, d.B, d.T, 2, outs],
                                    axes: [lAxis, "B", "T", "2", "Σout"], c, phases: phases,
                                    note: "DoRA: base and LoRA products kept for the magnitude scaling"))
        }
    }

    private static func addWorkspace(_ table: inout BufferTable, _ d: ModelDims, c: StorageType) {
        let inner = max(d.QD + 2 * d.KVD, 3 * d.K * d.FF)
        table.add(PlannedBuffer("grad.hidden", .backwardWorkspace, shape: [2, d.B, d.T, d.C],
                                axes: ["2", "B", "T", "C"], c, note: "residual-stream gradient in and out"))
        table.add(PlannedBuffer("grad.norm_f32", .backwardWorkspace, shape: [d.B, d.T, d.C],
                                axes: ["B", "T", "C"], .f32, note: "RMSNorm backward in f32"))
        table.add(PlannedBuffer("grad.inner", .backwardWorkspace, shape: [d.B, d.T, inner],
                                axes: ["B", "T", "max(QD+2·KVD, 3·K·FF)"], c,
                                note: "dQ/dK/dV or dGate/dUp/dProduct, whichever is larger"))
        table.explain(.backwardWorkspace, "gradients alive inside one layer's backward: "
                      + "c·2C + 4C + c·max(QD+2·KVD, 3·K·FF) per token")
    }

    private static func addLogits(_ table: inout BufferTable, _ d: ModelDims, c: StorageType) {
        let shape = [d.B, d.T, d.V]
        let axes = ["B", "T", "V"]
        table.add(PlannedBuffer("logits", .logitsAndLoss, shape: shape, axes: axes, c,
                                note: "lm_head output, kept in the model output"))
        table.add(PlannedBuffer("logits.f32", .logitsAndLoss, shape: shape, axes: axes, .f32,
                                phases: [.forwardEnd, .layerBackward],
                                note: "upcast for the loss; the model output the loop holds until the step ends"))
        table.add(PlannedBuffer("loss.log_softmax", .logitsAndLoss, shape: shape, axes: axes, .f32,
                                note: "saved by cross-entropy"))
        table.add(PlannedBuffer("loss.dlogits", .logitsAndLoss, shape: shape, axes: axes, .f32,
                                note: "gradient of the upcast logits"))
        table.explain(.logitsAndLoss, "(c + 12)·B·T·V: logits, f32 upcast, log-softmax, its gradient "
                      + "(the f32 logits, 4·B·T·V, stay through the layers' backward)")
    }

    /// Chunked cross-entropy: the output projection emits chunks of c-byte logits (saved for the
    /// loss's backward) and each chunk is upcast to f32 only inside its own cross-entropy; the logits
    /// are freed before the layers' backward. torchtune (CEWithChunkedOutputLoss, 8 chunks, compiled)
    /// keeps no f32 log-softmax; LitGPT (chunked_cross_entropy, not compiled) saves each chunk's.
    static let lossChunks = 8

    private static func addChunkedLogits(_ table: inout BufferTable, _ d: ModelDims, c: StorageType,
                                         savesLogSoftmax: Bool, compiled: Bool) {
        table.add(PlannedBuffer("logits", .logitsAndLoss, shape: [d.B, d.T, d.V], axes: ["B", "T", "V"], c,
                                note: "lm_head output in chunks, saved for the loss's backward"))
        if savesLogSoftmax {
            table.add(PlannedBuffer("loss.log_softmax", .logitsAndLoss, shape: [d.B, d.T, d.V], axes: ["B", "T", "V"],
                                    .f32, note: "each chunk's f32 log-softmax, saved by cross-entropy"))
        }
        let rows = (d.B * d.T + lossChunks - 1) / lossChunks
        if compiled {
            // The compiled loss upcasts inside its fused kernel and writes only the chunk's gradient.
            table.add(PlannedBuffer("loss.chunk_grad", .logitsAndLoss, shape: [rows, d.V], axes: ["B·T/8", "V"],
                                    c, note: "one chunk's gradient (the compiled loss fuses the f32 upcast)"))
        } else {
            table.add(PlannedBuffer("loss.chunk_f32", .logitsAndLoss, shape: [2, rows, d.V], axes: ["2", "B·T/8", "V"],
                                    .f32, note: "one chunk upcast to f32 and its gradient"))
        }
        table.explain(.logitsAndLoss, (savesLogSoftmax ? "(c + 4)·B·T·V chunked logits and their f32 log-softmax"
                                                       : "c·B·T·V chunked logits")
                      + (compiled ? " + c·B·T·V/8 for one chunk's gradient (compiled loss)"
                                  : " + 8·B·T·V/8 for one f32 chunk and its gradient"))
    }
}
