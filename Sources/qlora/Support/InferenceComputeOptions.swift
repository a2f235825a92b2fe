import ArgumentParser
import Foundation
import QLoRA

/// `--compute-dtype` of the inference commands (generate, eval, bench model). The training commands'
/// option of the same name is a separate one: int8 is for inference only.
enum InferenceComputeDType: String, ExpressibleByArgument, CaseIterable {
    case f32, bf16, int8, auto
}

struct InferenceComputeOptions: ParsableArguments {
    @Option(name: .customLong("compute-dtype"),
            help: "Arithmetic of the base linears: f32, int8 (int8 activations × NF4 levels, AVX512-VNNI or AVX2; inference only) or auto (int8 where the CPU has AVX512-VNNI, else f32).")
    var computeDType: InferenceComputeDType = .f32

    @Option(name: .customLong("int8-output"),
            help: "With int8 compute: the output layer (lm_head or tied embeddings) in int8 per row and 64-block too (on) or as loaded (off).")
    var int8Output: OnOff = .on

    /// What `auto` picks on this CPU: int8 where it has VNNI (measured faster there, docs/benchmarks.md).
    static func autoChoice() -> InferenceComputeDType { Int8Variant.vnni.isSupported ? .int8 : .f32 }

    /// Applies the choice to a loaded model; returns a one-line description of what runs, or nil for the
    /// default (f32). Refuses what it cannot do by name.
    @discardableResult
    func apply(to model: LlamaModel, base: BaseWeights) throws -> String? {
        var choice = computeDType
        if choice == .auto { choice = base == .nf4 ? Self.autoChoice() : .f32 }
        switch choice {
        case .f32, .auto:
            return computeDType == .auto ? "compute dtype auto: f32" : nil
        case .bf16:
            throw QLoRAError.unsupported("--compute-dtype bf16", "not implemented for inference in this build")
        case .int8:
            guard base == .nf4 else { throw QLoRAError.invalid("--compute-dtype int8 needs NF4 base weights (--base nf4)") }
            let variant = try Int8Variant.selected()
            let (n, total) = model.enableInt8(variant, output: int8Output.isOn)
            return "compute dtype \(computeDType == .auto ? "auto: " : "")int8 (\(variant.rawValue) kernels) on \(n) of \(total) block linears"
                + (model.outputInt8 != nil ? " and the output layer" : "")
        }
    }
}
