import QLoRACore
import QLoRAKernels
import QLoRAModel

/// DoRA (Liu et al. 2024, arXiv 2402.09353) as a variant of the LoRA layer, with PEFT's semantics
/// (`tuners/lora/dora.py` DoraLinearLayer, `tuners/lora/variants.py` DoraLinearVariant):
///
///     n = ‖W + s·B·A‖_row (O), detached: a constant in backward (paper §4.3; PEFT `weight_norm.detach()`)
///     g = m / n (O)
///     y = W·x + b + (g − 1) ⊙ W·x̃ + g ⊙ s·B·A·x̃,   x̃ = drop(x)
///
/// Without dropout (x̃ = x) this is y = g ⊙ (W·x + s·B·A·x) + b. With dropout in training PEFT passes
/// `base_result=None`, so the (g − 1) term is recomputed on the dropped input while the frozen base
/// term keeps x; this does the same (one more frozen product in forward and in backward).
///
/// The norm never expands W: n_j² = ‖W_j‖² + 2s·B_j·(A·Wᵀ)_{:,j} + s²·B_j (A·Aᵀ) B_jᵀ, where ‖W_j‖² is
/// computed once, one dequantized row at a time, and A·Wᵀ is one frozen forward of the r rows of A.
/// Saved by forward: z = W·x̃ + s·B·A·x̃ (M, O) for dm, the LoRA u, and n.
/// Legend: M = tokens, I = in features, O = out features, r = rank.
extension LoRALinear {
    /// DoRA's magnitude m (O).
    public var magnitude: UnsafeMutablePointer<Float> { magnitudeParameter!.value }
    /// Its gradient (O).
    public var dMagnitude: UnsafeMutablePointer<Float> { magnitudeParameter!.grad }

    /// ‖W_j‖² for every row j of the frozen base (O), in Double, one dequantized row at a time.
    public static func baseRowNormsSquared(_ base: FrozenLinear, threads: Int) -> [Double] {
        let O = base.outFeatures, I = base.inFeatures
        var out = [Double](repeating: 0, count: O)
        out.withUnsafeMutableBufferPointer { res in
            let dst = res.baseAddress!
            Parallel.forChunks(O, threads: threads, granule: 8) { _, lo, hi in
                let row = UnsafeMutablePointer<Float>.allocate(capacity: I)
                defer { row.deallocate() }
                for j in lo..<hi {
                    switch base.storage {
                    case .nf4(let m): NF4Reference.dequantizeRow(m.ref, j, row)
                    case .dense(let m): m.row(j, into: row)
                    }
                    var acc = 0.0
                    for i in 0..<I { acc += Double(row[i]) * Double(row[i]) }
                    dst[j] = acc
                }
            }
        }
        return out
    }

    /// n (O) = ‖W_j + s·(B·A)_j‖ for the current A and B (PEFT's `get_weight_norm`).
    public func doraWeightNorm(base: FrozenLinear, threads: Int, workspace: KernelWorkspace) -> [Float] {
        let r = rank, O = outFeatures, I = inFeatures
        precondition(base.outFeatures == O && base.inFeatures == I, "\(name): DoRA base is \(base.outFeatures)×\(base.inFeatures)")
        if baseRowNormSquared == nil { baseRowNormSquared = Self.baseRowNormsSquared(base, threads: threads) }
        let w2 = baseRowNormSquared!
        // P (r, O) = A · Wᵀ: the frozen layer's forward on the r rows of A, bias removed.
        let P = UnsafeMutablePointer<Float>.allocate(capacity: r * O)
        defer { P.deallocate() }
        base.forward(a, M: r, P, threads: threads, workspace: workspace)
        if let bias = base.bias { for k in 0..<r { for j in 0..<O { P[k * O + j] -= bias[j] } } }
        // G (r, r) = A · Aᵀ.
        var G = [Double](repeating: 0, count: r * r)
        for k in 0..<r {
            for l in k..<r {
                var acc = 0.0
                for i in 0..<I { acc += Double(a[k * I + i]) * Double(a[l * I + i]) }
                G[k * r + l] = acc
                G[l * r + k] = acc
            }
        }
        let s = Double(scale)
        var n = [Float](repeating: 0, count: O)
        for j in 0..<O {
            let bj = b + j * r
            var cross = 0.0, quad = 0.0
            for k in 0..<r {
                cross += Double(bj[k]) * Double(P[k * O + j])
                var t = 0.0
                for l in 0..<r { t += G[k * r + l] * Double(bj[l]) }
                quad += Double(bj[k]) * t
            }
            n[j] = Float(max(0, w2[j] + 2 * s * cross + s * s * quad).squareRoot())
        }
        return n
    }

    /// m = ‖W + s·B·A‖_row: PEFT's initialization (‖W‖_row while B = 0).
    public func initializeMagnitude(base: FrozenLinear, threads: Int, workspace: KernelWorkspace) {
        let n = doraWeightNorm(base: base, threads: threads, workspace: workspace)
        for j in 0..<outFeatures { magnitude[j] = n[j] }
    }

    /// y (M, O) = base(x) on entry → DoRA's output; saves z, u and n.
    func doraForward(_ x: UnsafePointer<Float>, M: Int, _ y: UnsafeMutablePointer<Float>, base: FrozenLinear,
                     blas: BLAS, threads: Int, workspace: KernelWorkspace) {
        let O = outFeatures
        if !(freezesWeightNorm && weightNorm.count == O) {
            weightNorm = doraWeightNorm(base: base, threads: threads, workspace: workspace)
        }
        let z = doraSaved.floats(M * O)
        if dropsInput {
            let xd = dropped(x, M)!
            defer { xd.deallocate() }
            base.forward(xd, M: M, z, threads: threads, workspace: workspace)   // W·x̃ + b
        } else {
            z.update(from: y, count: M * O)                                    // W·x + b
        }
        if let bias = base.bias { for t in 0..<M { for j in 0..<O { z[t * O + j] -= bias[j] } } }
        for i in 0..<(M * O) { y[i] -= z[i] }                                  // y = W·x + b − W·x̃
        forward(x, M: M, z, blas: blas, threads: threads)                      // z += s·B·A·x̃
        let g = (0..<O).map { magnitude[$0] / weightNorm[$0] }
        for t in 0..<M {
            let yt = y + t * O, zt = z + t * O
            for j in 0..<O { yt[j] += g[j] * zt[j] }                           // + g ⊙ (W·x̃ + s·B·A·x̃)
        }
    }

    /// Accumulates dm += Σ_t dy ⊙ z / n, dA and dB (LoRA's, on g ⊙ dy), and dx (M, I) += the input
    /// gradient of the whole adapted linear, base included. n is a constant (detached).
    func doraBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, M: Int, _ dx: UnsafeMutablePointer<Float>,
                      base: FrozenLinear, blas: BLAS, threads: Int, workspace: KernelWorkspace) {
        let O = outFeatures, I = inFeatures
        let z = UnsafePointer(doraSaved.floats(M * O))
        let n = weightNorm, dm = dMagnitude
        precondition(n.count == O, "\(name): DoRA backward before forward")
        // dm_j += Σ_t dy_tj z_tj / n_j, split over columns.
        Parallel.forChunks(O, threads: threads, granule: 16) { _, lo, hi in
            var acc = [Double](repeating: 0, count: hi - lo)
            for t in 0..<M {
                let dyt = dy + t * O, zt = z + t * O
                for j in lo..<hi { acc[j - lo] += Double(dyt[j]) * Double(zt[j]) }
            }
            for j in lo..<hi { dm[j] += Float(acc[j - lo] / Double(n[j])) }
        }
        let g = (0..<O).map { magnitude[$0] / n[$0] }
        let dyg = UnsafeMutablePointer<Float>.allocate(capacity: M * O)      // g ⊙ dy
        defer { dyg.deallocate() }
        for t in 0..<M { for j in 0..<O { dyg[t * O + j] = g[j] * dy[t * O + j] } }
        if dropsInput {
            base.backwardInput(dy, M: M, dx, threads: threads, workspace: workspace)          // W·x
            let dyBase = UnsafeMutablePointer<Float>.allocate(capacity: M * O)                // (g − 1) ⊙ dy
            defer { dyBase.deallocate() }
            for t in 0..<M { for j in 0..<O { dyBase[t * O + j] = (g[j] - 1) * dy[t * O + j] } }
            let dxd = UnsafeMutablePointer<Float>.allocate(capacity: M * I)
            defer { dxd.deallocate() }
            dxd.initialize(repeating: 0, count: M * I)
            base.backwardInput(dyBase, M: M, dxd, threads: threads, workspace: workspace)     // (g − 1) ⊙ W·x̃
            addThroughDropout(dxd, into: dx, M)
        } else {
            base.backwardInput(dyg, M: M, dx, threads: threads, workspace: workspace)         // g ⊙ W·x
        }
        backward(dyg, x, M: M, dx, blas: blas, threads: threads)                                 // g ⊙ s·B·A·x̃
    }

    /// dx (M, I) += drop'(g): g where the step's mask kept the input, scaled by 1/(1−p).
    func addThroughDropout(_ g: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, _ M: Int) {
        DropoutMask.accumulate(g, into: dx, count: M * inFeatures, seed: maskSeed, keep: 1 - dropout)
    }
}
