import QLoRA
import Testing

/// LoRA+ groups as PEFT's create_loraplus_optimizer builds them.
@Suite struct LoRAPlusTests {
    static let prefix = "base_model.model.model.layers.0.self_attn.q_proj"

    static func params() -> [Parameter] {
        [
            Parameter(name: "\(prefix).lora_A.weight", shape: [2, 4]),
            Parameter(name: "\(prefix).lora_B.weight", shape: [4, 2]),
            Parameter(name: "base_model.model.model.layers.0.self_attn.q_proj.bias", shape: [4]),
            Parameter(name: "base_model.model.model.norm.weight", shape: [4]),
            Parameter(name: "base_model.model.model.layers.1.mlp.up_proj.lora_A.weight", shape: [2, 4]),
        ]
    }

    @Test func groupsByNameAndRank() {
        let groups = LoRAPlus.groups(Self.params(), ratio: 16, weightDecay: 0.01)
        #expect(groups.map(\.name) == ["loraplus_A", "loraplus_B", "loraplus_B_no_decay"])
        #expect(groups[0].parameters.map(\.name).allSatisfy { $0.contains("lora_A") })
        #expect(groups[0].parameters.count == 2)
        #expect(groups[1].parameters.map(\.name) == ["\(Self.prefix).lora_B.weight", "base_model.model.model.norm.weight"])
        #expect(groups[2].parameters.map(\.name) == ["\(Self.prefix).bias"])
        #expect(groups.map(\.lrMultiplier) == [1, 16, 16])
        #expect(groups.map(\.weightDecay) == [0.01, 0.01, 0])
    }

    @Test func layerNormWeightsDoNotDecay() {
        let groups = LoRAPlus.groups(Self.params(), ratio: 4, isLayerNorm: { $0.name.hasSuffix("norm.weight") })
        #expect(groups.last!.parameters.map(\.name).contains("base_model.model.model.norm.weight"))
    }

    @Test func bMovesRatioTimesFartherOnTheFirstAdamStep() throws {
        // Adam's first step moves each element by ≈ lr·sign(g): B's lr is λ·lr.
        let ps = Self.params()
        for p in ps { for i in 0..<p.count { p.grad[i] = 1 } }
        let opt = try Optimizer(groups: LoRAPlus.groups(ps, ratio: 16), algorithm: .adamW(), learningRate: 1e-3)
        #expect(opt.learningRate(group: 1, lrFactor: 0.5) == (1e-3 * 16) * 0.5)
        try opt.step(lrFactor: 1)
        #expect(abs(ps[0].value[0] + 1e-3) < 1e-8)
        #expect(abs(ps[1].value[0] + 16e-3) < 1e-7)
        #expect(abs(ps[2].value[0] + 16e-3) < 1e-7)
    }
}
