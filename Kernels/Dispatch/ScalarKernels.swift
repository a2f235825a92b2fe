import QLoRACore

/// The scalar path's weight products (`QLORA_ISA=scalar`, and CPUs without AVX2): the same
/// arithmetic as the references (`NF4Reference`, `DenseReference`) — every output a sequential sum
/// over the reduction index in ascending order, each step a multiply then an add (no FMA), weights
/// decoded as `element` decodes them — so the results are bit-identical to the references', only
/// computed faster:
///
/// - weights are decoded a group of 32 at a time with one scale per block, not one per element;
/// - an output tile (4 rows of X × 8 rows of W forward, 4 rows of dY × 8 columns of W transposed)
///   keeps 32 independent accumulators, so the loop is not bound by the add latency of one chain
///   and the compiler vectorizes the 8 lanes at the baseline ISA (SSE2 on x86-64) — plain loops, no
///   intrinsics or SIMD types;
/// - W is decoded once per panel (8 rows × K forward, up to 1024 rows × 32 columns transposed) and
///   reused for every row of X or dY, instead of once per output row and thread.
///
/// Any shape works (rows need not be whole groups of 32); `ScalarKernelTests` checks bit equality
/// with the references on ragged shapes.
enum ScalarKernels {
    /// A weight as row segments: `segment(r, c0, n, dst)` writes W[r, c0 ..< c0 + n] as Float32.
    struct Rows {
        let rows: Int
        let cols: Int
        let segment: (_ r: Int, _ c0: Int, _ n: Int, _ dst: UnsafeMutablePointer<Float>) -> Void
    }

    // MARK: Weight decoding (exactly `NF4MatrixRef.element` / `DenseMatrixRef.element`)

    static func rows(_ w: NF4MatrixRef) -> Rows {
        Rows(rows: w.rows, cols: w.cols) { r, c0, n, dst in nf4Elements(w, r &* w.cols &+ c0, n, dst) }
    }

    static func rows(_ w: DenseMatrixRef) -> Rows {
        Rows(rows: w.rows, cols: w.cols) { r, c0, n, dst in denseSegment(w, r, c0, n, dst) }
    }

    /// dst[i] = w.element(j0 + i) for i in 0..<count: per block one scale, per whole group of 32
    /// sixteen bytes (low nibbles are elements 0…15, high nibbles 16…31).
    static func nf4Elements(_ w: NF4MatrixRef, _ j0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>) {
        let code = w.code
        var j = j0
        let end = j0 &+ count
        var out = dst
        while j < end {
            let b = j &>> w.blockShift
            let blockEnd = min(end, (b &+ 1) &<< w.blockShift)
            let s = w.scale(block: b)
            while j < blockEnd {
                if j & 31 == 0 && blockEnd &- j >= 32 {
                    let p = w.packed + 16 &* (j &>> 5)
                    for i in 0..<16 {
                        let byte = p[i]
                        out[i] = code[Int(byte & 0x0F)] * s
                        out[16 &+ i] = code[Int(byte &>> 4)] * s
                    }
                    out += 32
                    j &+= 32
                } else {
                    out.pointee = code[w.nibble(j)] * s
                    out += 1
                    j &+= 1
                }
            }
        }
    }

    static func denseSegment(_ w: DenseMatrixRef, _ r: Int, _ c0: Int, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        let i0 = r &* w.cols &+ c0
        switch w.storage {
        case .f32:
            dst.update(from: w.data.assumingMemoryBound(to: Float.self) + i0, count: n)
        case .bf16:
            let src = w.data.assumingMemoryBound(to: UInt16.self) + i0
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src[i]) &<< 16) }
        }
    }

    // MARK: Forward: Y[m, r] = Σ_c X[m, c] · W[r, c]

    /// Rows of W per forward panel (the tile's vector lanes).
    static let nr = 8
    /// Rows of X per forward tile.
    static let mr = 4

    /// Y[m, r] = Σ_c X[m, c] · W[r, c] for every m in 0..<M and r in [r0, r1) (overwrites those
    /// entries). `scratch` holds at least `forwardScratch(cols:)` floats.
    static func forwardRows(_ w: Rows, X: UnsafePointer<Float>, ldx: Int, M: Int, Y: UnsafeMutablePointer<Float>,
                            ldy: Int, _ r0: Int, _ r1: Int, scratch: UnsafeMutablePointer<Float>) {
        let K = w.cols
        let panel = scratch, row = scratch + nr &* K
        if M < 4 {
            gemvRows(w, X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, r0, r1, rows: panel)
            return
        }
        var rb = r0
        while rb < r1 {
            let n = min(nr, r1 &- rb)
            // panel[c·8 + j] = W[rb + j, c], zero for rows past r1.
            for j in 0..<nr {
                if j < n {
                    w.segment(rb &+ j, 0, K, row)
                    for c in 0..<K { panel[c &* 8 &+ j] = row[c] }
                } else {
                    for c in 0..<K { panel[c &* 8 &+ j] = 0 }
                }
            }
            var m = 0
            while m &+ 4 <= M {
                tile4x8(X + m &* ldx, ldx, panel, K, Y + (m &* ldy &+ rb), ldy, n)
                m &+= 4
            }
            while m < M {
                tile1x8(X + m &* ldx, panel, K, Y + (m &* ldy &+ rb), n)
                m &+= 1
            }
            rb &+= nr
        }
    }

    static func forwardScratch(cols: Int) -> Int { (nr &+ 1) &* max(1, cols) }

    /// A few rows of X (GEMV, M < 4): 8 rows of W decoded as they are stored (no transposed panel:
    /// the scatter cost more than the product) and 8 scalar chains, enough to hide the add latency.
    static func gemvRows(_ w: Rows, X: UnsafePointer<Float>, ldx: Int, M: Int, Y: UnsafeMutablePointer<Float>,
                         ldy: Int, _ r0: Int, _ r1: Int, rows buf: UnsafeMutablePointer<Float>) {
        let K = w.cols
        var rb = r0
        while rb < r1 {
            let n = min(nr, r1 &- rb)
            for j in 0..<n { w.segment(rb &+ j, 0, K, buf + j &* K) }
            for j in n..<nr { (buf + j &* K).initialize(repeating: 0, count: K) }
            for m in 0..<M {
                let x = X + m &* ldx
                var acc = InlineArray<8, Float>(repeating: 0)
                for c in 0..<K {
                    let a = x[c]
                    for j in 0..<8 { acc[j] += buf[j &* K &+ c] * a }
                }
                for j in 0..<n { Y[m &* ldy &+ rb &+ j] = acc[j] }
            }
            rb &+= nr
        }
    }

    /// Four rows of X against one 8-row panel: 32 sums, each in ascending c.
    @inline(__always)
    static func tile4x8(_ x: UnsafePointer<Float>, _ ldx: Int, _ panel: UnsafePointer<Float>, _ K: Int,
                        _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ n: Int) {
        var acc = InlineArray<32, Float>(repeating: 0)
        let x1 = x + ldx, x2 = x1 + ldx, x3 = x2 + ldx
        for c in 0..<K {
            let p = panel + c &* 8
            let a0 = x[c], a1 = x1[c], a2 = x2[c], a3 = x3[c]
            for j in 0..<8 {
                let wj = p[j]
                acc[j] += a0 * wj
                acc[8 &+ j] += a1 * wj
                acc[16 &+ j] += a2 * wj
                acc[24 &+ j] += a3 * wj
            }
        }
        for i in 0..<4 {
            for j in 0..<n { y[i &* ldy &+ j] = acc[i &* 8 &+ j] }
        }
    }

    @inline(__always)
    static func tile1x8(_ x: UnsafePointer<Float>, _ panel: UnsafePointer<Float>, _ K: Int,
                        _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var acc = InlineArray<8, Float>(repeating: 0)
        for c in 0..<K {
            let p = panel + c &* 8
            let a = x[c]
            for j in 0..<8 { acc[j] += a * p[j] }
        }
        for j in 0..<n { y[j] = acc[j] }
    }

    // MARK: Transposed: dX[m, c] += Σ_r dY[m, r] · W[r, c]

    /// Columns of W per transposed panel and rows of W per panel pass.
    static let tnc = 32
    static let tnb = 1024

    static func transposedScratch(rows: Int) -> Int { min(tnb, max(1, rows)) &* tnc }

    /// dX[m, c] += Σ_r dY[m, r] · W[r, c] for every m in 0..<M and c in [c0, c1), adding the rows r
    /// in ascending order. `scratch` holds at least `transposedScratch(rows:)` floats.
    static func transposedColumns(_ w: Rows, dY: UnsafePointer<Float>, lddy: Int, M: Int,
                                  dX: UnsafeMutablePointer<Float>, lddx: Int, _ c0: Int, _ c1: Int,
                                  scratch: UnsafeMutablePointer<Float>) {
        let N = w.rows
        var cb = c0
        while cb < c1 {
            let nc = min(tnc, c1 &- cb)
            var rb = 0
            while rb < N {
                let nb = min(tnb, N &- rb)
                // panel[r·32 + j] = W[rb + r, cb + j]
                for r in 0..<nb { w.segment(rb &+ r, cb, nc, scratch + r &* tnc) }
                let g = dY + rb
                var j = 0
                while j &+ 8 <= nc {
                    var m = 0
                    while m &+ 4 <= M {
                        ttile4x8(g + m &* lddy, lddy, scratch + j, nb, dX + (m &* lddx &+ cb &+ j), lddx)
                        m &+= 4
                    }
                    while m < M {
                        ttile1x8(g + m &* lddy, scratch + j, nb, dX + (m &* lddx &+ cb &+ j))
                        m &+= 1
                    }
                    j &+= 8
                }
                while j < nc {  // fewer than 8 columns left: one at a time
                    for m in 0..<M {
                        let gm = g + m &* lddy
                        var s = dX[m &* lddx &+ cb &+ j]
                        for r in 0..<nb { s += gm[r] * scratch[r &* tnc &+ j] }
                        dX[m &* lddx &+ cb &+ j] = s
                    }
                    j &+= 1
                }
                rb &+= nb
            }
            cb &+= nc
        }
    }

    /// Four rows of dY against 8 columns of the panel (row stride 32): dX's 32 entries are loaded,
    /// the panel's rows added in order, and stored back.
    @inline(__always)
    static func ttile4x8(_ g: UnsafePointer<Float>, _ lddy: Int, _ panel: UnsafePointer<Float>, _ nb: Int,
                         _ d: UnsafeMutablePointer<Float>, _ lddx: Int) {
        var acc = InlineArray<32, Float>(repeating: 0)
        for i in 0..<4 {
            for j in 0..<8 { acc[i &* 8 &+ j] = d[i &* lddx &+ j] }
        }
        let g1 = g + lddy, g2 = g1 + lddy, g3 = g2 + lddy
        for r in 0..<nb {
            let p = panel + r &* 32
            let a0 = g[r], a1 = g1[r], a2 = g2[r], a3 = g3[r]
            for j in 0..<8 {
                let wj = p[j]
                acc[j] += a0 * wj
                acc[8 &+ j] += a1 * wj
                acc[16 &+ j] += a2 * wj
                acc[24 &+ j] += a3 * wj
            }
        }
        for i in 0..<4 {
            for j in 0..<8 { d[i &* lddx &+ j] = acc[i &* 8 &+ j] }
        }
    }

    @inline(__always)
    static func ttile1x8(_ g: UnsafePointer<Float>, _ panel: UnsafePointer<Float>, _ nb: Int,
                         _ d: UnsafeMutablePointer<Float>) {
        var acc = InlineArray<8, Float>(repeating: 0)
        for j in 0..<8 { acc[j] = d[j] }
        for r in 0..<nb {
            let p = panel + r &* 32
            let a = g[r]
            for j in 0..<8 { acc[j] += a * p[j] }
        }
        for j in 0..<8 { d[j] = acc[j] }
    }

    // MARK: Drivers (threads split the output rows forward, the columns transposed)

    /// Y[M, N] = X[M, K] · Wᵀ; M = 1 is the GEMV.
    static func gemm(_ w: Rows, X: UnsafePointer<Float>, ldx: Int, M: Int, Y: UnsafeMutablePointer<Float>, ldy: Int,
                     threads: Int, workspace: KernelWorkspace?) {
        guard M > 0, w.rows > 0 else { return }
        let per = forwardScratch(cols: w.cols)
        let n = max(1, min(threads, (w.rows + nr - 1) / nr))
        let ws = workspace ?? KernelWorkspace()
        let scratch = ws.floats(n * per)
        Parallel.forChunks(w.rows, threads: n, granule: nr) { t, lo, hi in
            forwardRows(w, X: X, ldx: ldx, M: M, Y: Y, ldy: ldy, lo, hi, scratch: scratch + t * per)
        }
    }

    /// dX[M, K] += dY[M, N] · W.
    static func gemmT(_ w: Rows, dY: UnsafePointer<Float>, lddy: Int, M: Int, dX: UnsafeMutablePointer<Float>,
                      lddx: Int, threads: Int, workspace: KernelWorkspace?) {
        guard M > 0, w.rows > 0, w.cols > 0 else { return }
        let per = transposedScratch(rows: w.rows)
        let n = max(1, min(threads, (w.cols + tnc - 1) / tnc))
        let ws = workspace ?? KernelWorkspace()
        let scratch = ws.floats(n * per)
        Parallel.forChunks(w.cols, threads: n, granule: tnc) { t, lo, hi in
            transposedColumns(w, dY: dY, lddy: lddy, M: M, dX: dX, lddx: lddx, lo, hi, scratch: scratch + t * per)
        }
    }
}
