import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora memplan` as a user runs it.
@Suite struct MemplanCommandTests {
    static func run(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let r = try CLIRunner.run(["memplan"] + args)
        return (r.status, r.stdout, r.stderr)
    }

    @Test(arguments: [
        ["--model", "nope"], ["--model", "7b", "--seq", "-5"], ["--model", "7b", "--budget", "24"],
        ["--model", "7b", "--rank", "5000"], ["--model", "7b", "--batch", "-1"],
    ])
    func cliRefusesImpossibleInputWithOneLineAndNonZeroExit(_ args: [String]) throws {
        let result = try Self.run(args)
        #expect(result.status != 0)
        #expect(result.err.split(separator: "\n").count == 1, "\(result.err)")
        #expect(result.out.isEmpty)
    }

    @Test
    func cliSeventyBOnA3090() throws {
        let result = try Self.run(["--model", "70b", "--gpu", "rtx3090"])
        #expect(result.status == 0)
        #expect(result.out.contains("DOES NOT FIT"))
        #expect(result.out.contains("32.89 GiB"))
    }
}
