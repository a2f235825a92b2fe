import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Ctrl-C during `qlora train` (issue 16, item 7): the step in progress finishes, a checkpoint is
/// saved, the command stops with status 130 and says how to continue; resuming gives the adapter of
/// an uninterrupted run, bit for bit.
@Suite(.serialized) struct TrainInterruptTests {
    static let args = ["--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                       "--threads", "2", "--steps", "150"]

    static func metricsLines(_ run: String) -> Int {
        ((try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func sigintSavesACheckpointAndTheResumedRunIsBitIdentical() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let tiny = TrainCommandTests.tiny
        let whole = try CLIRunner.run(["train", "--model", tiny, "--data", data, "-o", dir.path + "/whole"] + Self.args)
        try #require(whole.status == 0, "\(whole.stderr)")

        // No periodic checkpoints (--checkpoint-every 0): the only one is Ctrl-C's.
        let p = try CLIRunner.start(["train", "--model", tiny, "--data", data, "-o", dir.path + "/run"] + Self.args, stdout: .discard)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && Self.metricsLines(dir.path + "/run") < 5 && p.isRunning { usleep(1000) }
        try #require(p.isRunning, "the run ended before it could be interrupted")
        p.signal(SIGINT)
        // The step in progress and one checkpoint: seconds; a run that does not stop fails within 2 minutes.
        let stopped = p.finish(timeout: 120)
        try #require(!stopped.timedOut, "train did not stop within 120 s of SIGINT: \(stopped.stderr)")
        let stderr = stopped.stderr
        #expect(stopped.status == 130, "\(stderr)")
        let steps = Self.metricsLines(dir.path + "/run")
        #expect(steps >= 5 && steps < 150)
        #expect(stderr.contains("stopped at step \(steps) of 150"), "\(stderr)")
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/run/checkpoints")
            .filter { $0.hasPrefix("checkpoint-") }
        #expect(checkpoints == ["checkpoint-\(steps)"])

        let resumed = try CLIRunner.run(["train", "--model", tiny, "--data", data, "--resume", dir.path + "/run"] + Self.args)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming at step \(steps)"), "\(resumed.stderr)")
        #expect(try TrainCommandTests.adapterBytes(dir.path + "/run") == (try TrainCommandTests.adapterBytes(dir.path + "/whole")))
        #expect(Self.metricsLines(dir.path + "/run") == 150)
    }
}
