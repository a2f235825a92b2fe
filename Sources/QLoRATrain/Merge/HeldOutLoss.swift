import QLoRACore
import QLoRAModel

/// Mean token cross-entropy of an inference model on held-out batches (the positions whose target
/// is not −1), with logits materialized a few rows at a time. Used to compare base + adapter with a
/// merged (re-quantized) model on the same data.
public enum HeldOutLoss {
    public static func mean(_ model: LlamaModel, _ batches: [TrainingBatch], rowsPerChunk: Int = 64) -> Double {
        let V = model.config.vocabSize, C = model.config.hiddenSize
        var total = 0.0, count = 0
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: rowsPerChunk * V)
        defer { logits.deallocate() }
        for batch in batches where batch.predictionCount > 0 {
            batch.ids.withUnsafeBufferPointer { ids in
                batch.targets.withUnsafeBufferPointer { targets in
                    let hidden = batch.positions.map { p in
                        p.withUnsafeBufferPointer { model.hidden(ids.baseAddress!, B: batch.B, T: batch.T, positions: $0.baseAddress!) }
                    } ?? model.hidden(ids.baseAddress!, B: batch.B, T: batch.T)
                    let M = batch.B * batch.T
                    var r0 = 0
                    while r0 < M {
                        let n = min(rowsPerChunk, M - r0)
                        model.logits(hidden + r0 * C, rows: n, into: logits)
                        total += CrossEntropy.forwardBackward(logits, targets.baseAddress! + r0, n, V, scale: 0)
                        r0 += n
                    }
                }
            }
            count += batch.predictionCount
        }
        return count > 0 ? total / Double(count) : .nan
    }
}
