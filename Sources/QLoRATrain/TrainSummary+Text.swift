import Foundation

extension TrainSummary {
    /// The summary's first line. Counts are interpolated, not `%d`-formatted: on Linux `%d` reads 32
    /// bits, which printed an 8B model's 8 030 261 248 parameters as -517 730 304.
    public var headline: String {
        let share = 100 * Double(trainableParameters) / Double(max(totalParameters, 1))
        return "\(steps) steps in \(String(format: "%.1f", seconds)) s, \(String(format: "%.1f", tokensPerSecond)) tokens/s; "
            + "trainable \(trainableParameters) of \(totalParameters) parameters (\(String(format: "%.2f", share))%); "
            + "peak RSS \(String(format: "%.0f", Double(peakRSSBytes) / 1_048_576)) MiB"
    }
}
