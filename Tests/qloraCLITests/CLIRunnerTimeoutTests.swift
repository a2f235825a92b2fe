import Foundation
import QLoRA
import QLoRATestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The test runner bounds every child in time (`BoundedProcess`, `CLIRunner`): a command that outlives its
/// bound is killed with its process group and reported as timed out with its command line; a command that
/// finishes in time is unaffected; a child writing more than a pipe holds to both streams does not block.
@Suite struct CLIRunnerTimeoutTests {
    /// Whether `pid` is gone (or a zombie about to be reaped by init).
    static func gone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        // The state follows the parenthesized name: "pid (comm) S …".
        guard let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    static func waitGone(_ pid: Int32) -> Bool {
        for _ in 0..<500 where !gone(pid) { usleep(10_000) }
        return gone(pid)
    }

    /// `qlora board` serves until stopped: with a 2 s bound the call throws, naming the command, and the
    /// board process is gone.
    @Test func aCommandPastItsBoundIsKilledAndReported() throws {
        let dir = TempDir()
        let args = ["board", dir.path, "--port", "0"]
        let started = Date()
        do {
            _ = try CLIRunner.run(args, timeout: 2)
            Issue.record("qlora board returned within 2 s; it serves until stopped")
        } catch let error as BoundedProcess.TimedOut {
            #expect(error.outcome.timedOut)
            #expect(error.outcome.command == ([CLIRunner.binary] + args).joined(separator: " "))
            #expect(error.description.hasPrefix("timed out after 2 s (its process group was sent SIGTERM, then SIGKILL): "
                                                + CLIRunner.binary + " board " + dir.path + " --port 0"), "\(error)")
            // What it printed before the bound is kept: the board's address line.
            #expect(error.outcome.stdout.contains("qlora board: http://127.0.0.1:"), "\(error.outcome.stdout)")
        }
        // SIGTERM ends the board (it restores the default action): well within the 5 s grace.
        #expect(Date().timeIntervalSince(started) < 2 + BoundedProcess.grace + 30)

        // The same through a handle: the pid is gone after the bound.
        let board = try CLIRunner.start(args)
        // It starts as from a shell, no signal blocked (test threads block SIGTERM; the mask would be inherited).
        let status = try String(contentsOfFile: "/proc/\(board.pid)/status", encoding: .utf8)
        #expect(status.split(separator: "\n").contains("SigBlk:\t0000000000000000"), "\(status)")
        #expect(!board.wait(timeout: 1))
        #expect(board.timedOut)
        #expect(Self.waitGone(board.pid), "board \(board.pid) still runs")
    }

    /// A child that ignores SIGTERM and leaves a grandchild holding its pipes: SIGKILL to the group after the
    /// grace period ends both, and the call returns (the pipes reach their end).
    @Test func theWholeProcessGroupIsKilledWhenSIGTERMIsIgnored() throws {
        let script = "trap '' TERM; sleep 1000 & echo $!; wait"
        do {
            _ = try BoundedProcess.run("/bin/sh", ["-c", script], timeout: 1)
            Issue.record("the script returned within 1 s")
        } catch let error as BoundedProcess.TimedOut {
            #expect(error.outcome.timedOut)
            #expect(error.outcome.status == SIGKILL, "status \(error.outcome.status): SIGTERM is ignored, SIGKILL ends it")
            let sleeper = try #require(Int32(error.outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                                       "\(error.outcome.stdout)")
            #expect(Self.waitGone(sleeper), "the grandchild \(sleeper) outlived the bound")
        }
    }

    /// A normal run: status and output as before, not marked timed out; a per-call bound that is not reached
    /// changes nothing.
    @Test func aRunWithinItsBoundIsUnaffected() throws {
        for timeout in [nil, 120.0] as [TimeInterval?] {
            let r = try CLIRunner.run(["tokenize", "--help"], timeout: timeout)
            #expect(r.status == 0, "\(r.stderr)")
            #expect(!r.timedOut)
            #expect(r.stdout.contains("USAGE: qlora tokenize"), "\(r.stdout)")
            #expect(r.limit == (timeout ?? CLIRunner.defaultTimeout))
        }
        let bad = try CLIRunner.run(["tokenize"])
        #expect(bad.status != 0 && !bad.timedOut)
        #expect(bad.stderr.contains("Missing expected argument '--model <model>'"), "\(bad.stderr)")
    }

    /// 1 MB to standard output and 1 MB to standard error, alternating: both are read as they come.
    @Test func aChattyChildDoesNotBlock() throws {
        let script = "i=0; while [ $i -lt 16 ]; do head -c 65536 /dev/zero | tr '\\0' o; head -c 65536 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done"
        let r = try BoundedProcess.run("/bin/sh", ["-c", script], timeout: 120)
        #expect(r.status == 0)
        #expect(r.stdout.utf8.count == 1 << 20 && r.stdout.allSatisfy { $0 == "o" })
        #expect(r.stderr.utf8.count == 1 << 20 && r.stderr.allSatisfy { $0 == "e" })
    }
}
