import Foundation

/// Reads a metadata file (a JSON config, a shard index) whole, but only a regular file of at most
/// `limit` bytes: a path to /dev/zero or a multi-gigabyte "config" is a one-line error, not an
/// unbounded read.
public enum MetadataFile {
    /// Limits for the files read this way; real ones are a few KB (configs) to a few MB (indexes).
    public static let configLimit = 16 << 20
    public static let indexLimit = 100 << 20
    /// tokenizer.json and tokenizer.model: the largest real ones are tens of MB (Gemma's 33 MB).
    public static let tokenizerLimit = 128 << 20
    /// Chat templates (chat_template.jinja): real ones are a few KB.
    public static let templateLimit = 1 << 20

    /// The limit for a file a checkpoint or adapter directory holds, by name: tokenizer files,
    /// chat templates, or (any other JSON) a config's.
    public static func limit(forFileNamed name: String) -> Int {
        switch name {
        case "tokenizer.json", "tokenizer.model": return tokenizerLimit
        case "chat_template.jinja": return templateLimit
        case _ where name.hasSuffix(".index.json"): return indexLimit
        default: return configLimit
        }
    }

    /// `read` with the limit for the file's name.
    public static func read(_ path: String) throws -> Data? {
        try read(path, limit: limit(forFileNamed: URL(fileURLWithPath: path).lastPathComponent))
    }

    /// The file's bytes; nil when there is no file at `path` (callers say what is missing).
    public static func read(_ path: String, limit: Int) throws -> Data? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        // attributesOfItem describes a link itself; the file read is its target.
        let resolved = (attributes[.type] as? FileAttributeType) == .typeSymbolicLink
            ? (try? FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path))
            : attributes
        guard let target = resolved else { return nil }
        guard (target[.type] as? FileAttributeType) == .typeRegular else {
            throw QLoRAError.format(path, "not a regular file")
        }
        let size = (target[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limit else {
            throw QLoRAError.format(path, "is \(size) bytes; a file of this kind is read only up to \(limit) bytes")
        }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw QLoRAError.io(path, "cannot read")
        }
    }
}
