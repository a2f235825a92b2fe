import Foundation
import QLoRACore
import QLoRAKernels

/// Causal grouped-query attention (Vaswani et al. 2017; GQA: Ainslie et al. 2023): for each sequence
/// b and head h with key/value head g = h / (NH/NKV),
/// P = softmax(cap(scale · Q_bh K_bgᵀ)) (scale 1/√HS unless the family sets one; cap = soft-capping,
/// Gemma 2, or none) with query t seeing the keys of `Shape.keyRange` (its own example's
/// earlier keys, or the last `window` of them with a sliding window), out_bh = P V_bg.
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

        /// Packed rows (several examples in one sequence): per query (B·T), the key index where its
        /// example begins; nil: every query's example begins at key 0.
        public var segmentStarts: UnsafePointer<Int32>?
        /// Keys [0, pinned) are seen by every query after them whatever its segment (the virtual
        /// positions of prompt and prefix tuning).
        public var pinned: Int
        /// Scores are q·k times this (Gemma: 1/√query_pre_attn_scalar).
        public var scale: Float
        /// Scores become softcap · tanh(score / softcap) before the mask (Gemma 2); nil: none.
        public var softcap: Float?

        public init(B: Int, T: Int, L: Int, start: Int, NH: Int, NKV: Int, HS: Int, kvSequenceStride: Int,
                    segmentStarts: UnsafePointer<Int32>? = nil, pinned: Int = 0, window: Int? = nil,
                    scale: Float? = nil, softcap: Float? = nil) {
            self.B = B; self.T = T; self.L = L; self.start = start
            self.NH = NH; self.NKV = NKV; self.HS = HS; self.kvSequenceStride = kvSequenceStride
            self.segmentStarts = segmentStarts; self.pinned = pinned
            self.window = window
            self.scale = scale ?? 1 / Float(HS).squareRoot()
            self.softcap = softcap
        }

        /// The keys query t of sequence b sees: j < hi (causal: start + t) with j < pinned or j ≥ lo, where
        /// lo is the start of its example (packed rows) or of its sliding window, whichever is later.
        @inline(__always)
        public func keyRange(b: Int, t: Int) -> (lo: Int, hi: Int) {
            let hi = min(L, start + t + 1)
            let segment = segmentStarts.map { Int($0[b * T + t]) } ?? 0
            return (window.map { max(segment, hi - $0) } ?? segment, hi)
        }
    }

    /// Softmax in place over row[0..<L]'s visible keys (see `Shape.keyRange`); the others become 0.
    @inline(__always)
    static func maskedSoftmax(_ row: UnsafeMutablePointer<Float>, _ s: Shape, b: Int, t: Int) {
        let (lo, hi) = s.keyRange(b: b, t: t)
        let pin = min(s.pinned, hi)
        if lo <= pin {   // one causal range [0, hi)
            let mx = VectorMath.maximum(row, hi)
            let inv = 1 / VectorMath.expShiftedSum(row, hi, shift: mx)
            for j in 0..<hi { row[j] *= inv }
        } else {         // [0, pin) ∪ [lo, hi)
            var mx = VectorMath.maximum(row + lo, hi - lo)
            if pin > 0 { mx = max(mx, VectorMath.maximum(row, pin)) }
            var sum = VectorMath.expShiftedSum(row + lo, hi - lo, shift: mx)
            if pin > 0 { sum += VectorMath.expShiftedSum(row, pin, shift: mx) }
            let inv = 1 / sum
            for j in 0..<pin { row[j] *= inv }
            for j in pin..<lo { row[j] = 0 }
            for j in lo..<hi { row[j] *= inv }
        }
        for j in hi..<s.L { row[j] = 0 }
    }

    /// - out: (B·T, NH·HS); probs: (B, NH, T, L) saved for backward, or nil; q: (B·T, NH·HS), rotated;
    ///   keys, values: per sequence (L, NKV·HS) at `b · kvSequenceStride`, keys rotated.
    /// `dtype` `.bf16` runs the products as bf16 pair products (`forwardBF16`); softmax stays Float32.
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>?,
                               _ q: UnsafePointer<Float>, _ keys: UnsafePointer<Float>, _ values: UnsafePointer<Float>,
                               _ s: Shape, threads: Int, blas: BLAS, dtype: ComputeDType = .f32) {
        if usesBF16(dtype, s) {
            forwardBF16(out, probs, q, keys, values, s, threads: threads)
            return
        }
        let qStride = s.NH * s.HS, kvStride = s.NKV * s.HS
        let group = s.NH / s.NKV
        let scale = s.scale
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
                if let cap = s.softcap { SoftCap.forward(P, s.T * s.L, cap: cap) }
                for t in 0..<s.T { maskedSoftmax(P + t * s.L, s, b: b, t: t) }
                // out_bh = P V   (T, HS)
                blas.sgemm(transA: false, transB: false, M: s.T, N: s.HS, K: s.L, A: P, lda: s.L, B: vb, ldb: kvStride,
                           C: out + b * s.T * qStride + h * s.HS, ldc: qStride)
            }
        }
    }

    /// Accumulates dq, dk, dv from dout and the saved probabilities. Per (b, h), with P = probs:
    /// dV += Pᵀ dO; dP = dO Vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P)); dQ += scale · dS K; dK += scale · dSᵀ Q.
    /// With soft-capping, the capped scores are recomputed (scale · Q Kᵀ, capped) and dS is taken
    /// through the cap first (`SoftCap.backward`).
    /// The mask is in P: keys a query does not see have P = 0, so dS and their dK/dV terms are 0.
    /// Work is split over (sequence, key/value head) so heads sharing a dK/dV never run at once.
    /// - dq: (B·T, NH·HS), dk, dv: per sequence (L, NKV·HS) like keys/values; dout: (B·T, NH·HS).
    public static func backward(_ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>,
                                _ dv: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                                _ probs: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ keys: UnsafePointer<Float>,
                                _ values: UnsafePointer<Float>, _ s: Shape, threads: Int, blas: BLAS,
                                dtype: ComputeDType = .f32) {
        if usesBF16(dtype, s) {
            backwardBF16(dq, dk, dv, dout, probs, q, keys, values, s, threads: threads)
            return
        }
        let qStride = s.NH * s.HS, kvStride = s.NKV * s.HS
        let group = s.NH / s.NKV
        let scale = s.scale
        let tl = s.T * s.L
        let perThread = s.softcap == nil ? tl : 2 * tl
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads * perThread))
        defer { scratch.deallocate() }
        Parallel.forChunks(s.B * s.NKV, threads: threads) { tIndex, lo, hi in
            let dP = scratch + tIndex * perThread
            let capped = dP + tl   // the capped scores, with soft-capping
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
                    if let cap = s.softcap {
                        blas.sgemm(transA: false, transB: true, M: s.T, N: s.L, K: s.HS, alpha: scale, A: qb, lda: qStride,
                                   B: kb, ldb: kvStride, C: capped, ldc: s.L)
                        SoftCap.forward(capped, tl, cap: cap)
                        SoftCap.backward(dP, capped, tl, cap: cap)
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
