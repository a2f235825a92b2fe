import Foundation
import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// Row operations of softmax-style reductions, vectorized where the CPU allows (AVX-512, AVX2), with
/// the plain loops as the reference and fallback.
public enum VectorMath {
    /// x[i] = exp(x[i] − shift) in place; returns Σ.
    public static func expShiftedSum(_ x: UnsafeMutablePointer<Float>, _ count: Int, shift: Float,
                                     isa: KernelISA = .best) -> Float {
        if isa == .avx512 && isa.isSupported { return VectorMathAVX512.expShiftedSum(x, count, shift) }
        if isa == .avx2 && isa.isSupported { return VectorMathAVX2.expShiftedSum(x, count, shift) }
        var s: Float = 0
        for i in 0..<count {
            let e = expf(x[i] - shift)
            x[i] = e
            s += e
        }
        return s
    }

    public static func maximum(_ x: UnsafePointer<Float>, _ count: Int, isa: KernelISA = .best) -> Float {
        if isa == .avx512 && isa.isSupported { return VectorMathAVX512.maximum(x, count) }
        if isa == .avx2 && isa.isSupported { return VectorMathAVX2.maximum(x, count) }
        var m = -Float.infinity
        for i in 0..<count { m = max(m, x[i]) }
        return m
    }
}
