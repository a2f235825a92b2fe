import QLoRA
import Testing

/// Phi-3's fused projections: `split` puts each output column in its part, and `join` (its gradient)
/// is its adjoint, so the fused linear's backward sees exactly the parts' gradients side by side.
struct FusedProjectionTests {
    @Test func splitPlacesColumnsAndJoinIsItsAdjoint() {
        let M = 3, widths = [4, 2, 2], W = 8
        let x = (0..<(M * W)).map { Float($0) * 0.5 - 3 }
        let parts = widths.map { UnsafeMutablePointer<Float>.allocate(capacity: M * $0) }
        defer { for p in parts { p.deallocate() } }
        x.withUnsafeBufferPointer { FusedProjection.split($0.baseAddress!, M: M, into: Array(zip(parts, widths))) }
        // Column c of row r lands in the part that owns c, at c minus the widths before it.
        var col = 0
        for (p, w) in zip(parts, widths) {
            for r in 0..<M { for j in 0..<w { #expect(p[r * w + j] == x[r * W + col + j]) } }
            col += w
        }
        // ⟨split(x), g⟩ = ⟨x, join(g)⟩ for g with distinct entries.
        let g = widths.map { w in (0..<(M * w)).map { Float(($0 * 7 + w) % 11) - 5 } }
        var lhs: Float = 0
        for (i, (p, w)) in zip(parts, widths).enumerated() { for e in 0..<(M * w) { lhs += p[e] * g[i][e] } }
        var joined = [Float](repeating: .nan, count: M * W)
        let gp = g.map { v in let p = UnsafeMutablePointer<Float>.allocate(capacity: v.count); p.initialize(from: v, count: v.count); return p }
        defer { for p in gp { p.deallocate() } }
        joined.withUnsafeMutableBufferPointer {
            FusedProjection.join(zip(gp, widths).map { (UnsafePointer($0.0), $0.1) }, M: M, into: $0.baseAddress!)
        }
        let rhs = zip(x, joined).reduce(Float(0)) { $0 + $1.0 * $1.1 }
        #expect(lhs == rhs && !joined.contains { $0.isNaN })
    }
}
