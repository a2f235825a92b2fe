import Foundation
import QLoRA

/// Runs the built `qlora` executable (beside the test bundle in .build/<config>/) as a user would, bounded
/// in time (`BoundedProcess`): a command that outlives its bound is killed with its process group and the
/// call throws `BoundedProcess.TimedOut`, naming the command line, so the test fails instead of hanging.
public enum CLIRunner {
    public typealias Result = BoundedProcess.Outcome

    /// The bound of a call that names none: 20 minutes, or `QLORA_CLI_TIMEOUT` seconds. The slowest single
    /// call is EvalTaskCommandTests' SmolLM2 task eval on the scalar path: `QLORA_ISA=scalar qlora eval --model
    /// models/SmolLM2-135M-Instruct.Q4_1.gguf --base f32 --task datasets --json` took 101 s alone (AMD EPYC
    /// Zen 4, 2026-12-05); the bound leaves room for a full parallel suite on a shared 2-core machine.
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
