/// LoRA+ (Hayou, Ghosh, Yu 2024, arXiv 2402.12354): B matrices learn λ times faster than A.
///
/// Groups exactly as PEFT's `create_loraplus_optimizer` (`peft/optimizers/loraplus.py`) does:
/// - `loraplus_A`: everything else, at lr, with the weight decay;
/// - `loraplus_B`: any parameter whose name contains `lora_B`, and any 1-D parameter, at λ·lr,
///   with the weight decay — when the parameter is a decay parameter;
/// - `loraplus_B_no_decay`: the same at λ·lr, weight decay 0, for non-decay parameters.
///
/// Decay parameters follow transformers' `get_parameter_names(model, ALL_LAYERNORM_LAYERS)` minus
/// names containing "bias": biases and LayerNorm weights do not decay. LoRA embedding parameters
/// (PEFT's fixed 1e-6 group) are not trained by this engine and so have no group here. Empty groups
/// are left out; parameters keep their order within a group.
public enum LoRAPlus {
    /// PEFT's documented default ratio (2⁴).
    public static let recommendedRatio = 16.0

    /// The LoRA+ groups for `parameters`: `ratio` is λ (> 0; 1 gives plain LoRA with extra groups).
    public static func groups(
        _ parameters: [Parameter], ratio: Double, weightDecay: Double = 0,
        isLayerNorm: (Parameter) -> Bool = { _ in false }
    ) -> [ParameterGroup] {
        precondition(ratio.isFinite && ratio > 0, "LoRA+ ratio must be positive, got \(ratio)")
        var a: [Parameter] = [], b: [Parameter] = [], bNoDecay: [Parameter] = []
        for p in parameters {
            if p.name.contains("lora_B") || p.rank == 1 {
                let decays = !p.name.contains("bias") && !isLayerNorm(p)
                if decays { b.append(p) } else { bNoDecay.append(p) }
            } else {
                a.append(p)
            }
        }
        return [
            ParameterGroup(name: "loraplus_A", lrMultiplier: 1, weightDecay: weightDecay, parameters: a),
            ParameterGroup(name: "loraplus_B", lrMultiplier: ratio, weightDecay: weightDecay, parameters: b),
            ParameterGroup(name: "loraplus_B_no_decay", lrMultiplier: ratio, weightDecay: 0, parameters: bNoDecay),
        ].filter { !$0.parameters.isEmpty }
    }
}
