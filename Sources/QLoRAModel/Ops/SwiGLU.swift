import QLoRAKernels

/// The SwiGLU gate of LLaMA's MLP (Shazeer 2020, arXiv 2002.05202): h = silu(g) ⊙ u with
/// silu(g) = g · σ(g). Legend: M = tokens, F = intermediate size. The loops are `SwiGLUKernels`
/// (vectorized exp on AVX-512 and AVX2, expf on the scalar path).
public enum SwiGLU {
    /// - out: (M·F); gate, up: (M·F).
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>,
                               _ up: UnsafePointer<Float>, _ count: Int) {
        SwiGLUKernels.forward(out, gate, up, count)
    }

    /// Accumulates dgate += dh · u · σ(g)(1 + g(1 − σ(g))) and dup += dh · silu(g).
    /// - dgate, dup: (M·F), accumulated; dh: (M·F); gate, up: (M·F) saved from forward.
    public static func backward(_ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>,
                                _ dh: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                                _ count: Int) {
        SwiGLUKernels.backward(dgate, dup, dh, gate, up, count)
    }
}
