import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The training side's files under `CorruptionSweep` (truncations and byte flips): JSONL data in
/// its three forms, and every file of a checkpoint directory. A checkpoint file changed in any way
/// is caught by the manifest's checksums; with the manifest rewritten to match (an edit that also
/// fixes the checksums), each file's own reader must still load it or give a QLoRAError.
@Suite struct TrainingFileSweepTests {
    static let dataFiles: [(name: String, lines: [String])] = [
        ("text", [DataFiles.line(["text": "The quick brown fox."]), DataFiles.line(["text": "Zweite Zeile: ü, 日本\n"])]),
        ("alpaca", DataFiles.alpaca(3)),
        ("chat", [
            DataFiles.line(["messages": [["role": "system", "content": "Be brief."], ["role": "user", "content": "Hi"],
                                         ["role": "assistant", "content": "Hello!"]]]),
            DataFiles.line(["messages": [["role": "user", "content": "2+2?"], ["role": "assistant", "content": "4"]]]),
        ]),
    ]

    @Test(arguments: [0, 1, 2])
    func jsonlDataLoadsOrGivesAQLoRAError(file: Int) throws {
        let (name, lines) = Self.dataFiles[file]
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        let read = { (b: [UInt8]) throws in
            let data = try JSONLReader.read(file: MappedFile(bytes: b, path: "\(name).jsonl"))
            #expect(!data.records.isEmpty)
        }
        try read(bytes)
        let report = CorruptionSweep.run("JSONL \(name)", bytes: bytes, everyBelow: bytes.count, spread: 0, read: read)
        print(report)
        #expect(report.violations.isEmpty, "\(report.violations.prefix(10))")
        #expect(report.rejected > 0 && report.loaded > 0)
    }

    struct Position: Codable, Equatable {
        var epoch: Int
        var offset: Int
    }

    static let pageBytes = 1024

    static func optimizer(dir: String) throws -> Optimizer {
        let params = [Parameter(name: "a", shape: [24, 8], values: (0..<192).map { Float($0) / 100 }),
                      Parameter(name: "b", shape: [40], values: (0..<40).map { -Float($0) / 10 })]
        return try Optimizer(groups: [ParameterGroup(name: "all", weightDecay: 0.1, parameters: params)],
                             algorithm: .adamW(), learningRate: 1e-3,
                             memory: OptimizerMemory(pageBytes: pageBytes, spillPath: dir + "/o.spill"))
    }

    /// A checkpoint of a small AdamW run (2 parameters, 3 optimizer pages) in `dir`/ckpt.
    static func checkpoint(_ dir: TempDir) throws -> (path: String, optimizer: Optimizer) {
        let opt = try optimizer(dir: dir.path)
        for p in opt.parameters { for i in 0..<p.count { p.grad[i] = Float(i % 5) - 2 } }
        try opt.step(lrFactor: 1)
        let path = dir.path + "/ckpt"
        try Checkpoint.write(to: path, optimizer: opt, step: 1, schedulerStep: 1, rngs: ["data": SeededRNG(seed: 9)],
                             dataPosition: Position(epoch: 0, offset: 3))
        return (path, opt)
    }

    /// `manifest.json` with `name`'s size and SHA-256 set to those of `bytes`.
    static func manifest(_ original: [UInt8], matching name: String, _ bytes: [UInt8]) throws -> [UInt8] {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(original)) as? [String: Any])
        var files = try #require(object["files"] as? [[String: Any]])
        var sha = SHA256()
        sha.update(bytes)
        for i in files.indices where files[i]["name"] as? String == name {
            files[i]["bytes"] = bytes.count
            files[i]["sha256"] = sha.finalizeHex()
        }
        object["files"] = files
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    static let checkpointFiles = [Checkpoint.parametersFile, OptimizerStateFile.name, "trainer_state.json",
                                  Checkpoint.dataPositionFile, "manifest.json"]

    /// Each file of a checkpoint, truncated and flipped, with the manifest as written (every change
    /// is detected) or rewritten to match (the file's own reader decides).
    @Test(arguments: checkpointFiles, [false, true])
    func checkpointFileChangesAreDetectedOrRejected(file: String, rewriteManifest: Bool) throws {
        if file == "manifest.json" && rewriteManifest { return }
        let dir = TempDir("qlora-ckpt-sweep")
        let (path, _) = try Self.checkpoint(dir)
        let target = path + "/" + file
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: target)))
        let manifestPath = path + "/manifest.json"
        let manifest = Array(try Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        let reader = try Self.optimizer(dir: dir.path)
        let report = CorruptionSweep.run(
            "\(file)\(rewriteManifest ? " (manifest rewritten)" : "")", bytes: original, everyBelow: 96, spread: 64,
            expect: { _ in file == "manifest.json" || rewriteManifest ? .loadOrReject : .reject }
        ) { bytes in
            try Data(bytes).write(to: URL(fileURLWithPath: target))
            if rewriteManifest {
                try Data(try Self.manifest(manifest, matching: file, bytes)).write(to: URL(fileURLWithPath: manifestPath))
            }
            _ = try Checkpoint.read(from: path, into: reader, dataPosition: Position.self)
        }
        print(report)
        #expect(report.violations.isEmpty, "\(report.violations.prefix(10))")
        #expect(report.rejected > 0)
    }

    /// optimizer.bin's header fields are u64; one above Int.max trapped in `Int(_:)` (a crash on a
    /// corrupt file) before the comparison with the run's layout. Now it is a mismatch error.
    @Test(arguments: [16, 24, 32, 40])
    func optimizerStateFieldAboveIntMaxIsAFormatError(fieldOffset: Int) throws {
        let dir = TempDir("qlora-ckpt-u64")
        let (path, _) = try Self.checkpoint(dir)
        let target = path + "/" + OptimizerStateFile.name
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: target)))
        bytes[fieldOffset + 7] |= 0x80
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        let manifestPath = path + "/manifest.json"
        let manifest = Array(try Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        try Data(try Self.manifest(manifest, matching: OptimizerStateFile.name, bytes)).write(to: URL(fileURLWithPath: manifestPath))
        let reader = try Self.optimizer(dir: dir.path)
        do {
            _ = try Checkpoint.read(from: path, into: reader, dataPosition: Position.self)
            Issue.record("a corrupt optimizer state was accepted")
        } catch let error as QLoRAError {
            #expect(error.kind == .format)
            #expect(error.message.hasPrefix(target + ": optimizer "))
        }
    }
}
