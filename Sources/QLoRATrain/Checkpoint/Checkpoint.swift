import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels

/// What loading a checkpoint hands back; parameters and optimizer state are restored in place.
public struct RestoredCheckpoint<Position: Decodable> {
    public var directory: String
    /// Training steps done when the checkpoint was made.
    public var step: Int
    /// Scheduler steps done (the next step runs at `LRSchedule.factor(at: schedulerStep)`).
    public var schedulerStep: Int
    /// The random streams (dropout, shuffling, …) by the names they were saved under.
    public var rngs: [String: SeededRNG]
    /// The caller's data-loader position, as it was passed in.
    public var dataPosition: Position
    /// The compute type the run was in when it wrote the checkpoint; nil for checkpoints that predate the field
    /// (runs could already compute in bf16 then, so nothing is assumed).
    public var computeDType: String?
    /// The kernel path (ISA, bf16 variant) the run was on; nil for checkpoints that predate the field (unknown).
    public var kernelPath: KernelPath?
}

/// One checkpoint directory: trainable parameters, all optimizer state, scheduler step, random
/// states, data position and step, with a manifest of checksums written last.
///
/// Files: `parameters.safetensors` (F32, the parameters' names), `optimizer.bin`
/// (`OptimizerStateFile`), `trainer_state.json`, `data_position.json` (the caller's value as
/// JSON), any files the caller adds, and `manifest.json`. The directory is built under a temporary
/// name, fsync'ed and renamed into place, so a reader sees no checkpoint or a complete one.
public enum Checkpoint {
    public static let parametersFile = "parameters.safetensors"
    public static let dataPositionFile = "data_position.json"

    /// Writes a checkpoint at `path` atomically (replacing one already there only once the new one
    /// is complete). `extraFiles` may write more files into the directory it is given (e.g. the
    /// PEFT adapter); they are covered by the manifest too.
    public static func write<Position: Encodable>(
        to path: String, optimizer: Optimizer, step: Int, schedulerStep: Int, rngs: [String: SeededRNG],
        dataPosition: Position, computeDType: String? = nil, kernelPath: KernelPath? = nil,
        extraFiles: ((String) throws -> Void)? = nil
    ) throws {
        try AtomicOutput.directory(at: path) { dir in
            var params = SafetensorsWriter()
            params.metadata = ["format": "pt"]
            for p in optimizer.parameters {
                params.add(p.name, dtype: .f32, shape: p.shape,
                           borrowing: UnsafeRawBufferPointer(start: p.value, count: 4 * p.count))
            }
            try params.write(to: dir + "/" + parametersFile)
            try OptimizerStateFile.write(optimizer, to: dir + "/" + OptimizerStateFile.name)
            try writeJSON(dataPosition, to: dir + "/" + dataPositionFile)
            let record = CheckpointRecord(step: step, schedulerStep: schedulerStep, rngs: rngs, optimizer: optimizer,
                                          computeDType: computeDType, kernelPath: kernelPath)
            try writeJSON(record, to: dir + "/" + CheckpointRecord.fileName)
            try extraFiles?(dir)
            try CheckpointManifest.build(dir).write(into: dir)
        }
    }

    /// Verifies the checkpoint at `path` against its manifest, then restores its parameter values
    /// and optimizer state into `optimizer` (whose parameters must be the checkpoint's, in order).
    public static func read<Position: Decodable>(
        from path: String, into optimizer: Optimizer, dataPosition: Position.Type
    ) throws -> RestoredCheckpoint<Position> {
        _ = try CheckpointManifest.verify(path)
        let recordPath = path + "/" + CheckpointRecord.fileName
        let record: CheckpointRecord = try readJSON(recordPath)
        try record.checkCompatible(with: optimizer, path: recordPath)
        let position: Position = try readJSON(path + "/" + dataPositionFile)
        let paramsPath = path + "/" + parametersFile
        let file = try SafetensorsFile(path: paramsPath)
        for p in optimizer.parameters {
            let t = try file.info(p.name)
            guard t.dtype == .f32, t.shape == p.shape else {
                throw QLoRAError.format(paramsPath, "'\(p.name)' is \(t.dtype.rawValue) \(t.shape), expected F32 \(p.shape)")
            }
        }
        try OptimizerStateFile.read(path + "/" + OptimizerStateFile.name, into: optimizer)
        for p in optimizer.parameters {
            UnsafeMutableRawPointer(p.value).copyMemory(from: try file.raw(p.name).baseAddress!, byteCount: 4 * p.count)
        }
        return RestoredCheckpoint(directory: path, step: record.step, schedulerStep: record.schedulerStep,
                                  rngs: record.rngs, dataPosition: position, computeDType: record.computeDType,
                                  kernelPath: record.kernelPath)
    }

    static func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let file = try OutputFile(path: path)
        try file.write(Array(try encoder.encode(value)) + [0x0A])
        try file.finish()
    }

    static func readJSON<T: Decodable>(_ path: String) throws -> T {
        guard let data = try MetadataFile.read(path, limit: MetadataFile.configLimit) else {
            throw QLoRAError.io(path, "cannot read")
        }
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw QLoRAError.format(path, "not the expected JSON (\(Self.describe(error)))")
        }
    }

    /// A one-line summary of a decoding error.
    static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func at(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : " at \(p)"
        }
        switch e {
        case .keyNotFound(let k, let c): return "missing key '\(k.stringValue)'\(at(c))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c): return "wrong type\(at(c))"
        case .dataCorrupted(let c): return "invalid JSON\(at(c))"
        @unknown default: return "invalid"
        }
    }
}
