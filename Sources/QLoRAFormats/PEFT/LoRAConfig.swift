import Foundation
import QLoRACore

/// A PEFT LoRA adapter's `adapter_config.json` (`peft/tuners/lora/config.py`).
///
/// Written with the keys PEFT has written since 0.9, sorted and indented as PEFT's
/// `json.dumps(indent=2, sort_keys=True)`, so PEFT loads it. Read from any PEFT version: keys this
/// engine does not use are ignored, settings it cannot honour (LoRA biases, fan_in_fan_out,
/// per-module rank or alpha, modules_to_save, a task other than CAUSAL_LM) are refused with a
/// one-line error.
public struct LoRAConfig: Equatable, Sendable {
    /// Which modules carry adapters: PEFT accepts a list (a module matches an entry by its name or
    /// path suffix), a regular expression that must match the whole module path, or "all-linear".
    public enum TargetModules: Equatable, Sendable {
        case list([String])
        case pattern(String)
    }

    /// A `target_modules` string as PEFT applies it (`re.fullmatch`); nil for a list or "all-linear".
    /// Compiled once when the config is made or read (`validate` refuses a pattern that does not compile).
    private var compiledPattern: PyRegex?

    public static func == (a: LoRAConfig, b: LoRAConfig) -> Bool {
        a.r == b.r && a.loraAlpha == b.loraAlpha && a.loraDropout == b.loraDropout && a.targetModules == b.targetModules
            && a.useRSLoRA == b.useRSLoRA && a.useDoRA == b.useDoRA && a.baseModelNameOrPath == b.baseModelNameOrPath
            && a.taskType == b.taskType
    }

    public var r: Int
    public var loraAlpha: Double
    public var loraDropout: Double
    public var targetModules: TargetModules {
        didSet { compiledPattern = nil }
    }
    /// Scale by alpha/√r (rsLoRA, arXiv 2312.03732) instead of alpha/r.
    public var useRSLoRA: Bool
    /// DoRA (arXiv 2402.09353): a trained per-output magnitude on the normalized W0 + s·B·A.
    public var useDoRA: Bool
    public var baseModelNameOrPath: String?
    public var taskType: String

    public init(r: Int, loraAlpha: Double, loraDropout: Double = 0, targets: [LlamaLinear] = LlamaLinear.separate,
                useRSLoRA: Bool = false, useDoRA: Bool = false, baseModelNameOrPath: String? = nil) throws {
        self.r = r
        self.loraAlpha = loraAlpha
        self.loraDropout = loraDropout
        targetModules = .list(targets.sorted().map(\.moduleName))
        self.useRSLoRA = useRSLoRA
        self.useDoRA = useDoRA
        self.baseModelNameOrPath = baseModelNameOrPath
        taskType = "CAUSAL_LM"
        try validate(path: "LoRA config")
    }

    /// Under a multimodal wrapper (Gemma 3's), PEFT would match plain names such as `q_proj` in the
    /// vision tower too: a list of names becomes a pattern over the text model's layers
    /// (`model\.language_model\.layers\.\d+\.(self_attn|mlp)\.(q_proj|…)`). Other models keep the list.
    public mutating func scope(to model: LlamaConfig) throws {
        guard model.wrapper != nil, case .list(let names) = targetModules else { return }
        let prefix = NSRegularExpression.escapedPattern(for: model.modulePrefix)
        targetModules = .pattern("\(prefix)layers\\.\\d+\\.(self_attn|mlp)\\.(\(names.joined(separator: "|")))")
        try validate(path: "LoRA config")
    }

    /// The factor on B·A: alpha/r, or alpha/√r with rsLoRA.
    public var scaling: Double { useRSLoRA ? loraAlpha / Double(r).squareRoot() : loraAlpha / Double(r) }

    /// Whether the module at `modulePath` (`model.layers.0.self_attn.q_proj`) is a target.
    public func targets(modulePath: String) -> Bool {
        switch targetModules {
        case .list(let names):
            return names.contains { modulePath == $0 || modulePath.hasSuffix("." + $0) }
        case .pattern(let p):
            if p == "all-linear" { return LlamaLinear.parse(modulePath: modulePath) != nil }
            // A pattern that does not compile is refused by `validate`, so a config that reached here
            // with one was edited after validation: it names nothing (never a partial answer).
            guard let re = compiledPattern ?? (try? PyRegex(p)) else { return false }
            return re.fullMatch(modulePath)
        }
    }

    func validate(path: String) throws {
        guard r >= 1, r <= 1 << 16 else { throw QLoRAError.format(path, "r must be a positive integer, got \(r)") }
        guard loraAlpha.isFinite, loraAlpha > 0 else { throw QLoRAError.format(path, "lora_alpha must be positive, got \(loraAlpha)") }
        guard loraDropout.isFinite, loraDropout >= 0, loraDropout < 1 else {
            throw QLoRAError.format(path, "lora_dropout must be in [0, 1), got \(loraDropout)")
        }
        guard taskType == "CAUSAL_LM" else {
            throw QLoRAError.unsupported(path, "task_type '\(taskType)' is not supported (only CAUSAL_LM)")
        }
        if case .pattern(let p) = targetModules, p != "all-linear" {
            do { _ = try PyRegex(p) } catch {
                if error.invalidInPython {
                    throw QLoRAError.format(path, "target_modules '\(p)' is not a valid Python regular expression: \(error.reason)")
                }
                throw QLoRAError.unsupported(path, "target_modules '\(p)': \(error.reason)")
            }
        }
    }

    // MARK: adapter_config.json

    public static let fileName = PEFTFiles.configFileName

    /// The file's text, as PEFT writes it.
    public func json() -> String {
        func number(_ x: Double) -> JSONValue {
            x == x.rounded() && abs(x) < 1e15 ? .int(Int(x)) : .double(x)
        }
        let targets: JSONValue
        switch targetModules {
        case .list(let names): targets = .array(names.map { .string($0) })
        case .pattern(let p): targets = .string(p)
        }
        let members: [(String, JSONValue)] = [
            ("alpha_pattern", .object([])), ("auto_mapping", .null),
            ("base_model_name_or_path", .optional(baseModelNameOrPath)), ("bias", .string("none")),
            ("fan_in_fan_out", .bool(false)), ("inference_mode", .bool(true)), ("init_lora_weights", .bool(true)),
            ("layers_pattern", .null), ("layers_to_transform", .null), ("lora_alpha", number(loraAlpha)),
            ("lora_dropout", .double(loraDropout)), ("modules_to_save", .null),
            ("peft_type", .string("LORA")), ("r", .int(r)), ("rank_pattern", .object([])), ("revision", .null),
            ("target_modules", targets), ("task_type", .string(taskType)), ("use_dora", .bool(useDoRA)),
            ("use_rslora", .bool(useRSLoRA)),
        ]
        return JSONValue.object(members).serialized()
    }

    /// Parses `adapter_config.json` text; `path` names the file in errors.
    public static func parse(_ data: Data, path: String) throws -> LoRAConfig {
        let o = try PEFTFiles.configObject(data, path: path)
        func string(_ key: String) throws -> String? {
            guard let v = o[key], !v.isNull else { return nil }
            guard let s = v.string else { throw QLoRAError.format(path, "\(key) must be a string") }
            return s
        }
        func number(_ key: String, default d: Double) throws -> Double {
            guard let v = o[key], !v.isNull else { return d }
            guard let n = v.double else { throw QLoRAError.format(path, "\(key) must be a number") }
            return n
        }
        func flag(_ key: String) throws -> Bool {
            guard let v = o[key], !v.isNull else { return false }
            guard let b = v.bool else { throw QLoRAError.format(path, "\(key) must be true or false") }
            return b
        }
        func empty(_ key: String) -> Bool {
            guard let v = o[key], !v.isNull else { return true }
            return v.members?.isEmpty ?? v.array?.isEmpty ?? false
        }
        guard let type = try string("peft_type") else { throw QLoRAError.format(path, "no peft_type") }
        guard type == "LORA" else {
            throw QLoRAError.unsupported(path, "peft_type '\(type)' is not supported (only LORA)")
        }
        guard let r = o["r"].flatMap(PEFTFiles.integer) else {
            throw QLoRAError.format(path, "r must be a positive integer")
        }
        for (key, what) in [("fan_in_fan_out", "fan_in_fan_out"), ("lora_bias", "LoRA biases")]
        where try flag(key) {
            throw QLoRAError.unsupported(path, "\(what) (\(key): true) is not supported")
        }
        let bias = try string("bias") ?? "none"
        guard bias == "none" else { throw QLoRAError.unsupported(path, "bias '\(bias)' is not supported (only none)") }
        for key in ["rank_pattern", "alpha_pattern", "modules_to_save"] where !empty(key) {
            throw QLoRAError.unsupported(path, "\(key) is not supported")
        }
        let targets: TargetModules
        switch o["target_modules"] {
        case .string(let s)?: targets = .pattern(s)
        case .array(let a)?:
            let names = a.compactMap(\.string)
            guard names.count == a.count, !names.isEmpty else {
                throw QLoRAError.format(path, "target_modules must be a non-empty list of module names")
            }
            targets = .list(names)
        default: throw QLoRAError.format(path, "target_modules must be a list of module names or a pattern")
        }
        var config = try LoRAConfig(r: 1, loraAlpha: 1)
        config.r = r
        config.loraAlpha = try number("lora_alpha", default: 8)
        config.loraDropout = try number("lora_dropout", default: 0)
        config.targetModules = targets
        config.useRSLoRA = try flag("use_rslora")
        config.useDoRA = try flag("use_dora")
        config.baseModelNameOrPath = try string("base_model_name_or_path")
        config.taskType = try string("task_type") ?? "CAUSAL_LM"
        try config.validate(path: path)
        if case .pattern(let p) = targets, p != "all-linear" { config.compiledPattern = try? PyRegex(p) }
        return config
    }
}
