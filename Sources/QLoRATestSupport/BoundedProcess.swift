import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process that a test bounds in time: a hang in the child becomes a failing test naming the
/// command, not a CI timeout. Foundation starts every child in a process group of its own (on Linux,
/// `POSIX_SPAWN_SETPGROUP`), so expiry signals the whole group — `mpirun`'s ranks, a script's commands —
/// with SIGTERM, then SIGKILL after a grace period. Standard output and error, when captured, are
/// read on their own threads as the child writes them, so a chatty child never blocks on a full pipe,
/// and what it wrote so far can be read while it runs.
public final class BoundedProcess {
    /// Where one of the child's output streams goes.
    public enum Output {
        case capture
        case discard
    }

    public let process = Process()
    /// The command line, for messages: the executable and its arguments, space-separated.
    public let command: String
    private let exited = DispatchSemaphore(value: 0)
    private let out: Collector?
    private let err: Collector?
    private var started = Date()
    public private(set) var timedOut = false

    /// The seconds the runner waits between SIGTERM and SIGKILL.
    public static let grace: TimeInterval = 5

    public init(executable: String, arguments: [String], environment: [String: String] = [:],
                stdout: Output = .capture, stderr: Output = .capture) {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            process.environment = env
        }
        // No test types into a child: a child that reads standard input sees its end, not the runner's terminal.
        process.standardInput = FileHandle.nullDevice
        out = stdout == .capture ? Collector() : nil
        err = stderr == .capture ? Collector() : nil
        process.standardOutput = out?.pipe ?? FileHandle.nullDevice
        process.standardError = err?.pipe ?? FileHandle.nullDevice
        command = ([executable] + arguments).joined(separator: " ")
    }

    deinit {
        // A test that returns early (a failed #require) must not leave its child running.
        if process.processIdentifier != 0 && process.isRunning { signalGroup(SIGKILL) }
        if process.processIdentifier != 0 { _ = exited.wait(timeout: .now() + 10) }
    }

    /// The child's process group (its pid) when it leads one; set at start.
    private var group: pid_t?

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var status: Int32 { process.terminationStatus }
    public var seconds: Double { Date().timeIntervalSince(started) }

    /// What the child has written to standard output (or error) so far, when captured.
    public var stdoutSoFar: Data { out?.data ?? Data() }
    public var stderrSoFar: Data { err?.data ?? Data() }

    public func start() throws {
        let done = exited
        process.terminationHandler = { _ in done.signal() }
        started = Date()
        // A spawned child inherits the calling thread's signal mask, and test threads (Dispatch's workers) block
        // nearly every signal: SIGTERM, SIGINT. The child starts as from a shell, with none blocked, so the
        // runner's SIGTERM and a test's SIGINT reach it; the thread's mask is put back right after.
        var none = sigset_t(), saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
        // Foundation makes the child a process-group leader on Linux: remember the group while the leader is
        // alive, so signals after its exit still reach members that outlived it (never a reused pid).
        let pid = process.processIdentifier
        group = getpgid(pid) == pid ? pid : nil
        out?.startReading()
        err?.startReading()
    }

    /// Sends `sig` to the child's process group (to the child alone if it is not a group leader).
    public func signalGroup(_ sig: Int32) {
        if let group { kill(-group, sig) } else if process.processIdentifier > 0 && process.isRunning { kill(process.processIdentifier, sig) }
    }

    /// Sends `sig` to the child alone (e.g. SIGINT to ask `qlora train` to stop).
    public func signal(_ sig: Int32) {
        if process.processIdentifier > 0 { kill(process.processIdentifier, sig) }
    }

    /// Waits until the child exits, or until `timeout` seconds have passed; then signals the child's group
    /// with SIGTERM and, after `grace` seconds, SIGKILL. Returns true when the child exited by itself in time.
    @discardableResult
    public func wait(timeout: TimeInterval) -> Bool {
        if exited.wait(timeout: .now() + timeout) == .success {
            exited.signal()  // later waits (and deinit) see the exit too
            return true
        }
        timedOut = true
        signalGroup(SIGTERM)
        let killAt = DispatchTime.now() + Self.grace
        let leaderExited = exited.wait(timeout: killAt) == .success
        // A member that ignores SIGTERM outlives its leader: SIGKILL the group once the grace is over, whether
        // or not the leader is gone (an empty group: ESRCH, harmless).
        if leaderExited { Thread.sleep(forTimeInterval: max(0, Double(Int64(killAt.uptimeNanoseconds) - Int64(DispatchTime.now().uptimeNanoseconds)) / 1e9)) }
        signalGroup(SIGKILL)
        if !leaderExited { _ = exited.wait(timeout: .now() + Self.grace) }
        exited.signal()
        return false
    }

    /// Waits for the child (bounded as in `wait(timeout:)`) and for the ends of its captured streams; a
    /// grandchild outside the group that still holds a pipe open is waited for `grace` seconds, no more.
    public func finish(timeout: TimeInterval) -> Outcome {
        wait(timeout: timeout)
        out?.waitForEnd(Self.grace)
        err?.waitForEnd(Self.grace)
        // A child that even SIGKILL did not end (stuck in the kernel) has no status yet: -1.
        return Outcome(status: process.isRunning ? -1 : process.terminationStatus, stdout: String(decoding: stdoutSoFar, as: UTF8.self),
                       stderr: String(decoding: stderrSoFar, as: UTF8.self), timedOut: timedOut, command: command,
                       seconds: seconds, limit: timeout)
    }

    /// Starts `executable ARGS`, waits at most `timeout` seconds, and returns its status and output; throws
    /// `TimedOut` (carrying the outcome) when the bound expired.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           timeout: TimeInterval) throws -> Outcome {
        let child = BoundedProcess(executable: executable, arguments: arguments, environment: environment)
        try child.start()
        let outcome = child.finish(timeout: timeout)
        if outcome.timedOut { throw TimedOut(outcome: outcome) }
        return outcome
    }

    /// How a bounded child ended.
    public struct Outcome {
        /// The exit status (or the signal's number when a signal ended it: Foundation's `terminationStatus`).
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// Whether the time bound expired and the runner killed the child's group.
        public var timedOut: Bool
        public var command: String
        public var seconds: Double
        public var limit: TimeInterval
    }

    /// The time bound expired: the message names the command, the bound and the end of what the child wrote.
    public struct TimedOut: Error, CustomStringConvertible {
        public let outcome: Outcome

        public var description: String {
            func tail(_ s: String) -> String {
                let lines = s.split(separator: "\n", omittingEmptySubsequences: false).suffix(5)
                return lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return "timed out after \(String(format: "%g", outcome.limit)) s (its process group was sent SIGTERM, then SIGKILL): "
                + "\(outcome.command)\nlast stderr: \(tail(outcome.stderr))\nlast stdout: \(tail(outcome.stdout))"
        }
    }
}

/// One captured stream: a pipe read on its own thread into a buffer until its end.
private final class Collector: @unchecked Sendable {
    let pipe = Pipe()
    private let lock = NSLock()
    private var buffer = Data()
    private let ended = DispatchSemaphore(value: 0)

    init() {
        // Close-on-exec on both ends: another test's child (tests run in parallel) must not inherit the write
        // end and hold the stream open after our child exits. Foundation closes descriptors ≥ 3 in the children
        // it starts, but only those open when it looked, so a pipe made while another thread spawns could slip
        // through. Our child still gets it: the spawn dup2s it onto its descriptor 1 or 2, which has no flag.
        for fd in [pipe.fileHandleForReading.fileDescriptor, pipe.fileHandleForWriting.fileDescriptor] {
            _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
        }
    }

    var data: Data {
        lock.lock()
        defer { lock.unlock() }
        return buffer
    }

    func startReading() {
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock()
                buffer.append(chunk)
                lock.unlock()
            }
            ended.signal()
        }
    }

    func waitForEnd(_ seconds: TimeInterval) {
        if ended.wait(timeout: .now() + seconds) == .success { ended.signal() }
    }
}
