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

    /// The checkpoint and summary.json record the compute type; resuming in another one is allowed (like a changed
    /// learning rate) but said, since the continuation is no longer bit-identical to an uninterrupted run.
    @Test func resumeInAnotherComputeTypeIsSaid() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let run = dir.path + "/run"
        let first = try TrainCommandTests.train(run, data, ["--steps", "2"])
        #expect(first.status == 0, "\(first.stderr)")
        let state = try String(contentsOfFile: run + "/checkpoints/checkpoint-2/trainer_state.json", encoding: .utf8)
        #expect(state.contains("\"compute_dtype\"") && state.contains("\"f32\""), "\(state)")
        let same = try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, "--resume", run, "--steps", "3",
                                      "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                      "--threads", "2", "--json"])
        #expect(same.status == 0, "\(same.stderr)")
        #expect(!same.stderr.contains("compute-dtype"), "\(same.stderr)")
        let other = try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, "--resume", run, "--steps", "4",
                                       "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                       "--threads", "2", "--json", "--compute-dtype", "bf16"])
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stderr.contains("warning: checkpoint step 3 was trained with --compute-dtype f32, this run computes in bf16"),
                "\(other.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as? [String: Any]
        #expect(summary?["compute_dtype"] as? String == "bf16")
    }

    /// The checkpoint and summary.json record the kernel path (ISA and bf16 variant); resuming on another one
    /// (another CPU, another QLORA_ISA) is said in one line, resuming on the same one is not.
    @Test func resumeOnAnotherKernelPathIsSaid() throws {
        guard KernelISA.avx2.isAvailable else {
            print("skipped: this CPU has no AVX2 (the test resumes a scalar-path run under QLORA_ISA=avx2)")
            return
        }
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let run = dir.path + "/run"
        func train(steps: Int, isa: String) throws -> CLIRunner.Result {
            try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, steps == 1 ? "-o" : "--resume", run,
                               "--steps", "\(steps)", "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8",
                               "--lr", "1e-2", "--seed", "3", "--threads", "2", "--json", "--compute-dtype", "bf16"],
                              environment: ["QLORA_ISA": isa])
        }
        let first = try train(steps: 1, isa: "scalar")
        #expect(first.status == 0, "\(first.stderr)")
        let state = try String(contentsOfFile: run + "/checkpoints/checkpoint-1/trainer_state.json", encoding: .utf8)
        #expect(state.contains("\"kernel_path\""), "\(state)")
        let summary1 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as? [String: Any]
        let path1 = summary1?["kernel_path"] as? [String: Any]
        #expect(path1?["isa"] as? String == "scalar" && path1?["bf16"] as? String == "reference", "\(String(describing: summary1))")
        // The scalar path keeps OpenBLAS on its SSE kernels (BLAS.chooseCoreType), and the run records the core it got.
        #expect(path1?["openblas_core"] as? String == "Prescott", "\(String(describing: summary1))")

        let other = try train(steps: 2, isa: "avx2")
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stderr.contains("warning: checkpoint step 1 ran on kernel path scalar (bf16 on Float32 scalar kernels, OpenBLAS Prescott), "
                                      + "this run on avx2 (bf16 on Float32 avx2 kernels, OpenBLAS Haswell): the continuation is not "
                                      + "bit-identical to an uninterrupted run (another CPU, QLORA_ISA or QLORA_BLAS_CORETYPE)"), "\(other.stderr)")
        #expect(!other.stderr.contains("compute-dtype"), "\(other.stderr)")
        let same = try train(steps: 3, isa: "avx2")
        #expect(same.status == 0, "\(same.stderr)")
        #expect(same.stderr.contains("resuming at step 2"), "\(same.stderr)")
        #expect(!same.stderr.contains("kernel path"), "\(same.stderr)")
        let summary3 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as? [String: Any]
        #expect((summary3?["kernel_path"] as? [String: Any])?["isa"] as? String == "avx2")
    }

    /// OpenBLAS's core is part of the path: the same QLORA_ISA with another QLORA_BLAS_CORETYPE changes the LoRA
    /// and attention products' kernels, and resuming so is said (naming the cores); the same core is not.
    @Test func resumeWithAnotherOpenBLASCoreIsSaid() throws {
        guard KernelISA.avx2.isAvailable else {
            print("skipped: this CPU has no AVX2 (the test runs OpenBLAS's Haswell kernels)")
            return
        }
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let run = dir.path + "/run"
        func train(steps: Int, core: String) throws -> CLIRunner.Result {
            try CLIRunner.run(["train", "--model", TrainCommandTests.tiny, "--data", data, steps == 1 ? "-o" : "--resume", run,
                               "--steps", "\(steps)", "--batch", "2", "--seq", "16", "--rank", "4", "--alpha", "8",
                               "--lr", "1e-2", "--seed", "3", "--threads", "2", "--json"],
                              environment: ["QLORA_ISA": "avx2", "QLORA_BLAS_CORETYPE": core])
        }
        let first = try train(steps: 1, core: "Haswell")
        #expect(first.status == 0, "\(first.stderr)")
        let state = try String(contentsOfFile: run + "/checkpoints/checkpoint-1/trainer_state.json", encoding: .utf8)
        #expect(state.contains("\"openblas_core\" : \"Haswell\"") || state.contains("\"openblas_core\":\"Haswell\""), "\(state)")
        let other = try train(steps: 2, core: "Prescott")
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stderr.contains("warning: checkpoint step 1 ran on kernel path avx2 (OpenBLAS Haswell), this run on avx2 "
                                      + "(OpenBLAS Prescott): the continuation is not bit-identical to an uninterrupted run "
                                      + "(another CPU or QLORA_BLAS_CORETYPE)"), "\(other.stderr)")
        let same = try train(steps: 3, core: "Prescott")
        #expect(same.status == 0, "\(same.stderr)")
        #expect(same.stderr.contains("resuming at step 2"), "\(same.stderr)")
        #expect(!same.stderr.contains("kernel path"), "\(same.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/summary.json"))) as? [String: Any]
        #expect((summary?["kernel_path"] as? [String: Any])?["openblas_core"] as? String == "Prescott", "\(String(describing: summary))")
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

    /// memplan --device cpu plans attention's per-thread scratch for --threads (as train's check does for its run).
    @Test func memplanFollowsTheThreadCount() throws {
        func rows(_ threads: Int) throws -> (request: [String: Any], pairs: [String: Any]) {
            let r = try CLIRunner.run(["memplan", "--model", TrainCommandTests.tiny, "--device", "cpu", "--rank", "4",
                                       "--compute-dtype", "bf16", "--threads", "\(threads)", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let buffers = try #require(obj["buffers"] as? [[String: Any]])
            return (try #require(obj["request"] as? [String: Any]),
                    try #require(buffers.first { $0["name"] as? String == "attention.bf16_pairs" }))
        }
        let one = try rows(1), three = try rows(3)
        #expect(one.request["threads"] as? Int == 1 && three.request["threads"] as? Int == 3)
        #expect((one.pairs["shape"] as? [Int])?.first == 1 && (three.pairs["shape"] as? [Int])?.first == 3)
        #expect(three.pairs["bytes"] as? Int == 3 * (one.pairs["bytes"] as? Int ?? -1))
        let gpu = try CLIRunner.run(["memplan", "--model", TrainCommandTests.tiny, "--threads", "2"])
        #expect(gpu.status != 0 && gpu.stderr.contains("--threads applies to --device cpu"), "\(gpu.stderr)")
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
