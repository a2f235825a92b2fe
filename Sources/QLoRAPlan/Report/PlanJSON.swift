import Foundation

/// The `--json` document (schema version 1, documented in docs/memplan.md). Keys are snake_case;
/// every size is an integer number of bytes; `fits`, `budget_bytes` and `headroom_bytes` are null
/// when no budget was given.
public struct PlanJSON: Encodable {
    public struct Model: Encodable {
        let name: String
        let family: String?
        let resolution: String?
        let parameters: Int
        let linearParameters: Int
        let layers: Int
        let hiddenSize: Int
        let vocabSize: Int
    }

    public struct Request: Encodable {
        let device: String
        let method: String
        let rank: Int?
        let targets: [String]?
        let seq: Int
        let batch: Int
        let gradCkpt: Bool
        let optimizer: String
        let optimizerState: String
        let paged: Bool
        let doubleQuant: Bool?
        let computeDtype: String
        let gpus: Int
        /// CPU plans: the trainer's worker threads (per-thread scratch); nil for GPU plans.
        let threads: Int?
        let virtualTokens: Int?
        let dora: Bool?
        let prefixProjection: Int?
        let stack: String?
        let nf4Base: Bool
        let offloadBase: Bool
    }

    public struct ComponentEntry: Encodable {
        let id: String
        let title: String
        let bytes: Int
        /// Bytes alive in the peak phase (what the component adds to `total_bytes`).
        let peakBytes: Int
        let placement: String
        let formula: String
    }

    public struct BufferEntry: Encodable {
        let name: String
        let component: String
        let shape: [Int]
        let axes: [String]
        let dtype: String
        let bytes: Int
        let placement: String
        let shards: Int
        let note: String
    }

    public struct BudgetEntry: Encodable {
        let label: String
        let budgetBytes: Int
        let totalBytes: Int
        let fits: Bool
    }

    public struct PhaseEntry: Encodable {
        let id: String
        let title: String
        let bytes: Int
    }

    public struct RecommendationEntry: Encodable {
        let kind: String
        let text: String
        let totalBytes: Int?
        let fits: Bool?
    }

    let schemaVersion = 1
    let model: Model
    let request: Request
    let budgetLabel: String?
    let budgetBytes: Int?
    let totalBytes: Int
    /// The peak phase's tensors (PyTorch's max_memory_allocated), and the peak reserved bytes PyTorch
    /// reports with memory to spare (GPU plans; null on CPU). Neither includes the CUDA context.
    let allocatedBytes: Int
    let peakReservedBytes: Int?
    let peakPhase: String
    let phases: [PhaseEntry]
    let offDeviceBytes: Int
    let fits: Bool?
    let headroomBytes: Int?
    let components: [ComponentEntry]
    let buffers: [BufferEntry]
    let arenaBytes: Int
    let reasons: [String]
    /// Without a budget (GPU plans): the verdict against each common budget.
    let budgetVerdicts: [BudgetEntry]
    let recommendations: [RecommendationEntry]
    let notes: [String]

    public init(_ plan: MemoryPlan, recommendations: [Recommendation]) {
        let r = plan.request
        let c = r.model.config
        model = Model(name: r.model.name, family: r.model.family, resolution: r.model.resolution,
                      parameters: c.totalParameters, linearParameters: c.linearParameters,
                      layers: c.numHiddenLayers, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize)
        request = Request(
            device: r.device.rawValue, method: r.method.rawValue,
            rank: r.method.usesLoRA ? r.rank : nil,
            targets: r.method.usesLoRA ? r.targets.projections.map(\.moduleName) : nil,
            seq: r.sequenceLength, batch: r.batchSize, gradCkpt: r.gradientCheckpointing,
            optimizer: r.optimizer.rawValue, optimizerState: r.optimizerState.rawValue, paged: r.paged,
            doubleQuant: r.method == .qlora ? r.doubleQuant : nil, computeDtype: r.computeDType.rawValue,
            gpus: r.gpuCount, threads: r.device == .cpu ? r.threads : nil, virtualTokens: r.method.usesVirtualTokens ? r.virtualTokens : nil,
            dora: r.method.usesLoRA ? r.dora : nil, prefixProjection: r.prefixProjectionHidden,
            stack: r.device == .gpu ? r.stack.rawValue : nil, nf4Base: r.quantizedBase,
            offloadBase: r.offloadBase)
        budgetLabel = r.budget?.label
        budgetBytes = plan.budgetBytes
        totalBytes = plan.deviceBytes
        allocatedBytes = plan.allocatedBytes
        peakReservedBytes = plan.peakReservedBytes
        peakPhase = plan.peakPhase.rawValue
        phases = plan.phaseBytes.map { PhaseEntry(id: $0.phase.rawValue, title: $0.phase.title, bytes: $0.bytes) }
        offDeviceBytes = plan.offDeviceBytes
        fits = plan.fits
        headroomBytes = plan.headroomBytes
        components = Component.allCases.compactMap { component in
            guard let place = plan.table.placement(of: component) else { return nil }
            return ComponentEntry(id: component.rawValue, title: component.title,
                                  bytes: plan.table.bytes(of: component),
                                  peakBytes: place == .device ? plan.peakBytes(of: component) : 0,
                                  placement: place.rawValue,
                                  formula: plan.table.formulas[component] ?? "")
        }
        buffers = plan.table.buffers.map {
            BufferEntry(name: $0.name, component: $0.component.rawValue, shape: $0.shape, axes: $0.axes,
                        dtype: $0.dtype.rawValue, bytes: $0.bytes, placement: $0.placement.rawValue,
                        shards: $0.shards, note: $0.note)
        }
        arenaBytes = plan.table.arenaLayout().totalBytes
        reasons = Verdict.reasons(plan)
        if plan.budgetBytes == nil && r.device == .gpu {
            let matrix = BudgetMatrix(r)
            budgetVerdicts = matrix.entries.map {
                BudgetEntry(label: $0.label, budgetBytes: $0.budgetBytes, totalBytes: $0.totalBytes, fits: $0.fits)
            }
            if let (_, fixes) = matrix.tightest {
                self.recommendations = fixes.map {
                    RecommendationEntry(kind: $0.kind.rawValue, text: $0.text, totalBytes: $0.totalBytes, fits: $0.fits)
                }
                notes = plan.notes
                return
            }
        } else {
            budgetVerdicts = []
        }
        self.recommendations = recommendations.map {
            RecommendationEntry(kind: $0.kind.rawValue, text: $0.text, totalBytes: $0.totalBytes, fits: $0.fits)
        }
        notes = plan.notes
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, model, request, budgetLabel, budgetBytes, totalBytes, allocatedBytes, peakReservedBytes
        case peakPhase, phases, offDeviceBytes, fits
        case headroomBytes, components, buffers, arenaBytes, reasons, budgetVerdicts, recommendations, notes
    }

    /// Written by hand so absent values are `null` rather than missing keys.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(model, forKey: .model)
        try c.encode(request, forKey: .request)
        try c.encode(budgetLabel, forKey: .budgetLabel)
        try c.encode(budgetBytes, forKey: .budgetBytes)
        try c.encode(totalBytes, forKey: .totalBytes)
        try c.encode(allocatedBytes, forKey: .allocatedBytes)
        try c.encode(peakReservedBytes, forKey: .peakReservedBytes)
        try c.encode(peakPhase, forKey: .peakPhase)
        try c.encode(phases, forKey: .phases)
        try c.encode(offDeviceBytes, forKey: .offDeviceBytes)
        try c.encode(fits, forKey: .fits)
        try c.encode(headroomBytes, forKey: .headroomBytes)
        try c.encode(components, forKey: .components)
        try c.encode(buffers, forKey: .buffers)
        try c.encode(arenaBytes, forKey: .arenaBytes)
        try c.encode(reasons, forKey: .reasons)
        try c.encode(budgetVerdicts, forKey: .budgetVerdicts)
        try c.encode(recommendations, forKey: .recommendations)
        try c.encode(notes, forKey: .notes)
    }

    /// Pretty-printed, keys sorted, snake_case.
    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain structs of Int/String/Bool cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self) + "\n"
    }
}
