import Foundation
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// The SwiGLU gate's elementwise loops (h = silu(g) ⊙ u and its gradient), vectorized with the
/// path's exp; the scalar loops (expf) are the reference and do the tails.
public enum SwiGLUKernels {
    /// out[i] = g / (1 + exp(−g)) · u; out may alias gate.
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>,
                               _ up: UnsafePointer<Float>, _ count: Int, isa: KernelISA = .best) {
        var i = 0
        if isa == .avx512 && isa.isSupported {
            i = SwiGLUAVX512.forward(out, gate, up, count)
        } else if isa == .avx2 && isa.isSupported {
            i = SwiGLUAVX2.forward(out, gate, up, count)
        }
        while i < count {
            let g = gate[i]
            out[i] = g / (1 + expf(-g)) * up[i]
            i += 1
        }
    }

    /// dgate += dh · u · σ(g)(1 + g(1 − σ(g))) and dup += dh · g · σ(g).
    public static func backward(_ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>,
                                _ dh: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                                _ count: Int, isa: KernelISA = .best) {
        var i = 0
        if isa == .avx512 && isa.isSupported {
            i = SwiGLUAVX512.backward(dgate, dup, dh, gate, up, count)
        } else if isa == .avx2 && isa.isSupported {
            i = SwiGLUAVX2.backward(dgate, dup, dh, gate, up, count)
        }
        while i < count {
            let g = gate[i]
            let s = 1 / (1 + expf(-g))
            dgate[i] += dh[i] * up[i] * s * (1 + g * (1 - s))
            dup[i] += dh[i] * g * s
            i += 1
        }
    }
}
