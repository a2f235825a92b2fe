import Foundation
import QLoRA

/// `qlora train` under `mpirun`: what every rank must agree on before training, where the ranks other
/// than 0 keep their scratch files, and the warning when a launcher confines the worker threads.
enum DataParallelLaunch {
    /// Everything that determines the math of a run, as text every rank builds the same way from the
    /// same command: the options, the adapter as initialized (method, targets, rank, seed), the data's
    /// tokens and the model's identity (sizes and the first and last MiB of its files). The path of
    /// the run directory and --threads are left out.
    static func identity(options: TrainOptions, lora: LoRAConfig, base: String, model: LoRALlama,
                         data: TrainingData, modelPath: String) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var text = String(decoding: try enc.encode(options), as: UTF8.self)
        text += "\n\(lora.r) \(lora.loraAlpha) \(lora.loraDropout) \(lora.useRSLoRA) \(lora.useDoRA) \(lora.targets) base \(base)"
        for p in model.adapter.parameters { text += "\n\(p.name) \(p.shape)" }
        text += "\nadapter \(DataParallel.weightHash(model.adapter.parameters))"
        text += "\ndata \(DataPosition.fingerprint(data.train)) \(DataPosition.fingerprint(data.eval)) \(data.train.count) \(data.eval.count)"
        text += "\nmodel " + modelIdentity(modelPath)
        return text
    }

    /// Sizes and SHA-256 of the first and last MiB of the model's files (a directory's, sorted by name).
    static func modelIdentity(_ path: String) -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return "missing" }
        let files = isDir.boolValue
            ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
            : [path]
        var parts: [String] = []
        for f in files {
            guard let h = FileHandle(forReadingAtPath: f) else { continue }
            defer { try? h.close() }
            let size = (try? h.seekToEnd()) ?? 0
            var sha = SHA256()
            try? h.seek(toOffset: 0)
            sha.update([UInt8](h.readData(ofLength: 1 << 20)))
            try? h.seek(toOffset: size > 1 << 20 ? size - (1 << 20) : 0)
            sha.update([UInt8](h.readData(ofLength: 1 << 20)))
            parts.append("\((f as NSString).lastPathComponent) \(size) \(sha.finalizeHex())")
        }
        return parts.joined(separator: "; ")
    }

    /// Where a rank other than 0 keeps what it must not write into the run directory (optimizer
    /// spill files, a received checkpoint).
    static func scratchDirectory(rank: Int) throws -> String {
        let dir = NSTemporaryDirectory() + "/qlora-rank\(rank)-\(getpid())"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw QLoRAError.io(dir, "cannot create the rank's scratch directory")
        }
        return dir
    }

    /// A one-line warning when this process may run on fewer CPUs than it starts worker threads
    /// (Open MPI binds each rank to one core when -np ≤ 2 unless given --bind-to none).
    static func confinementWarning(threads: Int, rank: Int?) -> String? {
        guard let cpus = CPUAffinity.cpuCount, cpus < threads else { return nil }
        return "warning: \(rank.map { "rank \($0): " } ?? "")--threads \(threads) but this process may only run on \(cpus) CPU\(cpus == 1 ? "" : "s") (its CPU affinity); "
            + "the threads will share \(cpus == 1 ? "it" : "them") (under mpirun pass --bind-to none)"
    }
}
