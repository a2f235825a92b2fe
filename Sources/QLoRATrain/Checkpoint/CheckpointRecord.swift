import QLoRACore
import QLoRAKernels

/// `trainer_state.json`: where the run was, and what the optimizer was, when the checkpoint was made.
struct CheckpointRecord: Codable, Equatable {
    static let fileName = "trainer_state.json"

    struct Group: Codable, Equatable {
        var name: String
        var lrMultiplier: Double
        var weightDecay: Double
        var parameters: [String]

        enum CodingKeys: String, CodingKey {
            case name, lrMultiplier = "lr_multiplier", weightDecay = "weight_decay", parameters
        }
    }

    struct Tensor: Codable, Equatable {
        var name: String
        var shape: [Int]
    }

    var step: Int
    var schedulerStep: Int
    var rngs: [String: SeededRNG]
    var algorithm: OptimizerAlgorithm
    var learningRate: Double
    var optimizerSteps: Int
    var pageBytes: Int
    var groups: [Group]
    var parameters: [Tensor]
    /// The frozen products' compute type (`f32`, `bf16`); absent in checkpoints written before it was recorded
    /// (unknown: such runs may have computed in either).
    var computeDType: String?
    /// The kernels that computed the products (ISA, bf16 variant, OpenBLAS core); absent in checkpoints written before
    /// it was recorded (unknown).
    var kernelPath: KernelPath?

    enum CodingKeys: String, CodingKey {
        case step, schedulerStep = "scheduler_step", rngs, algorithm, learningRate = "learning_rate"
        case optimizerSteps = "optimizer_steps", pageBytes = "page_bytes", groups, parameters
        case computeDType = "compute_dtype", kernelPath = "kernel_path"
    }

    init(step: Int, schedulerStep: Int, rngs: [String: SeededRNG], optimizer: Optimizer, computeDType: String?,
         kernelPath: KernelPath?) {
        self.computeDType = computeDType
        self.kernelPath = kernelPath
        self.step = step
        self.schedulerStep = schedulerStep
        self.rngs = rngs
        algorithm = optimizer.algorithm
        learningRate = optimizer.learningRate
        optimizerSteps = optimizer.stepCount
        pageBytes = optimizer.layout.pageBytes
        groups = optimizer.groups.map {
            Group(name: $0.name, lrMultiplier: $0.lrMultiplier, weightDecay: $0.weightDecay,
                  parameters: $0.parameters.map(\.name))
        }
        parameters = optimizer.parameters.map { Tensor(name: $0.name, shape: $0.shape) }
    }

    /// Refuses a checkpoint whose optimizer cannot continue as `optimizer` (another update rule,
    /// other parameters or another state layout); a changed learning rate or group setting is
    /// the caller's choice and allowed as long as the parameter order is the same.
    func checkCompatible(with optimizer: Optimizer, path: String) throws {
        guard algorithm.name == optimizer.algorithm.name, algorithm.stateCount == optimizer.algorithm.stateCount else {
            throw QLoRAError.format(path, "checkpoint was made with optimizer \(algorithm.name), this run uses \(optimizer.algorithm.name)")
        }
        let mine = optimizer.parameters.map { Tensor(name: $0.name, shape: $0.shape) }
        if parameters != mine {
            let theirs = Set(parameters.map(\.name)), ours = Set(mine.map(\.name))
            if let extra = theirs.subtracting(ours).sorted().first {
                throw QLoRAError.format(path, "checkpoint has parameter '\(extra)' that this run does not train")
            }
            if let missing = ours.subtracting(theirs).sorted().first {
                throw QLoRAError.format(path, "checkpoint lacks parameter '\(missing)'")
            }
            for (a, b) in zip(parameters, mine) where a != b {
                if a.name == b.name {
                    throw QLoRAError.format(path, "parameter '\(a.name)' is \(a.shape) in the checkpoint, \(b.shape) in this run")
                }
                throw QLoRAError.format(path, "parameters are in another order than this run's (first: '\(a.name)' vs '\(b.name)'); use the same grouping (e.g. --loraplus-ratio) as the checkpointed run")
            }
        }
        guard pageBytes == optimizer.layout.pageBytes else {
            throw QLoRAError.format(path, "optimizer pages are \(pageBytes) B in the checkpoint, \(optimizer.layout.pageBytes) B in this run")
        }
    }
}
