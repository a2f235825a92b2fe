/// What one decoder layer's forward saves for its backward (llm.c's ActivationTensors, per layer).
/// Legend: M = B·T, C = hidden, QD = NH·HS, KVD = NKV·HS, F = intermediate, NH = heads.
final class LayerActivations {
    let xn1, xmid, xn2: UnsafeMutablePointer<Float>        // (M, C)
    let inv1, inv2: UnsafeMutablePointer<Float>            // (M)
    let q, att: UnsafeMutablePointer<Float>                // (M, QD); q after RoPE
    let k, v: UnsafeMutablePointer<Float>                  // (M, KVD); k after RoPE
    let probs: UnsafeMutablePointer<Float>                 // (B, NH, T, LK), LK = prefix + T
    let kAll, vAll: UnsafeMutablePointer<Float>?           // (B, LK, KVD) with a key/value prefix: its rows, then k or v
    let gate, up: UnsafeMutablePointer<Float>              // (M, F); h = swiglu(gate, up) is recomputed
    /// With per-head q/k norms (Qwen3): q and k before the norm, and the norms' inverse RMS per head.
    let qPre, kPre: UnsafeMutablePointer<Float>?           // (M, QD), (M, KVD)
    let qInv, kInv: UnsafeMutablePointer<Float>?           // (M·NH), (M·NKV)
    /// With Gemma's sandwich norms: o_proj's and down_proj's outputs before their norms, and the norms' inverse RMS.
    let attnOut, mlpOut: UnsafeMutablePointer<Float>?      // (M, C)
    let invPostAttn, invPostMlp: UnsafeMutablePointer<Float>?  // (M)
    let all: [UnsafeMutablePointer<Float>]

    init(M: Int, B: Int, T: Int, C: Int, QD: Int, KVD: Int, F: Int, NH: Int, prefix: Int = 0, qkNorm: (heads: Int, kvHeads: Int)? = nil,
         sandwichNorms: Bool = false) {
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            return p
        }
        xn1 = alloc(M * C); xmid = alloc(M * C); xn2 = alloc(M * C)
        inv1 = alloc(M); inv2 = alloc(M)
        q = alloc(M * QD); att = alloc(M * QD)
        k = alloc(M * KVD); v = alloc(M * KVD)
        probs = alloc(B * NH * T * (prefix + T))
        gate = alloc(M * F); up = alloc(M * F)
        kAll = prefix > 0 ? alloc(B * (prefix + T) * KVD) : nil
        vAll = prefix > 0 ? alloc(B * (prefix + T) * KVD) : nil
        qPre = qkNorm != nil ? alloc(M * QD) : nil
        kPre = qkNorm != nil ? alloc(M * KVD) : nil
        qInv = qkNorm.map { alloc(M * $0.heads) }
        kInv = qkNorm.map { alloc(M * $0.kvHeads) }
        attnOut = sandwichNorms ? alloc(M * C) : nil
        mlpOut = sandwichNorms ? alloc(M * C) : nil
        invPostAttn = sandwichNorms ? alloc(M) : nil
        invPostMlp = sandwichNorms ? alloc(M) : nil
        all = [xn1, xmid, xn2, inv1, inv2, q, att, k, v, probs, gate, up]
            + [kAll, vAll, qPre, kPre, qInv, kInv, attnOut, mlpOut, invPostAttn, invPostMlp].compactMap { $0 }
    }

    deinit { for p in all { p.deallocate() } }

    /// Floats held, for the memory plan.
    static func floats(M: Int, B: Int, T: Int, C: Int, QD: Int, KVD: Int, F: Int, NH: Int) -> Int {
        3 * M * C + 2 * M + 2 * M * QD + 2 * M * KVD + B * NH * T * T + 2 * M * F
    }
}
