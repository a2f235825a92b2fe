import Foundation
import QLoRAKernels

/// Token cross-entropy: loss_t = log Σ_v exp(logits[t, v]) − logits[t, target_t], computed with the
/// row maximum subtracted. Positions with target < 0 are ignored (loss 0).
/// Legend: M = positions, V = vocab.
public enum CrossEntropy {
    /// - losses: (M); logits: (M, V); targets: (M).
    public static func forward(_ losses: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                               _ targets: UnsafePointer<Int32>, _ M: Int, _ V: Int) {
        for t in 0..<M {
            let target = Int(targets[t])
            guard target >= 0 else { losses[t] = 0; continue }
            let row = logits + t * V
            var mx = -Float.infinity
            for v in 0..<V { mx = max(mx, row[v]) }
            var sum = 0.0
            for v in 0..<V { sum += Double(expf(row[v] - mx)) }
            losses[t] = Float(Foundation.log(sum)) + mx - row[target]
        }
    }

    /// Loss and gradient in one pass over each row (the softmax is not stored): returns Σ loss over
    /// the valid positions and overwrites logits with dlogits = scale · (softmax − onehot(target)),
    /// zero for ignored rows. `scale` is usually 1 / (valid positions of the whole batch).
    public static func forwardBackward(_ logits: UnsafeMutablePointer<Float>, _ targets: UnsafePointer<Int32>,
                                       _ M: Int, _ V: Int, scale: Float) -> Double {
        var total = 0.0
        for t in 0..<M {
            let row = logits + t * V
            let target = Int(targets[t])
            guard target >= 0 else {
                row.initialize(repeating: 0, count: V)
                continue
            }
            let mx = VectorMath.maximum(row, V)
            let targetLogit = Double(row[target] - mx)
            let sum = Double(VectorMath.expShiftedSum(row, V, shift: mx))
            total += Foundation.log(sum) - targetLogit
            let inv = Float(1 / sum) * scale
            for v in 0..<V { row[v] *= inv }
            row[target] -= scale
        }
        return total
    }
}
