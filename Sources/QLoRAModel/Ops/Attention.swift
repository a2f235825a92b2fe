import Foundation
import QLoRACore
import QLoRAKernels

/// Causal grouped-query attention (Vaswani et al. 2017; GQA: Ainslie et al. 2023): for each sequence
/// b and head h with key/value head g = h / (NH/NKV),
/// P = softmax(Q_bh K_bgᵀ / √HS) with query t seeing the keys `keyRange(t)` (0…start+t, or the last
/// `window` of them with a sliding window), out_bh = P V_bg.
/// Legend: B = sequences, T = new query positions, L = key positions (start + T), NH = query
/// heads, NKV = key/value heads, HS = head size.
public enum Attention {
    public struct Shape {
        public var B: Int, T: Int, L: Int, start: Int, NH: Int, NKV: Int, HS: Int
        /// Floats between consecutive sequences in the key/value buffers (L·NKV·HS when packed).
        public var kvSequenceStride: Int
        /// Sliding window (Mistral, Phi-3, Qwen with `use_sliding_window`): query t sees only the
        /// `window` keys ending at its own position; nil = every earlier key.
        public var window: Int?

        public init(B: Int, T: Int, L: Int, start: Int, NH: Int, NKV: Int, HS: Int, kvSequenceStride: Int,
                    window: Int? = nil) {
            self.B = B; self.T = T; self.L = L; self.start = start
            self.NH = NH; self.NKV = NKV; self.HS = HS; self.kvSequenceStride = kvSequenceStride
            self.window = window
        }

        /// The keys [lo, hi) query t attends to.
        @inline(__always) public func keyRange(_ t: Int) -> (lo: Int, hi: Int) {
            let hi = min(L, start + t + 1)
            return (window.map { max(0, hi - $0) } ?? 0, hi)
        }
    }

    /// - out: (B·T, NH·HS); probs: (B, NH, T, L) saved for backward, or nil; q: (B·T, NH·HS), rotated;
    ///   keys, values: per sequence (L, NKV·HS) at `b · kvSequenceStride`, keys rotated.
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>?,
                               _ q: UnsafePointer<Float>, _ keys: UnsafePointer<Float>, _ values: UnsafePointer<Float>,
                               _ s: Shape, threads: Int, blas: BLAS) {
        let qStride = s.NH * s.HS, kvStride = s.NKV * s.HS
        let group = s.NH / s.NKV
        let scale = 1 / Float(s.HS).squareRoot()
        let scratchPerThread = s.T * s.L
        let scratch = probs == nil ? UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads * scratchPerThread)) : nil
        defer { scratch?.deallocate() }
        Parallel.forChunks(s.B * s.NH, threads: threads) { tIndex, lo, hi in
            for bh in lo..<hi {
                let b = bh / s.NH, h = bh % s.NH, g = h / group
                let P = probs.map { $0 + bh * scratchPerThread } ?? scratch! + tIndex * scratchPerThread
                let qb = q + b * s.T * qStride + h * s.HS
                let kb = keys + b * s.kvSequenceStride + g * s.HS
                let vb = values + b * s.kvSequenceStride + g * s.HS
                // P = scale · Q Kᵀ   (T, L)
                blas.sgemm(transA: false, transB: true, M: s.T, N: s.L, K: s.HS, alpha: scale, A: qb, lda: qStride,
                           B: kb, ldb: kvStride, C: P, ldc: s.L)
                for t in 0..<s.T {
                    let row = P + t * s.L
                    let (lo, hi) = s.keyRange(t)
                    let mx = VectorMath.maximum(row + lo, hi - lo)
                    let inv = 1 / VectorMath.expShiftedSum(row + lo, hi - lo, shift: mx)
                    for j in 0..<lo { row[j] = 0 }
                    for j in lo..<hi { row[j] *= inv }
                    for j in hi..<s.L { row[j] = 0 }
                }
                // out_bh = P V   (T, HS)
                blas.sgemm(transA: false, transB: false, M: s.T, N: s.HS, K: s.L, A: P, lda: s.L, B: vb, ldb: kvStride,
                           C: out + b * s.T * qStride + h * s.HS, ldc: qStride)
            }
        }
    }

    /// Accumulates dq, dk, dv from dout and the saved probabilities. Per (b, h), with P = probs:
    /// dV += Pᵀ dO; dP = dO Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dQ += scale · dS K; dK += scale · dSᵀ Q.
    /// Work is split over (sequence, key/value head) so heads sharing a dK/dV never run at once.
    /// - dq: (B·T, NH·HS), dk, dv: per sequence (L, NKV·HS) like keys/values; dout: (B·T, NH·HS).
    public static func backward(_ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>,
                                _ dv: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                _ probs: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ keys: UnsafePointer<Float>,
                                _ values: UnsafePointer<Float>, _ s: Shape, threads: Int, blas: BLAS) {
        let qStride = s.NH * s.HS, kvStride = s.NKV * s.HS
        let group = s.NH / s.NKV
        let scale = 1 / Float(s.HS).squareRoot()
        let tl = s.T * s.L
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads * tl))
        defer { scratch.deallocate() }
        Parallel.forChunks(s.B * s.NKV, threads: threads) { tIndex, lo, hi in
            let dP = scratch + tIndex * tl
            for bg in lo..<hi {
                let b = bg / s.NKV, g = bg % s.NKV
                let kb = keys + b * s.kvSequenceStride + g * s.HS
                let vb = values + b * s.kvSequenceStride + g * s.HS
                let dkb = dk + b * s.kvSequenceStride + g * s.HS
                let dvb = dv + b * s.kvSequenceStride + g * s.HS
                for h in (g * group)..<((g + 1) * group) {
                    let P = probs + (b * s.NH + h) * tl
                    let dO = dout + b * s.T * qStride + h * s.HS
                    let qb = q + b * s.T * qStride + h * s.HS
                    let dqb = dq + b * s.T * qStride + h * s.HS
                    // dV (L, HS) += Pᵀ (L, T) · dO (T, HS)
                    blas.sgemm(transA: true, transB: false, M: s.L, N: s.HS, K: s.T, A: P, lda: s.L, B: dO, ldb: qStride,
                               beta: 1, C: dvb, ldc: kvStride)
                    // dP (T, L) = dO (T, HS) · Vᵀ
                    blas.sgemm(transA: false, transB: true, M: s.T, N: s.L, K: s.HS, A: dO, lda: qStride, B: vb,
                               ldb: kvStride, C: dP, ldc: s.L)
                    for t in 0..<s.T {
                        let p = P + t * s.L, d = dP + t * s.L
                        var dot: Float = 0
                        for j in 0..<s.L { dot += p[j] * d[j] }
                        for j in 0..<s.L { d[j] = p[j] * (d[j] - dot) }
                    }
                    // dQ (T, HS) += scale · dS (T, L) · K (L, HS)
                    blas.sgemm(transA: false, transB: false, M: s.T, N: s.HS, K: s.L, alpha: scale, A: dP, lda: s.L,
                               B: kb, ldb: kvStride, beta: 1, C: dqb, ldc: qStride)
                    // dK (L, HS) += scale · dSᵀ (L, T) · Q (T, HS)
                    blas.sgemm(transA: true, transB: false, M: s.L, N: s.HS, K: s.T, alpha: scale, A: dP, lda: s.L,
                               B: qb, ldb: qStride, beta: 1, C: dkb, ldc: kvStride)
                }
            }
        }
    }
}
