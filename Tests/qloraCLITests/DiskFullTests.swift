import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// A tmpfs of a given size mounted on a fresh directory (needs CAP_SYS_ADMIN: root outside a
/// restricted container); unmounted on `unmount()` and at deinit.
final class Tmpfs {
    let dir: TempDir
    var path: String { dir.path + "/mnt" }
    private var mounted = false

    init?(bytes: Int, readOnly: Bool = false) {
        dir = TempDir("qlora-tmpfs")
        try? FileManager.default.createDirectory(atPath: dir.path + "/mnt", withIntermediateDirectories: true)
        mounted = Self.run(["mount", "-t", "tmpfs", "-o", "size=\(bytes)\(readOnly ? ",ro" : "")", "tmpfs", dir.path + "/mnt"])
        if !mounted { return nil }
    }

    func unmount() {
        if mounted { _ = Self.run(["umount", path]); mounted = false }
    }

    deinit { unmount() }

    static func run(_ args: [String]) -> Bool {
        // mount / umount, bounded: a hung mount fails (returns false) within a minute.
        guard let r = try? BoundedProcess.run("/usr/bin/env", args, timeout: 60) else { return false }
        return r.status == 0
    }

    /// Whether mounting works here (CI containers may forbid it; the fault-injection tests run anyway).
    static let available: Bool = Tmpfs(bytes: 1 << 16) != nil
}

/// Full and unwritable disks: a one-line "no space left on device" naming the output path, the
/// previous checkpoint intact, no partial file. Through a real tmpfs where mounting is allowed, and
/// always through the write-fault hook (`QLORA_TEST_DISK_BYTES`, see `WriteFaults`).
@Suite(.serialized) struct DiskFullTests {
    static var tiny: String { TrainCommandTests.tiny }
    static let diskFull = [WriteFaults.variable: "1000"]

    static func oneLine(_ r: CLIRunner.Result) -> String? {
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning:") && !$0.hasPrefix("resuming at") }
        return r.status != 0 && lines.count == 1 ? String(lines[0]) : nil
    }

    @Test func quantizeOnAFullDiskNamesTheFileAndLeavesNothing() throws {
        let dir = TempDir()
        let r = try CLIRunner.run(["quantize", Self.tiny, "-o", dir.path + "/out"], environment: Self.diskFull)
        let line = try #require(Self.oneLine(r), "\(r.status) \(r.stderr)")
        #expect(line.hasSuffix("\(dir.path)/out/model.safetensors: no space left on device"), "\(line)")
        #expect(dir.listing() == [])
    }

    @Test func mergeOnAFullDiskNamesTheFileAndLeavesNothing() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        #expect(try TrainCommandTests.train(dir.path + "/run", data, ["--steps", "2"]).status == 0)
        let r = try CLIRunner.run(["merge", "--model", Self.tiny, "--adapter", dir.path + "/run", "-o", dir.path + "/m"],
                                  environment: Self.diskFull)
        let line = try #require(Self.oneLine(r), "\(r.status) \(r.stderr)")
        #expect(line.hasSuffix("\(dir.path)/m/model.safetensors: no space left on device"), "\(line)")
        #expect(dir.listing() == ["run", "train.jsonl"])
    }

    /// The checkpoint that does not fit fails with the path; the one before it stays complete and
    /// the run resumes from it to the same adapter as an uninterrupted run.
    @Test func aCheckpointThatDoesNotFitKeepsThePreviousOne() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let args = ["--checkpoint-every", "1", "--steps"]
        #expect(try TrainCommandTests.train(dir.path + "/whole", data, args + ["4"]).status == 0)
        #expect(try TrainCommandTests.train(dir.path + "/run", data, args + ["2"]).status == 0)
        let full = try CLIRunner.run(["train", "--model", Self.tiny, "--data", data, "--resume", dir.path + "/run", "--steps", "4",
                                      "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                      "--threads", "2", "--checkpoint-every", "1"], environment: Self.diskFull)
        let line = try #require(Self.oneLine(full), "\(full.status) \(full.stderr)")
        #expect(line.hasSuffix("\(dir.path)/run/checkpoints/checkpoint-3/parameters.safetensors: no space left on device"), "\(line)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/run/checkpoints").sorted()
                == ["checkpoint-1", "checkpoint-2"])
        let resumed = try CLIRunner.run(["train", "--model", Self.tiny, "--data", data, "--resume", dir.path + "/run", "--steps", "4",
                                         "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                         "--threads", "2", "--checkpoint-every", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming at step 2"), "\(resumed.stderr)")
        #expect(try TrainCommandTests.adapterBytes(dir.path + "/run") == (try TrainCommandTests.adapterBytes(dir.path + "/whole")))
    }

    /// Page-rounded bytes a directory's files take on a tmpfs.
    static func tmpfsBytes(_ dir: String) throws -> Int {
        try FileManager.default.contentsOfDirectory(atPath: dir).reduce(0) { sum, name in
            let size = try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int ?? 0
            return sum + (size + 4095) / 4096 * 4096
        }
    }

    @Test(.enabled(if: Tmpfs.available, "mounting a tmpfs is not allowed here"))
    func aFullTmpfsStopsTrainingWithThePreviousCheckpointIntact() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let args = ["--checkpoint-every", "1", "--steps"]
        #expect(try TrainCommandTests.train(dir.path + "/whole", data, args + ["6"]).status == 0)
        // Room for two checkpoints and half of a third (keep-last is 2: the third is written
        // before the oldest is removed), plus the metrics file.
        let checkpoint = try Self.tmpfsBytes(dir.path + "/whole/checkpoints/checkpoint-6")
        let fs = try #require(Tmpfs(bytes: 2 * checkpoint + checkpoint / 2 + 8192))
        let r = try TrainCommandTests.train(fs.path + "/run", data, args + ["6"])
        let line = try #require(Self.oneLine(r), "\(r.status) \(r.stderr)")
        #expect(line.contains("\(fs.path)/run/checkpoints/checkpoint-3/"), "\(line)")
        #expect(line.hasSuffix(": no space left on device"), "\(line)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path + "/run/checkpoints").sorted()
                == ["checkpoint-1", "checkpoint-2"])
        try FileManager.default.copyItem(atPath: fs.path + "/run", toPath: dir.path + "/run")
        fs.unmount()
        let again = try CLIRunner.run(["train", "--model", Self.tiny, "--data", data, "--resume", dir.path + "/run", "--steps", "6",
                                       "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                       "--threads", "2", "--checkpoint-every", "1"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("resuming at step 2"), "\(again.stderr)")
        #expect(try TrainCommandTests.adapterBytes(dir.path + "/run") == (try TrainCommandTests.adapterBytes(dir.path + "/whole")))
    }

    @Test(.enabled(if: Tmpfs.available, "mounting a tmpfs is not allowed here"))
    func quantizeOntoAFullTmpfsLeavesItEmpty() throws {
        let fs = try #require(Tmpfs(bytes: 16384))
        let r = try CLIRunner.run(["quantize", Self.tiny, "-o", fs.path + "/out"])
        let line = try #require(Self.oneLine(r), "\(r.status) \(r.stderr)")
        #expect(line.hasSuffix("\(fs.path)/out/model.safetensors: no space left on device"), "\(line)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: fs.path) == [])
    }

    /// Each writer, pointed at a directory it cannot create (its parent is a file; or a read-only
    /// mount where allowed), stops with one line naming the output and leaves nothing.
    @Test func unwritableOutputsAreOneLineErrors() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        #expect(try TrainCommandTests.train(dir.path + "/run", data, ["--steps", "1"]).status == 0)
        FileManager.default.createFile(atPath: dir.path + "/file", contents: Data())
        var parents = [dir.path + "/file"]
        let readOnly = Tmpfs.available ? Tmpfs(bytes: 1 << 20, readOnly: true) : nil
        if let readOnly { parents.append(readOnly.path) }
        for parent in parents {
            let out = parent + "/out"
            for args in [["quantize", Self.tiny, "-o", out],
                         ["merge", "--model", Self.tiny, "--adapter", dir.path + "/run", "-o", out],
                         ["train", "--model", Self.tiny, "--data", data, "-o", out, "--steps", "1", "--seq", "16"]] {
                let r = try CLIRunner.run(args)
                let line = try #require(Self.oneLine(r), "\(args[0]) → \(parent): \(r.status) \(r.stderr)")
                #expect(line.contains(out), "\(line)")
                #expect(!FileManager.default.fileExists(atPath: out))
            }
        }
        #expect(dir.listing() == ["file", "run", "train.jsonl"])
    }
}
