import Foundation
import QLoRA

/// Runs the built `qlora` executable (beside the test bundle in .build/<config>/) as a user would, bounded
/// in time (`BoundedProcess`): a command that outlives its bound is killed with its process group and the
/// call throws `BoundedProcess.TimedOut`, naming the command line, so the test fails instead of hanging.
public enum CLIRunner {
    public typealias Result = BoundedProcess.Outcome

    /// The bound of a call that names none: 20 minutes, or `QLORA_CLI_TIMEOUT` seconds. The slowest callers
    /// are the SmolLM2 evaluations under `QLORA_ISA=scalar` (EvalTaskCommandTests: 300 questions twice and
    /// 60 twice took 389 s in all on AMD EPYC Zen 4, docs/benchmarks.md), so one call stays well under 200 s
    /// alone; the bound leaves room for a full parallel suite on a shared 2-core machine.
    public static var defaultTimeout: TimeInterval {
        ProcessInfo.processInfo.environment["QLORA_CLI_TIMEOUT"].flatMap(TimeInterval.init).flatMap { $0 > 0 ? $0 : nil } ?? 1200
    }

    public static var binary: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("qlora").path
    }

    /// Runs `qlora ARGS` with `environment` added to this process's, at most `timeout` seconds
    /// (`defaultTimeout` when nil).
    public static func run(_ args: [String], environment: [String: String] = [:],
                           timeout: TimeInterval? = nil) throws -> Result {
        try BoundedProcess.run(binary, args, environment: environment, timeout: timeout ?? defaultTimeout)
    }

    /// A started `qlora ARGS` for tests that signal or watch it while it runs; bound it with `wait(timeout:)`
    /// or `finish(timeout:)`.
    public static func start(_ args: [String], environment: [String: String] = [:],
                             stdout: BoundedProcess.Output = .capture, stderr: BoundedProcess.Output = .capture) throws -> BoundedProcess {
        let child = BoundedProcess(executable: binary, arguments: args, environment: environment, stdout: stdout, stderr: stderr)
        try child.start()
        return child
    }
}
