import Foundation
import QLoRACore
import QLoRAKernels

/// The checkpoints of one run: `ROOT/checkpoint-<step>` directories (the transformers Trainer's
/// naming), the newest `keepLast` of them kept.
///
/// Saving builds the new directory under a hidden temporary name and renames it into place, and
/// only then removes old ones, so at every moment the newest complete checkpoint is loadable. A
/// write killed half-way leaves only a hidden temporary directory, which `latest` ignores and the
/// next save removes.
public struct CheckpointStore: Sendable {
    public let root: String
    public let keepLast: Int
    static let prefix = "checkpoint-"

    public init(root: String, keepLast: Int = 2) throws {
        guard keepLast >= 1 else { throw QLoRAError.invalid("checkpoints to keep must be ≥ 1, got \(keepLast)") }
        self.root = root
        self.keepLast = keepLast
    }

    /// The directory of the checkpoint at `step`.
    public func path(step: Int) -> String { root + "/" + Self.prefix + String(step) }

    /// Complete checkpoints (those with a manifest), oldest first.
    public func checkpoints() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix(Self.prefix), let step = Int(name.dropFirst(Self.prefix.count)), step >= 0 else { return nil }
            let dir = root + "/" + name
            guard FileManager.default.fileExists(atPath: dir + "/" + CheckpointManifest.fileName) else { return nil }
            return (step, dir)
        }.sorted { $0.0 < $1.0 }
    }

    /// The newest complete checkpoint's directory, if any.
    public func latest() -> String? { checkpoints().last?.path }

    /// The newest checkpoint whose files match its manifest, and why each newer one was passed
    /// over (a file torn, truncated or edited after it was written). Throws when there are
    /// checkpoints but none verifies, naming the newest one's fault.
    public func latestValid() throws -> (path: String, skipped: [(path: String, reason: String)])? {
        var skipped: [(path: String, reason: String)] = []
        for candidate in checkpoints().reversed() {
            do {
                _ = try CheckpointManifest.verify(candidate.path)
                return (candidate.path, skipped)
            } catch {
                skipped.append((candidate.path, "\(error)"))
            }
        }
        if let newest = skipped.first {
            throw QLoRAError(.format, "no checkpoint in \(root) verifies; the newest: \(newest.reason)")
        }
        return nil
    }

    /// Writes the checkpoint for `step` (see `Checkpoint.write`), then removes all but the newest
    /// `keepLast`; returns its directory.
    @discardableResult
    public func save<Position: Encodable>(
        optimizer: Optimizer, step: Int, schedulerStep: Int, rngs: [String: SeededRNG], dataPosition: Position,
        computeDType: String? = nil, kernelPath: KernelPath? = nil, extraFiles: ((String) throws -> Void)? = nil
    ) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw QLoRAError.io(root, "cannot create the checkpoint directory")
        }
        removeAbandonedWrites()
        let dir = path(step: step)
        try Checkpoint.write(to: dir, optimizer: optimizer, step: step, schedulerStep: schedulerStep, rngs: rngs,
                             dataPosition: dataPosition, computeDType: computeDType, kernelPath: kernelPath,
                             extraFiles: extraFiles)
        // Renamed aside before deletion, so a kill never leaves a half-deleted checkpoint-N.
        for old in checkpoints().dropLast(keepLast) { try AtomicOutput.remove(old.path) }
        return dir
    }

    /// Removes temporary directories left by checkpoint writes that were killed.
    func removeAbandonedWrites() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for name in names where name.hasPrefix("." + Self.prefix) && name.contains(".tmp-") {
            AtomicOutput.removeTree(root + "/" + name)
        }
    }
}
