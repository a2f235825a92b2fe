import Foundation
import QLoRACore

/// A learning-rate schedule: the factor that multiplies each group's base learning rate.
///
/// The factors are transformers' `get_constant_schedule_with_warmup`,
/// `get_linear_schedule_with_warmup` and `get_cosine_schedule_with_warmup` (num_cycles 0.5), used
/// as `LambdaLR` uses them: the optimizer step that comes after `s` scheduler steps runs at
/// `factor(s)`. So with warmup the first step (s = 0) has factor 0, as in a Hugging Face run.
public struct LRSchedule: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case constant, linear, cosine
    }

    public var kind: Kind
    /// Steps of linear warmup from 0 to 1.
    public var warmupSteps: Int
    /// Total optimizer steps (linear and cosine decay to 0 at this step).
    public var totalSteps: Int

    public init(_ kind: Kind, warmupSteps: Int = 0, totalSteps: Int) throws {
        guard warmupSteps >= 0 else { throw QLoRAError.invalid("warmup steps must be ≥ 0, got \(warmupSteps)") }
        guard totalSteps >= 0 else { throw QLoRAError.invalid("total steps must be ≥ 0, got \(totalSteps)") }
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The multiplier after `step` scheduler steps (step ≥ 0).
    public func factor(at step: Int) -> Double {
        if step < warmupSteps {
            return Double(step) / Double(max(1, warmupSteps))
        }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * 0.5 * 2 * progress)))
        }
    }
}
