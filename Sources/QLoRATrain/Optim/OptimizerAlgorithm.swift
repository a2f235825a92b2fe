import Foundation
import QLoRACore
import QLoRAKernels

/// Which update rule runs, with its hyperparameters (defaults are the PyTorch ones).
public enum OptimizerAlgorithm: Codable, Equatable, Sendable {
    /// `torch.optim.AdamW` (Loshchilov & Hutter 2019, arXiv 1711.05101): decoupled weight decay and
    /// bias-corrected moments. Defaults β = (0.9, 0.999), ε = 1e-8.
    case adamW(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8)
    /// Lion (Chen et al. 2023, arXiv 2302.06675): the sign of an interpolated momentum.
    /// Defaults β = (0.9, 0.99).
    case lion(beta1: Double = 0.9, beta2: Double = 0.99)

    /// The command-line name.
    public var name: String {
        switch self {
        case .adamW: return "adamw"
        case .lion: return "lion"
        }
    }

    /// State buffers per parameter element: 2 (m, v) for AdamW, 1 (m) for Lion.
    public var stateCount: Int {
        switch self {
        case .adamW: return 2
        case .lion: return 1
        }
    }

    /// The algorithm named `name` ("adamw" or "lion") with default hyperparameters.
    public static func named(_ name: String) throws -> OptimizerAlgorithm {
        switch name.lowercased() {
        case "adamw": return .adamW()
        case "lion": return .lion()
        default: throw QLoRAError.invalid("unknown optimizer '\(name)' (expected adamw or lion)")
        }
    }

    /// Checks the hyperparameters' ranges.
    public func validate() throws {
        switch self {
        case let .adamW(b1, b2, eps):
            guard (0..<1).contains(b1), (0..<1).contains(b2) else {
                throw QLoRAError.invalid("AdamW betas must be in [0, 1), got (\(b1), \(b2))")
            }
            guard eps > 0, eps.isFinite else { throw QLoRAError.invalid("AdamW eps must be positive, got \(eps)") }
        case let .lion(b1, b2):
            guard (0...1).contains(b1), (0...1).contains(b2) else {
                throw QLoRAError.invalid("Lion betas must be in [0, 1], got (\(b1), \(b2))")
            }
        }
    }

    /// AdamW's per-step scalars for optimizer step `t` (1-based) at learning rate `lr`, formed in
    /// Double as PyTorch forms them in Python, then rounded to Float32.
    static func adamWConstants(beta1: Double, beta2: Double, eps: Double, lr: Double, weightDecay: Double,
                               t: Int) -> OptimizerKernels.AdamWConstants {
        let bc1 = 1 - pow(beta1, Double(t))
        let bc2 = 1 - pow(beta2, Double(t))
        return OptimizerKernels.AdamWConstants(
            decay: Float(1 - lr * weightDecay), oneMinusBeta1: Float(1 - beta1), beta2: Float(beta2),
            oneMinusBeta2: Float(1 - beta2), biasCorrection2Sqrt: Float(bc2.squareRoot()), eps: Float(eps),
            negStepSize: Float(-(lr / bc1)))
    }

    /// Lion's per-step scalars at learning rate `lr`.
    static func lionConstants(beta1: Double, beta2: Double, lr: Double, weightDecay: Double)
        -> OptimizerKernels.LionConstants {
        OptimizerKernels.LionConstants(
            decay: Float(1 - lr * weightDecay), beta1: Float(beta1), oneMinusBeta1: Float(1 - beta1),
            beta2: Float(beta2), oneMinusBeta2: Float(1 - beta2), negLR: Float(-lr))
    }
}
