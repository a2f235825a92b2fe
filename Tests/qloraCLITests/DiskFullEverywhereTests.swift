import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Disk full in the files a run appends to or pages into (issue 16, item 4): metrics.jsonl appends
/// and the optimizer spill file. Each stops with one line naming the file; the last good checkpoint
/// resumes to the adapter of an uninterrupted run, bit for bit.
@Suite(.serialized) struct DiskFullEverywhereTests {
    static let args = ["--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                       "--threads", "2", "--steps", "8", "--checkpoint-every", "3"]

    static func bytes(ofTree path: String) throws -> Int {
        var total = 0
        for name in try FileManager.default.subpathsOfDirectory(atPath: path) {
            let a = try FileManager.default.attributesOfItem(atPath: path + "/" + name)
            if (a[.type] as? FileAttributeType) == .typeRegular { total += a[.size] as? Int ?? 0 }
        }
        return total
    }

    /// The budget runs out in the middle of step 5's metrics line, after checkpoint 3.
    @Test func aFullDiskDuringAMetricsAppendNamesTheFileAndTheCheckpointResumes() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let tiny = TrainCommandTests.tiny
        let whole = try CLIRunner.run(["train", "--model", tiny, "--data", data, "-o", dir.path + "/whole"] + Self.args)
        try #require(whole.status == 0, "\(whole.stderr)")
        // What a run writes up to step 5: a checkpoint (all are the same size) and five metrics lines.
        let lines = try String(contentsOfFile: dir.path + "/whole/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let checkpoint = try Self.bytes(ofTree: dir.path + "/whole/checkpoints/checkpoint-6")
        let budget = checkpoint + lines[0..<4].reduce(0) { $0 + $1.utf8.count + 1 } + lines[4].utf8.count / 2
        let full = try CLIRunner.run(["train", "--model", tiny, "--data", data, "-o", dir.path + "/run"] + Self.args,
                                     environment: [WriteFaults.variable: "\(budget)"])
        let line = try #require(DiskFullTests.oneLine(full), "\(full.status) \(full.stderr)")
        #expect(line.hasSuffix("\(dir.path)/run/metrics.jsonl: no space left on device"), "\(line)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/run/checkpoints")
                    .filter { $0.hasPrefix("checkpoint-") } == ["checkpoint-3"])
        let resumed = try CLIRunner.run(["train", "--model", tiny, "--data", data, "--resume", dir.path + "/run"] + Self.args)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming at step 3"), "\(resumed.stderr)")
        #expect(try TrainCommandTests.adapterBytes(dir.path + "/run") == (try TrainCommandTests.adapterBytes(dir.path + "/whole")))
        let resumedLines = try String(contentsOfFile: dir.path + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(resumedLines.count == 8, "the partial line and the lines after the checkpoint are dropped")
    }

    /// The optimizer's spill file on a real tmpfs too small for it: the step fails with the path.
    @Test(.enabled(if: Tmpfs.available, "mounting a tmpfs is not allowed here"))
    func aFullDiskUnderTheSpillFileNamesIt() throws {
        let fs = try #require(Tmpfs(bytes: 16 << 10))
        let sizes = [9000, 1, 7130, 30480, 31, 20000]   // the paged-state tests' ragged sizes
        let page = 4096
        let layout = StateLayout(parameterCounts: sizes, stateCount: 2, pageBytes: page)
        let budget = StatePager.budget(frames: 2, pageCount: layout.pageCount, pageBytes: page)
        let spill = fs.path + "/optimizer.spill"
        var rng = SeededRNG(seed: 5)
        let params = sizes.enumerated().map { i, n in
            Parameter(name: "p\(i)", shape: [n], values: (0..<n).map { _ in rng.nextNormal() * 0.1 })
        }
        let opt = try Optimizer(groups: [ParameterGroup(name: "default", parameters: params)], algorithm: .adamW(),
                                learningRate: 1e-3, memory: OptimizerMemory(pageBytes: page, budgetBytes: budget, spillPath: spill))
        defer { opt.close() }
        var failure: Error?
        for _ in 0..<3 where failure == nil {
            for p in params { for i in 0..<p.count { p.grad[i] = rng.nextNormal() } }
            do { try opt.step(lrFactor: 1) } catch { failure = error }
        }
        let error = try #require(failure, "16 KiB cannot hold the spilled state")
        #expect("\(error)" == "\(spill): no space left on device")
    }
}
