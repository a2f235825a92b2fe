import Foundation

/// Phi-3's fused projections (`qkv_proj`, `gate_up_proj`): one product whose output columns are the
/// parts side by side (q | k | v, gate | up). `split` copies each part of the (M, Σ widths) output
/// into its own (M, width) buffer; its gradient, `join`, writes the parts' gradients back side by side,
/// so the fused linear's backward runs once on the whole (M, Σ widths) gradient.
/// Legend: M = rows.
public enum FusedProjection {
    /// fused (M, Σ widths) → parts[i] (M, widths[i]).
    public static func split(_ fused: UnsafePointer<Float>, M: Int, into parts: [(UnsafeMutablePointer<Float>, Int)]) {
        let width = parts.reduce(0) { $0 + $1.1 }
        for r in 0..<M {
            var col = 0
            for (p, w) in parts {
                (p + r * w).update(from: fused + r * width + col, count: w)
                col += w
            }
        }
    }

    /// The gradient of `split`: parts[i] (M, widths[i]) → fused (M, Σ widths), overwritten.
    public static func join(_ parts: [(UnsafePointer<Float>, Int)], M: Int, into fused: UnsafeMutablePointer<Float>) {
        let width = parts.reduce(0) { $0 + $1.1 }
        for r in 0..<M {
            var col = 0
            for (p, w) in parts {
                (fused + r * width + col).update(from: p + r * w, count: w)
                col += w
            }
        }
    }
}
