import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora train` plans its memory (the CPU planner, which mirrors the trainer's buffers) and
/// refuses before allocating when the plan exceeds what is available; `--force` overrides. The
/// available figure is injected with QLORA_AVAILABLE_MEMORY.
@Suite(.serialized) struct TrainMemoryCheckTests {
    static func train(_ dir: TempDir, _ data: String, _ extra: [String] = [], available: String) throws -> CLIRunner.Result {
        try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, "-o", dir.path + "/run", "--steps", "2",
                           "--batch", "2", "--seq", "16", "--rank", "4", "--threads", "2"] + extra,
                          environment: [AvailableMemory.variable: available])
    }

    /// The plan the command should have made for those options.
    static func plannedBytes() throws -> Int {
        var request = PlanRequest(model: try ModelSource.resolve(TrainCommandTests.tiny))
        request.device = .cpu
        request.method = .qlora
        request.rank = 4
        request.targets = .all
        request.sequenceLength = 16
        request.batchSize = 2
        request.gradientCheckpointing = false
        request.optimizer = .adamw
        request.computeDType = .f32
        request.loraDropout = true
        return try Planner.plan(request).deviceBytes
    }

    @Test func refusesWithThePlansNumbersWhenMemoryIsShort() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let r = try Self.train(dir, data, available: "1MB")
        #expect(r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let needed = ByteCount.format(try Self.plannedBytes())
        #expect(r.stderr.contains("the memory plan needs \(needed) ("), "\(r.stderr)")
        #expect(r.stderr.contains(") but \(ByteCount.format(1 << 20)) is available (QLORA_AVAILABLE_MEMORY); lower --batch or --seq"), "\(r.stderr)")
        #expect(r.stderr.contains("--force"), "\(r.stderr)")
        #expect(dir.listing() == ["train.jsonl"], "nothing may be written before the check")
    }

    @Test func forceTrainsAnywayAndEnoughMemoryTrainsSilently() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let forced = try Self.train(dir, data, ["--force"], available: "1MB")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("warning: the memory plan needs"), "\(forced.stderr)")
        #expect(forced.stderr.contains("--force given, training anyway"), "\(forced.stderr)")
        let needed = try Self.plannedBytes()
        let roomy = try Self.train(dir, data, ["--overwrite"], available: String(needed))
        #expect(roomy.status == 0, "\(roomy.stderr)")
        #expect(!roomy.stderr.contains("memory plan"), "\(roomy.stderr)")
        let short = try Self.train(dir, data, ["--overwrite"], available: String(needed - 1))
        #expect(short.status != 0 && short.stderr.contains("the memory plan needs"), "\(short.stderr)")
    }

    @Test func aMalformedOverrideIsRejected() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let r = try Self.train(dir, data, available: "lots")
        #expect(r.status != 0)
        #expect(r.stderr.contains("QLORA_AVAILABLE_MEMORY='lots' is not a size"), "\(r.stderr)")
    }

    @Test(arguments: [("1234", 1234), ("64MB", 64 << 20), ("2 GiB", 2 << 30), ("512k", 512 << 10), ("1.5g", 3 << 29),
                      ("lots", -1), ("", -1), ("-5", -1), ("9e30", -1)] as [(String, Int)])
    func sizesParse(_ c: (String, Int)) {
        #expect(AvailableMemory.parseSize(c.0) == (c.1 < 0 ? nil : c.1))
    }

    @Test func theMachinesReadingIsPlausible() throws {
        guard Environment.get(AvailableMemory.variable) == nil else { return }
        let reading = try #require(try AvailableMemory.read())
        let total = try #require(BudgetChoice.hostMemoryBytes())
        #expect(reading.bytes > 0 && reading.bytes <= total, "\(reading)")
        #expect(["MemAvailable", "cgroup memory.max", "cgroup memory.limit_in_bytes"].contains(reading.source))
    }
}
