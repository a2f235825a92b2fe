import CQLoRASupport
import QLoRACore
import _Builtin_intrinsics.intel

/// NF4 kernels for AVX2 + FMA (x86-64-v3): the same algorithms as `NF4AVX512` on 8-lane vectors.
/// A 16-entry lookup is two 8-entry `vpermps` (codes 0…7 and 8…15) blended on bit 3 of the index.
/// Requires `w.rowsAreGroupAligned`.
public enum NF4AVX2 {
    /// Decodes 8 indices (zero-extended bytes, index in bits 0…3 after `shift`) to code values.
    @inline(__always)
    static func lookup(_ idx: __m256i, _ lo: __m256, _ hi: __m256) -> __m256 {
        let a = _mm256_permutevar8x32_ps(lo, idx)
        let b = _mm256_permutevar8x32_ps(hi, idx)
        return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)))
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<UInt8>) -> __m256i {
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i_u.self)))
    }

    /// The 32 weights of group `g` as four vectors (elements 0…7, 8…15, 16…23, 24…31), unscaled.
    @inline(__always)
    static func decodeGroup(_ p: UnsafePointer<UInt8>, _ lo: __m256, _ hi: __m256) -> (__m256, __m256, __m256, __m256) {
        let z0 = load8(p), z1 = load8(p + 8)
        // The low nibble needs no mask: vpermps reads bits 0…2 and the blend bit 3 (shifted to bit 31).
        return (lookup(z0, lo, hi), lookup(z1, lo, hi),
                lookup(_mm256_srli_epi32(z0, 4), lo, hi), lookup(_mm256_srli_epi32(z1, 4), lo, hi))
    }

    @inline(__always)
    static func hsum(_ v: __m256) -> Float {
        let h = unsafeBitCast(v, to: SIMD8<Float>.self)
        return (h.lowHalf + h.highHalf).sum()
    }

    // MARK: byte-plane decode

    /// The 16-entry code table as four byte planes (plane j, byte k = byte j of code[k], in both 128-bit
    /// lanes) for the in-lane `vpshufb` decode.
    struct BytePlanes {
        let t0: __m256i, t1: __m256i, t2: __m256i, t3: __m256i
    }

    @inline(__always)
    static func bytePlanes(_ code: UnsafePointer<Float>) -> BytePlanes {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buf in
            let t = buf.baseAddress!
            for k in 0..<16 {
                let u = code[k].bitPattern
                for j in 0..<4 { t[16 &* j &+ k] = UInt8(truncatingIfNeeded: u >> (8 &* UInt32(j))) }
            }
            @inline(__always) func plane(_ j: Int) -> __m256i {
                _mm256_broadcastsi128_si256(_mm_loadu_si128(UnsafeRawPointer(t + 16 &* j).assumingMemoryBound(to: __m128i_u.self)))
            }
            return BytePlanes(t0: plane(0), t1: plane(1), t2: plane(2), t3: plane(3))
        }
    }

    /// 32 indices (one per byte, 0…15) to 32 code values with four in-lane `vpshufb` (one per byte of
    /// the Float32) and eight unpacks: exact table values, no cross-lane permute. Index byte i of lane L
    /// comes out in vector i / 4, lane L, element i % 4, so the caller's x is permuted to match
    /// (`permuteX`).
    @inline(__always)
    static func decodePlanes(_ v: __m256i, _ t: BytePlanes) -> (__m256, __m256, __m256, __m256) {
        let p0 = _mm256_shuffle_epi8(t.t0, v), p1 = _mm256_shuffle_epi8(t.t1, v)
        let p2 = _mm256_shuffle_epi8(t.t2, v), p3 = _mm256_shuffle_epi8(t.t3, v)
        let l01 = _mm256_unpacklo_epi8(p0, p1), h01 = _mm256_unpackhi_epi8(p0, p1)
        let l23 = _mm256_unpacklo_epi8(p2, p3), h23 = _mm256_unpackhi_epi8(p2, p3)
        return (_mm256_castsi256_ps(_mm256_unpacklo_epi16(l01, l23)), _mm256_castsi256_ps(_mm256_unpackhi_epi16(l01, l23)),
                _mm256_castsi256_ps(_mm256_unpacklo_epi16(h01, h23)), _mm256_castsi256_ps(_mm256_unpackhi_epi16(h01, h23)))
    }

    /// The 32 packed bytes at p hold 64 weights (two groups of 32): their low nibbles are elements 0…15
    /// (lane 0) and 32…47 (lane 1), their high nibbles 16…31 and 48…63, each one index per byte for
    /// `decodePlanes`.
    @inline(__always)
    static func lowNibbles(_ w: __m256i) -> __m256i { _mm256_and_si256(w, _mm256_set1_epi8(0x0F)) }

    @inline(__always)
    static func highNibbles(_ w: __m256i) -> __m256i { _mm256_and_si256(_mm256_srli_epi16(w, 4), _mm256_set1_epi8(0x0F)) }

    /// xp = x reordered per 64 elements to the order `decodePlanes` gives the low then the high nibbles of
    /// 32 packed bytes: vector v holds elements 4v…4v+3 (low lane) and 32+4v…32+4v+3 (high lane) (cols % 64 == 0).
    static func permuteX(_ x: UnsafePointer<Float>, _ xp: UnsafeMutablePointer<Float>, _ cols: Int) {
        var b = 0
        while b < cols {
            for v in 0..<8 {
                _mm_storeu_ps(xp + (b &+ 8 &* v), _mm_loadu_ps(x + (b &+ 4 &* v)))
                _mm_storeu_ps(xp + (b &+ 8 &* v &+ 4), _mm_loadu_ps(x + (b &+ 32 &+ 4 &* v)))
            }
            b &+= 64
        }
    }

    /// Σ over 64 weights (32 packed bytes) of code · xp, unscaled; xp in byte-plane order. Each half's
    /// products follow its decode, so the low nibbles' FMAs issue while the high nibbles' shuffles run
    /// (session 6, lab program on 4096²: 0.95 ms against 0.99 with all 24 shuffles first).
    @inline(__always)
    static func planesDot64(_ p: UnsafePointer<UInt8>, _ xp: UnsafePointer<Float>, _ t: BytePlanes) -> __m256 {
        let w = _mm256_loadu_si256(UnsafeRawPointer(p).assumingMemoryBound(to: __m256i_u.self))
        let (f0, f1, f2, f3) = decodePlanes(lowNibbles(w), t)
        var a = _mm256_mul_ps(f0, _mm256_loadu_ps(xp))
        var b = _mm256_mul_ps(f1, _mm256_loadu_ps(xp + 8))
        a = _mm256_fmadd_ps(f2, _mm256_loadu_ps(xp + 16), a)
        b = _mm256_fmadd_ps(f3, _mm256_loadu_ps(xp + 24), b)
        let (g0, g1, g2, g3) = decodePlanes(highNibbles(w), t)
        a = _mm256_fmadd_ps(g0, _mm256_loadu_ps(xp + 32), a)
        b = _mm256_fmadd_ps(g1, _mm256_loadu_ps(xp + 40), b)
        a = _mm256_fmadd_ps(g2, _mm256_loadu_ps(xp + 48), a)
        b = _mm256_fmadd_ps(g3, _mm256_loadu_ps(xp + 56), b)
        return _mm256_add_ps(a, b)
    }

    // MARK: GEMV

    public static func gemvRows(_ w: NF4MatrixRef, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                _ r0: Int, _ r1: Int) {
        if w.blockSize >= 64 && w.cols & 63 == 0 {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: w.cols) { buf in
                permuteX(x, buf.baseAddress!, w.cols)
                gemvRowsPlanes(w, buf.baseAddress!, y, r0, r1)
            }
            return
        }
        let lo = _mm256_loadu_ps(w.code), hi = _mm256_loadu_ps(w.code + 8)
        let groupsPerRow = w.cols >> 5
        let groupsPerBlock = w.blockSize >> 5
        for r in r0..<r1 {
            var acc = _mm256_setzero_ps()
            var g = r &* groupsPerRow
            let gEnd = g &+ groupsPerRow
            var b = g / groupsPerBlock
            var left = groupsPerBlock &- (g &- b &* groupsPerBlock)
            var xp = x
            while g < gEnd {
                let n = min(left, gEnd &- g)
                var s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps()
                for _ in 0..<n {
                    let (v0, v1, v2, v3) = decodeGroup(w.packed + 16 &* g, lo, hi)
                    s0 = _mm256_fmadd_ps(v0, _mm256_loadu_ps(xp), s0)
                    s1 = _mm256_fmadd_ps(v1, _mm256_loadu_ps(xp + 8), s1)
                    s0 = _mm256_fmadd_ps(v2, _mm256_loadu_ps(xp + 16), s0)
                    s1 = _mm256_fmadd_ps(v3, _mm256_loadu_ps(xp + 24), s1)
                    xp += 32
                    g &+= 1
                }
                acc = _mm256_fmadd_ps(_mm256_add_ps(s0, s1), _mm256_set1_ps(w.scale(block: b)), acc)
                b &+= 1
                left = groupsPerBlock
            }
            y[r] = hsum(acc)
        }
    }

    /// Bytes ahead of the current 64 weights that GEMV prefetches (measured on 4096², forced AVX2 on
    /// Zen 4, lab program: 1 KiB 0.93 ms, 2 KiB 0.95, 4 KiB 0.97, none 0.99).
    static let prefetchDistance = 1024

    /// The scales of a run of blocks as one memory operand each, so the loop spends no vector
    /// arithmetic or register broadcast on them (both compete with the decode's shuffles): Float32
    /// absmax is read where it is; double-quantized scales come from a 256-entry table,
    /// `nestedCode[q] · nestedAbsmax[n] + offset` for the nested block n in hand — the same two float
    /// operations as `NF4MatrixRef.scale(block:)`, so the same values — rebuilt when n changes
    /// (every 256 blocks of 64 by default, so per 16 Ki weights).
    struct ScaleSource {
        let w: NF4MatrixRef
        let table: UnsafeMutablePointer<Float>
        var tableFor = -1

        /// The first 64-chunk (over the whole matrix) at or after `chunk` whose scale may come from a
        /// different table than `chunk`'s, with `shift` = log2(blockSize / 64).
        @inline(__always)
        func segmentEnd(_ chunk: Int, _ shift: Int) -> Int {
            if w.absmax != nil { return Int.max }
            let n = (chunk &>> shift) &>> w.nestedShift
            return (n &+ 1) &<< (w.nestedShift &+ shift)
        }

        /// Fills `table` for block `block`'s nested block (nothing to do for Float32 absmax).
        @inline(__always)
        mutating func prepare(block: Int) {
            guard w.absmax == nil else { return }
            let n = block &>> w.nestedShift
            if n == tableFor { return }
            let nabs = _mm256_set1_ps(w.nestedAbsmax.unsafelyUnwrapped[n]), off = _mm256_set1_ps(w.offset)
            let nc = w.nestedCode.unsafelyUnwrapped
            var i = 0
            while i < 256 {
                _mm256_storeu_ps(table + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(nc + i), nabs), off))
                i &+= 8
            }
            tableFor = n
        }

        /// Block b's scale broadcast to 8 lanes (a broadcast load), after `prepare` for b's nested block.
        @inline(__always)
        func scale(_ b: Int) -> __m256 {
            if let absmax = w.absmax { return _mm256_broadcast_ss(absmax + b) }
            return _mm256_broadcast_ss(table + Int(w.qabsmax.unsafelyUnwrapped[b]))
        }
    }

    /// Rows of whole 64-blocks (cols % 64 == 0, blocks of 64 or more), x already in byte-plane order.
    /// One row at a time, two 64-weight chunks per step in two accumulators: the decode's shuffles bound
    /// it, so sharing x loads between rows gained nothing (two rows per pass: 1.08 ms against 0.95 ms
    /// in the lab program). Scales from `ScaleSource` (session 6: decoding the double-quantized scale in
    /// the loop, a multiply, an add and a register broadcast per block, cost 8% at 4096²).
    static func gemvRowsPlanes(_ w: NF4MatrixRef, _ xp: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                               _ r0: Int, _ r1: Int) {
        let t = bytePlanes(w.code)
        let nb = w.cols >> 6
        let rowBytes = nb &* 32
        let shift = w.blockShift &- 6  // 64-chunk index → block index
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 256) { tableBuffer in
            var scales = ScaleSource(w: w, table: tableBuffer.baseAddress!)
            for r in r0..<r1 {
                var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps()
                let p0 = w.packed + r &* rowBytes
                let c0 = r &* nb  // the row's first 64-chunk, counted over the whole matrix
                var b = 0
                while b < nb {
                    // Chunks b..<e share one scale table.
                    let e = min(nb, scales.segmentEnd(c0 &+ b, shift) &- c0)
                    scales.prepare(block: (c0 &+ b) &>> shift)
                    while b &+ 2 <= e {
                        let p = p0 + 32 &* b
                        qlora_prefetch_l1(p + prefetchDistance)
                        acc0 = _mm256_fmadd_ps(planesDot64(p, xp + 64 &* b, t), scales.scale((c0 &+ b) &>> shift), acc0)
                        acc1 = _mm256_fmadd_ps(planesDot64(p + 32, xp + 64 &* (b &+ 1), t),
                                               scales.scale((c0 &+ b &+ 1) &>> shift), acc1)
                        b &+= 2
                    }
                    if b < e {
                        acc0 = _mm256_fmadd_ps(planesDot64(p0 + 32 &* b, xp + 64 &* b, t), scales.scale((c0 &+ b) &>> shift), acc0)
                        b &+= 1
                    }
                }
                y[r] = hsum(_mm256_add_ps(acc0, acc1))
            }
        }
    }

    // MARK: transposed GEMV

    /// Rows per pass of the transposed GEMV: each 64-column strip reads 32 bytes of a row's 64-byte
    /// line, and the next strip the other 32 while the pass's lines (128 × 64 B = 8 KiB) are still in L1;
    /// without passes the whole column of lines (rows × 64 B) had to stay in L2, which fails for tall
    /// matrices (28672 rows: 1.8 MiB) and read W twice from memory.
    static let transposedPassRows = 128

    /// dx[c] += Σ_r dy[r] · W[r, c] for columns c in [c0, c1) (multiples of 64; requires blocks of 64
    /// and cols % 64 == 0): the one-token input gradient. Rows in passes of `transposedPassRows`; per
    /// pass, 64 columns at a time while the pass's rows stream past, each adding `dy[r] · scale` times
    /// its decoded codes. The 64 columns take two sweeps over the pass's rows, the low nibbles' 32
    /// columns (four accumulators) and then the high nibbles' (the rows' bytes are in L1 by then):
    /// eight accumulators beside the four tables left no registers for the decode, and the compiler
    /// spilled three accumulators per row (session 6). The first sweep stores each row's coefficient
    /// for the second, which reads it with a broadcast load instead of a register broadcast, a shuffle.
    public static func gemvTColumns64(_ w: NF4MatrixRef, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                      _ c0: Int, _ c1: Int) {
        gemvT(w, dy, dx, 0, w.rows, c0, c1)
    }

    /// As `gemvTColumns64` over every column, for rows [r0, r1) only (`NF4Kernels` runs two row slabs
    /// fixed by the shape, the second into its own dx, when the 64-column strips are odd in number).
    public static func gemvTRows64(_ w: NF4MatrixRef, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                   _ r0: Int, _ r1: Int) {
        gemvT(w, dy, dx, r0, r1, 0, w.cols)
    }

    static func gemvT(_ w: NF4MatrixRef, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                      _ r0: Int, _ r1: Int, _ c0: Int, _ c1: Int) {
        let t = bytePlanes(w.code)
        let nbRow = w.cols >> 6
        let rowBytes = nbRow &* 32
        withUnsafeTemporaryAllocation(of: Float.self, capacity: transposedPassRows) { coefBuffer in
            let coef = coefBuffer.baseAddress!
            var rA = r0
            while rA < r1 {
                let rB = min(r1, rA &+ transposedPassRows)
                var c = c0
                while c < c1 {
                    let first = w.packed + ((rA &* nbRow &+ (c >> 6)) &* 32)
                    // Low nibbles: columns c+0…15 and c+32…47.
                    var a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps()
                    var b = rA &* nbRow &+ (c >> 6)
                    var p = first
                    var i = 0
                    for r in rA..<rB {
                        // The row's next line, read two strips (2 × the pass's rows) from now: far enough
                        // ahead to hide memory latency, which prefetching rows ahead within a strip was not.
                        qlora_prefetch_l1(p + 64)
                        coef[i] = dy[r] * w.scale(block: b)
                        let s = _mm256_broadcast_ss(coef + i)
                        let v = _mm256_loadu_si256(UnsafeRawPointer(p).assumingMemoryBound(to: __m256i_u.self))
                        let (f0, f1, f2, f3) = decodePlanes(lowNibbles(v), t)
                        a0 = _mm256_fmadd_ps(f0, s, a0)
                        a1 = _mm256_fmadd_ps(f1, s, a1)
                        a2 = _mm256_fmadd_ps(f2, s, a2)
                        a3 = _mm256_fmadd_ps(f3, s, a3)
                        b &+= nbRow
                        p += rowBytes
                        i &+= 1
                    }
                    // Vector v holds columns c+4v…c+4v+3 (low lane) and c+32+4v… (high lane).
                    addPlanes(dx + c, a0, 0); addPlanes(dx + c, a1, 1); addPlanes(dx + c, a2, 2); addPlanes(dx + c, a3, 3)
                    // High nibbles: columns c+16…31 and c+48…63.
                    a0 = _mm256_setzero_ps(); a1 = _mm256_setzero_ps(); a2 = _mm256_setzero_ps(); a3 = _mm256_setzero_ps()
                    p = first
                    i = 0
                    for _ in rA..<rB {
                        let s = _mm256_broadcast_ss(coef + i)
                        let v = _mm256_loadu_si256(UnsafeRawPointer(p).assumingMemoryBound(to: __m256i_u.self))
                        let (g0, g1, g2, g3) = decodePlanes(highNibbles(v), t)
                        a0 = _mm256_fmadd_ps(g0, s, a0)
                        a1 = _mm256_fmadd_ps(g1, s, a1)
                        a2 = _mm256_fmadd_ps(g2, s, a2)
                        a3 = _mm256_fmadd_ps(g3, s, a3)
                        p += rowBytes
                        i &+= 1
                    }
                    addPlanes(dx + c, a0, 4); addPlanes(dx + c, a1, 5); addPlanes(dx + c, a2, 6); addPlanes(dx + c, a3, 7)
                    c &+= 64
                }
                rA = rB
            }
        }
    }

    /// d[4v…4v+3] += low lane of a, d[32+4v…] += its high lane.
    @inline(__always)
    static func addPlanes(_ d: UnsafeMutablePointer<Float>, _ a: __m256, _ v: Int) {
        let h = unsafeBitCast(a, to: SIMD8<Float>.self)
        let lo = d + 4 &* v, hi = d + (32 &+ 4 &* v)
        _mm_storeu_ps(lo, _mm_add_ps(_mm_loadu_ps(lo), unsafeBitCast(h.lowHalf, to: __m128.self)))
        _mm_storeu_ps(hi, _mm_add_ps(_mm_loadu_ps(hi), unsafeBitCast(h.highHalf, to: __m128.self)))
    }

    // MARK: panel decode (natural order)

    /// `vpshufb` control that spreads a group's 16 packed bytes (broadcast to both lanes) so that
    /// `decodePlanes` returns its 32 weights in natural order: lane 0 takes bytes 0…3 and 8…11, lane 1
    /// bytes 4…7 and 12…15, each twice (low nibbles in bytes 0…7 of the lane, high nibbles in 8…15).
    @inline(__always)
    static func groupSpread() -> __m256i {
        _mm256_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11,
                         4, 5, 6, 7, 12, 13, 14, 15, 4, 5, 6, 7, 12, 13, 14, 15)
    }

    /// Per-dword right shifts that bring the high nibbles of dwords 2 and 3 of each lane down (`vpsrlvd`).
    @inline(__always)
    static func nibbleShifts() -> __m256i { _mm256_setr_epi32(0, 0, 4, 4, 0, 0, 4, 4) }

    /// The 32 weights of the group at p (16 packed bytes) in natural order (elements 0…7, 8…15, 16…23,
    /// 24…31), unscaled: one broadcast load, one `vpshufb` spread, a variable shift and a mask put each
    /// index byte where the byte-plane lookup's unpacks leave its value in place, so no permute follows.
    /// Index byte 4i+j of lane L comes out as element j of lane L of vector i, so lane 0 must hold
    /// elements 8i+j and lane 1 elements 8i+4+j: the low nibbles of bytes 0…3 / 8…11 (lane 0) and
    /// 4…7 / 12…15 (lane 1) for i < 2, their high nibbles for i ≥ 2.
    @inline(__always)
    static func decodeGroupPlanes(_ p: UnsafePointer<UInt8>, _ spread: __m256i, _ shifts: __m256i, _ t: BytePlanes)
        -> (__m256, __m256, __m256, __m256) {
        let g = _mm256_broadcastsi128_si256(_mm_loadu_si128(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i_u.self)))
        let s = _mm256_srlv_epi32(_mm256_shuffle_epi8(g, spread), shifts)
        return decodePlanes(_mm256_and_si256(s, _mm256_set1_epi8(0x0F)), t)
    }

    /// W[r, c0 ..< c0 + count] scaled, into dst (c0 and count multiples of 32), with the table and
    /// constants already set up.
    @inline(__always)
    static func decodeSegment(_ w: NF4MatrixRef, _ r: Int, _ c0: Int, _ count: Int, _ dst: UnsafeMutablePointer<Float>,
                              _ t: BytePlanes, _ spread: __m256i, _ shifts: __m256i) {
        var j = r &* w.cols &+ c0
        let end = j &+ count
        var out = dst
        while j < end {
            let b = j &>> w.blockShift
            let blockEnd = min(end, (b &+ 1) &<< w.blockShift)
            let s = _mm256_set1_ps(w.scale(block: b))
            while j < blockEnd {
                let (v0, v1, v2, v3) = decodeGroupPlanes(w.packed + (j &>> 1), spread, shifts, t)
                _mm256_storeu_ps(out, _mm256_mul_ps(v0, s)); _mm256_storeu_ps(out + 8, _mm256_mul_ps(v1, s))
                _mm256_storeu_ps(out + 16, _mm256_mul_ps(v2, s)); _mm256_storeu_ps(out + 24, _mm256_mul_ps(v3, s))
                out += 32
                j &+= 32
            }
        }
    }

    /// dst[i·ld ..< i·ld + count] = W[r0 + i, c0 ..< c0 + count] for i < rows (c0 and count multiples
    /// of 32): a whole panel per call, so the byte-plane table and constants are set up once per panel
    /// rather than once per row segment (the transposed product's panel rows are one group each).
    public static func dequantizePanel(_ w: NF4MatrixRef, _ r0: Int, _ rows: Int, _ c0: Int, _ count: Int,
                                       _ dst: UnsafeMutablePointer<Float>, _ ld: Int) {
        let t = bytePlanes(w.code), spread = groupSpread(), shifts = nibbleShifts()
        if count == 32 {
            // One group per row: no block loop.
            let rowBytes = w.cols &>> 1
            var j = r0 &* w.cols &+ c0
            var p = w.packed + (j &>> 1)
            var out = dst
            for _ in 0..<rows {
                // The row's next line, which the panel of the column tile after the next three
                // (4 tiles share a 64-byte line) reads: rows are a page or more apart in the large
                // shapes, so the hardware prefetchers do not fetch them.
                qlora_prefetch_l1(p + 64)
                let s = _mm256_set1_ps(w.scale(block: j &>> w.blockShift))
                let (v0, v1, v2, v3) = decodeGroupPlanes(p, spread, shifts, t)
                _mm256_storeu_ps(out, _mm256_mul_ps(v0, s)); _mm256_storeu_ps(out + 8, _mm256_mul_ps(v1, s))
                _mm256_storeu_ps(out + 16, _mm256_mul_ps(v2, s)); _mm256_storeu_ps(out + 24, _mm256_mul_ps(v3, s))
                j &+= w.cols
                p += rowBytes
                out += ld
            }
            return
        }
        for i in 0..<rows { decodeSegment(w, r0 &+ i, c0, count, dst + i &* ld, t, spread, shifts) }
    }

    public static func dequantizeRowSegment(_ w: NF4MatrixRef, _ r: Int, _ c0: Int, _ count: Int,
                                            _ dst: UnsafeMutablePointer<Float>) {
        dequantizePanel(w, r, 1, c0, count, dst, count)
    }
}
