import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The trainable adapter: PEFT's initialization, naming, and a file round trip.
@Suite struct LoRAAdapterWeightsTests {
    static let model = TinyCheckpoint.config(layers: 3, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2)

    static func adapter(seed: UInt64 = 1, targets: [LlamaLinear] = LlamaLinear.separate) throws -> LoRAAdapterWeights {
        var rng = SeededRNG(seed: seed)
        return try LoRAAdapterWeights(config: LoRAConfig(r: 8, loraAlpha: 16, targets: targets), model: model, rng: &rng)
    }

    @Test func initializationIsPEFTs() throws {
        let w = try Self.adapter()
        #expect(w.orderedModules.count == 3 * 7)
        #expect(w.orderedModules.prefix(7).map(\.path) == LlamaLinear.separate.map { $0.modulePath(layer: 0) })
        for m in w.orderedModules {
            let inF = m.linear.features(Self.model).inFeatures
            let bound = 1 / Float(inF).squareRoot()
            let a = m.a.values
            #expect(a.allSatisfy { abs($0) <= bound })
            #expect(Set(a).count > a.count / 2)
            // U(−b, b) has mean 0 and variance b²/3.
            let mean = a.reduce(0, +) / Float(a.count)
            let variance = a.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(a.count)
            #expect(abs(mean) < 0.2 * bound)
            #expect(abs(variance / (bound * bound / 3) - 1) < 0.25)
            #expect(m.b.values.allSatisfy { $0 == 0 })
            #expect(m.a.shape == [8, inF] && m.b.shape == [m.linear.features(Self.model).outFeatures, 8])
        }
        let q = try #require(w.module(layer: 1, .q))
        #expect(q.a.name == "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight")
        #expect(q.b.name == "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight")
        #expect(w.parameters.count == 42 && w.parameters[0] === w.orderedModules[0].a)
    }

    @Test func sameSeedSameAdapterOtherSeedOther() throws {
        let a = try Self.adapter(seed: 5), b = try Self.adapter(seed: 5), c = try Self.adapter(seed: 6)
        #expect(a.parameters.map(\.values) == b.parameters.map(\.values))
        #expect(a.parameters.map(\.values) != c.parameters.map(\.values))
    }

    @Test func onlyTargetsAreAdapted() throws {
        let w = try Self.adapter(targets: [.q, .v])
        #expect(w.orderedModules.map(\.linear) == [.q, .v, .q, .v, .q, .v])
        #expect(w.module(layer: 0, .k) == nil)
    }

    @Test func saveAndLoadRoundTripBitForBit() throws {
        let dir = TempDir("qlora-lora")
        let w = try Self.adapter()
        for p in w.parameters { for i in 0..<p.count { p.value[i] += Float(i % 7) * 0.001 } }
        try w.save(to: dir.path)
        let back = try LoRAAdapterWeights.load(from: dir.path, model: Self.model)
        #expect(back.config == w.config)
        #expect(back.parameters.map(\.name) == w.parameters.map(\.name))
        #expect(back.parameters.map { $0.values.map(\.bitPattern) } == w.parameters.map { $0.values.map(\.bitPattern) })
    }

    @Test func theAdapterTrainsThroughTheOptimizerAndLoRAPlus() throws {
        let w = try Self.adapter(targets: [.q])
        for p in w.parameters { for i in 0..<p.count { p.grad[i] = 1 } }
        let opt = try Optimizer(groups: LoRAPlus.groups(w.parameters, ratio: 16), algorithm: .adamW(), learningRate: 1e-3)
        try opt.step(lrFactor: 1)
        let b = w.orderedModules[0].b.values
        #expect(b.allSatisfy { abs($0 + 16e-3) < 1e-6 })
    }
}
