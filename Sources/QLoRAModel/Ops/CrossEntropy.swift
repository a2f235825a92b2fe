import Foundation

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
}
