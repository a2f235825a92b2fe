import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Packed rows hold several examples that do not see each other (issue 16, item 2): positions
/// restart at 0 per example, attention stays inside the example, and no target crosses into the
/// next example; so a packed batch's loss and gradients are the sums of its examples run one by one,
/// in training (LoRA, prompt and prefix tuning, with and without checkpointing) and in evaluation.
@Suite(.serialized) struct PackedRowsTests {
    /// Example i: `lengths[i]` tokens (ids < 40); its first token is a prompt token, the rest learned.
    static func examples(_ lengths: [Int], seed: UInt64 = 4) -> [TokenizedExample] {
        var rng = SeededRNG(seed: seed)
        return lengths.enumerated().map { i, n in
            TokenizedExample(ids: (0..<n).map { _ in Int32(rng.next() % 40) }, trained: (0..<n).map { $0 > 0 }, line: i + 1)
        }
    }

    /// The example alone in a row of its own length: targets are its learned next tokens.
    static func alone(_ e: TokenizedExample) -> TrainingBatch {
        let n = e.ids.count
        let targets = (0..<n).map { t in t + 1 < n && e.trained[t + 1] ? e.ids[t + 1] : -1 }
        return TrainingBatch(B: 1, T: n, ids: e.ids, targets: targets)
    }

    static let lengths = [5, 7, 4]

    @Test func packedRowsCarryPositionsAndNoTargetCrossesAnExample() throws {
        let ex = Self.examples(Self.lengths)
        var loader = try DataLoader(examples: ex, B: 1, T: 16, layout: .packing, seed: 0, shuffle: false, padID: 0)
        let batch = loader.next()
        #expect(batch.positions == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3])
        #expect(batch.segmentCount == 3)
        var expected: [Int32] = []
        for e in ex { expected += Self.alone(e).targets }   // each example's last token predicts nothing
        #expect(batch.targets == expected)
        // The next row continues the stream (example 0 again, the next epoch): a new sequence at 0.
        let next = loader.next()
        #expect(next.positions?.prefix(5) == [0, 1, 2, 3, 4])
        // Padding rows are one sequence each: no positions.
        var padded = try DataLoader(examples: ex, B: 2, T: 16, layout: .padding, seed: 0, shuffle: false, padID: 0)
        #expect(padded.next().positions == nil)
        // Evaluation batches pack the same way.
        let eval = DataLoader.evaluationBatches(ex, B: 1, T: 16, layout: .packing, padID: 0)
        #expect(eval.count == 1 && eval[0].positions == batch.positions && eval[0].targets == batch.targets)
    }

    /// A row holding an example continued from the previous row: it restarts at position 0.
    @Test func anExampleCutAcrossRowsRestartsInTheNextRow() throws {
        let ex = Self.examples([10, 3])
        var loader = try DataLoader(examples: ex, B: 2, T: 6, layout: .packing, seed: 0, shuffle: false, padID: 0)
        let batch = loader.next()
        // Row 0: tokens 0…5 of example 0; row 1 starts at token 6 (the previous row's last target).
        #expect(batch.positions == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 1])
        #expect(batch.targets[5] == ex[0].ids[6], "the last position of a row predicts the row's T+1th token")
        #expect(batch.targets[9] == -1, "example 0's last token predicts nothing")
    }

    enum Method: CaseIterable { case lora, prompt, prefix }

    static func model(_ method: Method, weights: LlamaWeights, checkpointing: Bool) throws -> LoRALlama {
        var rng = SeededRNG(seed: 21)
        switch method {
        case .lora:
            let model = try LoRALlama(weights: weights, lora: LoRAConfig(r: 4, loraAlpha: 8, loraDropout: 0),
                                      threads: 2, gradientCheckpointing: checkpointing, seed: 3)
            for ad in model.allAdapters { for i in 0..<(ad.outFeatures * ad.rank) { ad.b[i] = rng.nextNormal() * 0.05 } }
            return model
        case .prompt:
            let config = PromptLearningConfig.promptTuning(model: weights.config, virtualTokens: 3)
            let adapter = PromptEmbedding(config: config, values: (0..<(3 * weights.config.hiddenSize)).map { _ in rng.nextNormal() * 0.5 })
            return try LoRALlama(weights: weights, adapter: adapter, threads: 2, gradientCheckpointing: checkpointing)
        case .prefix:
            let config = PromptLearningConfig.prefixTuning(model: weights.config, virtualTokens: 3)
            return try LoRALlama(weights: weights, adapter: try PrefixEncoder.random(config: config, rng: &rng),
                                 threads: 2, gradientCheckpointing: checkpointing)
        }
    }

    static func gradients(_ model: LoRALlama) -> [Float] {
        model.adapter.parameters.flatMap { Array(UnsafeBufferPointer(start: $0.grad, count: $0.count)) }
    }

    @Test(arguments: 0..<6)
    func packedLossAndGradientsAreTheSumOfTheExamplesOneByOne(_ index: Int) throws {
        let method = Method.allCases[index / 2], checkpointing = index % 2 == 1
        let weights = try GradientCheckTests.tinyWeights(nf4: true)
        let model = try Self.model(method, weights: weights, checkpointing: checkpointing)
        let ex = Self.examples(Self.lengths)
        var loader = try DataLoader(examples: ex, B: 2, T: 16, layout: .packing, seed: 0, shuffle: false, padID: 0)
        let packed = loader.next()   // row 0: the three examples; row 1: the next epoch's, again
        model.zeroGrad()
        let (packedSum, packedCount) = model.forwardBackward(packed, lossScale: 1)
        let packedGrad = Self.gradients(model)

        model.zeroGrad()
        var sum = 0.0, count = 0
        for _ in 0..<2 {
            for e in ex {
                let r = model.forwardBackward(Self.alone(e), lossScale: 1)
                sum += r.sum
                count += r.count
            }
        }
        let aloneGrad = Self.gradients(model)
        #expect(packedCount == count)
        #expect(abs(packedSum - sum) <= 1e-5 * abs(sum), "packed \(packedSum), one by one \(sum)")
        let scale = aloneGrad.map { abs($0) }.max()!
        #expect(scale > 0)
        let worst = zip(packedGrad, aloneGrad).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-4 * scale, "\(method): worst gradient difference \(worst) of \(scale)")
        #expect(abs(model.loss(packed).sum - sum) <= 1e-5 * abs(sum), "the evaluation loss packs the same way")

        // The same row without positions is one sequence (examples see each other): a different loss,
        // so the comparison above can fail.
        var crossing = packed
        crossing.positions = nil
        #expect(abs(model.loss(crossing).sum - sum) > 1e-4 * abs(sum))
    }

    /// The inference model (merge's held-out loss) reads the same positions.
    @Test func heldOutLossOfPackedRowsIsTheExamplesOneByOne() throws {
        let dir = TempDir()
        let config = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2, vocab: 40)
        try TinyCheckpoint.write(to: dir.path, config: config, seed: 11)
        let model = try LlamaModel(weights: LlamaWeights.load(from: HFCheckpoint(directory: dir.path), linears: .qlora,
                                                              embeddings: .f32), threads: 2)
        let ex = Self.examples([6, 6, 5, 4, 3])   // two rows of 12, no example cut
        let packed = DataLoader.evaluationBatches(ex, B: 2, T: 12, layout: .packing, padID: 0)
        let alone = ex.map(Self.alone)
        let n = alone.reduce(0) { $0 + $1.predictionCount }
        #expect(packed.reduce(0) { $0 + $1.predictionCount } == n)
        let expected = alone.reduce(0.0) { $0 + HeldOutLoss.mean(model, [$1]) * Double($1.predictionCount) } / Double(n)
        let got = HeldOutLoss.mean(model, packed)
        #expect(abs(got - expected) <= 1e-5 * expected, "packed \(got), one by one \(expected)")
    }
}

/// The packing-efficiency report.
@Suite struct LayoutStatsTests {
    @Test func packingCountsExamplesPerRowAndCuts() {
        let ex = PackedRowsTests.examples([5, 7, 8, 6, 6])   // 32 tokens, starting at 0, 5, 12, 20, 26
        let s = LayoutStats(ex, T: 16, layout: .packing)
        #expect(s.rows == 2)              // rows at tokens 0 and 16 (the second reads to the end)
        #expect(s.filled == 1)
        #expect(s.examplesPerRow == 2.5)
        #expect(s.cut == 1)               // the third (tokens 12…19) holds the row boundary at 16
        let padded = LayoutStats(ex, T: 6, layout: .padding)
        #expect(padded.rows == 5 && padded.cut == 1)   // 8 > T + 1; 7 = T + 1 fits (a row reads T + 1)
        #expect(abs(padded.filled - Double(5 + 6 + 6 + 6 + 6) / 30) < 1e-12)
    }
}
