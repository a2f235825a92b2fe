import Foundation
import QLoRA
import Testing

/// Phi-3's config as transformers' Phi3Config reads it: the fused layout, its rope type aliases,
/// its ignored `attention_bias`, and its dropout keys refused by name unless 0.
@Suite struct Phi3ConfigTests {
    static let base = #""model_type": "phi3", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64, "original_max_position_embeddings": 16, "partial_rotary_factor": 0.75"#

    static func config(_ extra: String) throws -> LlamaConfig {
        try LlamaConfig.decode(Data("{\(base)\(extra.isEmpty ? "" : ", " + extra)}".utf8))
    }

    @Test func fusedLinearsAndTheirShapes() throws {
        let c = try Self.config("")
        #expect(c.fusedProjections && LlamaLinear.modules(of: c) == [.qkv, .o, .gateUp, .down])
        #expect(c.layerLinears.map(\.name) == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
        #expect(LlamaLinear.qkv.features(c) == (64, 64 + 2 * 32) && LlamaLinear.gateUp.features(c) == (64, 192))
        #expect(LlamaLinear.qkv.modulePath(layer: 1) == "model.layers.1.self_attn.qkv_proj")
        #expect(LlamaLinear.gateUp.modulePath(layer: 0) == "model.layers.0.mlp.gate_up_proj")
        // Same parameter count as the separate layout (the rows are only stacked).
        var separate = c
        separate.modelType = "mistral"
        #expect(c.linearParameters == separate.linearParameters)
        #expect(c.rotaryDim == 12)
    }

    /// Phi3Config renames "su" (longrope's old name) and "yarn" to longrope.
    @Test(arguments: ["su", "yarn", "longrope"]) func ropeTypeAliasesMeanLongrope(_ type: String) throws {
        let factors = #""short_factor": [1, 1, 1, 1, 1, 1], "long_factor": [2, 2, 2, 2, 2, 2]"#
        let c = try Self.config(#""rope_scaling": {"type": "\#(type)", \#(factors)}"#)
        #expect(c.ropeScaling?.ropeType == "longrope")
    }

    @Test func attentionBiasIsIgnoredAsTransformersDoes() throws {
        #expect(try Self.config(#""attention_bias": true"#).attentionBias == false)
    }

    @Test(arguments: ["resid_pdrop", "embd_pdrop", "attention_dropout"]) func dropoutKeysAreRefusedByName(_ key: String) throws {
        _ = try Self.config(#""\#(key)": 0.0"#)
        do {
            _ = try Self.config(#""\#(key)": 0.1"#)
            Issue.record("\(key) 0.1 accepted")
        } catch let e as QLoRAError {
            #expect(e.message.contains(key) && !e.message.contains("\n"), "\(e.message)")
        }
    }
}
