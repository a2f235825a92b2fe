/// Per-element optimizer updates over raw buffers (one contiguous segment of one parameter).
///
/// Legend: N = elements in the segment. `value`, `grad`, `m`, `v` are (N) Float32 buffers.
/// Each update has a scalar `Reference` twin that is its specification; the SIMD version computes
/// every element with the same operations in the same order and no fused multiply-add, so the two
/// agree bit for bit (tested), whatever the split between vector body and scalar tail.
public enum OptimizerKernels {
    /// The per-step scalars of an AdamW update, already rounded to Float32 as PyTorch rounds its
    /// Python-float scalars when it passes them to a Float32 tensor op.
    public struct AdamWConstants: Sendable, Equatable {
        /// 1 − lr·weight_decay (`param.mul_`).
        public var decay: Float
        /// 1 − β1 (the weight of `exp_avg.lerp_(grad, 1 − β1)`).
        public var oneMinusBeta1: Float
        public var beta2: Float
        /// 1 − β2 (the value of `exp_avg_sq.addcmul_`).
        public var oneMinusBeta2: Float
        /// √(1 − β2^t).
        public var biasCorrection2Sqrt: Float
        public var eps: Float
        /// −lr / (1 − β1^t) (the value of `param.addcdiv_`).
        public var negStepSize: Float

        public init(decay: Float, oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float,
                    biasCorrection2Sqrt: Float, eps: Float, negStepSize: Float) {
            self.decay = decay
            self.oneMinusBeta1 = oneMinusBeta1
            self.beta2 = beta2
            self.oneMinusBeta2 = oneMinusBeta2
            self.biasCorrection2Sqrt = biasCorrection2Sqrt
            self.eps = eps
            self.negStepSize = negStepSize
        }
    }

    /// The per-step scalars of a Lion update.
    public struct LionConstants: Sendable, Equatable {
        /// 1 − lr·weight_decay.
        public var decay: Float
        public var beta1: Float
        public var oneMinusBeta1: Float
        public var beta2: Float
        public var oneMinusBeta2: Float
        /// −lr.
        public var negLR: Float

        public init(decay: Float, beta1: Float, oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float,
                    negLR: Float) {
            self.decay = decay
            self.beta1 = beta1
            self.oneMinusBeta1 = oneMinusBeta1
            self.beta2 = beta2
            self.oneMinusBeta2 = oneMinusBeta2
            self.negLR = negLR
        }
    }

    // MARK: AdamW

    /// AdamW on N elements, in the order of PyTorch's `_single_tensor_adam` (decoupled decay):
    ///   p ← p·decay;  m ← m + (1−β1)(g − m);  v ← v·β2 + ((1−β2)·g)·g;
    ///   p ← p + (−step·m) / (√v / √bc2 + ε).
    /// (PyTorch's vectorized `lerp` fuses the second line's multiply-add; this does not.)
    public static func adamWReference(
        value: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, count N: Int, _ k: AdamWConstants
    ) {
        for i in 0..<N {
            let g = grad[i]
            let p = value[i] * k.decay
            let mi = m[i] + k.oneMinusBeta1 * (g - m[i])
            let vi = v[i] * k.beta2 + k.oneMinusBeta2 * g * g
            let denom = vi.squareRoot() / k.biasCorrection2Sqrt + k.eps
            value[i] = p + k.negStepSize * mi / denom
            m[i] = mi
            v[i] = vi
        }
    }

    /// `adamWReference`, eight lanes at a time.
    public static func adamW(
        value: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        v: UnsafeMutablePointer<Float>, count N: Int, _ k: AdamWConstants
    ) {
        typealias V8 = SIMD8<Float>
        let decay = V8(repeating: k.decay), w1 = V8(repeating: k.oneMinusBeta1)
        let b2 = V8(repeating: k.beta2), w2 = V8(repeating: k.oneMinusBeta2)
        let bc2 = V8(repeating: k.biasCorrection2Sqrt), eps = V8(repeating: k.eps)
        let step = V8(repeating: k.negStepSize)
        let pv = UnsafeMutableRawPointer(value), gv = UnsafeRawPointer(grad)
        let mv = UnsafeMutableRawPointer(m), vv = UnsafeMutableRawPointer(v)
        var i = 0
        while i + 8 <= N {
            let o = 4 * i
            let g = gv.loadUnaligned(fromByteOffset: o, as: V8.self)
            let m0 = mv.loadUnaligned(fromByteOffset: o, as: V8.self)
            let p = pv.loadUnaligned(fromByteOffset: o, as: V8.self) * decay
            let mi = m0 + w1 * (g - m0)
            let vi = vv.loadUnaligned(fromByteOffset: o, as: V8.self) * b2 + w2 * g * g
            let denom = vi.squareRoot() / bc2 + eps
            pv.storeBytes(of: p + step * mi / denom, toByteOffset: o, as: V8.self)
            mv.storeBytes(of: mi, toByteOffset: o, as: V8.self)
            vv.storeBytes(of: vi, toByteOffset: o, as: V8.self)
            i += 8
        }
        if i < N {
            adamWReference(value: value + i, grad: grad + i, m: m + i, v: v + i, count: N - i, k)
        }
    }

    // MARK: Lion

    /// Lion (Chen et al. 2023, arXiv 2302.06675, Algorithm 2) on N elements, in the order of the
    /// authors' PyTorch code (lucidrains/lion-pytorch, bitsandbytes):
    ///   p ← p·decay;  c ← m·β1 + (1−β1)·g;  p ← p + (−lr)·sign(c);  m ← m·β2 + (1−β2)·g.
    /// sign(±0) = 0; a NaN in c stays NaN (so a NaN gradient is visible in the parameter).
    public static func lionReference(
        value: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        count N: Int, _ k: LionConstants
    ) {
        for i in 0..<N {
            let g = grad[i]
            let p = value[i] * k.decay
            let c = m[i] * k.beta1 + k.oneMinusBeta1 * g
            let s: Float = c > 0 ? 1 : (c < 0 ? -1 : c * 0)
            value[i] = p + k.negLR * s
            m[i] = m[i] * k.beta2 + k.oneMinusBeta2 * g
        }
    }

    /// `lionReference`, eight lanes at a time.
    public static func lion(
        value: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
        count N: Int, _ k: LionConstants
    ) {
        typealias V8 = SIMD8<Float>
        let decay = V8(repeating: k.decay), b1 = V8(repeating: k.beta1), w1 = V8(repeating: k.oneMinusBeta1)
        let b2 = V8(repeating: k.beta2), w2 = V8(repeating: k.oneMinusBeta2), lr = V8(repeating: k.negLR)
        let one = V8(repeating: 1), zero = V8(repeating: 0)
        let pv = UnsafeMutableRawPointer(value), gv = UnsafeRawPointer(grad), mv = UnsafeMutableRawPointer(m)
        var i = 0
        while i + 8 <= N {
            let o = 4 * i
            let g = gv.loadUnaligned(fromByteOffset: o, as: V8.self)
            let m0 = mv.loadUnaligned(fromByteOffset: o, as: V8.self)
            let p = pv.loadUnaligned(fromByteOffset: o, as: V8.self) * decay
            let c = m0 * b1 + w1 * g
            var s = c * zero
            s.replace(with: one, where: c .> zero)
            s.replace(with: -one, where: c .< zero)
            pv.storeBytes(of: p + lr * s, toByteOffset: o, as: V8.self)
            mv.storeBytes(of: m0 * b2 + w2 * g, toByteOffset: o, as: V8.self)
            i += 8
        }
        if i < N {
            lionReference(value: value + i, grad: grad + i, m: m + i, count: N - i, k)
        }
    }
}
