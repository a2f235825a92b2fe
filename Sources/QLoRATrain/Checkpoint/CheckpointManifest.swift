import Foundation
import QLoRACore

/// `manifest.json`, the last file written into a checkpoint: the size and SHA-256 of every other
/// file. A checkpoint without it is incomplete; a file that differs from it is torn or edited.
struct CheckpointManifest: Codable, Equatable {
    static let fileName = "manifest.json"
    static let format = "qlora-checkpoint"
    static let version = 1

    struct Entry: Codable, Equatable {
        var name: String
        var bytes: Int
        var sha256: String
    }

    var format: String
    var version: Int
    var files: [Entry]

    /// Hashes every regular file in `dir` (except the manifest itself), sorted by name.
    static func build(_ dir: String) throws -> CheckpointManifest {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted().filter { $0 != fileName }
        let entries = try names.map { name -> Entry in
            let (bytes, digest) = try sha256(of: dir + "/" + name)
            return Entry(name: name, bytes: bytes, sha256: digest)
        }
        return CheckpointManifest(format: format, version: version, files: entries)
    }

    /// Writes the manifest into `dir` (fsync'ed).
    func write(into dir: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let file = try OutputFile(path: dir + "/" + Self.fileName)
        try file.write(Array(try encoder.encode(self)) + [0x0A])
        try file.finish()
    }

    /// Reads the manifest of `dir` and checks every file it lists against its size and digest.
    static func verify(_ dir: String) throws -> CheckpointManifest {
        let path = dir + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else {
            throw QLoRAError.format(dir, "not a complete checkpoint (no \(fileName))")
        }
        let manifest: CheckpointManifest
        do {
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw QLoRAError.format(path, "not a valid checkpoint manifest")
        }
        guard manifest.format == format, manifest.version == version else {
            throw QLoRAError.unsupported(path, "checkpoint format '\(manifest.format)' version \(manifest.version); this build reads '\(format)' version \(version)")
        }
        for entry in manifest.files {
            guard !entry.name.contains("/"), entry.name != "..", entry.name != "." else {
                throw QLoRAError.format(path, "file name '\(entry.name)' escapes the checkpoint directory")
            }
            let file = dir + "/" + entry.name
            guard FileManager.default.fileExists(atPath: file) else {
                throw QLoRAError.format(file, "missing (listed in the checkpoint manifest)")
            }
            // Only regular files: a symlink could point anywhere outside the checkpoint.
            let type = (try? FileManager.default.attributesOfItem(atPath: file)[.type]) as? FileAttributeType
            guard type == .typeRegular else {
                throw QLoRAError.format(file, "not a regular file (a checkpoint holds no links or directories)")
            }
            let (bytes, digest) = try sha256(of: file)
            guard bytes == entry.bytes else {
                throw QLoRAError.format(file, "\(bytes) bytes, the checkpoint manifest says \(entry.bytes) (truncated or replaced)")
            }
            guard digest == entry.sha256 else {
                throw QLoRAError.format(file, "checksum mismatch: the file changed after the checkpoint was written")
            }
        }
        return manifest
    }

    /// Size and SHA-256 of a file, read through a map whose pages are dropped as they are hashed.
    static func sha256(of path: String) throws -> (Int, String) {
        let map = try MappedFile(path: path)
        var hasher = SHA256()
        let chunk = 8 << 20
        var offset = 0
        while offset < map.count {
            let n = min(chunk, map.count - offset)
            hasher.update(map.bytes(at: offset, count: n))
            map.dropPages(at: offset, count: n)
            offset += n
        }
        return (map.count, hasher.finalizeHex())
    }
}
