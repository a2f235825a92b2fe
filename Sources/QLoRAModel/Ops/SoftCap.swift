import Foundation

/// Gemma 2's soft-capping (of attention scores and of final logits): y = cap · tanh(x / cap), which
/// keeps |y| < cap. Legend: count = elements.
public enum SoftCap {
    /// In place: x ← cap · tanh(x / cap).
    public static func forward(_ x: UnsafeMutablePointer<Float>, _ count: Int, cap: Float) {
        let inv = 1 / cap
        for i in 0..<count { x[i] = cap * tanh(x[i] * inv) }
    }

    /// In place: dy ← dy · (1 − (y / cap)²), the gradient through the cap given its output y.
    /// - dy: (count), the gradient of y in, of x out; y: (count), the capped values from forward.
    public static func backward(_ dy: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int, cap: Float) {
        let inv = 1 / cap
        for i in 0..<count {
            let t = y[i] * inv
            dy[i] *= 1 - t * t
        }
    }
}
