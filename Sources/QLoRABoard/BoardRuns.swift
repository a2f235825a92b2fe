import Foundation
import QLoRACore
import QLoRATrain

/// The run directories a board shows, and the only files it will read: regular files whose real
/// path (symlinks resolved) lies under one of them. Read-only; nothing here writes.
public struct BoardRuns: Sendable {
    public struct Run: Sendable {
        /// As named on the command line.
        public let path: String
        /// `realpath` of `path`, taken once at start.
        public let root: String
        /// Shown on the page: the directory's last component (made unique).
        public let name: String
    }

    public enum Refusal: Error, Equatable {
        /// Not there (or not a regular file): 404.
        case notFound
        /// Outside the run directory, `..` components, or a symlink out: 403.
        case forbidden
    }

    public let runs: [Run]

    /// Refuses (one line) a path that is not a directory.
    public init(_ paths: [String]) throws {
        var runs: [Run] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
                  let root = Self.realPath(path) else {
                throw QLoRAError.io(path, "not a run directory")
            }
            var name = URL(fileURLWithPath: root).lastPathComponent
            if runs.contains(where: { $0.name == name }) { name += "-\(runs.count)" }
            runs.append(Run(path: path, root: root, name: name))
        }
        self.runs = runs
    }

    /// The real path of `relative` (percent-encoded, `/`-separated) under run `index`.
    public func resolve(run index: Int, _ relative: String) throws(Refusal) -> String {
        guard runs.indices.contains(index) else { throw .notFound }
        guard let decoded = relative.removingPercentEncoding, !decoded.contains("\0") else { throw .forbidden }
        let parts = decoded.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { throw .forbidden }
        let root = runs[index].root
        guard let real = Self.realPath(root + "/" + decoded) else { throw .notFound }
        guard real.hasPrefix(root.hasSuffix("/") ? root : root + "/") else { throw .forbidden }
        var st = stat()
        guard stat(real, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw .notFound }
        return real
    }

    /// The bytes of a file under run `index` (at most `limit` bytes).
    public func read(run index: Int, _ relative: String, limit: Int = 256 << 20) throws(Refusal) -> Data {
        let path = try resolve(run: index, relative)
        guard let h = FileHandle(forReadingAtPath: path) else { throw .notFound }
        defer { try? h.close() }
        return (try? h.read(upToCount: limit)) ?? Data()
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    // MARK: The data endpoint

    /// What the page draws for one run.
    public struct Snapshot: Encodable {
        public var id: Int
        public var name: String
        public var path: String
        public var totalSteps: Int?
        public var memoryPlanBytes: Int?
        public var arguments: [String]?
        public var options: TrainOptions?
        public var metrics: [StepMetrics]
        public var summary: TrainSummary?
        /// When the snapshot was taken (Unix seconds), for the remaining time of a live run.
        public var now: Double

        enum CodingKeys: String, CodingKey {
            case id, name, path, totalSteps = "total_steps", memoryPlanBytes = "memory_plan_bytes", arguments, options
            case metrics, summary, now
        }
    }

    /// Every run as it is on disk now: metrics.jsonl (a line torn by a write in progress is left
    /// out), run.json and summary.json, read through `resolve`.
    public func snapshot() -> [Snapshot] {
        runs.indices.map { i in
            let info = (try? read(run: i, RunInfo.fileName)).flatMap { try? JSONDecoder().decode(RunInfo.self, from: $0) }
            let metrics = ((try? read(run: i, "metrics.jsonl")) ?? Data()).split(separator: UInt8(ascii: "\n")).compactMap {
                try? JSONDecoder().decode(StepMetrics.self, from: Data($0))
            }
            let summary = (try? read(run: i, "summary.json")).flatMap { try? JSONDecoder().decode(TrainSummary.self, from: $0) }
            return Snapshot(id: i, name: runs[i].name, path: runs[i].path, totalSteps: info?.options.steps,
                            memoryPlanBytes: info?.memoryPlanBytes, arguments: info?.arguments, options: info?.options,
                            metrics: metrics, summary: summary, now: Date().timeIntervalSince1970)
        }
    }

    public func snapshotJSON() throws -> Data {
        let enc = JSONEncoder()
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        enc.outputFormatting = [.withoutEscapingSlashes]
        return try enc.encode(snapshot())
    }
}
