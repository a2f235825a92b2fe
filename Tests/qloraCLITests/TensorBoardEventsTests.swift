import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// TensorBoard event files: the format (CRC-32C, TFRecord framing, Event protobufs) and
/// `train --report-to tensorboard` read back through it, fresh and resumed.
@Suite(.serialized) struct TensorBoardEventsTests {
    @Test func crc32cMatchesTheStandardCheckValues() {
        // RFC 3720 / iSCSI check value, and the 32 zero bytes vector of RFC 3720 B.4.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func framingRoundTripsAndRefusesDamage() throws {
        let events = [TensorBoardEvent.header(wallTime: 1.5),
                      TensorBoardEvent(wallTime: 2.25, step: 7, values: [("train/loss", .scalar(3.5)), ("eval/loss", .scalar(-0.125))]),
                      TensorBoardEvent(wallTime: 3, step: 1 << 40, values: [("run/options", .text("`qlora train`\n    {}"))])]
        let bytes = events.flatMap { TFRecord.frame($0.encoded()) }
        let read = try TFRecord.read(bytes)
        #expect(!read.torn)
        #expect(try read.records.map { try TensorBoardEvent(decoding: $0.data) } == events)
        // A tail torn mid-record is left out, not an error.
        let torn = try TFRecord.read(Array(bytes.dropLast(5)))
        #expect(torn.torn && torn.records.count == 2)
        // A flipped bit in the data or in the length fails its checksum.
        for at in [bytes.count - 6, 3] {
            var bad = bytes
            bad[at] ^= 0x10
            #expect(throws: QLoRAError.self) { try TFRecord.read(bad) }
        }
    }

    static func events(_ dir: String) throws -> (file: String, events: [TensorBoardEvent]) {
        let files = TensorBoardWriter.eventFiles(in: dir)
        #expect(files.count == 1, "\(files)")
        let file = try #require(files.first)
        #expect(URL(fileURLWithPath: file).lastPathComponent.hasPrefix("events.out.tfevents."))
        return (file, try TensorBoardWriter.read(file))
    }

    static func metrics(_ run: String) throws -> [StepMetrics] {
        try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(StepMetrics.self, from: Data($0.utf8))
        }
    }

    /// Every step of metrics.jsonl is one event at that step with each scalar equal to the line's.
    static func expectMatch(_ events: [TensorBoardEvent], _ metrics: [StepMetrics]) {
        let steps = events.filter { $0.values.contains { $0.tag == "train/loss" } }
        #expect(steps.map(\.step) == metrics.map { Int64($0.step) })
        for (e, m) in zip(steps, metrics) {
            var want: [(String, Float)] = [("train/loss", Float(m.loss)), ("train/learning_rate", Float(m.lr)),
                                           ("train/grad_norm", Float(m.gradNorm)), ("train/tokens_per_second", Float(m.tokensPerSecond)),
                                           ("train/rss_bytes", Float(m.rssBytes))]
            if let ev = m.evalLoss { want.append(("eval/loss", Float(ev))) }
            #expect(e.values.map(\.tag) == want.map(\.0), "step \(m.step)")
            #expect(e.values.map(\.value) == want.map { .scalar($0.1) }, "step \(m.step)")
            #expect(abs(e.wallTime - (m.time ?? 0)) < 1e-6, "step \(m.step)")
        }
    }

    @Test func trainWritesEveryScalarAtItsStep() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let run = dir.path + "/run"
        let r = try TrainCommandTests.train(run, data, ["--eval-split", "0.2", "--eval-every", "4", "--report-to", "tensorboard",
                                                        "--log-every", "5"])
        #expect(r.status == 0, "\(r.stderr)")
        let (_, events) = try Self.events(run + "/runs")
        #expect(events.first?.fileVersion == "brain.Event:2")
        let options = events.compactMap { e in e.values.first { $0.tag == "run/options" }.map { (e.step, $0.value) } }
        #expect(options.count == 1 && options.first?.0 == 0)
        if case .text(let t)? = options.first?.1 { #expect(t.contains("\"steps\" : 12") && t.contains("--report-to")) } else {
            Issue.record("run/options is not text")
        }
        let metrics = try Self.metrics(run)
        #expect(metrics.count == 12)
        #expect(metrics.compactMap(\.evalLoss).count == 3)
        Self.expectMatch(events, metrics)
        // run.json: the options and the memory plan the board draws RSS against.
        let info = try #require(RunInfo.read(from: run))
        #expect(info.options.steps == 12 && (info.memoryPlanBytes ?? 0) > 0)
        // Off a terminal: one progress line every --log-every steps.
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("step ") }
        #expect(lines.map { $0.split(separator: " ")[1] } == ["5/12", "10/12"], "\(r.stderr)")
        #expect(lines.allSatisfy { $0.contains("loss ") && $0.contains("tok/s") && $0.contains("RSS ") && $0.contains(" left") })
    }

    /// A resumed run continues the same file: the steps after its checkpoint, and a torn tail, are
    /// cut first, so every step is in the file once and equals metrics.jsonl.
    @Test func aResumedRunHasNoDuplicateSteps() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let run = dir.path + "/run"
        let args = ["--report-to", "tensorboard", "--checkpoint-every", "4", "--eval-split", "0.2", "--eval-every", "3"]
        #expect(try TrainCommandTests.train(run, data, args + ["--steps", "6"]).status == 0)
        let before = try Self.events(run + "/runs")
        #expect(before.events.filter { !$0.values.isEmpty }.map(\.step) == [0, 1, 2, 3, 4, 5, 6])
        // Steps 5 and 6 outlive their checkpoint (checkpoint-6 torn), and a kill tore a record.
        truncate(run + "/checkpoints/checkpoint-6/" + OptimizerStateFile.name, 100)
        let handle = try #require(FileHandle(forWritingAtPath: before.file))
        handle.seekToEndOfFile()
        handle.write(Data(TFRecord.frame(TensorBoardEvent(wallTime: 0, step: 7).encoded()).prefix(20)))
        try handle.close()
        let r = try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, "--resume", run, "--steps", "9",
                                   "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                   "--threads", "2"] + args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("resuming at step 4"), "\(r.stderr)")
        let after = try Self.events(run + "/runs")
        #expect(after.file == before.file, "the same file continues")
        #expect(after.events.filter { !$0.values.isEmpty }.map(\.step) == [0] + (1...9).map(Int64.init))
        #expect(after.events.filter { $0.fileVersion != nil }.count == 1)
        // The first four steps are the first run's, untouched.
        #expect(Array(after.events.prefix(6)) == Array(before.events.prefix(6)))
        Self.expectMatch(after.events, try Self.metrics(run))
    }

    /// A run resumed with --report-to tensorboard that had no event file gets one holding every step.
    @Test func resumingIntoTensorBoardBackfillsTheEarlierSteps() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let run = dir.path + "/run"
        #expect(try TrainCommandTests.train(run, data, ["--steps", "3"]).status == 0)
        let r = try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, "--resume", run, "--steps", "5",
                                   "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                   "--threads", "2", "--report-to", "tensorboard"])
        #expect(r.status == 0, "\(r.stderr)")
        let (_, events) = try Self.events(run + "/runs")
        Self.expectMatch(events, try Self.metrics(run))
        #expect(events.filter { !$0.values.isEmpty }.map(\.step) == [1, 2, 3, 4, 5])
    }
}
