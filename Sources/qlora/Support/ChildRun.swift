import Foundation
import QLoRA

/// Runs this executable again as a child (`qlora train …`), so each compared method gets its own
/// process and its own peak RSS. Standard output and error go to files beside the run. SIGINT and
/// SIGTERM sent to this process while a child runs are passed on to the child (`SignalForwarder`).
enum ChildRun {
    static var executable: String { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path }

    /// Runs `qlora ARGS`, writing `LOG.out` and `LOG.err`; returns standard output, or throws with the
    /// child's last error line.
    static func run(_ arguments: [String], log: String) throws -> Data {
        _ = FileManager.default.createFile(atPath: log + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: log + ".err", contents: nil)
        guard let out = FileHandle(forWritingAtPath: log + ".out"), let err = FileHandle(forWritingAtPath: log + ".err") else {
            throw QLoRAError.io(log, "cannot create the child's log files")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = out
        p.standardError = err
        try p.run()
        SignalForwarder.start(to: p.processIdentifier)
        p.waitUntilExit()
        let caught = SignalForwarder.stop()
        try? out.close()
        try? err.close()
        if let sig = caught {
            // The child got the signal too and has stopped (train: at a checkpoint); stop here rather
            // than read a half-finished result or start the next run.
            throw QLoRAError.io(log + ".err", "interrupted by \(SignalForwarder.name(sig)): qlora \(arguments.first ?? "") "
                                + "was stopped (exit status \(p.terminationStatus)); nothing more was run")
        }
        let stdout = FileManager.default.contents(atPath: log + ".out") ?? Data()
        guard p.terminationStatus == 0 else {
            let lines = String(decoding: FileManager.default.contents(atPath: log + ".err") ?? Data(), as: UTF8.self)
                .split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            let last = lines.last.map(String.init) ?? "exit status \(p.terminationStatus)"
            throw QLoRAError.io(log + ".err", "qlora \(arguments.first ?? "") failed: \(last)")
        }
        return stdout
    }
}
