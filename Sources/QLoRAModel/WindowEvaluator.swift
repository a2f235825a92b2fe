import Foundation

/// Mean next-token cross-entropy over windows of tokens, each window predicting its own tokens 2…n.
public enum WindowEvaluator {
    public static func evaluate(model: LlamaModel, windows: [[Int]], batch: Int) -> (meanLoss: Double, predictions: Int) {
        var total = 0.0, count = 0
        let V = model.config.vocabSize
        var i = 0
        while i < windows.count {
            // Same-length windows run together; the short last one alone.
            let T = windows[i].count
            var group: [[Int]] = []
            while i < windows.count && group.count < batch && windows[i].count == T { group.append(windows[i]); i += 1 }
            let B = group.count
            let ids = group.flatMap { $0 }.map(Int32.init)
            var logits = [Float](repeating: 0, count: B * T * V)
            var targets = [Int32](repeating: -1, count: B * T)
            for b in 0..<B { for t in 0..<(T - 1) { targets[b * T + t] = Int32(group[b][t + 1]) } }
            var losses = [Float](repeating: 0, count: B * T)
            ids.withUnsafeBufferPointer { idp in
                let h = model.hidden(idp.baseAddress!, B: B, T: T)
                logits.withUnsafeMutableBufferPointer { model.logits(h, rows: B * T, into: $0.baseAddress!) }
            }
            logits.withUnsafeBufferPointer { l in
                targets.withUnsafeBufferPointer { t in
                    losses.withUnsafeMutableBufferPointer { CrossEntropy.forward($0.baseAddress!, l.baseAddress!, t.baseAddress!, B * T, V) }
                }
            }
            for b in 0..<B { for t in 0..<(T - 1) { total += Double(losses[b * T + t]) } }
            count += B * (T - 1)
        }
        return (total / Double(max(count, 1)), count)
    }
}
