/// Global gradient-norm clipping with `torch.nn.utils.clip_grad_norm_` semantics.
public enum GradientClipping {
    /// Scales every gradient by `min(1, maxNorm / (total + 1e-6))`, where `total` is the 2-norm of
    /// all gradients taken together, and returns `total` (before clipping).
    ///
    /// Squares are summed in Double (PyTorch sums per tensor and takes the norm of norms; the result
    /// agrees to Float32 rounding), the coefficient is formed in Float32 as PyTorch does, and
    /// gradients are multiplied only when it is below 1. A non-finite total leaves the gradients
    /// unchanged (PyTorch would turn them into NaN); the caller sees it in the returned value and
    /// can skip the step.
    @discardableResult
    public static func clipGlobalNorm(_ parameters: [Parameter], maxNorm: Double) -> Double {
        let total = Float(globalNorm(parameters))
        guard total.isFinite, maxNorm > 0 else { return Double(total) }
        let coef = Float(maxNorm) / (total + 1e-6)
        if coef < 1 {
            for p in parameters {
                for i in 0..<p.count { p.grad[i] *= coef }
            }
        }
        return Double(total)
    }

    /// The 2-norm of all gradients taken together (no clipping).
    public static func globalNorm(_ parameters: [Parameter]) -> Double {
        var sum = 0.0
        for p in parameters {
            var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
            var i = 0
            let g = p.grad
            while i + 4 <= p.count {
                let a = Double(g[i]), b = Double(g[i + 1]), c = Double(g[i + 2]), d = Double(g[i + 3])
                s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
                i += 4
            }
            while i < p.count { s0 += Double(g[i]) * Double(g[i]); i += 1 }
            sum += (s0 + s1) + (s2 + s3)
        }
        return sum.squareRoot()
    }
}
