import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `mpirun -np N qlora train` on the tiny GGUF fixture, started by the test itself: the adapter equals
/// one process with N× the accumulation, runs repeat byte for byte, -np 1 is the run without a
/// launcher, ranks started differently are refused, and a rank killed mid-run ends the job with an
/// error and `--resume` finishes it as if uninterrupted. Skipped (with a message) without mpirun.
@Suite(.serialized) struct DataParallelTrainTests {
    static var tiny: String { TrainCommandTests.tiny }

    /// Open MPI's mpirun on PATH, or nil.
    static let mpirun: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = String(dir) + "/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    /// As a user on a 2-core machine writes it: root allowed, more ranks than cores allowed, no binding
    /// (each rank runs its own worker threads).
    static let launcherFlags = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]

    /// Examples of very different lengths (1 to 14 words), one per row (padding layout), so the ranks'
    /// micro-batches hold different numbers of predicted tokens.
    static func data(_ dir: TempDir) throws -> String {
        let words = ["hello", "world", "hello world", "world hello", "hello hello world"]
        var rng = SeededRNG(seed: 5)
        let lines = (0..<48).map { i -> String in
            let n = i % 3 == 0 ? 1 + Int(rng.next() % 2) : 6 + Int(rng.next() % 9)
            return "{\"text\": \"" + (0..<n).map { _ in words[Int(rng.next() % 5)] }.joined(separator: " ") + "\"}"
        }
        let path = dir.path + "/train.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func trainArgs(_ data: String, _ out: String, steps: Int = 6, accum: Int, _ extra: [String] = []) -> [String] {
        ["train", "--model", tiny, "--data", data, "-o", out, "--steps", String(steps), "--batch", "2", "--seq", "24",
         "--layout", "padding", "--grad-accum", String(accum), "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
         "--threads", "1", "--json"] + extra
    }

    /// mpirun with the given rank programs (an MPMD command line when there are several).
    /// mpirun's arguments for the given rank programs.
    static func launcherArguments(_ programs: [(ranks: Int, args: [String])]) -> [String] {
        var args = launcherFlags
        for (i, prog) in programs.enumerated() {
            if i > 0 { args.append(":") }
            args += ["-np", String(prog.ranks), CLIRunner.binary] + prog.args
        }
        return args
    }

    /// An mpirun job, bounded like every CLI run (`CLIRunner.defaultTimeout`; its ranks are in its process group).
    static func run(_ programs: [(ranks: Int, args: [String])]) throws -> CLIRunner.Result {
        try BoundedProcess.run(mpirun!, launcherArguments(programs), timeout: CLIRunner.defaultTimeout)
    }

    static func adapter(_ dir: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
    }

    /// The tensors of a safetensors file (F32), by name.
    static func tensors(_ dir: String) throws -> [String: [Float]] {
        let st = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        var out: [String: [Float]] = [:]
        for name in st.names { out[name] = try st.floats(name) }
        return out
    }

    @Test func twoRanksEqualOneProcessWithTwiceTheAccumulationAndRepeat() throws {
        guard Self.mpirun != nil else { print("skipped: mpirun not found (tools/install_deps.sh installs Open MPI)"); return }
        let dir = TempDir()
        let data = try Self.data(dir)
        // Accumulation 2 per rank: rank sums (g₀+g₂)+(g₁+g₃) differ in rounding from one process's g₀+g₁+g₂+g₃.
        let a = try Self.run([(2, Self.trainArgs(data, dir.path + "/np2a", accum: 2))])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try Self.run([(2, Self.trainArgs(data, dir.path + "/np2b", accum: 2))])
        #expect(b.status == 0, "\(b.stderr)")
        let single = try CLIRunner.run(Self.trainArgs(data, dir.path + "/single", accum: 4))
        #expect(single.status == 0, "\(single.stderr)")
        #expect(try Self.adapter(dir.path + "/np2a") == (try Self.adapter(dir.path + "/np2b")), "two -np 2 runs must be byte-identical")
        // The same examples per step, summed in another order: equal within float rounding.
        let dp = try Self.tensors(dir.path + "/np2a"), one = try Self.tensors(dir.path + "/single")
        #expect(dp.keys.sorted() == one.keys.sorted())
        var diff = 0.0, norm = 0.0, changed = false
        for (name, x) in one {
            let y = try #require(dp[name])
            for (u, v) in zip(x, y) {
                diff += Double(u - v) * Double(u - v)
                norm += Double(u) * Double(u)
            }
            if name.contains("lora_B") { changed = changed || x.contains { $0 != 0 } }
        }
        #expect(changed, "training must move B away from zero")
        #expect((diff / norm).squareRoot() <= 1e-6, "relative difference \((diff / norm).squareRoot())")
        // Only rank 0 writes: one metrics line per step.
        let lines = try String(contentsOfFile: dir.path + "/np2a/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 6)
    }

    @Test func oneRankUnderMPIIsTheRunWithoutALauncher() throws {
        guard Self.mpirun != nil else { print("skipped: mpirun not found (tools/install_deps.sh installs Open MPI)"); return }
        let dir = TempDir()
        let data = try Self.data(dir)
        let m = try Self.run([(1, Self.trainArgs(data, dir.path + "/np1", accum: 2))])
        #expect(m.status == 0, "\(m.stderr)")
        let plain = try CLIRunner.run(Self.trainArgs(data, dir.path + "/plain", accum: 2))
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(try Self.adapter(dir.path + "/np1") == (try Self.adapter(dir.path + "/plain")))
    }

    @Test func ranksStartedDifferentlyAreRefused() throws {
        guard Self.mpirun != nil else { print("skipped: mpirun not found (tools/install_deps.sh installs Open MPI)"); return }
        let dir = TempDir()
        let data = try Self.data(dir)
        // A copy of the model with one weight byte changed (its last tensor's data).
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Self.tiny))
        bytes[bytes.count - 3] ^= 0x10
        let other = dir.path + "/other.gguf"
        try bytes.write(to: URL(fileURLWithPath: other))
        var otherModel = Self.trainArgs(data, dir.path + "/m", accum: 1)
        otherModel[otherModel.firstIndex(of: Self.tiny)!] = other
        let cases: [(String, [String], [String])] = [
            ("options", Self.trainArgs(data, dir.path + "/o", accum: 1), Self.trainArgs(data, dir.path + "/o", accum: 1, ["--lr", "2e-2"])),
            ("model", Self.trainArgs(data, dir.path + "/m", accum: 1), otherModel),
        ]
        for (what, rank0, rank1) in cases {
            let r = try Self.run([(1, rank0), (1, rank1)])
            #expect(r.status != 0, "\(what)")
            let ours = r.stderr.split(separator: "\n").filter { $0.contains("started with other options, data or model") }
            #expect(ours.count == 1, "\(what): \(r.stderr)")
            #expect(ours.first?.contains("rank 1 of 2") == true, "\(what): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/\(what.first!)/adapter_model.safetensors"))
        }
    }

    @Test func killedRankEndsTheJobAndResumeMatchesAnUninterruptedRun() throws {
        guard Self.mpirun != nil else { print("skipped: mpirun not found (tools/install_deps.sh installs Open MPI)"); return }
        let dir = TempDir()
        let data = try Self.data(dir)
        let steps = 120, every = ["--checkpoint-every", "1"]
        let whole = try Self.run([(2, Self.trainArgs(data, dir.path + "/whole", steps: steps, accum: 1, every))])
        #expect(whole.status == 0, "\(whole.stderr)")
        let p = BoundedProcess(executable: Self.mpirun!,
                               arguments: Self.launcherArguments([(2, Self.trainArgs(data, dir.path + "/killed", steps: steps, accum: 1, every))]),
                               stdout: .discard)
        try p.start()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let ck = (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/killed/checkpoints")) ?? []
            if ck.contains("checkpoint-3") { break }
            usleep(2000)
        }
        // SIGKILL rank 1: the child of mpirun that is not rank 0 (rank 0 was started first, lower pid is not
        // guaranteed, so find the one whose environment says rank 1).
        let ranks = Self.children(of: p.pid)
        let rank1 = try #require(ranks.first { Self.environment(of: $0)["OMPI_COMM_WORLD_RANK"] == "1" }, "rank 1 not found among \(ranks)")
        let killedAt = Date()
        kill(rank1, SIGKILL)
        // Past 60 s the job's process group is killed (SIGTERM, then SIGKILL) and the test fails.
        let ended = p.wait(timeout: 60)
        let job = p.finish(timeout: 1)
        #expect(ended, "the job must end within 60 s of a rank's death")
        #expect(Date().timeIntervalSince(killedAt) < 60)
        #expect(job.status != 0)
        let stderr = job.stderr
        #expect(stderr.contains("rank 1") && stderr.lowercased().contains("signal 9"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/killed/adapter_model.safetensors"), "the run must not have finished")
        // Resume with the same N: the adapter of the uninterrupted run, byte for byte.
        var resumeArgs = Self.trainArgs(data, dir.path + "/killed", steps: steps, accum: 1, every)
        let o = resumeArgs.firstIndex(of: "-o")!
        resumeArgs.replaceSubrange(o...(o + 1), with: ["--resume", dir.path + "/killed"])
        let r = try Self.run([(2, resumeArgs)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("resuming at step"), "\(r.stderr)")
        #expect(try Self.adapter(dir.path + "/killed") == (try Self.adapter(dir.path + "/whole")))
    }

    /// Direct children of a process (Linux /proc).
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { t -> [Int32] in
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    static func environment(of pid: Int32) -> [String: String] {
        guard let d = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [:] }
        var env: [String: String] = [:]
        for entry in d.split(separator: 0) {
            let s = String(decoding: entry, as: UTF8.self)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        }
        return env
    }
}
