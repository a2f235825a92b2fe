import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora memplan --device cpu --ranks N`: one rank's memory under data parallelism.
@Suite struct MemplanRanksTests {
    static func plan(_ extra: [String]) throws -> [String: Any] {
        let r = try CLIRunner.run(["memplan", "--model", "135m", "--device", "cpu", "--rank", "16", "--seq", "256", "--json"] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    /// The bytes of the named buffers in a JSON plan.
    static func bytes(_ plan: [String: Any], _ name: String) -> Int? {
        ((plan["buffers"] as? [[String: Any]]) ?? []).first { $0["name"] as? String == name }?["bytes"] as? Int
    }

    @Test func eachRankAddsTheGradientGatherBuffers() throws {
        let one = try Self.plan([]), four = try Self.plan(["--ranks", "4"])
        let grad = try #require(Self.bytes(one, "grad.trainable"))
        #expect(Self.bytes(one, "dp.grad_gathered") == nil)
        #expect(Self.bytes(four, "dp.grad_send") == grad)
        #expect(Self.bytes(four, "dp.grad_gathered") == 4 * grad)
        let text = try CLIRunner.run(["memplan", "--model", "135m", "--device", "cpu", "--ranks", "4"])
        #expect(text.stdout.contains("per rank of 4"), "\(text.stdout)")
    }

    @Test func ranksAreForCPUPlans() throws {
        let r = try CLIRunner.run(["memplan", "--model", "135m", "--ranks", "2"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--ranks"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }
}
