import ArgumentParser
import Foundation
import QLoRA

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a model, streaming tokens as they come.",
        discussion: "Ends with prompt and generation throughput (tokens/s) and peak memory on standard error."
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var compute: InferenceComputeOptions

    @Option(help: "The prompt text.")
    var prompt: String?

    @Option(help: "The prompt as comma-separated token ids (instead of --prompt).")
    var promptIds: String?

    @Flag(help: "Wrap the prompt as a user message in the model's chat template.")
    var chat = false

    @Option(help: "Maximum new tokens.")
    var maxTokens: Int = 128

    @Flag(help: "Run even when the memory plan exceeds the memory available.")
    var force = false

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0

    @Option(help: "Nucleus sampling: keep the smallest set of tokens with this much probability.")
    var topP: Float = 0.95

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    func validate() throws {
        guard (prompt == nil) != (promptIds == nil) else { throw QLoRAError.invalid("give exactly one of --prompt and --prompt-ids") }
        if chat && promptIds != nil { throw QLoRAError.invalid("--chat applies to --prompt text, not to --prompt-ids") }
        guard maxTokens >= 1 && maxTokens <= 1_000_000 else { throw QLoRAError.invalid("--max-tokens must be ≥ 1") }
        guard temperature >= 0 && temperature.isFinite else { throw QLoRAError.invalid("--temperature must be ≥ 0") }
        guard topP > 0 && topP <= 1 else { throw QLoRAError.invalid("--top-p must be in (0, 1]") }
    }

    func run() throws {
        // The prompt's tokens are at most its UTF-8 bytes (+ the chat template's few dozen).
        let maxContext = try ModelSource.resolve(modelOptions.model).config.maxPositionEmbeddings
        let promptBound = promptIds.map { $0.split(separator: ",").count } ?? (prompt!.utf8.count + (chat ? 256 : 8))
        let sequence = min(maxContext, promptBound + maxTokens)
        try InferenceMemoryCheck.check("generate", modelOptions, rows: 1, positions: min(sequence, promptBound),
                                       cachePositions: sequence, force: force)
        let loaded = try LoadedModel.load(compute.prepared(modelOptions))
        if let note = try compute.apply(to: loaded.model, requested: modelOptions) {
            FileHandle.standardError.write((note + "\n").data(using: .utf8)!)
        }
        let model = loaded.model, tok = loaded.tokenizer
        let ids: [Int]
        if let promptIds {
            ids = try promptIds.split(separator: ",").map { part -> Int in
                guard let v = Int(part.trimmingCharacters(in: .whitespaces)) else {
                    throw QLoRAError.invalid("--prompt-ids: '\(part)' is not a token id")
                }
                return v
            }
        } else if chat {
            ids = try tok.encodeChat([ChatMessage(role: "user", content: prompt!)])
        } else {
            ids = tok.encode(prompt!)
        }
        guard !ids.isEmpty else { throw QLoRAError.invalid("the prompt encodes to no tokens") }
        let context = model.config.maxPositionEmbeddings, virtual = model.virtualTokens
        guard ids.count + maxTokens + virtual <= context else {
            throw QLoRAError.invalid("prompt (\(ids.count) tokens) + --max-tokens \(maxTokens)\(virtual > 0 ? " + the adapter's \(virtual) virtual tokens" : "") exceed the model's context of \(context)")
        }
        let result = try Generation.run(model: model, tokenizer: tok, promptIDs: ids, maxTokens: maxTokens,
                                        sampler: Sampler(temperature: temperature, topP: topP, seed: seed)) { text in
            FileHandle.standardOutput.write(text.data(using: .utf8)!)
        }
        FileHandle.standardOutput.write("\n".data(using: .utf8)!)
        let s = result
        let w = model.weights
        let kv = 2 * model.config.numHiddenLayers * (ids.count + maxTokens) * model.config.kvDim * 4
        let floor = w.linearBytes + w.embeddingBytes + kv + loaded.tokenizerBytes
        func mib(_ n: Int) -> String { String(format: "%.1f", Double(n) / 1_048_576) }
        FileHandle.standardError.write("""
            prompt: \(s.promptTokens) tokens, \(String(format: "%.1f", s.promptTokensPerSecond)) tokens/s; \
            generation: \(s.generatedTokens) tokens, \(String(format: "%.1f", s.generationTokensPerSecond)) tokens/s
            peak RSS \(mib(ProcessMemory.peakResidentBytes)) MiB = \(String(format: "%.2f", Double(ProcessMemory.peakResidentBytes) / Double(floor)))× \
            (base linears \(mib(w.linearBytes)) + embeddings \(mib(w.embeddingBytes)) + KV cache \(mib(kv)) + tokenizer \(mib(loaded.tokenizerBytes)) = \(mib(floor)) MiB)

            """.data(using: .utf8)!)
    }
}
