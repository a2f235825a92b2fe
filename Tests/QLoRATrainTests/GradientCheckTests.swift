import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The hand-written backward pass of the whole model against central finite differences of a
/// Double-precision reference forward, through every op: embedding, RMSNorm, RoPE, GQA attention,
/// SwiGLU, the frozen NF4 (or dense) linears' input gradients, LoRA, and the cross-entropy loss.
@Suite(.serialized) struct GradientCheckTests {
    /// Relative tolerance on each checked gradient entry (Float32 engine vs Double reference).
    static let relativeTolerance = 2e-3
    static let absoluteFloor = 1e-5

    static func tinyWeights(nf4: Bool) throws -> LlamaWeights {
        let dir = TempDir()
        let config = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2, vocab: 40)
        try TinyCheckpoint.write(to: dir.path, config: config, seed: 11)
        let source = try HFCheckpoint(directory: dir.path)
        return try LlamaWeights.load(from: source, linears: nf4 ? .qlora : .float32, embeddings: .f32)
    }

    static func batch() -> TrainingBatch {
        var rng = SeededRNG(seed: 5)
        let (B, T) = (2, 6)
        let ids = (0..<(B * T)).map { _ in Int32(rng.next() % 40) }
        var targets = [Int32](repeating: -1, count: B * T)
        for b in 0..<B { for t in 1..<(T - 1) { targets[b * T + t] = ids[b * T + t + 1] } }  // prompt-masked row start
        return TrainingBatch(B: B, T: T, ids: ids, targets: targets)
    }

    static let cases: [(nf4: Bool, checkpointing: Bool)] = [(true, false), (true, true), (false, false)]

    @Test(arguments: 0..<3)
    func loraGradientsMatchFiniteDifferences(_ index: Int) throws {
        let (nf4, checkpointing) = Self.cases[index]
        let weights = try Self.tinyWeights(nf4: nf4)
        let model = try LoRALlama(weights: weights, lora: LoRAConfig(r: 4, loraAlpha: 8, loraDropout: 0),
                                  threads: 2, gradientCheckpointing: checkpointing, seed: 3)
        // B starts at zero (PEFT), which would make every dA zero: give it small random values.
        var rng = SeededRNG(seed: 9)
        for ad in model.allAdapters { for i in 0..<(ad.outFeatures * ad.rank) { ad.b[i] = rng.nextNormal() * 0.05 } }
        let batch = Self.batch()
        model.zeroGrad()
        let (_, count) = model.forwardBackward(batch, lossScale: 1 / Float(batch.predictionCount))
        #expect(count == batch.predictionCount)
        var ref = ReferenceLlama(weights: weights, model: model)
        let h = 1e-5
        var worst = 0.0, largest = 0.0, checked = 0
        for (l, layer) in model.adapters.enumerated() {
            for (name, ad) in layer {
                let key = "\(l).\(name)"
                for (which, count, grad) in [("A", ad.rank * ad.inFeatures, ad.dA), ("B", ad.outFeatures * ad.rank, ad.dB)] {
                    for i in stride(from: (l * 7 + name.count) % 5, to: count, by: max(1, count / 6)) {
                        func lossWith(_ delta: Double) -> Double {
                            if which == "A" { ref.a[key]![i] += delta } else { ref.b[key]![i] += delta }
                            defer { if which == "A" { ref.a[key]![i] -= delta } else { ref.b[key]![i] -= delta } }
                            return ref.loss(batch)
                        }
                        let fd = (lossWith(h) - lossWith(-h)) / (2 * h)
                        let ours = Double(grad[i])
                        worst = max(worst, abs(ours - fd) / max(abs(fd), Self.absoluteFloor))
                        largest = max(largest, abs(fd))
                        checked += 1
                        #expect(abs(ours - fd) <= Self.relativeTolerance * max(abs(fd), Self.absoluteFloor),
                                "\(key).\(which)[\(i)]: ours \(ours) fd \(fd)")
                    }
                }
            }
        }
        // The check must see real gradients, not zeros.
        #expect(largest > 1e-3, "largest finite-difference gradient \(largest)")
        #expect(checked > 100)
        print("gradient check nf4=\(nf4) checkpointing=\(checkpointing): \(checked) entries, largest |g| \(largest), worst relative error \(worst)")
    }

    /// DoRA through the whole model: dA, dB and dm against finite differences of the reference with
    /// the row norms held fixed (detached, as PEFT does), NF4 with and without checkpointing.
    @Test(arguments: 0..<2)
    func doraGradientsMatchFiniteDifferences(_ index: Int) throws {
        let (nf4, checkpointing) = Self.cases[index]
        let weights = try Self.tinyWeights(nf4: nf4)
        let config = try LoRAConfig(r: 4, loraAlpha: 8, loraDropout: 0, targets: [.q, .v, .o, .down], useDoRA: true)
        let model = try LoRALlama(weights: weights, lora: config, threads: 2, gradientCheckpointing: checkpointing, seed: 3)
        var rng = SeededRNG(seed: 9)
        for ad in model.allAdapters {
            for i in 0..<(ad.outFeatures * ad.rank) { ad.b[i] = rng.nextNormal() * 0.05 }
            for j in 0..<ad.outFeatures { ad.magnitude[j] *= 1 + 0.2 * rng.nextNormal() }
        }
        let batch = Self.batch()
        model.zeroGrad()
        model.forwardBackward(batch, lossScale: 1 / Float(batch.predictionCount))
        var ref = ReferenceLlama(weights: weights, model: model)
        #expect(ref.m.count == 8)
        let (sum, count) = model.loss(batch)
        #expect(abs(sum / Double(count) - ref.loss(batch)) < 1e-5, "engine \(sum / Double(count)) reference \(ref.loss(batch))")
        let h = 1e-5
        var largest = 0.0, checked = 0
        for (l, layer) in model.adapters.enumerated() {
            for (name, ad) in layer {
                let key = "\(l).\(name)"
                for (which, n, grad) in [("A", ad.rank * ad.inFeatures, ad.dA), ("B", ad.outFeatures * ad.rank, ad.dB),
                                         ("m", ad.outFeatures, ad.dMagnitude)] {
                    for i in stride(from: (l * 7 + name.count) % 5, to: n, by: max(1, n / 6)) {
                        func lossWith(_ d: Double) -> Double {
                            switch which {
                            case "A": ref.a[key]![i] += d
                            case "B": ref.b[key]![i] += d
                            default: ref.m[key]![i] += d
                            }
                            defer {
                                switch which {
                                case "A": ref.a[key]![i] -= d
                                case "B": ref.b[key]![i] -= d
                                default: ref.m[key]![i] -= d
                                }
                            }
                            return ref.loss(batch)
                        }
                        let fd = (lossWith(h) - lossWith(-h)) / (2 * h), ours = Double(grad[i])
                        largest = max(largest, abs(fd))
                        checked += 1
                        #expect(abs(ours - fd) <= Self.relativeTolerance * max(abs(fd), Self.absoluteFloor),
                                "\(key).\(which)[\(i)]: ours \(ours) fd \(fd)")
                    }
                }
            }
        }
        #expect(largest > 1e-3, "largest finite-difference gradient \(largest)")
        #expect(checked > 100)
    }

    @Test func referenceForwardAgreesWithTheEngine() throws {
        let weights = try Self.tinyWeights(nf4: true)
        let model = try LoRALlama(weights: weights, lora: LoRAConfig(r: 4, loraAlpha: 8), threads: 2,
                                  gradientCheckpointing: false, seed: 3)
        var rng = SeededRNG(seed: 9)
        for ad in model.allAdapters { for i in 0..<(ad.outFeatures * ad.rank) { ad.b[i] = rng.nextNormal() * 0.05 } }
        let batch = Self.batch()
        let (sum, count) = model.loss(batch)
        let ref = ReferenceLlama(weights: weights, model: model).loss(batch)
        #expect(abs(sum / Double(count) - ref) < 1e-5, "engine \(sum / Double(count)) reference \(ref)")
    }
}
