import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `--compute-dtype int8` on the inference commands.
@Suite(.serialized) struct Int8ComputeCommandTests {
    static var smol: String { TestPaths.smolLM2GGUF }
    static var haveModel: Bool { FileManager.default.fileExists(atPath: smol) }
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }
    static let text = "/usr/share/common-licenses/Apache-2.0"

    static func loss(_ extra: [String], environment: [String: String] = [:]) throws -> (Double, String) {
        let r = try CLIRunner.run(["eval", "--model", smol, "--data", text, "--json"] + extra, environment: environment)
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return (try #require(obj["mean_loss"] as? Double), r.stderr)
    }

    /// int8 costs little perplexity against the NF4 Float32 path on the same weights, with and without
    /// the int8 output layer, and every variant gives the same loss (the kernels agree bit for bit).
    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func int8PerplexityIsCloseToFloat32() throws {
        let (f32, _) = try Self.loss([])
        let (int8, note) = try Self.loss(["--compute-dtype", "int8"])
        #expect(note.contains("int8 (") && note.contains("on 210 of 210 block linears and the output layer"), "\(note)")
        let (int8Linears, _) = try Self.loss(["--compute-dtype", "int8", "--int8-output", "off"])
        #expect(abs(int8 - f32) < 0.04, "int8 \(int8) vs f32 \(f32)")
        #expect(abs(int8Linears - f32) < 0.04, "int8 linears only \(int8Linears) vs f32 \(f32)")
        #expect(int8 != f32)  // the int8 path really ran
        let (one, _) = try Self.loss(["--compute-dtype", "int8", "--max-windows", "1"])
        let (scalar, _) = try Self.loss(["--compute-dtype", "int8", "--max-windows", "1"], environment: ["QLORA_ISA": "scalar"])
        // The int8 products are bit-identical on every variant (Int8KernelTests); QLORA_ISA also switches
        // every other kernel (exp, SwiGLU, OpenBLAS's core), whose rounding moves an activation across an
        // int8 step now and then: the losses agree to within 1%, not bit for bit.
        #expect(abs(scalar - one) <= 0.01 * one, "scalar \(scalar) vs \(one)")
        if Int8Variant.avx2.isSupported {
            let (avx2, _) = try Self.loss(["--compute-dtype", "int8", "--max-windows", "1"], environment: ["QLORA_ISA": "avx2"])
            #expect(abs(avx2 - one) <= 0.01 * one, "avx2 \(avx2) vs \(one)")
        }
    }

    @Test(.enabled(if: haveModel, "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func int8GenerationAnswers() throws {
        let r = try CLIRunner.run(["generate", "--model", Self.smol, "--compute-dtype", "int8", "--chat", "--prompt",
                                   "What is the capital of France?", "--max-tokens", "24"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Paris"), "\(r.stdout)")
    }

    static let refusals: [([String], [String: String], String)] = [
        (["--base", "f32", "--compute-dtype", "int8"], [:], "needs NF4 base weights"),
        (["--compute-dtype", "int8"], ["QLORA_ISA": "sse9"], "QLORA_ISA=sse9 is not a kernel path"),
        (["--compute-dtype", "int4"], [:], "compute-dtype"),
    ]

    @Test(arguments: 0..<refusals.count) func badChoicesAreRefusedInOneLine(_ i: Int) throws {
        let (args, env, fragment) = Self.refusals[i]
        for command in [["eval", "--data", Self.text, "--max-windows", "1"], ["generate", "--prompt", "hi"],
                        ["bench", "model", "--repeats", "1", "--prompt-tokens", "8", "--gen-tokens", "2"]] {
            let r = try CLIRunner.run(command + ["--model", Self.tiny] + args, environment: env)
            #expect(r.status != 0, "\(command) \(args)")
            #expect(r.stderr.contains(fragment), "\(command) \(args): \(r.stderr)")
            #expect(r.stdout.isEmpty)
        }
    }

    /// int8 is for inference: the training commands refuse it by name before loading anything.
    @Test func trainingCommandsRefuseInt8() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("int8-train-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        for command in [["train", "--data", Self.text, "-o", out, "--steps", "1"],
                        ["bench", "train-step", "--steps", "1"]] {
            let r = try CLIRunner.run(command + ["--model", Self.tiny, "--compute-dtype", "int8"])
            #expect(r.status != 0, "\(command)")
            #expect(r.stderr.contains("is for inference"), "\(command): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out + "/adapter_model.safetensors"))
        }
    }
}
