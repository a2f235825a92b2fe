import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `QLORA_ISA` as a user sets it: a bad or missing path is refused at start-up in one line, and the
/// benchmarks report the path they ran.
@Suite struct KernelPathCommandTests {
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }

    @Test func unknownPathIsRefusedBeforeAnyCommandRuns() throws {
        let r = try CLIRunner.run(["tokenize", "--help"], environment: ["QLORA_ISA": "avx1024"])
        #expect(r.status != 0)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("QLORA_ISA=avx1024"))
    }

    @Test func pathTheCPULacksIsRefused() throws {
        for isa in [KernelISA.avx2, .avx512] where !isa.isAvailable {
            let r = try CLIRunner.run(["bench", "model", "--model", Self.tiny], environment: ["QLORA_ISA": isa.rawValue])
            #expect(r.status != 0)
            #expect(r.stderr.contains("this CPU has no \(isa.rawValue)"), "\(r.stderr)")
        }
    }

    @Test func benchModelReportsTheForcedPathAndItsPeaks() throws {
        for isa in KernelISA.allCases where isa.isAvailable {
            let r = try CLIRunner.run(["bench", "model", "--model", Self.tiny, "--prompt-tokens", "16", "--gen-tokens", "4",
                                       "--repeats", "1", "--threads", "1", "--json"],
                                      environment: ["QLORA_ISA": isa.userName])
            #expect(r.status == 0, "\(r.stderr)")
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(obj["isa"] as? String == isa.userName)
            #expect((obj["peak_gflops"] as? Double ?? 0) > 0)
            #expect((obj["read_gbps"] as? Double ?? 0) > 0)
        }
    }
}
