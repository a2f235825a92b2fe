import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// A memory cgroup (v1 `memory` controller or v2 `memory.max`) made for one test under this
/// process's own cgroup, with a hard limit; removed at deinit. nil where cgroups cannot be made
/// (not root, a read-only /sys/fs/cgroup, no memory controller).
final class MemoryCgroup {
    let dir: String
    let limitFile: String
    let peakFile: String?

    init?(limit: Int) {
        let name = "qlora-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let cgroups = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        var candidates: [(String, String, String?)] = []
        for line in cgroups.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            if parts[1].split(separator: ",").contains("memory") {
                candidates.append(("/sys/fs/cgroup/memory" + parts[2], "memory.limit_in_bytes", "memory.max_usage_in_bytes"))
            } else if parts[0] == "0" && parts[1].isEmpty {
                for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                    candidates.append((root + parts[2], "memory.max", "memory.peak"))
                }
            }
        }
        for (parent, limitName, peakName) in candidates {
            let d = (parent.hasSuffix("/") ? parent : parent + "/") + name
            guard mkdir(d, 0o755) == 0 else { continue }
            if (try? "\(limit)".write(toFile: d + "/" + limitName, atomically: false, encoding: .utf8)) != nil,
               let v = try? String(contentsOfFile: d + "/" + limitName, encoding: .utf8),
               let set = Int(v.trimmingCharacters(in: .whitespacesAndNewlines)), set <= limit {
                dir = d
                limitFile = d + "/" + limitName
                peakFile = peakName.map { d + "/" + $0 }.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
                // No swap either, where the controller has that knob (v1 memsw, v2 swap.max).
                try? "\(limit)".write(toFile: d + "/memory.memsw.limit_in_bytes", atomically: false, encoding: .utf8)
                try? "0".write(toFile: d + "/memory.swap.max", atomically: false, encoding: .utf8)
                return
            }
            rmdir(d)
        }
        return nil
    }

    deinit { rmdir(dir) }

    var peakBytes: Int? {
        peakFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Runs the qlora CLI inside the cgroup (the shell joins it, then execs the binary).
    func run(_ args: [String]) throws -> (status: Int32, stderr: String) {
        let r = try BoundedProcess.run("/bin/sh", ["-c", "echo $$ > \"\(dir)/cgroup.procs\" && exec \"$@\"", "sh", CLIRunner.binary] + args,
                                       timeout: CLIRunner.defaultTimeout)
        return (r.status, r.stderr)
    }
}

/// `qlora quantize` streams (issue 16, item 1): a made-up bf16 checkpoint of ~300 MB quantizes under
/// a memory cgroup limit well below its size, to the same bytes as an unlimited run, and its own
/// (anonymous) memory stays near a few of its largest tensors, not the model.
@Suite(.serialized) struct QuantizeMemoryLimitTests {
    /// 8 layers of 1024 × 3584, vocab 32000, untied: ~310 MB of bf16 (the largest linear, 3.7 M
    /// parameters, is 15 MB as Float32).
    static let config = TinyCheckpoint.config(layers: 8, hidden: 1024, intermediate: 3584, heads: 8, kvHeads: 8,
                                              vocab: 32000, tied: false)
    static let limit = 160 << 20

    @Test func quantizesUnderAMemoryLimitSmallerThanTheSourceToTheSameBytes() throws {
        let dir = TempDir()
        let source = try SyntheticCheckpoint.write(to: dir.path + "/in", config: Self.config)
        #expect(source > 2 * Self.limit, "the source (\(source) B) must be larger than the limit")
        let free = try CLIRunner.run(["quantize", dir.path + "/in", "-o", dir.path + "/free", "--threads", "2", "--json"])
        try #require(free.status == 0, "\(free.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(free.stdout.utf8)) as? [String: Any])
        let anonymous = try #require(report["peak_anonymous_bytes"] as? Int)
        // Bounded by the tensors in flight (2 × ~15 MB Float32, their dequantized copies and outputs),
        // the runtime and the 64 MB embedding/lm_head copies; the whole output is ~150 MB.
        #expect(anonymous < 120 << 20, "anonymous peak \(anonymous) B")

        guard let cgroup = MemoryCgroup(limit: Self.limit) else {
            print("QuantizeMemoryLimitTests: skipped the memory-limited run: cannot create a memory cgroup here")
            return
        }
        let limited = try cgroup.run(["quantize", dir.path + "/in", "-o", dir.path + "/limited", "--threads", "2"])
        #expect(limited.status == 0, "under a \(Self.limit >> 20) MiB limit: status \(limited.status) \(limited.stderr)")
        if let peak = cgroup.peakBytes { #expect(peak <= Self.limit) }
        for file in ["model.safetensors", "config.json"] {
            let a = FileManager.default.contents(atPath: dir.path + "/free/" + file)
            let b = FileManager.default.contents(atPath: dir.path + "/limited/" + file)
            #expect(a != nil && a == b, "\(file) differs between the limited and the unlimited run")
        }
    }

    /// Like train's check (issue 16, item 5): the plan against the memory available, before anything
    /// is written; --force overrides.
    @Test func refusesWithThePlansNumbersWhenMemoryIsShortUnlessForced() throws {
        let dir = TempDir()
        let tiny = TrainCommandTests.tiny
        let short = try CLIRunner.run(["quantize", tiny, "-o", dir.path + "/out", "--threads", "2"],
                                      environment: [AvailableMemory.variable: "1MB"])
        #expect(short.status != 0)
        #expect(short.stderr.split(separator: "\n").count == 1, "\(short.stderr)")
        let plan = try CheckpointQuantizer.plannedBytes(source: try GGUFCheckpoint(path: tiny), options: {
            var o = CheckpointQuantizer.Options(); o.threads = 2; return o }())
        #expect(short.stderr.contains("quantize plans \(ByteCount.format(plan.total)) of its own memory (2 tensors at a time"),
                "\(short.stderr)")
        #expect(short.stderr.contains("but \(ByteCount.format(1 << 20)) is available (QLORA_AVAILABLE_MEMORY); lower --threads"),
                "\(short.stderr)")
        #expect(dir.listing() == [], "nothing may be written before the check")
        let forced = try CLIRunner.run(["quantize", tiny, "-o", dir.path + "/out", "--force"],
                                       environment: [AvailableMemory.variable: "1MB"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stderr.contains("--force given, quantizing anyway"), "\(forced.stderr)")
    }
}
