import Foundation
import QLoRACore
#if canImport(Glibc)
import Glibc
#endif

/// A run's TensorBoard event file (`DIR/events.out.tfevents.<unix time>.<host>`): one event per
/// step with `train/loss`, `train/learning_rate`, `train/grad_norm`, `train/tokens_per_second`,
/// `train/rss_bytes` and, where measured, `eval/loss`. Every event goes to the file as it is
/// written (no buffering), so TensorBoard follows the run.
///
/// Resuming at step S continues the newest file in DIR: records of steps after S (and a record torn
/// by a kill) are cut off first, as metrics.jsonl is, so no step is in the file twice.
public final class TensorBoardWriter {
    public let path: String
    private let fd: Int32
    /// The first write error; later writes are skipped (training goes on without the event file).
    public private(set) var failure: String?

    /// A new file in `directory`, or with `resumingAt`, the newest one there cut back to that step.
    /// A resumed run without a file gets a new one holding `history` (the steps already done).
    public init(directory: String, resumingAt resumeStep: Int? = nil, history: [StepMetrics] = []) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let resumeStep, let existing = Self.eventFiles(in: directory).last {
            path = existing
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: existing)))
            let keep = Self.prefixLength(bytes, throughStep: resumeStep)
            fd = open(existing, O_WRONLY | O_APPEND)
            guard fd >= 0, ftruncate(fd, off_t(keep)) == 0 else {
                throw QLoRAError.io(existing, "cannot continue the event file: \(String(cString: strerror(errno)))")
            }
            if keep == 0 {  // nothing readable was left: start it again, with the steps done
                try append(.header(wallTime: Date().timeIntervalSince1970))
                for m in history { try append(Self.event(m)) }
            }
            return
        }
        path = directory + "/" + Self.fileName(time: Date())
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0o644)
        guard fd >= 0 else { throw QLoRAError.io(path, "cannot create: \(String(cString: strerror(errno)))") }
        try append(.header(wallTime: Date().timeIntervalSince1970))
        if resumeStep != nil { for m in history { try append(Self.event(m)) } }
        if let failure { throw QLoRAError.io(path, failure) }
    }

    deinit { close(fd) }

    /// Appends the step's scalars (errors are kept in `failure`, not thrown: see there).
    public func write(_ m: StepMetrics) { try? append(Self.event(m)) }

    /// Appends `values` at `step` (e.g. `eval/exact_match` after a run).
    public func write(step: Int, _ values: [(tag: String, value: TensorBoardEvent.Value)], wallTime: Double = Date().timeIntervalSince1970) {
        try? append(TensorBoardEvent(wallTime: wallTime, step: Int64(step), values: values))
    }

    public func append(_ event: TensorBoardEvent) throws {
        guard failure == nil else { return }
        let record = TFRecord.frame(event.encoded())
        let n = record.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
        if n != record.count {
            failure = n < 0 ? String(cString: strerror(errno)) : "short write"
            throw QLoRAError.io(path, failure!)
        }
    }

    /// The event of one training step.
    public static func event(_ m: StepMetrics, wallTime: Double? = nil) -> TensorBoardEvent {
        var values: [(tag: String, value: TensorBoardEvent.Value)] = [
            ("train/loss", .scalar(Float(m.loss))), ("train/learning_rate", .scalar(Float(m.lr))),
            ("train/grad_norm", .scalar(Float(m.gradNorm))), ("train/tokens_per_second", .scalar(Float(m.tokensPerSecond))),
            ("train/rss_bytes", .scalar(Float(m.rssBytes))),
        ]
        if let e = m.evalLoss { values.append(("eval/loss", .scalar(Float(e)))) }
        return TensorBoardEvent(wallTime: wallTime ?? m.time ?? Date().timeIntervalSince1970, step: Int64(m.step), values: values)
    }

    // MARK: Files

    /// `events.out.tfevents.<unix seconds>.<host>`, TensorBoard's naming (it reads files in name order).
    static func fileName(time: Date) -> String {
        var host = [CChar](repeating: 0, count: 256)
        let name = gethostname(&host, host.count) == 0 ? String(cString: host) : "localhost"
        return "events.out.tfevents.\(Int(time.timeIntervalSince1970)).\(name)"
    }

    /// The event files directly in `directory`, oldest first.
    public static func eventFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("events.out.tfevents.") }.sorted().map { directory + "/" + $0 }
    }

    /// Reads an event file through its framing and checksums (a torn last record is left out).
    public static func read(_ path: String) throws -> [TensorBoardEvent] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return try TFRecord.read(bytes).records.map { try TensorBoardEvent(decoding: $0.data) }
    }

    /// Bytes of `bytes` holding the events of steps ≤ `step`: up to the first record of a later
    /// step, a torn or damaged record, or the end.
    static func prefixLength(_ bytes: [UInt8], throughStep step: Int) -> Int {
        var keep = 0
        while keep < bytes.count, let record = try? TFRecord.next(bytes, at: keep),
              let event = try? TensorBoardEvent(decoding: record.data), event.step <= Int64(step) {
            keep = record.end
        }
        return keep
    }
}
