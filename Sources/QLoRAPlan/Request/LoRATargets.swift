import Foundation
import QLoRACore

/// The seven linears of a LLaMA decoder layer, in Hugging Face order.
public enum Projection: String, CaseIterable, Sendable, Codable, Comparable {
    case q, k, v, o, gate, up, down

    /// Module name in HF checkpoints and PEFT `target_modules` (`q_proj`, …).
    public var moduleName: String { rawValue + "_proj" }
    /// True for gate/up/down, which Mixtral replicates per expert.
    public var isMLP: Bool { self == .gate || self == .up || self == .down }

    public static func < (a: Projection, b: Projection) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Which linears carry LoRA adapters (`--targets`).
public struct LoRATargets: Sendable, Equatable {
    public var projections: [Projection]

    public static let all = LoRATargets(projections: Projection.allCases)

    public init(projections: [Projection]) {
        self.projections = Array(Set(projections)).sorted()
    }

    /// Parses `all`, `attn` (q,k,v,o), `mlp` (gate,up,down), `qv`, or a comma list of names such as
    /// `q_proj,v_proj` or `q,k,v`.
    public static func parse(_ text: String) throws -> LoRATargets {
        switch text.lowercased() {
        case "all", "all-linear", "all_linear": return .all
        case "attn", "attention": return LoRATargets(projections: [.q, .k, .v, .o])
        case "mlp": return LoRATargets(projections: [.gate, .up, .down])
        case "qv": return LoRATargets(projections: [.q, .v])
        default: break
        }
        var found: [Projection] = []
        for raw in text.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces).lowercased()
            let short = name.hasSuffix("_proj") ? String(name.dropLast(5)) : name
            // Phi-3's fused modules: the projections they hold (the planner counts them as one adapter).
            if short == "qkv" { found += [.q, .k, .v]; continue }
            if short == "gate_up" { found += [.gate, .up]; continue }
            guard let projection = Projection(rawValue: short) else {
                throw QLoRAError.invalid(
                    "--targets: unknown module '\(name)' (use all, attn, mlp, qv or names from " +
                    "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj; Phi-3: qkv_proj, gate_up_proj)")
            }
            found.append(projection)
        }
        guard !found.isEmpty else { throw QLoRAError.invalid("--targets: empty list") }
        return LoRATargets(projections: found)
    }

    /// Comma list of short names, as the report prints it.
    public var description: String {
        projections == Projection.allCases ? "all linears (q,k,v,o,gate,up,down)"
            : projections.map(\.moduleName).joined(separator: ",")
    }
}
