import Foundation

/// Passes SIGINT and SIGTERM on to a child while it runs. Foundation starts a child in its own process
/// group, so a Ctrl-C at the terminal reaches only this process: without forwarding, this process died
/// and the child (`qlora train` under `compare`) ran on, orphaned, writing into the output directory.
/// Forwarded, `train` finishes its step and checkpoints (a second Ctrl-C stops it at once, as when it
/// runs alone) and `eval` stops; the caller waits for the child and then stops itself.
///
/// A plain signal handler, not a Dispatch signal source: on Linux those read a signalfd, which only sees
/// signals blocked in every thread, and threads started earlier (Foundation's process monitor) are not.
enum SignalForwarder {
    static let signals: [Int32] = [SIGINT, SIGTERM]

    /// Starts forwarding to `pid` (called once the child runs: its pid is what the handler signals).
    static func start(to pid: pid_t) {
        forwardedPID = pid
        caughtSignal = 0
        for sig in signals { signal(sig, forwardSignal) }
    }

    /// Stops forwarding, restores the default dispositions and returns the first signal caught, if any.
    static func stop() -> Int32? {
        forwardedPID = 0
        for sig in signals { signal(sig, SIG_DFL) }
        return caughtSignal == 0 ? nil : caughtSignal
    }

    static func name(_ sig: Int32) -> String { sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal \(sig)" }
}

// Read and written by the handler: plain integers (statically initialized), and only `kill`, which is
// async-signal-safe, is called there.
private var forwardedPID: pid_t = 0
private var caughtSignal: Int32 = 0

private func forwardSignal(_ sig: Int32) {
    if caughtSignal == 0 { caughtSignal = sig }
    if forwardedPID > 0 { kill(forwardedPID, sig) }
}
