/// The moments of a training step at which memory can peak. A buffer is alive in some of them; the
/// plan's device total is the largest phase, not the sum of every buffer (which would count the
/// logits of the loss and the workspace of a layer's backward as if they coexisted).
public enum Phase: String, CaseIterable, Sendable, Codable {
    /// The loss and its backward: checkpoints (or every layer's activations without checkpointing),
    /// logits and the loss's tensors.
    case forwardEnd = "forward_end"
    /// One layer's backward: checkpoints, that layer's rebuilt activations, the backward workspace,
    /// the trainable parameters' gradients, and whatever the training loop still holds (the logits).
    case layerBackward = "layer_backward"
    /// The optimizer step: weights, parameters, gradients, optimizer state and its temporaries.
    case optimizerStep = "optimizer_step"

    public var title: String {
        switch self {
        case .forwardEnd: "end of forward (loss and its backward)"
        case .layerBackward: "a layer's backward"
        case .optimizerStep: "optimizer step"
        }
    }

    var order: Int { Phase.allCases.firstIndex(of: self)! }

    /// The phases a component's buffers are alive in, unless a buffer says otherwise.
    static func defaults(_ component: Component) -> Set<Phase> {
        switch component {
        case .activationCheckpoints: [.forwardEnd, .layerBackward]
        case .layerActivations: [.layerBackward]
        case .backwardWorkspace: [.layerBackward]
        case .logitsAndLoss: [.forwardEnd]
        case .dequantScratch: [.forwardEnd, .layerBackward]
        // Gradients exist from the backward on; the trainer frees them after the step (set_to_none).
        case .gradients: [.layerBackward, .optimizerStep]
        default: Set(Phase.allCases)
        }
    }
}
