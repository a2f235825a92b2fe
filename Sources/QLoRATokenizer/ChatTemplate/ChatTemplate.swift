import Foundation
import QLoRACore

/// A chat template: the Jinja program a model ships to turn a conversation into its prompt text,
/// run by a small sandboxed interpreter of the Jinja subset chat templates use, with the
/// settings and extras transformers gives its sandbox (`trim_blocks`, `lstrip_blocks`, `tojson`
/// as `json.dumps`, `raise_exception`, `namespace`, loop controls, the `generation` tag).
///
/// Supported: `{{ }}`, `{# #}`, whitespace control (`-`/`+`); `if`/`elif`/`else`, `for` (with
/// `loop.index`, `index0`, `first`, `last`, `length`, `revindex`, …, tuple targets, an `if`
/// filter, `else`), `set` (names and namespace attributes), `break`/`continue`; literals
/// (strings, ints, floats, booleans, none, lists, tuples, dicts), `+ - * / // %`, `~`, comparisons,
/// `and`/`or`/`not`, `in`/`not in`, `x if c else y`, `.attr` and `[key]`, slices, calls of the
/// built-ins in `TemplateBuiltins` (filters, tests, string and dict methods, `range`). Everything
/// else (macros, includes, imports, other filters) is refused when the template is read, with a
/// one-line error naming the template and the line.
///
/// The interpreter is a sandbox: templates can only read the data passed in and call the
/// built-ins; output size, string sizes, loop iterations and nesting depth are bounded (`Limits`).
public struct ChatTemplate: Sendable {
    /// Bounds on what rendering may cost.
    public struct Limits: Sendable {
        /// Longest output, and longest string a template may build, in UTF-8 bytes.
        public var maxOutputBytes: Int
        /// Loop iterations (and list elements built) over the whole rendering.
        public var maxLoopIterations: Int
        /// Longest template source, in UTF-8 bytes.
        public var maxSourceBytes: Int

        public init(maxOutputBytes: Int = 16 << 20, maxLoopIterations: Int = 1_000_000, maxSourceBytes: Int = 1 << 20) {
            self.maxOutputBytes = maxOutputBytes
            self.maxLoopIterations = maxLoopIterations
            self.maxSourceBytes = maxSourceBytes
        }

        public static let `default` = Limits()
    }

    /// Names the template in errors (e.g. "model.gguf: chat template").
    public let name: String
    public let limits: Limits
    private let program: [TemplateNode]

    /// Reads a template; syntax errors and unsupported constructs are reported here.
    public init(_ source: String, name: String, limits: Limits = .default) throws {
        self.name = name
        self.limits = limits
        guard source.utf8.count <= limits.maxSourceBytes else {
            throw QLoRAError.format(name, "the template is longer than \(limits.maxSourceBytes) bytes")
        }
        do {
            program = try TemplateParser.parse(source)
            try TemplateValidator.check(program, inLoop: false)
        } catch let error as TemplateError {
            throw Self.report(error, name: name)
        }
    }

    /// Renders with the given variables (plus the built-in functions).
    public func render(_ variables: [String: TemplateValue]) throws -> String {
        let renderer = TemplateRenderer(variables: variables, limits: limits)
        do {
            _ = try renderer.render(program)
        } catch let error as TemplateError {
            throw Self.report(error, name: name)
        }
        return renderer.output
    }

    /// Renders a conversation as transformers' `apply_chat_template` does: `messages`,
    /// `add_generation_prompt`, `bos_token` and `eos_token`, plus any `extra` variables.
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String? = nil, eosToken: String? = nil,
        extra: [String: TemplateValue] = [:]
    ) throws -> String {
        var variables = extra
        variables["messages"] = .array(messages.map(\.templateValue))
        variables["add_generation_prompt"] = .bool(addGenerationPrompt)
        if let bosToken { variables["bos_token"] = .string(bosToken) }
        if let eosToken { variables["eos_token"] = .string(eosToken) }
        return try render(variables)
    }

    /// One line: a message a template raises may hold newlines; they are shown as `\n`.
    static func report(_ error: TemplateError, name: String) -> QLoRAError {
        let message = error.message.replacingOccurrences(of: "\n", with: "\\n")
        return QLoRAError.format(name, "line \(max(error.line, 1)): \(message)")
    }
}

/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: "system", content: content) }
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: "user", content: content) }
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: "assistant", content: content) }

    var templateValue: TemplateValue { ["role": .string(role), "content": .string(content)] }
}

/// Checks a parsed template before it runs: every filter and test is a known built-in, and
/// `break`/`continue` sit inside a loop.
enum TemplateValidator {
    static func check(_ nodes: [TemplateNode], inLoop: Bool) throws {
        for node in nodes {
            switch node {
            case .text: break
            case .output(let expr, let line): try check(expr, line: line)
            case .conditional(let branches, let otherwise, let line):
                for (condition, body) in branches {
                    try check(condition, line: line)
                    try check(body, inLoop: inLoop)
                }
                try check(otherwise, inLoop: inLoop)
            case .loop(_, let iterable, let condition, let body, let otherwise, let line):
                try check(iterable, line: line)
                if let condition { try check(condition, line: line) }
                try check(body, inLoop: true)
                try check(otherwise, inLoop: inLoop)
            case .assign(_, _, let expr, let line): try check(expr, line: line)
            case .breakLoop(let line), .continueLoop(let line):
                if !inLoop { throw TemplateError(line: line, message: "'break'/'continue' outside a loop") }
            }
        }
    }

    static func check(_ expr: TemplateExpr, line: Int) throws {
        func all(_ args: TemplateExpr.Arguments) throws {
            for arg in args.positional { try check(arg, line: line) }
            for (_, arg) in args.keyword { try check(arg, line: line) }
        }
        switch expr {
        case .literal, .name: break
        case .list(let items): for item in items { try check(item, line: line) }
        case .dict(let members):
            for (key, value) in members {
                try check(key, line: line)
                try check(value, line: line)
            }
        case .attribute(let base, _), .not(let base), .negate(let base): try check(base, line: line)
        case .subscript(let base, let key):
            try check(base, line: line)
            try check(key, line: line)
        case .slice(let base, let start, let stop, let step):
            for part in [base, start, stop, step].compactMap({ $0 }) { try check(part, line: line) }
        case .call(let callee, let args):
            try check(callee, line: line)
            try all(args)
        case .filter(let base, let name, let args):
            guard TemplateBuiltins.filters[name] != nil else {
                throw TemplateError(line: line, message: "unknown filter '\(name)' (supported: \(TemplateBuiltins.filters.keys.sorted().joined(separator: ", ")))")
            }
            try check(base, line: line)
            try all(args)
        case .test(let base, let name, _, let args):
            guard TemplateBuiltins.tests[name] != nil else {
                throw TemplateError(line: line, message: "unknown test '\(name)' (supported: \(TemplateBuiltins.tests.keys.sorted().joined(separator: ", ")))")
            }
            try check(base, line: line)
            try all(args)
        case .binary(_, let l, let r), .and(let l, let r), .or(let l, let r):
            try check(l, line: line)
            try check(r, line: line)
        case .conditional(let then, let condition, let otherwise):
            for part in [then, condition, otherwise].compactMap({ $0 }) { try check(part, line: line) }
        }
    }
}
