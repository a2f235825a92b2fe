import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// `qlora train --method prompt-tuning|prefix-tuning` on the tiny GGUF fixture: PEFT files, the loss
/// going down, `eval --data` giving the trainer's own eval loss, `generate --adapter`, resume, and
/// bad input.
@Suite(.serialized) struct PromptLearningCommandTests {
    static var tiny: String { TrainCommandTests.tiny }

    static func train(_ out: String, _ data: String, _ extra: [String]) throws -> CLIRunner.Result {
        try CLIRunner.run(["train", "--model", tiny, "--data", data, "-o", out, "--steps", "12", "--batch", "2",
                           "--seq", "16", "--seed", "3", "--threads", "2", "--json"] + extra)
    }

    static func json(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    static func losses(_ run: String) throws -> [Double] {
        try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["loss"] as? Double ?? .nan
        }
    }

    /// One long text record (JSONL, for the trainer) and the same tokens as plain text (for `eval
    /// --data`): the trainer's padded eval row is the model's BOS and the text's first tokens, so the
    /// text file spells the BOS token (`<|im_start|>` in the fixture) before the text; its first
    /// window of --context seq+1 is then that row.
    static func evalFiles(_ dir: TempDir) throws -> (jsonl: String, text: String) {
        var rng = SeededRNG(seed: 7)
        let words = ["hello", "world", "hello world", "world hello"]
        let text = (0..<40).map { _ in words[Int(rng.next() % 4)] }.joined(separator: " ")
        try "{\"text\": \"\(text)\"}\n".write(toFile: dir.path + "/eval.jsonl", atomically: true, encoding: .utf8)
        try ("<|im_start|>" + text).write(toFile: dir.path + "/eval.txt", atomically: true, encoding: .utf8)
        return (dir.path + "/eval.jsonl", dir.path + "/eval.txt")
    }

    /// (method flags, the saved tensor's shape): tiny = 2 layers, hidden 64, 2 KV heads of 16.
    static let runs: [([String], [Int])] = [
        (["--method", "prompt-tuning", "--virtual-tokens", "4", "--init", "vocab", "--lr", "3e-2"], [4, 64]),
        (["--method", "prefix-tuning", "--virtual-tokens", "4", "--init", "text:hello world", "--lr", "3e-2"], [4, 2 * 2 * 32]),
        (["--method", "prefix-tuning", "--virtual-tokens", "3", "--prefix-projection", "--encoder-hidden", "24",
          "--grad-ckpt", "on", "--lr", "3e-2"], [3, 2 * 2 * 32]),
    ]

    @Test(arguments: 0..<3)
    func trainsSavesPEFTFilesAndEvalAgrees(_ index: Int) throws {
        let (flags, shape) = Self.runs[index]
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir), eval = try Self.evalFiles(dir)
        let run = dir.path + "/run"
        let r = try Self.train(run, data, flags + ["--eval-data", eval.jsonl, "--layout", "padding", "--eval-every", "12"])
        #expect(r.status == 0, "\(r.stderr)")
        let config = try Self.json(run + "/adapter_config.json")
        #expect(config["peft_type"] as? String == (index == 0 ? "PROMPT_TUNING" : "PREFIX_TUNING"))
        #expect(config["num_virtual_tokens"] as? Int == shape[0])
        if index == 2 { #expect(config["prefix_projection"] as? Bool == true); #expect(config["encoder_hidden_size"] as? Int == 24) }
        let file = try SafetensorsFile(path: run + "/adapter_model.safetensors")
        #expect(file.names == ["prompt_embeddings"])
        #expect(try file.info("prompt_embeddings").shape == shape)
        let losses = try Self.losses(run)
        #expect(losses.count == 12)
        let early = losses.prefix(3).reduce(0, +), late = losses.suffix(3).reduce(0, +)
        #expect(late < early, "loss \(losses)")
        // The trainer's eval loss is what `eval --data` says for the saved adapter.
        let summary = try Self.json(run + "/summary.json")
        let trainerEval = try #require(summary["final_eval_loss"] as? Double)
        let e = try CLIRunner.run(["eval", "--model", Self.tiny, "--adapter", run, "--data", eval.text, "--context", "17",
                                   "--max-windows", "1", "--json", "--threads", "2"])
        #expect(e.status == 0, "\(e.stderr)")
        let evalOut = try #require(try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any])
        #expect(evalOut["predictions"] as? Int == 16)
        let evalLoss = try #require(evalOut["mean_loss"] as? Double)
        #expect(abs(evalLoss - trainerEval) < 1e-4, "eval --data \(evalLoss), trainer \(trainerEval)")
        let g = try CLIRunner.run(["generate", "--model", Self.tiny, "--adapter", run, "--prompt", "hello", "--max-tokens", "4"])
        #expect(g.status == 0, "\(g.stderr)")
    }

    @Test func resumeIsBitIdentical() throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        let flags = ["--method", "prefix-tuning", "--virtual-tokens", "3", "--prefix-projection", "--lr", "3e-2"]
        #expect(try Self.train(dir.path + "/whole", data, flags + ["--steps", "8"]).status == 0)
        #expect(try Self.train(dir.path + "/split", data, flags + ["--steps", "4"]).status == 0)
        let r = try CLIRunner.run(["train", "--model", Self.tiny, "--data", data, "--resume", dir.path + "/split", "--steps", "8",
                                   "--batch", "2", "--seq", "16", "--seed", "3", "--threads", "2"] + flags)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try TrainCommandTests.adapterBytes(dir.path + "/whole") == (try TrainCommandTests.adapterBytes(dir.path + "/split")))
    }

    static let badInputs: [([String], String)] = [
        (["--method", "prompt-tuning", "--virtual-tokens", "16"], "--virtual-tokens 16 must be fewer than --seq 16"),
        (["--method", "prefix-tuning", "--virtual-tokens", "10", "--seq", "250"], "--seq 250 + --virtual-tokens 10 exceeds the model's context of 256"),
        (["--method", "prompt-tuning", "--init", "text:"], "--init text: needs a text"),
        (["--method", "prompt-tuning", "--init", "words"], "--init must be random, vocab or text"),
        (["--method", "prefix-tuning", "--init", "vocab"], "--init vocab is for prompt tuning"),
        (["--method", "prefix-tuning", "--prefix-projection", "--init", "text:hi"], "needs prefix tuning without --prefix-projection"),
        (["--virtual-tokens", "4"], "--virtual-tokens is for --method prompt-tuning or prefix-tuning"),
        (["--method", "prompt-tuning", "--loraplus-ratio", "4"], "--loraplus-ratio is for --method lora"),
    ]

    @Test(arguments: 0..<badInputs.count) func badInputIsOneLine(_ i: Int) throws {
        let dir = TempDir()
        let data = try TrainCommandTests.data(dir)
        var args = ["train", "--model", Self.tiny, "--data", data, "-o", dir.path + "/run", "--steps", "2", "--seq", "16"]
        let extra = Self.badInputs[i].0
        if let at = extra.firstIndex(of: "--seq") { args[args.firstIndex(of: "--seq")! + 1] = extra[at + 1] }
        args += extra.enumerated().filter { $0.offset != extra.firstIndex(of: "--seq") && $0.offset != extra.firstIndex(of: "--seq").map { $0 + 1 } }.map(\.element)
        let r = try CLIRunner.run(args)
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning:") }
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.contains(Self.badInputs[i].1), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/run/adapter_model.safetensors"))
    }

    @Test func evalRefusesAnAdapterOfAnUnknownKind() throws {
        let dir = TempDir()
        try #"{"peft_type": "ADALORA"}"#.write(toFile: dir.path + "/adapter_config.json", atomically: true, encoding: .utf8)
        try Data().write(to: URL(fileURLWithPath: dir.path + "/adapter_model.safetensors"))
        let r = try CLIRunner.run(["generate", "--model", Self.tiny, "--adapter", dir.path, "--prompt", "hello"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("peft_type 'ADALORA' is not supported"), "\(r.stderr)")
    }
}
