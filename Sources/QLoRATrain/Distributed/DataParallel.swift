import Foundation
import QLoRACore

/// Data parallelism over the ranks of a `Communicator` (the trainer calls it at fixed points).
///
/// Rank r takes micro-batches r, r+N, r+2N, … of the global order one process would use, so N ranks
/// with accumulation A see the examples of one process with N·A. After the backward, every rank's
/// gradient buffer is gathered (MPI_Allgather) and summed **in rank order** on every rank, so the sum
/// does not depend on timing or on MPI's reduction algorithm: a run is bit-reproducible for a given N.
/// Every rank then clips and steps on the same numbers, so the adapters stay identical without a
/// broadcast (a weight hash is compared every `hashEvery` steps and a difference stops the run).
/// Only rank 0 writes files.
public final class DataParallel {
    public let comm: Communicator
    public var rank: Int { comm.rank }
    public var size: Int { comm.size }
    /// Rank 0 writes metrics, checkpoints, the adapter and the summary; the others write nothing.
    public var isWriter: Bool { comm.rank == 0 }
    /// Steps between comparisons of the adapters' hashes across ranks.
    public var hashEvery = 10
    /// Time in the gradient sum over the run, split into waiting for the slowest rank (a barrier
    /// first), the allgather itself, and the rank-order sum; bytes each rank receives per step.
    public private(set) var waitSeconds = 0.0
    public private(set) var transferSeconds = 0.0
    public private(set) var sumSeconds = 0.0
    public private(set) var gradientBytesPerStep = 0
    private var send: UnsafeMutablePointer<Float>?
    private var recv: UnsafeMutablePointer<Float>?
    private var flatCount = 0

    public init(_ comm: Communicator) { self.comm = comm }

    public static func single() -> DataParallel { DataParallel(.single()) }

    deinit {
        send?.deallocate()
        recv?.deallocate()
    }

    /// Whether micro-batch `index` of the step's global order (0 ..< N·A) is this rank's.
    public func owns(_ index: Int) -> Bool { index % size == rank }

    /// Refuses ranks started differently: every rank hashes what determines the math (options, data,
    /// model identity) and all compare with rank 0. Returns the one-line refusal, or nil when all agree.
    public func startupRefusal(identity: String) throws -> String? {
        var h = SHA256()
        h.update(Array(identity.utf8))
        let digest = h.finalize()
        let mine = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let all = try comm.allgather(mine, what: "the start-up check")
        let differing = all.indices.filter { all[$0] != all[0] }
        guard !differing.isEmpty else { return nil }
        return "rank\(differing.count > 1 ? "s" : "") \(differing.map(String.init).joined(separator: ", ")) of \(size) "
            + "\(differing.count > 1 ? "were" : "was") started with other options, data or model than rank 0; every rank must run the same command"
    }

    /// Σ over ranks of an integer (exact in any order).
    public func sum(_ v: Int, what: @autoclosure () -> String) throws -> Int {
        try comm.allgather(v, what: what()).reduce(0, +)
    }

    /// Σ over ranks of a Double, added in rank order.
    public func sum(_ v: Double, what: @autoclosure () -> String) throws -> Double {
        guard size > 1 else { return v }
        return try comm.allgather(v, what: what()).reduce(0, +)
    }

    /// Whether any rank's flag is set (e.g. Ctrl-C on one rank stops all at the same step).
    public func any(_ flag: Bool, what: @autoclosure () -> String) throws -> Bool {
        guard size > 1 else { return flag }
        return try comm.allgather(UInt8(flag ? 1 : 0), what: what()).contains(1)
    }

    /// Replaces every parameter's gradient by the sum over ranks g₀ + g₁ + … + g_{N−1}, added in that
    /// order for every element on every rank. The whole buffer is sent, zeros included.
    public func sumGradients(_ params: [Parameter], step: Int) throws {
        guard size > 1 else { return }
        let t0 = Date()
        let P = params.reduce(0) { $0 + $1.count }
        if P != flatCount {
            send?.deallocate()
            recv?.deallocate()
            send = .allocate(capacity: max(P, 1))
            recv = .allocate(capacity: max(P * size, 1))
            flatCount = P
        }
        guard let send, let recv else { return }
        var off = 0
        for p in params {
            (send + off).update(from: p.grad, count: p.count)
            off += p.count
        }
        let t1 = Date()
        try comm.barrier(what: "the gradient sum of step \(step)")
        let t2 = Date()
        try comm.allgather(send, count: P, into: recv, what: "the gradient sum of step \(step)")
        let t3 = Date()
        off = 0
        for p in params {
            let g = p.grad, n = p.count
            g.update(from: recv + off, count: n)
            for r in 1..<size {
                let src = recv + r * P + off
                for i in 0..<n { g[i] += src[i] }
            }
            off += n
        }
        gradientBytesPerStep = 4 * P * (size - 1)
        waitSeconds += t2.timeIntervalSince(t1)
        transferSeconds += t3.timeIntervalSince(t2)
        sumSeconds += Date().timeIntervalSince(t3) + t1.timeIntervalSince(t0)
    }

    /// Stops with an error if the ranks' adapters differ (they must stay identical step by step).
    public func checkSameWeights(_ params: [Parameter], step: Int) throws {
        guard size > 1 else { return }
        let all = try comm.allgather(Self.weightHash(params), what: "the weight check at step \(step)")
        let differing = all.indices.filter { all[$0] != all[0] }
        guard differing.isEmpty else {
            throw QLoRAError(.numeric, "step \(step): the adapter of rank \(differing.map(String.init).joined(separator: ", ")) drifted from rank 0's (weight hashes differ); stopping")
        }
    }

    /// A 64-bit hash of every parameter's value bits (FNV-style over 64-bit words; order-sensitive).
    public static func weightHash(_ params: [Parameter]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for p in params {
            let raw = UnsafeRawPointer(p.value)
            let words = p.count / 2
            let w = raw.bindMemory(to: UInt64.self, capacity: words)
            for i in 0..<words { h = (h ^ w[i]) &* 0x0000_0100_0000_01b3 }
            if p.count % 2 == 1 { h = (h ^ UInt64(p.value[p.count - 1].bitPattern)) &* 0x0000_0100_0000_01b3 }
            h = (h ^ UInt64(p.count)) &* 0x0000_0100_0000_01b3
        }
        return h
    }

    public private(set) var steps = 0
    public private(set) var stepSeconds = 0.0

    /// A step took `seconds` (collectives' deadlines follow the slowest step).
    public func recordStep(seconds: Double) {
        steps += 1
        stepSeconds += seconds
        comm.slowestStep = max(comm.slowestStep, seconds)
    }

    /// One line for rank 0's report: how the gradient sums went over the steps run.
    public func report() -> String {
        let s = Double(max(steps, 1)), total = max(stepSeconds, 1e-9)
        return String(format: "data parallel: %d ranks; gradient sum per step: %.1f MB received, %.1f ms allgather (%.1f%% of the step), "
                      + "%.1f ms packing and summing, %.1f ms waiting for the slowest rank; %.0f ms per step",
                      size, Double(gradientBytesPerStep) / 1e6, 1000 * transferSeconds / s, 100 * transferSeconds / total,
                      1000 * sumSeconds / s, 1000 * waitSeconds / s, 1000 * total / s)
    }

    // MARK: Resume

    /// Rank 0 picks its newest verified checkpoint (`pick`) and sends its files to the other ranks,
    /// which write them under `scratch` and get that copy's path (each rank then verifies it against
    /// its manifest when reading). nil when there is none; rank 0's error is every rank's error.
    public func shareCheckpoint(_ pick: () throws -> String?, scratch: String) throws -> String? {
        if size == 1 { return try pick() }
        var message: [UInt8]
        var picked: String?
        var failure: Error?
        if isWriter {
            do {
                picked = try pick()
                message = try picked.map { try Self.pack(directory: $0) } ?? [0]
            } catch {
                failure = error
                message = [2] + Array("\(error)".utf8)
            }
        } else {
            message = []
        }
        let received = try comm.broadcast(message, what: "sending the checkpoint to resume from")
        if let failure { throw failure }
        if isWriter { return picked }
        switch received.first {
        case 1: return try Self.unpack(received, into: scratch)
        case 2: throw QLoRAError(.io, "rank 0 cannot resume: " + String(decoding: received.dropFirst(), as: UTF8.self))
        default: return nil
        }
    }

    /// [1] + the directory's name, then for each regular file: name length (u32), name, size (u64), bytes.
    static func pack(directory: String) throws -> [UInt8] {
        var out: [UInt8] = [1]
        func u64(_ v: Int) { withUnsafeBytes(of: UInt64(v).littleEndian) { out += $0 } }
        func string(_ s: String) { u64(s.utf8.count); out += Array(s.utf8) }
        string((directory as NSString).lastPathComponent)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        u64(names.count)
        for name in names {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
            string(name)
            u64(data.count)
            out += data
        }
        return out
    }

    static func unpack(_ bytes: [UInt8], into scratch: String) throws -> String {
        var at = 1
        func u64() throws -> Int {
            guard at + 8 <= bytes.count else { throw QLoRAError(.format, "the checkpoint received from rank 0 is truncated") }
            var v: UInt64 = 0
            for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
            at += 8
            return Int(v)
        }
        func chunk() throws -> ArraySlice<UInt8> {
            let n = try u64()
            guard n >= 0, at + n <= bytes.count else { throw QLoRAError(.format, "the checkpoint received from rank 0 is truncated") }
            defer { at += n }
            return bytes[at..<(at + n)]
        }
        let name = String(decoding: try chunk(), as: UTF8.self)
        let dir = scratch + "/" + name
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for _ in 0..<(try u64()) {
            let file = String(decoding: try chunk(), as: UTF8.self)
            guard !file.contains("/") else { throw QLoRAError(.format, "the checkpoint received from rank 0 names a bad file") }
            try Data(try chunk()).write(to: URL(fileURLWithPath: dir + "/" + file))
        }
        return dir
    }
}
