import Foundation
import QLoRA

/// The check `generate`, `eval` and `merge` make before loading the model, like `train`'s: the
/// model as the loader holds it (the CPU planner's weight rows: NF4 or f32 linears, their
/// constants, unquantized weights, runtime) plus the command's own buffers (activations of
/// `rows` × `positions` tokens, attention scores, a logits chunk, the KV cache), against the memory
/// available. Refuses in one line with the plan's numbers; `--force` makes it a warning.
enum InferenceMemoryCheck {
    static let weightComponents: Set<Component> = [.quantizedWeights, .quantConstants, .unquantizedWeights,
                                                    .dequantScratch, .runtimeOverhead]

    /// The plan: named parts in bytes, largest first.
    static func plan(_ options: ModelOptions, rows: Int, positions: Int, cachePositions: Int) throws -> [(String, Int)] {
        let planned = try ModelSource.resolve(options.model)
        var request = PlanRequest(model: planned)
        request.device = .cpu
        request.method = options.base == .f32 ? .lora : .qlora
        request.rank = 1
        request.sequenceLength = 1
        request.batchSize = 1
        let table = try Planner.plan(request).table
        var parts: [(String, Int)] = Component.allCases.filter { weightComponents.contains($0) }.map { c in
            (c.title, table.buffers.filter { $0.component == c && $0.placement == .device }.reduce(0) { $0 + $1.bytes })
        }
        let c = planned.config, M = rows * positions
        let perToken = 3 * c.hiddenSize + 2 * c.qDim + 2 * c.kvDim + 2 * c.intermediateSize
        parts.append(("activations", 4 * M * perToken + 4 * options.threads * positions * (positions + cachePositions)))
        parts.append(("logits", 4 * min(M, 64) * c.vocabSize))
        if cachePositions > 0 { parts.append(("KV cache", 4 * 2 * c.numHiddenLayers * cachePositions * c.kvDim)) }
        return parts.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
    }

    static func check(_ command: String, _ options: ModelOptions, rows: Int, positions: Int, cachePositions: Int = 0,
                      force: Bool) throws {
        let parts = try plan(options, rows: rows, positions: positions, cachePositions: cachePositions)
        let total = parts.reduce(0) { $0 + $1.1 }
        guard let available = try AvailableMemory.read(), total > available.bytes else { return }
        let largest = parts.prefix(3).map { "\($0.0) \(ByteCount.format($0.1))" }.joined(separator: ", ")
        let refusal = "\(command): the memory plan needs \(ByteCount.format(total)) (\(largest)) but "
            + "\(ByteCount.format(available.bytes)) is available (\(available.source))"
        if force {
            FileHandle.standardError.write("warning: \(refusal); --force given, running anyway\n".data(using: .utf8)!)
            return
        }
        throw QLoRAError(.invalidArgument, refusal + "; pass --force to try anyway")
    }
}
