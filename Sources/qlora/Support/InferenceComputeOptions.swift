import ArgumentParser
import Foundation
import QLoRA

/// The inference commands' (generate, eval, bench model) part of `--compute-dtype`: the option itself is
/// `ModelOptions.computeDType`, shared with the training commands; here `int8` (inference only) and
/// what `auto` means for inference are applied to the loaded model.
struct InferenceComputeOptions: ParsableArguments {
    @Option(name: .customLong("int8-output"),
            help: "With --compute-dtype int8: the output layer (lm_head or tied embeddings) in int8 per row and 64-block too (on) or as loaded (off).")
    var int8Output: OnOff = .on

    /// What `auto` picks for inference on this CPU: int8 where it has AVX512-VNNI (measured faster there,
    /// docs/benchmarks.md) and the base is NF4; otherwise what `auto` picks for training (bf16 or f32).
    static func autoPicksInt8(base: BaseWeights) -> Bool { base == .nf4 && Int8Variant.vnni.isSupported }

    /// The model options to load with: `int8` (asked, or what `auto` picks) loads the base products as
    /// f32 and `apply` then attaches the int8 forms.
    func prepared(_ o: ModelOptions) -> ModelOptions {
        var o = o
        if o.computeDType == .auto && Self.autoPicksInt8(base: o.base) { o.computeDType = .int8 }
        return o
    }

    /// Applies int8 to a loaded model when `prepared` chose it; returns a one-line description of what
    /// runs, or nil when there is nothing to say. Refuses what it cannot do by name.
    @discardableResult
    func apply(to model: LlamaModel, requested: ModelOptions) throws -> String? {
        let o = prepared(requested)
        guard o.computeDType == .int8 else { return nil }
        guard o.base == .nf4 else { throw QLoRAError.invalid("--compute-dtype int8 needs NF4 base weights (--base nf4)") }
        let variant = try Int8Variant.selected()
        let (n, total) = model.enableInt8(variant, output: int8Output.isOn)
        return "compute dtype \(requested.computeDType == .auto ? "auto: " : "")int8 (\(variant.rawValue) kernels) on \(n) of \(total) block linears"
            + (model.outputInt8 != nil ? " and the output layer" : "")
    }
}
