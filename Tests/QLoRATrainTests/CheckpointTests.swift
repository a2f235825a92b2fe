import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Checkpoints: exact round trip, detection of torn and edited files, atomic replacement.
@Suite struct CheckpointTests {
    struct Position: Codable, Equatable {
        var epoch: Int
        var offset: Int
        var order: [Int]
    }

    struct ThrowingPosition: Encodable {
        func encode(to encoder: Encoder) throws { throw QLoRAError.invalid("encoding failed half-way") }
    }

    static let sizes = [9000, 1, 7130, 3048]
    static let pageBytes = 4096

    static func parameters(seed: UInt64) -> [Parameter] {
        var rng = SeededRNG(seed: seed)
        return sizes.enumerated().map { i, n in
            Parameter(name: "layers.\(i).lora_\(i % 2 == 0 ? "A" : "B").weight", shape: [n],
                      values: (0..<n).map { _ in rng.nextNormal() })
        }
    }

    static func optimizer(_ params: [Parameter], budgetFrames: Int?, dir: String) throws -> Optimizer {
        let layout = StateLayout(parameterCounts: sizes, stateCount: 2, pageBytes: pageBytes)
        let budget = budgetFrames.map { StatePager.budget(frames: $0, pageCount: layout.pageCount, pageBytes: pageBytes) }
        return try Optimizer(groups: LoRAPlus.groups(params, ratio: 4, weightDecay: 0.1), algorithm: .adamW(),
                             learningRate: 1e-3,
                             memory: OptimizerMemory(pageBytes: pageBytes, budgetBytes: budget, spillPath: dir + "/o.spill"))
    }

    /// Steps with gradients drawn from `rng` (so a restored stream must continue exactly).
    static func train(_ opt: Optimizer, steps: Range<Int>, rng: inout SeededRNG) throws {
        let schedule = try LRSchedule(.linear, warmupSteps: 2, totalSteps: 20)
        for step in steps {
            for p in opt.parameters { for i in 0..<p.count { p.grad[i] = rng.nextNormal() } }
            try opt.step(lrFactor: schedule.factor(at: step))
            opt.zeroGrad()
        }
    }

    static func snapshot(_ opt: Optimizer) throws -> ([[UInt32]], [UInt8]) {
        var state: [UInt8] = []
        try opt.readState { _, b in state += b }
        return (opt.parameters.map { $0.values.map(\.bitPattern) }, state)
    }

    @Test func resumedRunIsBitIdenticalToAnUninterruptedOne() throws {
        let dir = TempDir("qlora-ckpt")
        let store = try CheckpointStore(root: dir.path + "/checkpoints")
        let opt = try Self.optimizer(Self.parameters(seed: 1), budgetFrames: 2, dir: dir.path)
        var rng = SeededRNG(seed: 42)
        try Self.train(opt, steps: 0..<5, rng: &rng)
        let position = Position(epoch: 1, offset: 77, order: [3, 1, 2])
        let saved = try store.save(optimizer: opt, step: 5, schedulerStep: 5,
                                   rngs: ["data": rng, "dropout": SeededRNG(seed: .max - 3)], dataPosition: position)
        let before = try Self.snapshot(opt)
        try Self.train(opt, steps: 5..<10, rng: &rng)
        let uninterrupted = try Self.snapshot(opt)

        // A new process: other initial values, state resident instead of paged.
        let fresh = try Self.optimizer(Self.parameters(seed: 2), budgetFrames: nil, dir: dir.path)
        let restored = try Checkpoint.read(from: try #require(store.latest()), into: fresh, dataPosition: Position.self)
        #expect(restored.directory == saved)
        #expect(restored.step == 5 && restored.schedulerStep == 5 && fresh.stepCount == 5)
        #expect(restored.dataPosition == position)
        #expect(restored.rngs["dropout"] == SeededRNG(seed: .max - 3))
        #expect(try Self.snapshot(fresh) == before)
        var rng2 = try #require(restored.rngs["data"])
        try Self.train(fresh, steps: 5..<10, rng: &rng2)
        #expect(try Self.snapshot(fresh) == uninterrupted)
    }

    static func savedCheckpoint(_ dir: TempDir) throws -> (CheckpointStore, String) {
        let store = try CheckpointStore(root: dir.path)
        let opt = try Self.optimizer(Self.parameters(seed: 1), budgetFrames: nil, dir: dir.path)
        var rng = SeededRNG(seed: 1)
        try Self.train(opt, steps: 0..<2, rng: &rng)
        let path = try store.save(optimizer: opt, step: 2, schedulerStep: 2, rngs: [:],
                                  dataPosition: Position(epoch: 0, offset: 2, order: []))
        return (store, path)
    }

    static func loadError(_ path: String) -> QLoRAError? {
        do {
            let opt = try optimizer(parameters(seed: 3), budgetFrames: nil, dir: NSTemporaryDirectory())
            _ = try Checkpoint.read(from: path, into: opt, dataPosition: Position.self)
            return nil
        } catch let e as QLoRAError { return e } catch { return QLoRAError.invalid("\(error)") }
    }

    @Test(arguments: [OptimizerStateFile.name, Checkpoint.parametersFile, "trainer_state.json"])
    func flippedByteIsDetected(file: String) throws {
        let dir = TempDir("qlora-ckpt")
        let (_, path) = try Self.savedCheckpoint(dir)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path + "/" + file)))
        bytes[bytes.count / 2] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + file))
        let e = try #require(Self.loadError(path))
        #expect(e.message == "\(path)/\(file): checksum mismatch: the file changed after the checkpoint was written")
    }

    @Test func truncatedFileIsDetected() throws {
        let dir = TempDir("qlora-ckpt")
        let (_, path) = try Self.savedCheckpoint(dir)
        let file = path + "/" + OptimizerStateFile.name
        let size = try #require(FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        truncate(file, off_t(size - 100))
        let e = try #require(Self.loadError(path))
        #expect(e.message == "\(file): \(size - 100) bytes, the checkpoint manifest says \(size) (truncated or replaced)")
    }

    @Test func missingManifestOrFileIsDetected() throws {
        let dir = TempDir("qlora-ckpt")
        let (store, path) = try Self.savedCheckpoint(dir)
        try FileManager.default.removeItem(atPath: path + "/" + Checkpoint.dataPositionFile)
        #expect(Self.loadError(path)?.message == "\(path)/data_position.json: missing (listed in the checkpoint manifest)")
        try FileManager.default.removeItem(atPath: path + "/manifest.json")
        #expect(Self.loadError(path)?.message == "\(path): not a complete checkpoint (no manifest.json)")
        #expect(store.latest() == nil)
    }

    @Test func interruptedWriteLeavesThePreviousCheckpointLoadable() throws {
        let dir = TempDir("qlora-ckpt")
        let (store, path) = try Self.savedCheckpoint(dir)
        let opt = try Self.optimizer(Self.parameters(seed: 1), budgetFrames: nil, dir: dir.path)
        #expect(throws: QLoRAError.invalid("encoding failed half-way")) {
            try store.save(optimizer: opt, step: 4, schedulerStep: 4, rngs: [:], dataPosition: ThrowingPosition())
        }
        #expect(dir.listing() == ["checkpoint-2"])  // the half-built directory is gone
        // A write killed by SIGKILL leaves a hidden temporary directory: ignored, then cleaned up.
        let killed = dir.path + "/.checkpoint-6.tmp-1-2"
        try FileManager.default.createDirectory(atPath: killed, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: killed + "/parameters.safetensors", contents: Data([1, 2, 3]))
        #expect(store.latest() == path)
        #expect(Self.loadError(path) == nil)
        try store.save(optimizer: opt, step: 8, schedulerStep: 8, rngs: [:], dataPosition: Position(epoch: 0, offset: 0, order: []))
        #expect(dir.listing() == ["checkpoint-2", "checkpoint-8"])
    }

    @Test func savingTheSameStepAgainReplacesItWhole() throws {
        let dir = TempDir("qlora-ckpt")
        let (store, path) = try Self.savedCheckpoint(dir)
        let opt = try Self.optimizer(Self.parameters(seed: 7), budgetFrames: nil, dir: dir.path)
        var rng = SeededRNG(seed: 8)
        try Self.train(opt, steps: 0..<3, rng: &rng)
        try store.save(optimizer: opt, step: 2, schedulerStep: 3, rngs: [:], dataPosition: Position(epoch: 9, offset: 0, order: []))
        #expect(dir.listing() == ["checkpoint-2"])
        let fresh = try Self.optimizer(Self.parameters(seed: 1), budgetFrames: nil, dir: dir.path)
        let restored = try Checkpoint.read(from: path, into: fresh, dataPosition: Position.self)
        #expect(restored.schedulerStep == 3 && restored.dataPosition.epoch == 9)
        #expect(try Self.snapshot(fresh) == Self.snapshot(opt))
    }

    @Test func keepsTheLastN() throws {
        let dir = TempDir("qlora-ckpt")
        let store = try CheckpointStore(root: dir.path, keepLast: 2)
        let opt = try Self.optimizer(Self.parameters(seed: 1), budgetFrames: nil, dir: dir.path)
        for step in [10, 20, 30] {
            try store.save(optimizer: opt, step: step, schedulerStep: step, rngs: [:], dataPosition: step)
        }
        #expect(store.checkpoints().map(\.step) == [20, 30])
        #expect(dir.listing() == ["checkpoint-20", "checkpoint-30"])
        #expect(throws: QLoRAError.invalid("checkpoints to keep must be ≥ 1, got 0")) { try CheckpointStore(root: dir.path, keepLast: 0) }
    }

    @Test func otherParametersAreRefused() throws {
        let dir = TempDir("qlora-ckpt")
        let (_, path) = try Self.savedCheckpoint(dir)
        let other = [Parameter(name: "layers.0.lora_A.weight", shape: [9000]), Parameter(name: "x", shape: [4])]
        let opt = try Optimizer(groups: ParameterGroup.single(other), algorithm: .adamW(), learningRate: 1e-3)
        #expect(throws: QLoRAError.format(path + "/trainer_state.json",
                                          "checkpoint has parameter 'layers.1.lora_B.weight' that this run does not train")) {
            try Checkpoint.read(from: path, into: opt, dataPosition: Position.self)
        }
        let lion = try Optimizer(groups: ParameterGroup.single(Self.parameters(seed: 1)), algorithm: .lion(), learningRate: 1e-3)
        #expect(throws: QLoRAError.format(path + "/trainer_state.json",
                                          "checkpoint was made with optimizer adamw, this run uses lion")) {
            try Checkpoint.read(from: path, into: lion, dataPosition: Position.self)
        }
    }

    @Test func sha256MatchesKnownDigestsAndStreams() throws {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var rng = SeededRNG(seed: 9)
        let data = (0..<100_003).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        var streamed = SHA256()
        var i = 0, chunk = 1
        while i < data.count {
            let n = min(chunk, data.count - i)
            data[i..<(i + n)].withUnsafeBytes { streamed.update($0) }
            i += n
            chunk = chunk * 3 % 997 + 1
        }
        #expect(streamed.finalizeHex() == SHA256.hex(data))
        // Against the system tool, when present.
        let dir = TempDir("qlora-sha")
        let file = dir.path + "/blob"
        try Data(data).write(to: URL(fileURLWithPath: file))
        if FileManager.default.fileExists(atPath: "/usr/bin/sha256sum") {
            let line = try BoundedProcess.run("/usr/bin/sha256sum", [file], timeout: 60).stdout
            #expect(line.hasPrefix(SHA256.hex(data) + " "))
        }
    }
}
