/// Python's `re.fullmatch` for the regular subset of its syntax, in time linear in the text.
///
/// PEFT selects LoRA target modules with `re.fullmatch(target_modules, name)`. A backtracking engine
/// (Python's, ICU's behind `NSRegularExpression`) can take exponential time on patterns such as
/// `(.+)+Z`; ICU then gives up and reports "no match", silently dropping a module. This matcher
/// compiles the pattern to a Thompson NFA and simulates it one text scalar at a time (a Pike VM
/// without captures: `fullmatch` needs only yes or no), so the work is at most
/// (program size) × (text length + 1) steps whatever the pattern. Lazy and greedy quantifiers
/// accept the same strings in full, so both are matched exactly; constructs whose meaning an
/// automaton cannot follow (backreferences, lookaround, conditionals, atomic groups, possessive
/// quantifiers, the verbose flag) are refused by name.
public struct PyRegex: Sendable {
    /// The largest `{m,n}` count accepted, and the largest compiled program: bounds on the work.
    static let maxRepeat = 1000
    static let maxProgram = 50_000

    public struct Refusal: Error, Equatable, CustomStringConvertible {
        /// True when Python itself rejects the pattern; false when it is valid Python but not regular.
        public let invalidInPython: Bool
        public let reason: String
        public var description: String { reason }
    }

    public let pattern: String
    private let program: [Instruction]
    private let sets: [PyCharSet]

    enum Instruction: Sendable {
        case scalar(Int)  // index into `sets`
        case split(Int, Int)
        case jump(Int)
        case assertion(PyAssertion)
        case match
    }

    public init(_ pattern: String) throws(Refusal) {
        self.pattern = pattern
        let tree: PyRegexNode
        do { tree = try PyRegexParser.parse(pattern) } catch {
            switch error {
            case .invalid(let r): throw Refusal(invalidInPython: true, reason: r)
            case .unsupported(let what):
                throw Refusal(invalidInPython: false, reason: "\(what) is not supported (only regular patterns are matched)")
            }
        }
        var compiler = Compiler()
        do { try compiler.emit(tree) } catch {
            throw Refusal(invalidInPython: false, reason: "the pattern expands to more than \(Self.maxProgram) states")
        }
        compiler.program.append(.match)
        program = compiler.program
        sets = compiler.sets
    }

    /// `re.fullmatch(pattern, text) is not None`.
    public func fullMatch(_ text: String) -> Bool { run(text).matched }

    /// The number of NFA states: a match visits at most `states × (scalars + 1)` of them.
    public var states: Int { program.count }

    /// The answer and the number of states the simulation visited (the work done), for tests that
    /// check the bound.
    public func run(_ text: String) -> (matched: Bool, visited: Int) {
        let t = Array(text.unicodeScalars)
        var visited = 0
        var current: [Int] = [], next: [Int] = []
        current.reserveCapacity(program.count)
        next.reserveCapacity(program.count)
        var mark = [Int](repeating: -1, count: program.count)
        var stack: [Int] = []
        var generation = 0

        // Adds `pc` and every state reachable from it without consuming a scalar at position `at`.
        func closure(_ pc: Int, at: Int, into list: inout [Int]) {
            stack.append(pc)
            while let p = stack.popLast() {
                if mark[p] == generation { continue }
                mark[p] = generation
                visited += 1
                switch program[p] {
                case .jump(let to): stack.append(to)
                case .split(let a, let b): stack.append(b); stack.append(a)
                case .assertion(let a): if a.holds(at: at, in: t) { stack.append(p + 1) }
                case .scalar, .match: list.append(p)
                }
            }
        }

        closure(0, at: 0, into: &current)
        for (i, c) in t.enumerated() {
            generation += 1
            next.removeAll(keepingCapacity: true)
            for pc in current {
                if case .scalar(let s) = program[pc], sets[s].contains(c) { closure(pc + 1, at: i + 1, into: &next) }
            }
            if next.isEmpty { return (false, visited) }
            swap(&current, &next)
        }
        return (current.contains { if case .match = program[$0] { return true } else { return false } }, visited)
    }

    private struct Compiler {
        var program: [Instruction] = []
        var sets: [PyCharSet] = []
        struct TooLarge: Error {}

        mutating func append(_ i: Instruction) throws(TooLarge) -> Int {
            guard program.count < PyRegex.maxProgram else { throw TooLarge() }
            program.append(i)
            return program.count - 1
        }

        mutating func emit(_ node: PyRegexNode) throws(TooLarge) {
            switch node {
            case .empty: break
            case .scalar(let set):
                sets.append(set)
                _ = try append(.scalar(sets.count - 1))
            case .assertion(let a): _ = try append(.assertion(a))
            case .concat(let items): for n in items { try emit(n) }
            case .alternation(let branches):
                // split L1, next; L1: b0; jump end; next: split L2, ...
                var jumps: [Int] = []
                for (k, b) in branches.enumerated() {
                    if k < branches.count - 1 {
                        let split = try append(.split(0, 0))
                        try emit(b)
                        jumps.append(try append(.jump(0)))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        try emit(b)
                    }
                }
                for j in jumps { program[j] = .jump(program.count) }
            case .repetition(let body, let min, let max):
                for _ in 0..<min { try emit(body) }
                if let max {
                    // (body (body (...)?)?)?: each optional copy can skip to the end.
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(try append(.split(0, 0)))
                        try emit(body)
                    }
                    for s in splits { program[s] = .split(s + 1, program.count) }
                } else {
                    // L: split body, end; body; jump L
                    let split = try append(.split(0, 0))
                    try emit(body)
                    _ = try append(.jump(split))
                    program[split] = .split(split + 1, program.count)
                }
            }
        }
    }
}
