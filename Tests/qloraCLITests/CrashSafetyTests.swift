import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Crash safety through the command line: the kill harness (a short run), resuming past a torn
/// checkpoint, and clean-up of what killed writers leave behind.
@Suite(.serialized) struct CrashSafetyTests {
    static var tiny: String { TrainCommandTests.tiny }

    /// tools/kill_harness.sh with 9 rounds (3 per command) on the tiny model: every output absent,
    /// previous or new-and-complete; the killed training run resumes to the reference adapter.
    @Test func killHarnessFindsNoCorruptOutput() throws {
        let dir = TempDir("qlora-kill")
        let r = try BoundedProcess.run("/bin/bash", [TestPaths.repoRoot + "/tools/kill_harness.sh", "--kills", "9", "--seed", "4",
                                                     "--qlora", CLIRunner.binary, "--work", dir.path + "/harness"],
                                       timeout: CLIRunner.defaultTimeout)
        let text = r.stdout + r.stderr
        #expect(r.status == 0, "\(text)")
        #expect(text.contains("rounds: 9; SIGKILLs delivered: "), "\(text)")
        // Rounds kill running processes (a round whose run finishes first is checked too).
        let kills = text.components(separatedBy: "SIGKILLs delivered: ").last.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect((kills ?? 0) >= 1, "\(text)")
        #expect(text.contains("corrupt: 0"), "\(text)")
        #expect(!text.contains("CORRUPT"), "\(text)")
    }

    /// With one round (a quantize kill) no train round runs: the harness says so and trains nothing more (it used
    /// to run a fresh training it called a rerun of a killed round).
    @Test func killHarnessWithoutATrainRoundTrainsNothingMore() throws {
        let dir = TempDir("qlora-kill1")
        let r = try BoundedProcess.run("/bin/bash", [TestPaths.repoRoot + "/tools/kill_harness.sh", "--kills", "1", "--seed", "4",
                                                     "--qlora", CLIRunner.binary, "--work", dir.path + "/harness"], timeout: 120)
        let text = r.stdout + r.stderr
        #expect(r.status == 0, "\(text)")
        #expect(text.contains("train: 0 SIGKILLed (rounds: 0 fresh starts, 0 resumes)"), "\(text)")
        #expect(text.contains("final resume: not needed (no train round ran)"), "\(text)")
        #expect(!text.contains("rerun fresh"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/harness/run"), "a training run was made")
    }

    static let trainArgs = ["--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                            "--threads", "2", "--checkpoint-every", "1"]

    static func train(_ data: String, _ args: [String]) throws -> CLIRunner.Result {
        try CLIRunner.run(["train", "--model", tiny, "--data", data] + trainArgs + args)
    }

    /// A torn newest checkpoint is passed over with a warning naming it and the file; the run
    /// continues from the one before and ends bit-identical to an uninterrupted run.
    @Test(arguments: ["truncate", "flip", "symlink"])
    func resumeSkipsATornCheckpoint(_ damage: String) throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        #expect(try Self.train(data, ["-o", dir.path + "/whole", "--steps", "6"]).status == 0)
        #expect(try Self.train(data, ["-o", dir.path + "/run", "--steps", "4"]).status == 0)
        let newest = dir.path + "/run/checkpoints/checkpoint-4"
        let victim = newest + "/" + OptimizerStateFile.name
        switch damage {
        case "truncate": truncate(victim, 100)
        case "flip":
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: victim)))
            bytes[bytes.count - 3] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: victim))
        default:
            try FileManager.default.moveItem(atPath: victim, toPath: dir.path + "/moved.bin")
            try FileManager.default.createSymbolicLink(atPath: victim, withDestinationPath: dir.path + "/moved.bin")
        }
        let r = try Self.train(data, ["--resume", dir.path + "/run", "--steps", "6"])
        #expect(r.status == 0, "\(r.stderr)")
        let warning = try #require(r.stderr.split(separator: "\n").first { $0.hasPrefix("warning: skipped checkpoint") })
        #expect(warning.hasPrefix("warning: skipped checkpoint \(newest): \(victim): "), "\(warning)")
        let reason = ["truncate": "(truncated or replaced)", "flip": "checksum mismatch",
                      "symlink": "not a regular file"][damage]!
        #expect(warning.contains(reason), "\(warning)")
        #expect(r.stderr.contains("resuming at step 3"), "\(r.stderr)")
        #expect(try TrainCommandTests.adapterBytes(dir.path + "/run") == (try TrainCommandTests.adapterBytes(dir.path + "/whole")))
        // metrics.jsonl holds each step once, in order, after the repeat of step 4.
        let steps = try String(contentsOfFile: dir.path + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["step"] as? Int
        }
        #expect(steps == [1, 2, 3, 4, 5, 6])
    }

    @Test func noVerifiableCheckpointIsAOneLineError() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        #expect(try Self.train(data, ["-o", dir.path + "/run", "--steps", "2"]).status == 0)
        for step in [1, 2] { truncate(dir.path + "/run/checkpoints/checkpoint-\(step)/" + Checkpoint.parametersFile, 8) }
        let r = try Self.train(data, ["--resume", dir.path + "/run", "--steps", "4"])
        #expect(r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("no checkpoint in \(dir.path)/run/checkpoints verifies; the newest: \(dir.path)/run/checkpoints/checkpoint-2/parameters.safetensors: 8 bytes"), "\(r.stderr)")
    }

    /// A pid that no process has (so its temporaries are stale).
    static func deadPID() -> Int32 {
        var pid: Int32 = 4_000_000
        while kill(pid, 0) == 0 || errno != ESRCH { pid -= 1 }
        return pid
    }

    /// What a writer killed with SIGKILL leaves (a hidden temporary sibling) is removed by the next
    /// write of the same output; a live process's temporary is left alone.
    @Test func temporariesOfDeadWritersAreRemovedByTheNextWrite() throws {
        let dir = TempDir()
        let stale = dir.path + "/.out.tmp-\(Self.deadPID())-1"
        let live = dir.path + "/.out.tmp-\(getpid())-2"
        for t in [stale, live] {
            try FileManager.default.createDirectory(atPath: t, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: t + "/model.safetensors", contents: Data([1, 2, 3]))
        }
        let r = try CLIRunner.run(["quantize", Self.tiny, "-o", dir.path + "/out"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(dir.listing() == [".out.tmp-\(getpid())-2", "out"])
        let staleFile = dir.path + "/.summary.json.tmp-\(Self.deadPID())-9"
        FileManager.default.createFile(atPath: staleFile, contents: Data("{".utf8))
        try AtomicOutput.write("{}", to: dir.path + "/summary.json")
        #expect(!FileManager.default.fileExists(atPath: staleFile))
    }
}
