import QLoRAKernels

/// What a resume says when its products are not computed as the checkpointed run's were: another
/// `--compute-dtype`, or another kernel path (another CPU, `QLORA_ISA` or `QLORA_BLAS_CORETYPE`). Both are
/// allowed (like a changed learning rate), but the continuation is no longer bit-identical to an
/// uninterrupted run. A checkpoint without a field (written before it was recorded) is unknown there:
/// nothing is said.
public enum ResumeArithmetic {
    /// One warning line, or nil when the checkpoint's recorded arithmetic is this run's (or unknown).
    /// A changed compute type is the one said: it changes the kernel path's bf16 part too.
    public static func warning(step: Int, checkpointDType: String?, checkpointPath: KernelPath?,
                        dtype: String, path: KernelPath) -> String? {
        let notSame = "the continuation is not bit-identical to an uninterrupted run"
        if let theirs = checkpointDType, theirs != dtype {
            return "checkpoint step \(step) was trained with --compute-dtype \(theirs), this run computes in \(dtype): \(notSame)"
        }
        guard let theirs = checkpointPath else { return nil }
        // The bf16 variant is compared only where both runs name one (the same dtype, bf16); OpenBLAS's core
        // only where both name one (older checkpoints do not).
        func differ(_ a: String?, _ b: String?) -> Bool { a != nil && b != nil && a != b }
        let isa = theirs.isa != path.isa || differ(theirs.bf16, path.bf16)
        let core = differ(theirs.openblasCore, path.openblasCore)
        guard isa || core else { return nil }
        let hint = isa && core ? "another CPU, QLORA_ISA or QLORA_BLAS_CORETYPE"
            : isa ? "another CPU or QLORA_ISA" : "another CPU or QLORA_BLAS_CORETYPE"
        return "checkpoint step \(step) ran on kernel path \(theirs), this run on \(path): \(notSame) (\(hint))"
    }
}
