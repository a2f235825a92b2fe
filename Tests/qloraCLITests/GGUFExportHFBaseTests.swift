import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// GGUF export from a Hugging Face base: a Llama-3.1-style model (llama3 RoPE scaling, tied and
/// untied) merged with a LoRA adapter reloads from the GGUF file with the merged model's logits and
/// rotary frequencies; the tokenizer metadata built from `tokenizer.json` gives back the same ids
/// (and, for SmolLM2, the very metadata llama.cpp's converter wrote); what llama.cpp cannot be
/// given is refused with one line and no output.
@Suite(.serialized) struct GGUFExportHFBaseTests {
    static let tinyGGUF = TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf"

    /// Llama 3.1's scaling on the tiny shapes: head_dim 16 gives 8 frequencies, of which the
    /// original context 64 leaves the fastest unscaled, one smoothed and the rest divided by 8.
    static func llama31Config(tied: Bool) throws -> LlamaConfig {
        var c = TinyCheckpoint.config(vocab: 40, tied: tied)
        c.ropeTheta = 500_000
        c.ropeScaling = LlamaConfig.RopeScaling(ropeType: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4,
                                                originalMaxPositionEmbeddings: 64)
        c.bosTokenId = 1
        c.eosTokenIds = [2]
        try c.validate()
        return c
    }

    /// An HF checkpoint directory: random weights, and tokenizer files built from the tiny GGUF's
    /// tokenizer (a 40-token byte-level BPE).
    static func hfBase(_ dir: String, _ config: LlamaConfig) throws {
        try TinyCheckpoint.write(to: dir, config: config)
        for (name, bytes) in try GGUFTokenizerFiles(gguf: GGUFFile(path: tinyGGUF)).files {
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
    }

    static func trainAdapter(_ base: String, _ dir: TempDir) throws -> String {
        let data = try TrainCommandTests.data(dir)
        let out = dir.path + "/run"
        let t = try CLIRunner.run(["train", "--model", base, "--data", data, "-o", out, "--steps", "4", "--batch", "2",
                                   "--seq", "16", "--rank", "4", "--alpha", "8", "--lr", "1e-2", "--seed", "3",
                                   "--threads", "2"])
        #expect(t.status == 0, "\(t.stderr)")
        return out
    }

    static func logits(_ model: LlamaModel, T: Int) -> [Float] {
        let tokens = (0..<T).map { Int32(3 + ($0 * 7) % 37) }
        return model.logits(tokens: tokens, B: 1, T: T)
    }

    /// Export as `qlora merge --format gguf` does, with the pre-tokenizer named (the 40-token test
    /// vocabulary is in no llama.cpp table; the CLI refuses it, tested below).
    static func export(_ base: String, adapter: String, to out: String) throws {
        let weights = try LlamaWeights.load(from: HFCheckpoint(directory: base), linears: .qlora, embeddings: .bf16)
        let lora = try LoRAAdapterWeights.load(from: adapter, model: weights.config)
        let source = try MergedCheckpointSource(weights: weights, adapter: lora, path: base)
        let tokenizer = try Tokenizer(directory: base)
        let meta = try GGUFTokenizerMetadata(
            huggingFace: tokenizer, vocabularySize: weights.config.vocabSize,
            specialIDs: HFSpecialTokenIDs(directory: base, tokenizer: tokenizer, vocabularySize: weights.config.vocabSize),
            source: base, preTokenizer: "llama-bpe")
        try GGUFExport.write(source, name: "tiny", tokenizer: meta, to: out, type: .f16)
    }

    @Test(arguments: [true, false])
    func llama31StyleExportReloadsWithMatchingLogits(_ tied: Bool) throws {
        let dir = TempDir("qlora-gguf-hf")
        let base = dir.path + "/base"
        let config = try Self.llama31Config(tied: tied)
        try Self.hfBase(base, config)
        let run = try Self.trainAdapter(base, dir)
        let out = dir.path + "/merged.gguf"
        try Self.export(base, adapter: run, to: out)

        let gguf = try GGUFFile(path: out)
        #expect(gguf.metadata["general.architecture"] == .string("llama"))
        #expect(gguf.metadata["llama.rope.freq_base"] == .float32(500_000))
        #expect(gguf.metadata["llama.context_length"] == .uint32(256))
        #expect(gguf.metadata["llama.attention.head_count_kv"] == .uint32(2))
        #expect(gguf.metadata["llama.rope.dimension_count"] == .uint32(16))
        #expect(gguf.metadata["llama.rope.scaling.type"] == nil)  // llama3 is the tensor, not metadata
        #expect(gguf.hasTensor("output.weight") == !tied)
        let factors = try gguf.floats("rope_freqs.weight")
        #expect(factors.count == 8 && factors[0] == 1 && factors.last == 8 && factors.contains { $0 > 1 && $0 < 8 },
                "\(factors)")

        // The reader turns rope_freqs into the same rotary frequencies as the HF config.
        let back = try GGUFCheckpoint(path: out)
        let fromGGUF = RoPE.inverseFrequencies(back.config), fromHF = RoPE.inverseFrequencies(config)
        for (a, b) in zip(fromGGUF, fromHF) { #expect(abs(a - b) <= 1e-6 * b, "\(fromGGUF) vs \(fromHF)") }
        #expect(back.config.tieWordEmbeddings == tied)

        // Logits over 64 positions: the merged Float32 model vs the GGUF read back.
        let f32 = dir.path + "/f32"
        let m = try CLIRunner.run(["merge", "--model", base, "--adapter", run, "-o", f32])
        #expect(m.status == 0, "\(m.stderr)")
        let T = 64
        let reference = Self.logits(try LlamaModel(weights: LlamaWeights.load(
            from: HFCheckpoint(directory: f32), linears: .float32, embeddings: .f32), threads: 2), T: T)
        let backWeights = try LlamaWeights.load(from: back, linears: .float32, embeddings: .f32)
        let reloaded = Self.logits(try LlamaModel(weights: backWeights, threads: 2), T: T)
        let gap = zip(reference, reloaded).map { abs($0 - $1) }.max()!
        print("gguf from HF base (tied \(tied)): max |Δ logits| \(gap) over \(T) positions")
        #expect(gap <= 1e-2, "max |Δ logits| \(gap)")
        // The frequencies matter here: the GGUF weights rotated without the factors give other logits.
        var plainConfig = back.config
        plainConfig.ropeScaling = nil
        let unscaled = LlamaWeights(config: plainConfig, embed: backWeights.embed, lmHead: backWeights.lmHead,
                                    finalNorm: backWeights.finalNorm, layers: backWeights.layers)
        let plain = Self.logits(try LlamaModel(weights: unscaled, threads: 2), T: T)
        let without = zip(reference, plain).map { abs($0 - $1) }.max()!
        print("without rope_freqs: max |Δ logits| \(without)")
        #expect(without > 10 * gap, "unscaled \(without), scaled \(gap)")
    }

    /// Builds the metadata of `base`'s tokenizer (detected pre-tokenizer unless `pre` is given).
    static func metadata(_ base: String, vocab: Int, pre: String?) throws -> (Tokenizer, GGUFTokenizerMetadata) {
        let tokenizer = try Tokenizer(directory: base)
        let meta = try GGUFTokenizerMetadata(
            huggingFace: tokenizer, vocabularySize: vocab,
            specialIDs: HFSpecialTokenIDs(directory: base, tokenizer: tokenizer, vocabularySize: vocab),
            source: base, preTokenizer: pre)
        return (tokenizer, meta)
    }

    /// Writes `meta` into a tensorless GGUF file and reads our tokenizer back from it.
    static func roundTrip(_ meta: GGUFTokenizerMetadata, _ dir: TempDir) throws -> Tokenizer {
        var w = GGUFWriter()
        w.metadata = [("general.architecture", .string("llama"))] + meta.ggufMetadata
        let path = dir.path + "/tokenizer-only.gguf"
        try w.write(to: path) { _ in [] }
        return try Tokenizer(gguf: GGUFFile(path: path))
    }

    static let texts = ["hello world", "world hello hello", " hello  world\n", LlamaCppPreTokenizer.checkText]

    /// The tiny 40-token tokenizer: the metadata built from its tokenizer.json is the GGUF's it was
    /// made from, and our GGUF tokenizer encodes every text to the same ids as the HF one.
    @Test func tokenizerMetadataFromTokenizerJSONGivesTheSameIDs() throws {
        let dir = TempDir("qlora-gguf-tok")
        let base = dir.path + "/base"
        try Self.hfBase(base, try Self.llama31Config(tied: true))
        let (hf, meta) = try Self.metadata(base, vocab: 40, pre: "llama-bpe")
        let original = try GGUFTokenizerMetadata(gguf: GGUFFile(path: Self.tinyGGUF))
        #expect(meta.model == "gpt2" && meta.preTokenizer == "llama-bpe")
        #expect(meta.tokens == original.tokens)
        #expect(meta.merges == original.merges)
        // The fixture marks one vocabulary token unused (5); in tokenizer.json it is an ordinary
        // vocabulary entry, which the converter calls normal (1).
        let unused = GGUFTokenizerMetadata.TokenType.unused.rawValue, normal = GGUFTokenizerMetadata.TokenType.normal.rawValue
        #expect(meta.tokenTypes == original.tokenTypes?.map { $0 == unused ? normal : $0 })
        #expect(meta.tokenTypes?.contains(GGUFTokenizerMetadata.TokenType.control.rawValue) == true)
        #expect(meta.bosTokenID == original.bosTokenID && meta.eosTokenID == original.eosTokenID)
        #expect(meta.addBOSToken == (original.addBOSToken ?? false))
        let back = try Self.roundTrip(meta, dir)
        for text in Self.texts {
            let ids = hf.encode(text)
            #expect(!ids.isEmpty && back.encode(text) == ids, "\(text)")
        }
    }

    /// SmolLM2: from the tokenizer files our GGUF reader writes, the converter's rules give back
    /// the metadata llama.cpp's converter wrote into the GGUF (pre "smollm" found by its hash).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: TestPaths.smolLM2GGUF), "SmolLM2 not fetched (tools/fetch_model.sh)"))
    func smolLM2TokenizerMetadataMatchesTheConverters() throws {
        let dir = TempDir("qlora-gguf-smol")
        let gguf = try GGUFFile(path: TestPaths.smolLM2GGUF)
        for (name, bytes) in try GGUFTokenizerFiles(gguf: gguf).files {
            try Data(bytes).write(to: URL(fileURLWithPath: dir.path + "/" + name))
        }
        let original = try GGUFTokenizerMetadata(gguf: gguf)
        let (hf, meta) = try Self.metadata(dir.path, vocab: original.tokens.count, pre: nil)
        #expect(meta.preTokenizer == "smollm")
        #expect(meta.tokens == original.tokens)
        #expect(meta.tokenTypes == original.tokenTypes)
        #expect(meta.merges == original.merges)
        #expect(meta.bosTokenID == original.bosTokenID && meta.eosTokenID == original.eosTokenID)
        #expect(meta.unknownTokenID == original.unknownTokenID && meta.paddingTokenID == original.paddingTokenID)
        #expect(meta.addBOSToken == original.addBOSToken)
        #expect(meta.chatTemplate == original.chatTemplate)
        let back = try Self.roundTrip(meta, dir)
        for text in Self.texts + ["<|im_start|>user\nWhat is 2+2?<|im_end|>\n"] {
            #expect(back.encode(text) == hf.encode(text), "\(text)")
        }
    }

    /// A tokenizer llama.cpp does not know is refused by the CLI with one line naming the hash,
    /// and nothing is written.
    @Test func unknownPreTokenizerIsRefused() throws {
        let dir = TempDir("qlora-gguf-refuse")
        let base = dir.path + "/base"
        try Self.hfBase(base, try Self.llama31Config(tied: true))
        let run = try Self.trainAdapter(base, dir)
        let out = dir.path + "/m.gguf"
        let r = try CLIRunner.run(["merge", "--model", base, "--adapter", run, "-o", out, "--format", "gguf", "--dtype", "f16"])
        #expect(r.status != 0)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && r.stderr.contains("pre-tokenizer") && r.stderr.contains("check hash"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
