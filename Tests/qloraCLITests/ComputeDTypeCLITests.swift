import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `--compute-dtype` on the commands: bf16 trains to a loss close to (but not equal to) f32's,
/// `auto` says what it chose, memplan plans the bf16 workspace, bad values are refused in one line.
@Suite(.serialized) struct ComputeDTypeCLITests {
    static func finalLoss(_ r: CLIRunner.Result) throws -> Double {
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        return try #require(obj?["final_train_loss"] as? Double, "\(r.stdout)")
    }

    @Test func bf16TrainsCloseToF32() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let f = try TrainCommandTests.train(dir.path + "/f32", data)
        let b = try TrainCommandTests.train(dir.path + "/bf16", data, ["--compute-dtype", "bf16"])
        #expect(f.status == 0, "\(f.stderr)")
        #expect(b.status == 0, "\(b.stderr)")
        let lf = try Self.finalLoss(f), lb = try Self.finalLoss(b)
        #expect(lf != lb, "bf16 must change the arithmetic")
        #expect(abs(lf - lb) <= 0.05 * abs(lf), "f32 \(lf) vs bf16 \(lb)")
    }

    @Test func autoSaysWhatItChose() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let r = try TrainCommandTests.train(dir.path + "/auto", data, ["--compute-dtype", "auto", "--steps", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("compute dtype: "), "\(r.stderr)")
        #expect(r.stderr.contains("auto: "), "\(r.stderr)")
    }

    @Test func badValueIsRefusedInOneLine() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let r = try TrainCommandTests.train(dir.path + "/bad", data, ["--compute-dtype", "fp8"])
        #expect(r.status != 0)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/bad"))
    }

    @Test func memplanPlansTheBF16Workspace() throws {
        let f = try CLIRunner.run(["memplan", "--model", TrainCommandTests.tiny, "--device", "cpu", "--rank", "4", "--json"])
        let b = try CLIRunner.run(["memplan", "--model", TrainCommandTests.tiny, "--device", "cpu", "--rank", "4", "--compute-dtype", "bf16", "--json"])
        #expect(f.status == 0, "\(f.stderr)")
        #expect(b.status == 0, "\(b.stderr)")
        #expect(b.stdout.contains("\"compute_dtype\":\"bf16\"") || b.stdout.contains("\"compute_dtype\" : \"bf16\""), "\(b.stdout.prefix(400))")
        #expect(f.stdout != b.stdout)
    }
}
