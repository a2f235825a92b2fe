import Foundation
import QLoRACore

/// Bounds on what a data file may hold, so a wrong file fails fast instead of filling memory.
public struct DataLimits: Sendable, Equatable {
    /// Longest line, in bytes.
    public var maxLineBytes: Int
    /// Most records in one file.
    public var maxRecords: Int

    public init(maxLineBytes: Int = 1 << 20, maxRecords: Int = 1_000_000) {
        self.maxLineBytes = maxLineBytes
        self.maxRecords = maxRecords
    }

    public static let `default` = DataLimits()
}

/// A line that was skipped, and why.
public struct BadLine: Sendable, Equatable {
    public var line: Int
    public var reason: String
}

/// The records of one JSONL file.
public struct DataFile: Sendable {
    public var path: String
    /// The form every record has (`.auto` resolved).
    public var format: DataFormat
    public var records: [LineRecord]
    /// Lines skipped in skip-bad-lines mode (empty otherwise: the first bad line throws).
    public var badLines: [BadLine]
}

/// Reads JSONL data files: one JSON object per line, blank lines ignored.
public enum JSONLReader {
    /// Reads every record of `path` in `format`. A malformed line throws
    /// `path: line N: reason`, unless `skipBadLines`, which records it in `badLines` and goes on.
    /// Too many records, or a file with no valid record, always throws.
    public static func read(_ path: String, format: DataFormat = .auto, limits: DataLimits = .default,
                            skipBadLines: Bool = false) throws -> DataFile {
        try read(file: MappedFile(path: path), format: format, limits: limits, skipBadLines: skipBadLines)
    }

    /// Reads the JSONL held in `file` (a map, or bytes in memory); errors name `file.path`.
    public static func read(file: MappedFile, format: DataFormat = .auto, limits: DataLimits = .default,
                            skipBadLines: Bool = false) throws -> DataFile {
        let path = file.path
        var resolved = format
        var records: [LineRecord] = []
        var badLines: [BadLine] = []
        try forEachLine(file) { number, bytes in
            do {
                guard bytes.count <= limits.maxLineBytes else {
                    throw RecordError("longer than \(limits.maxLineBytes) bytes (the line-length limit)")
                }
                guard !bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { return }
                let object: JSONValue
                do { object = try JSONValue.parse(bytes) } catch {
                    throw RecordError("not a JSON object (not valid JSON: \(error))")
                }
                guard let members = object.members else { throw RecordError("not a JSON object (\(object.typeName))") }
                if resolved == .auto {
                    guard let detected = DataFormat.detect(keys: Set(members.map(\.0))) else {
                        throw RecordError("no \"text\", \"instruction\" or \"messages\" field to tell the form by")
                    }
                    resolved = detected
                }
                let record = try DataRecord.parse(object, as: resolved)
                guard records.count < limits.maxRecords else {
                    throw QLoRAError.format(path, "more than \(limits.maxRecords) records (the record-count limit)")
                }
                records.append(LineRecord(record, line: number))
            } catch let error as RecordError {
                let problem = "line \(number): \(error.reason)" + (format == .auto && resolved != .auto
                    ? " (records are \(resolved.name), from the first record)" : "")
                guard skipBadLines else { throw QLoRAError.format(path, problem) }
                badLines.append(BadLine(line: number, reason: error.reason))
            }
        }
        guard !records.isEmpty else {
            throw QLoRAError.format(path, badLines.isEmpty ? "no records" : "no valid records (\(badLines.count) bad lines skipped)")
        }
        return DataFile(path: path, format: resolved, records: records, badLines: badLines)
    }

    /// Calls `body` with each line's number (from 1) and bytes, without the line break
    /// (`\n` or `\r\n`) and, on line 1, without a UTF-8 byte-order mark.
    static func forEachLine(_ file: MappedFile, _ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        let all = file.bytes(at: 0, count: file.count)
        var start = 0, number = 1
        if all.count >= 3, all[0] == 0xEF, all[1] == 0xBB, all[2] == 0xBF { start = 3 }
        while start < all.count {
            var end = start
            if let found = memchr(all.baseAddress! + start, 0x0A, all.count - start) {
                end = UnsafeRawPointer(found) - all.baseAddress!
            } else {
                end = all.count
            }
            var stop = end
            if stop > start, all[stop - 1] == 0x0D { stop -= 1 }
            try body(number, UnsafeRawBufferPointer(rebasing: all[start..<stop]))
            start = end + 1
            number += 1
        }
    }
}
