import QLoRACore

/// What the trainer needs of an adapter method: its trainable tensors (the optimizer's and the
/// checkpoints' list, in a stable order) and how it saves itself in PEFT's format.
public protocol TrainableAdapter: AnyObject {
    /// Every trainable tensor, in the optimizer's order.
    var parameters: [Parameter] { get }
    /// Writes `adapter_config.json` and `adapter_model.safetensors` into `dir`.
    func save(to dir: String) throws
}

extension TrainableAdapter {
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}

extension LoRAAdapterWeights: TrainableAdapter {}
