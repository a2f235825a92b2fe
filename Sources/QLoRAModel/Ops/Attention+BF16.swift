import QLoRACore
import QLoRAKernels

/// Attention with `--compute-dtype bf16`: the same op as `Attention.forward` / `.backward`, its six
/// products per head (QKᵀ, P·V; dV = Pᵀ·dO, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q) as bf16 pair products
/// with Float32 accumulation (`BF16Products`), skipping the causal half every head masks (keys past
/// `start + t` for query t). Softmax, its statistics and dS = P ⊙ (dP − rowsum(dP ⊙ P)) stay Float32;
/// P is saved in Float32 and rounded as each product packs it.
extension Attention {
    /// bf16 only at prefill/training sizes: decode-sized queries (T ≤ 4) stay Float32, like the GEMV.
    static func usesBF16(_ dtype: ComputeDType, _ s: Shape) -> Bool { dtype == .bf16 && s.T > 4 }

    static func forwardBF16(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>?,
                            _ q: UnsafePointer<Float>, _ keys: UnsafePointer<Float>, _ values: UnsafePointer<Float>,
                            _ s: Shape, threads: Int) {
        let qStride = s.NH * s.HS, kvStride = s.NKV * s.HS
        let group = s.NH / s.NKV
        let tl = s.T * s.L
        let ws = max(BF16Products.scratchFloats(M: s.T, N: s.L, K: s.HS), BF16Products.scratchFloats(M: s.T, N: s.HS, K: s.L))
        let perThread = (probs == nil ? tl : 0) + ws
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads * perThread))
        defer { scratch.deallocate() }
        Parallel.forChunks(s.B * s.NH, threads: threads) { tIndex, lo, hi in
            let mine = scratch + tIndex * perThread
            let work = mine + (probs == nil ? tl : 0)
            for bh in lo..<hi {
                let b = bh / s.NH, h = bh % s.NH, g = h / group
                let P = probs.map { $0 + bh * tl } ?? mine
                let qb = q + b * s.T * qStride + h * s.HS
                let kb = keys + b * s.kvSequenceStride + g * s.HS
                let vb = values + b * s.kvSequenceStride + g * s.HS
                // P = scale · Q Kᵀ   (T, L), only keys j ≤ start + t
                BF16Products.gemm(transA: false, transB: true, M: s.T, N: s.L, K: s.HS, alpha: s.scale, A: qb, lda: qStride,
                                  B: kb, ldb: kvStride, C: P, ldc: s.L, band: .outputLower(s.start), scratch: work)
                if let cap = s.softcap { SoftCap.forward(P, tl, cap: cap) }
                for t in 0..<s.T { maskedSoftmax(P + t * s.L, s, b: b, t: t) }
                // out_bh = P V   (T, HS); P[t, j] = 0 past start + t
                BF16Products.gemm(transA: false, transB: false, M: s.T, N: s.HS, K: s.L, A: P, lda: s.L, B: vb,
                                  ldb: kvStride, C: out + b * s.T * qStride + h * s.HS, ldc: qStride,
                                  band: .aLower(s.start), scratch: work)
            }
        }
    }

    static func backwardBF16(_ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>,
                             _ dv: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                             _ probs: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ keys: UnsafePointer<Float>,
                             _ values: UnsafePointer<Float>, _ s: Shape, threads: Int) {
        let qStride = s.NH * s.HS, kvStride = s.NKV * s.HS
        let group = s.NH / s.NKV
        let tl = s.T * s.L
        let ws = max(BF16Products.scratchFloats(M: s.L, N: s.HS, K: s.T), BF16Products.scratchFloats(M: s.T, N: s.L, K: s.HS),
                     BF16Products.scratchFloats(M: s.T, N: s.HS, K: s.L))
        let perThread = (s.softcap == nil ? tl : 2 * tl) + ws
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, threads * perThread))
        defer { scratch.deallocate() }
        Parallel.forChunks(s.B * s.NKV, threads: threads) { tIndex, lo, hi in
            let dP = scratch + tIndex * perThread
            let capped = dP + tl
            let work = dP + (s.softcap == nil ? tl : 2 * tl)
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
                    // dV (L, HS) += Pᵀ (L, T) · dO (T, HS); Pᵀ[j, t] = 0 for t < j − start
                    BF16Products.gemm(transA: true, transB: false, M: s.L, N: s.HS, K: s.T, A: P, lda: s.L, B: dO,
                                      ldb: qStride, accumulate: true, C: dvb, ldc: kvStride, band: .aUpper(s.start),
                                      scratch: work)
                    // dP (T, L) = dO (T, HS) · Vᵀ, only keys j ≤ start + t
                    BF16Products.gemm(transA: false, transB: true, M: s.T, N: s.L, K: s.HS, A: dO, lda: qStride, B: vb,
                                      ldb: kvStride, C: dP, ldc: s.L, band: .outputLower(s.start), scratch: work)
                    for t in 0..<s.T {
                        softmaxBackwardRow(P + t * s.L, dP + t * s.L, visible: min(s.L, s.start + t + 1), s.L)
                    }
                    if let cap = s.softcap {
                        BF16Products.gemm(transA: false, transB: true, M: s.T, N: s.L, K: s.HS, alpha: s.scale, A: qb,
                                          lda: qStride, B: kb, ldb: kvStride, C: capped, ldc: s.L,
                                          band: .outputLower(s.start), scratch: work)
                        SoftCap.forward(capped, tl, cap: cap)
                        SoftCap.backward(dP, capped, tl, cap: cap)
                    }
                    // dQ (T, HS) += scale · dS (T, L) · K (L, HS); dS[t, j] = 0 past start + t
                    BF16Products.gemm(transA: false, transB: false, M: s.T, N: s.HS, K: s.L, alpha: s.scale, A: dP,
                                      lda: s.L, B: kb, ldb: kvStride, accumulate: true, C: dqb, ldc: qStride,
                                      band: .aLower(s.start), scratch: work)
                    // dK (L, HS) += scale · dSᵀ (L, T) · Q (T, HS); dSᵀ[j, t] = 0 for t < j − start
                    BF16Products.gemm(transA: true, transB: false, M: s.L, N: s.HS, K: s.T, alpha: s.scale, A: dP,
                                      lda: s.L, B: qb, ldb: qStride, accumulate: true, C: dkb, ldc: kvStride,
                                      band: .aUpper(s.start), scratch: work)
                }
            }
        }
    }

    /// d[j] = p[j] · (d[j] − Σ_{i<visible} p[i]·d[i]) for j < visible, 0 for the rest of the row
    /// (p is 0 there). Sixteen lanes at a time; the Float32 path keeps its scalar loop.
    @inline(__always)
    static func softmaxBackwardRow(_ p: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, visible: Int, _ L: Int) {
        var acc = SIMD16<Float>(repeating: 0)
        var j = 0
        while j + 16 <= visible {
            let pv = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self)
            let dv = UnsafeRawPointer(d + j).loadUnaligned(as: SIMD16<Float>.self)
            acc.addProduct(pv, dv)
            j += 16
        }
        var dot = acc.sum()
        while j < visible { dot += p[j] * d[j]; j += 1 }
        j = 0
        let dd = SIMD16<Float>(repeating: dot)
        while j + 16 <= visible {
            let pv = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self)
            let dv = UnsafeRawPointer(d + j).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(d + j).storeBytes(of: pv * (dv - dd), as: SIMD16<Float>.self)
            j += 16
        }
        while j < visible { d[j] = p[j] * (d[j] - dot); j += 1 }
        if visible < L { (d + visible).initialize(repeating: 0, count: L - visible) }
    }
}
