import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Choosing the checkpoint to resume from: the newest one that verifies, passing over torn ones
/// with the reason; links inside a checkpoint are refused.
@Suite struct CheckpointRecoveryTests {
    typealias Position = CheckpointTests.Position

    static func store(_ dir: TempDir, steps: [Int]) throws -> CheckpointStore {
        let store = try CheckpointStore(root: dir.path, keepLast: 3)
        let opt = try CheckpointTests.optimizer(CheckpointTests.parameters(seed: 1), budgetFrames: nil, dir: dir.path)
        for step in steps {
            try store.save(optimizer: opt, step: step, schedulerStep: step, rngs: [:],
                           dataPosition: Position(epoch: 0, offset: step, order: []))
        }
        return store
    }

    @Test func newestValidCheckpointIsChosenAndTornOnesAreNamed() throws {
        let dir = TempDir("qlora-ckpt")
        let store = try Self.store(dir, steps: [2, 4, 6])
        #expect(try store.latestValid()?.path == store.path(step: 6))
        #expect(try store.latestValid()?.skipped.isEmpty == true)
        // Tear the newest (as a disk error or an editor would), then the one before it.
        let torn6 = store.path(step: 6) + "/" + OptimizerStateFile.name
        truncate(torn6, 10)
        let found = try #require(try store.latestValid())
        #expect(found.path == store.path(step: 4))
        #expect(found.skipped.map(\.path) == [store.path(step: 6)])
        let listed = try #require(Self.size(ofListed: OptimizerStateFile.name, in: store.path(step: 6)))
        let tornReason = "\(torn6): 10 bytes, the checkpoint manifest says \(listed) (truncated or replaced)"
        #expect(found.skipped.first?.reason == tornReason)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: store.path(step: 4) + "/trainer_state.json"))
        #expect(try store.latestValid()?.path == store.path(step: 2))
        #expect(try store.latestValid()?.skipped.count == 2)
        try FileManager.default.removeItem(atPath: store.path(step: 2) + "/" + Checkpoint.parametersFile)
        do {
            _ = try store.latestValid()
            Issue.record("no checkpoint verifies, yet one was chosen")
        } catch {
            #expect("\(error)" == "no checkpoint in \(dir.path) verifies; the newest: \(tornReason)")
        }
    }

    /// The byte count the manifest of `dir` lists for `name`.
    static func size(ofListed name: String, in dir: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: dir + "/manifest.json"),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let files = obj["files"] as? [[String: Any]] else { return nil }
        return files.first { $0["name"] as? String == name }?["bytes"] as? Int
    }

    @Test func aLinkInsideACheckpointIsRefusedEvenWithTheRightContent() throws {
        let dir = TempDir("qlora-ckpt")
        let store = try Self.store(dir, steps: [2])
        let path = store.path(step: 2)
        let outside = TempDir("qlora-outside")
        let file = path + "/trainer_state.json"
        try FileManager.default.copyItem(atPath: file, toPath: outside.path + "/trainer_state.json")
        try FileManager.default.removeItem(atPath: file)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: outside.path + "/trainer_state.json")
        #expect(CheckpointTests.loadError(path)?.message == "\(file): not a regular file (a checkpoint holds no links or directories)")
    }

    @Test func oldCheckpointsAreRemovedWithoutLeavingAHalfDeletedOne() throws {
        let dir = TempDir("qlora-ckpt")
        let store = try CheckpointStore(root: dir.path, keepLast: 1)
        let opt = try CheckpointTests.optimizer(CheckpointTests.parameters(seed: 1), budgetFrames: nil, dir: dir.path)
        for step in 1...3 {
            try store.save(optimizer: opt, step: step, schedulerStep: step, rngs: [:], dataPosition: step)
            #expect(dir.listing() == ["checkpoint-\(step)"])
            #expect(try store.latestValid()?.path == store.path(step: step))
        }
    }
}
