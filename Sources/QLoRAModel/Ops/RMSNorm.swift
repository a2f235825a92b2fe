/// RMSNorm (Zhang & Sennrich 2019), as LLaMA uses it: y = w ⊙ (x · 1/√(mean(x²) + ε)); Gemma's
/// scales by (1 + w) instead (`offset` 1). Computed as Hugging Face's LlamaRMSNorm / GemmaRMSNorm do
/// in Float32: x times the inverse RMS first, then the (offset + weight). Legend: M = rows (tokens),
/// C = hidden.
public enum RMSNorm {
    /// - out: (M, C); invRMS: (M), saved for backward; x: (M, C); weight: (C); offset: 0, or 1 for (1 + w).
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ invRMS: UnsafeMutablePointer<Float>?,
                               _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ M: Int, _ C: Int, eps: Float,
                               offset: Float = 0) {
        for t in 0..<M {
            let xr = x + t * C, o = out + t * C
            var ss: Float = 0
            var acc = SIMD16<Float>()
            var c = 0
            while c + 16 <= C {
                let v = UnsafeRawPointer(xr + c).loadUnaligned(as: SIMD16<Float>.self)
                acc.addProduct(v, v)
                c += 16
            }
            ss = acc.sum()
            while c < C { ss += xr[c] * xr[c]; c += 1 }
            let r = 1 / (ss / Float(C) + eps).squareRoot()
            invRMS?[t] = r
            if offset == 0 {
                for c in 0..<C { o[c] = weight[c] * (xr[c] * r) }
            } else {
                for c in 0..<C { o[c] = (xr[c] * r) * (offset + weight[c]) }
            }
        }
    }

    /// Accumulates the input gradient: with n = x · r (r = invRMS) and g = (offset + w) ⊙ dy,
    /// dx += r · (g − n · mean(n ⊙ g)). The weight is frozen (no dWeight).
    /// - dx: (M, C), accumulated; dy: (M, C); x: (M, C); weight: (C); invRMS: (M) from forward.
    public static func backward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>,
                                _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                _ invRMS: UnsafePointer<Float>, _ M: Int, _ C: Int, offset: Float = 0) {
        for t in 0..<M {
            let xr = x + t * C, g = dy + t * C, d = dx + t * C
            let r = invRMS[t]
            var dot: Float = 0
            for c in 0..<C { dot += (offset + weight[c]) * g[c] * xr[c] * r }
            let meanDot = dot / Float(C)
            for c in 0..<C { d[c] += r * ((offset + weight[c]) * g[c] - xr[c] * r * meanDot) }
        }
    }
}
