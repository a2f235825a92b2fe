import QLoRACore
import QLoRAKernels

/// Where the optimizer state lives: page size, resident budget, spill file.
public struct OptimizerMemory: Sendable, Equatable {
    /// 1 MiB pages: large enough that per-page costs vanish, small enough to bound memory finely.
    public static let defaultPageBytes = 1 << 20

    public var pageBytes: Int
    /// Most bytes of optimizer state kept resident (`--optimizer-memory`); nil keeps all resident.
    public var budgetBytes: Int?
    /// The spill file, beside the run (created only when the budget is below the state's size).
    public var spillPath: String

    public init(pageBytes: Int = Self.defaultPageBytes, budgetBytes: Int? = nil, spillPath: String = "optimizer.spill") {
        self.pageBytes = pageBytes
        self.budgetBytes = budgetBytes
        self.spillPath = spillPath
    }

    /// Everything resident.
    public static let unpaged = OptimizerMemory()

    /// `--optimizer-memory MB` (MiB; nil or 0 = unbounded) with the spill file in `runDirectory`.
    public static func budget(megabytes: Int?, runDirectory: String) -> OptimizerMemory {
        let bytes = megabytes.flatMap { $0 > 0 ? $0 << 20 : nil }
        return OptimizerMemory(budgetBytes: bytes, spillPath: runDirectory + "/optimizer.spill")
    }
}

/// AdamW or Lion over groups of Float32 parameters, with state in pages that may spill to disk.
///
/// A step reads each parameter's `grad` and updates its `value` in place; it does not touch the
/// gradients (zero them after the step). The state is zero before the first step, as PyTorch's
/// lazily created state. Page order never changes a result: every element is updated alone.
public final class Optimizer {
    public let algorithm: OptimizerAlgorithm
    public let groups: [ParameterGroup]
    /// The base learning rate; group g runs at (learningRate · g.lrMultiplier) · schedule factor.
    public let learningRate: Double
    /// Every parameter, in group order: the order of the state layout.
    public let parameters: [Parameter]
    public let layout: StateLayout
    /// Optimizer steps taken (t of the bias correction).
    public internal(set) var stepCount = 0
    let pager: StatePager
    private let groupOfParameter: [Int]

    public init(groups: [ParameterGroup], algorithm: OptimizerAlgorithm, learningRate: Double,
                memory: OptimizerMemory = .unpaged) throws {
        try algorithm.validate()
        guard learningRate.isFinite, learningRate >= 0 else {
            throw QLoRAError.invalid("learning rate must be a non-negative number, got \(learningRate)")
        }
        var seen = Set<String>()
        var params: [Parameter] = []
        var owner: [Int] = []
        for (g, group) in groups.enumerated() {
            for p in group.parameters {
                guard seen.insert(p.name).inserted else {
                    throw QLoRAError.invalid("parameter '\(p.name)' appears twice in the optimizer's groups")
                }
                params.append(p)
                owner.append(g)
            }
        }
        guard memory.pageBytes >= 64, memory.pageBytes % (64 * algorithm.stateCount) == 0 else {
            throw QLoRAError.invalid("optimizer page size \(memory.pageBytes) B is not a multiple of \(64 * algorithm.stateCount)")
        }
        self.algorithm = algorithm
        self.groups = groups
        self.learningRate = learningRate
        parameters = params
        groupOfParameter = owner
        layout = StateLayout(parameterCounts: params.map(\.count), stateCount: algorithm.stateCount,
                             pageBytes: memory.pageBytes)
        pager = try StatePager(pageCount: layout.pageCount, pageBytes: memory.pageBytes,
                               budgetBytes: memory.budgetBytes, spillPath: memory.spillPath)
    }

    /// The learning rate group `g` runs at under schedule factor `lrFactor`.
    public func learningRate(group g: Int, lrFactor: Double) -> Double {
        (learningRate * groups[g].lrMultiplier) * lrFactor
    }

    /// One update of every parameter from its gradient at schedule factor `lrFactor`
    /// (`LRSchedule.factor(at:)`). Throws a pager I/O error; the parameters are then partly
    /// updated and the run should stop.
    public func step(lrFactor: Double) throws {
        stepCount += 1
        let t = stepCount
        let P = layout.elementsPerPage
        switch algorithm {
        case let .adamW(beta1, beta2, eps):
            let k = groups.indices.map { g in
                OptimizerAlgorithm.adamWConstants(beta1: beta1, beta2: beta2, eps: eps,
                                                  lr: learningRate(group: g, lrFactor: lrFactor),
                                                  weightDecay: groups[g].weightDecay, t: t)
            }
            try pager.forEachPage(.cheapest) { page, raw in
                let m = raw.assumingMemoryBound(to: Float.self)
                for s in layout.segments[page] {
                    let p = parameters[s.parameter]
                    OptimizerKernels.adamW(value: p.value + s.parameterOffset, grad: p.grad + s.parameterOffset,
                                           m: m + s.pageOffset, v: m + P + s.pageOffset, count: s.count,
                                           k[groupOfParameter[s.parameter]])
                }
                return true
            }
        case let .lion(beta1, beta2):
            let k = groups.indices.map { g in
                OptimizerAlgorithm.lionConstants(beta1: beta1, beta2: beta2,
                                                 lr: learningRate(group: g, lrFactor: lrFactor),
                                                 weightDecay: groups[g].weightDecay)
            }
            try pager.forEachPage(.cheapest) { page, raw in
                let m = raw.assumingMemoryBound(to: Float.self)
                for s in layout.segments[page] {
                    let p = parameters[s.parameter]
                    OptimizerKernels.lion(value: p.value + s.parameterOffset, grad: p.grad + s.parameterOffset,
                                          m: m + s.pageOffset, count: s.count, k[groupOfParameter[s.parameter]])
                }
                return true
            }
        }
    }

    /// Sets every gradient to zero.
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// Resident memory, spill and I/O counts of the state.
    public var memoryStats: StatePager.Stats { pager.stats }

    /// Runs `body` on every state page in ascending order (pageBytes each; read-only use).
    public func readState(_ body: (Int, UnsafeRawBufferPointer) throws -> Void) throws {
        try pager.forEachPage(.ascending) { page, raw in
            try body(page, UnsafeRawBufferPointer(start: raw, count: layout.pageBytes))
            return false
        }
    }

    /// Overwrites every state page in ascending order: `body` fills each (pageBytes).
    public func writeState(_ body: (Int, UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try pager.forEachPage(.ascending) { page, raw in
            try body(page, UnsafeMutableRawBufferPointer(start: raw, count: layout.pageBytes))
            return true
        }
    }

    /// The state of one parameter element (m, and v for AdamW), for tests and debugging.
    public func state(parameter index: Int, element: Int) throws -> [Float] {
        var flat = element
        for i in 0..<index { flat += parameters[i].count }
        let P = layout.elementsPerPage
        let page = flat / P, offset = flat % P
        var out: [Float] = []
        try readState { k, raw in
            guard k == page else { return }
            let f = raw.bindMemory(to: Float.self)
            out = (0..<layout.stateCount).map { f[$0 * P + offset] }
        }
        return out
    }

    /// Stops the pager's thread and removes the spill file.
    public func close() { pager.close() }
}
