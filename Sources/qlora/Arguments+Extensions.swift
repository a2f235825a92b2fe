import ArgumentParser
import QLoRA

// Choice options are the library's CaseIterable enums, so `--help` lists their values.
extension TuningMethod: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension OptimizerStateDType: ExpressibleByArgument {}
extension ComputeDType: ExpressibleByArgument {}
extension DeviceKind: ExpressibleByArgument {}

/// `on` / `off` switches such as `--grad-ckpt on`.
enum OnOff: String, CaseIterable, ExpressibleByArgument {
    case on, off
    var isOn: Bool { self == .on }
}
extension TrainingStack: ExpressibleByArgument {}
