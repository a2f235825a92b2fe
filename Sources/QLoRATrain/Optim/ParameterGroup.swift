/// Parameters that share a learning rate and a weight decay, as a `torch.optim` param group.
///
/// A group's learning rate at a step is `(baseLR · lrMultiplier) · scheduleFactor`, the product
/// PyTorch forms when a group's `lr` is `lr · ratio` and `LambdaLR` scales it.
public final class ParameterGroup: @unchecked Sendable {
    /// A label for reports and checkpoints ("default", "loraplus_A", …).
    public let name: String
    /// Multiplies the optimizer's base learning rate for this group (LoRA+ uses λ for B).
    public let lrMultiplier: Double
    /// Decoupled weight decay (AdamW, Lion): each step multiplies values by 1 − lr·weightDecay.
    public let weightDecay: Double
    public let parameters: [Parameter]

    public init(name: String, lrMultiplier: Double = 1, weightDecay: Double = 0, parameters: [Parameter]) {
        precondition(lrMultiplier.isFinite && lrMultiplier >= 0, "group \(name): bad lr multiplier \(lrMultiplier)")
        precondition(weightDecay.isFinite && weightDecay >= 0, "group \(name): bad weight decay \(weightDecay)")
        self.name = name
        self.lrMultiplier = lrMultiplier
        self.weightDecay = weightDecay
        self.parameters = parameters
    }

    /// One group holding every parameter: the plain (non-LoRA+) setup.
    public static func single(_ parameters: [Parameter], weightDecay: Double = 0) -> [ParameterGroup] {
        [ParameterGroup(name: "default", weightDecay: weightDecay, parameters: parameters)]
    }
}
