/// The memory plan as one table of named buffers — llm.c's `fill_in_parameter_sizes` /
/// `fill_in_activation_sizes`, kept as data so the planner prints it and the trainer allocates from it.
///
/// Every buffer has a name, a shape written with the extents of `ModelDims` (L, B, T, C, …), a
/// storage type, the component it belongs to, and where it lives. The trainer carves its arena with
/// `arenaLayout(alignment:)` (llm.c's `malloc_and_point_*`), so plan and engine cannot drift apart.

/// Storage type of a buffer. Sizes are in bits so NF4 packs two values per byte.
public enum StorageType: String, Sendable, Codable {
    case f32, bf16, f16, nf4, u8, bool

    public var bits: Int {
        switch self {
        case .f32: 32
        case .bf16, .f16: 16
        case .nf4: 4
        case .u8, .bool: 8
        }
    }
}

/// Where a buffer lives at the step's peak.
public enum Placement: String, Sendable, Codable {
    /// Counted against the budget: GPU memory, or RAM for `--device cpu`.
    case device
    /// GPU plan: host RAM — optimizer state a paged optimizer keeps there (CUDA unified memory), or
    /// an offloaded NF4 base.
    case host
    /// CPU plan: paged optimizer state in a file-backed mapping the kernel may evict.
    case file
}

/// What a buffer is for; the report has one row per component, in this order.
public enum Component: String, CaseIterable, Sendable, Codable {
    case quantizedWeights = "quantized_base_weights"
    case quantConstants = "quantization_constants"
    case unquantizedWeights = "unquantized_weights"
    case trainableParameters = "trainable_parameters"
    case gradients = "gradients"
    case optimizerResident = "optimizer_state_resident"
    case optimizerPaged = "optimizer_state_paged"
    case gatheredWeights = "sharding_gathered_weights"
    case activationCheckpoints = "activation_checkpoints"
    case layerActivations = "layer_activations"
    case backwardWorkspace = "backward_workspace"
    case logitsAndLoss = "logits_and_loss"
    case dequantScratch = "dequant_scratch"
    case runtimeOverhead = "runtime_overhead"
    case allocatorReserve = "allocator_reserve"

    /// Row title in the text report.
    public var title: String {
        switch self {
        case .quantizedWeights: "quantized base weights (NF4)"
        case .quantConstants: "quantization constants"
        case .unquantizedWeights: "unquantized weights"
        case .trainableParameters: "trainable parameters"
        case .gradients: "gradients"
        case .optimizerResident: "optimizer state (resident)"
        case .optimizerPaged: "optimizer state (paged out)"
        case .gatheredWeights: "sharding: gathered layers"
        case .activationCheckpoints: "activation checkpoints"
        case .layerActivations: "layer activations"
        case .backwardWorkspace: "backward workspace"
        case .logitsAndLoss: "logits and loss"
        case .dequantScratch: "dequantized weight scratch"
        case .runtimeOverhead: "runtime overhead"
        case .allocatorReserve: "allocator reserve"
        }
    }

    /// True for buffers the trainer itself allocates from its arena (not context or slack).
    public var isTrainerBuffer: Bool { self != .runtimeOverhead && self != .allocatorReserve }
}

/// One named buffer.
public struct PlannedBuffer: Sendable, Equatable {
    /// Dotted name, e.g. `base.q.nf4`, `lora.q.A`, `act.ln1`.
    public var name: String
    public var component: Component
    /// Extents, outermost first, e.g. `[L, B, T, C]` as numbers.
    public var shape: [Int]
    /// The extents' names, same count as `shape`, e.g. `["L", "B", "T", "C"]`.
    public var axes: [String]
    public var dtype: StorageType
    public var placement: Placement
    /// Number of ranks the buffer is sharded over (FSDP); bytes are per rank.
    public var shards: Int = 1
    /// One line: what it holds, why it is needed.
    public var note: String
    /// The step phases it is alive in (`Phase.defaults` of its component unless given).
    public var phases: Set<Phase>

    public init(_ name: String, _ component: Component, shape: [Int], axes: [String],
                _ dtype: StorageType, placement: Placement = .device, shards: Int = 1,
                phases: Set<Phase>? = nil, note: String) {
        self.phases = phases ?? Phase.defaults(component)
        precondition(shape.count == axes.count, "\(name): shape and axes differ in rank")
        self.name = name
        self.component = component
        self.shape = shape
        self.axes = axes
        self.dtype = dtype
        self.placement = placement
        self.shards = shards
        self.note = note
    }

    /// Elements in the whole (unsharded) buffer.
    public var elements: Int { shape.reduce(1, *) }

    /// Bytes this rank holds: whole bytes, rounded up, divided over the shards (rounded up).
    public var bytes: Int {
        let whole = (elements * dtype.bits + 7) / 8
        return (whole + shards - 1) / shards
    }

    /// `(L=80, B=1, T=512, C=8192)`, with `/N` when sharded.
    public var shapeDescription: String {
        let dims = zip(axes, shape).map { "\($0)=\($1)" }.joined(separator: ", ")
        return "(\(dims))" + (shards > 1 ? "/\(shards)" : "")
    }
}

/// The planned buffers plus, per component, the formula that explains its size.
public struct BufferTable: Sendable {
    public private(set) var buffers: [PlannedBuffer] = []
    public private(set) var formulas: [Component: String] = [:]

    public init() {}

    public mutating func add(_ buffer: PlannedBuffer) {
        guard buffer.elements > 0 else { return }
        precondition(!buffers.contains { $0.name == buffer.name }, "duplicate buffer \(buffer.name)")
        buffers.append(buffer)
    }

    /// Removes a buffer (a later builder that replaces it, e.g. offloading replacing FSDP's gathers).
    public mutating func remove(named name: String) {
        buffers.removeAll { $0.name == name }
    }

    /// Moves every buffer of a component to another placement (offloading).
    public mutating func move(_ component: Component, to placement: Placement) {
        for i in buffers.indices where buffers[i].component == component { buffers[i].placement = placement }
    }

    /// Records the formula for a component (appended with "; " when called twice).
    public mutating func explain(_ component: Component, _ formula: String) {
        if let existing = formulas[component] {
            formulas[component] = existing + "; " + formula
        } else {
            formulas[component] = formula
        }
    }

    public func bytes(of component: Component) -> Int {
        buffers.lazy.filter { $0.component == component }.reduce(0) { $0 + $1.bytes }
    }

    public func bytes(at placement: Placement) -> Int {
        buffers.lazy.filter { $0.placement == placement }.reduce(0) { $0 + $1.bytes }
    }

    /// Device bytes alive during one phase of the step.
    public func deviceBytes(in phase: Phase) -> Int {
        buffers.lazy.filter { $0.placement == .device && $0.phases.contains(phase) }.reduce(0) { $0 + $1.bytes }
    }

    /// Device bytes of each phase, and the phase with the most (the first of equal ones).
    public func phasePeak() -> (phase: Phase, bytes: Int, all: [(Phase, Int)]) {
        let all = Phase.allCases.map { ($0, deviceBytes(in: $0)) }
        let peak = all.max { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0.order > $1.0.order) }!
        return (peak.0, peak.1, all)
    }

    /// Marks every buffer alive in every phase: a trainer that allocates all its buffers once for
    /// the run (the CPU trainer) holds them all at every moment of the step.
    public mutating func keepAllAlive() {
        for i in buffers.indices { buffers[i].phases = Set(Phase.allCases) }
    }

    /// Where each component lives (a component never spans two placements).
    public func placement(of component: Component) -> Placement? {
        buffers.first { $0.component == component }?.placement
    }

    public func buffer(named name: String) -> PlannedBuffer? {
        buffers.first { $0.name == name }
    }

    /// Byte offsets of every device-resident trainer buffer inside one arena, each start aligned to
    /// `alignment` bytes — the layout `qlora train` allocates (llm.c's `malloc_and_point`).
    public func arenaLayout(alignment: Int = 64) -> ArenaLayout {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a power of 2")
        var offsets: [(name: String, offset: Int, bytes: Int)] = []
        var cursor = 0
        for buffer in buffers where buffer.placement == .device && buffer.component.isTrainerBuffer {
            cursor = (cursor + alignment - 1) & ~(alignment - 1)
            offsets.append((buffer.name, cursor, buffer.bytes))
            cursor += buffer.bytes
        }
        return ArenaLayout(entries: offsets, totalBytes: cursor)
    }
}

/// Offsets of the trainer's buffers inside one allocation.
public struct ArenaLayout: Sendable {
    public let entries: [(name: String, offset: Int, bytes: Int)]
    /// Bytes to allocate (end of the last buffer).
    public let totalBytes: Int

    public func offset(of name: String) -> Int? { entries.first { $0.name == name }?.offset }
}
