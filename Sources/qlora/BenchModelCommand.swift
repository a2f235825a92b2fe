import ArgumentParser
import Foundation
import QLoRA

struct BenchModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Prompt processing and generation throughput of a model, with peak RSS.",
        discussion: """
            Prompt processing: --prompt-tokens tokens in one forward pass (median of --repeats). Generation:
            --gen-tokens tokens one at a time with a KV cache after a short prompt (median of --repeats).
            Peak RSS is this process's (run one configuration per process to compare them).
            """
    )

    @OptionGroup var modelOptions: ModelOptions

    @OptionGroup var compute: InferenceComputeOptions

    @Option(help: "Tokens of the prompt-processing pass.")
    var promptTokens: Int = 512

    @Option(help: "Tokens generated in the generation pass.")
    var genTokens: Int = 128

    @Option(help: "Timed repetitions of each pass.")
    var repeats: Int = 5

    @Flag(help: "Print JSON.")
    var json = false

    struct Result: Codable {
        var model: String
        var base: String
        var threads: Int
        var promptTokens: Int
        var promptTokensPerSecond: Double
        var genTokens: Int
        var genTokensPerSecond: Double
        var peakRSSBytes: Int
        var weightBytes: Int
        var kvCacheBytes: Int
        var loadSeconds: Double
        /// The kernel path that ran and its measured peaks at this thread count.
        var isa: String
        var peakGFLOPS: Double
        var readGBps: Double
        var computeDType: String
        var int8Kernels: String?

        enum CodingKeys: String, CodingKey {
            case model, base, threads, promptTokens = "prompt_tokens", promptTokensPerSecond = "prompt_tokens_per_second"
            case genTokens = "gen_tokens", genTokensPerSecond = "gen_tokens_per_second", peakRSSBytes = "peak_rss_bytes"
            case weightBytes = "weight_bytes", kvCacheBytes = "kv_cache_bytes", loadSeconds = "load_seconds"
            case isa, peakGFLOPS = "peak_gflops", readGBps = "read_gbps"
            case computeDType = "compute_dtype", int8Kernels = "int8_kernels"
        }
    }

    func validate() throws {
        guard (1...65536).contains(promptTokens) else { throw QLoRAError.invalid("--prompt-tokens must be in 1…65536") }
        guard (1...65536).contains(genTokens) else { throw QLoRAError.invalid("--gen-tokens must be in 1…65536") }
        guard (1...1000).contains(repeats) else { throw QLoRAError.invalid("--repeats must be in 1…1000") }
    }

    func run() throws {
        let peaks = PathPeaks.measure(threads: modelOptions.threads)
        let loaded = try LoadedModel.load(compute.prepared(modelOptions))
        let computeNote = try compute.apply(to: loaded.model, requested: modelOptions)
        let model = loaded.model
        let V = model.config.vocabSize
        var rng = SeededRNG(seed: 1)
        // Random ids past the first 100 (special tokens) of a real vocabulary, inside a tiny one.
        let lowest = V > 200 ? 100 : 0, span = min(V, 30000 + lowest) - lowest
        let prompt = (0..<promptTokens).map { _ in Int32(Int(rng.next() % UInt64(span)) + lowest) }
        func median(_ a: [Double]) -> Double { a.sorted()[a.count / 2] }
        var pp: [Double] = [], tg: [Double] = []
        var logits = [Float](repeating: 0, count: V)
        for rep in 0...repeats {
            var t0 = Date()
            prompt.withUnsafeBufferPointer { p in
                let h = model.hidden(p.baseAddress!, B: 1, T: promptTokens)
                logits.withUnsafeMutableBufferPointer {
                    model.logits(h + (promptTokens - 1) * model.config.hiddenSize, rows: 1, into: $0.baseAddress!)
                }
            }
            if rep > 0 { pp.append(Double(promptTokens) / Date().timeIntervalSince(t0)) }
            let cache = KVCache(layers: model.config.numHiddenLayers, capacity: 16 + genTokens, width: model.config.kvDim)
            var id = Int32(1)
            for i in 0..<min(16, promptTokens) {  // the generation pass's short prompt
                var tok = prompt[i]
                _ = model.hidden(&tok, B: 1, T: 1, cache: cache)
            }
            t0 = Date()
            for _ in 0..<genTokens {
                let h = model.hidden(&id, B: 1, T: 1, cache: cache)
                logits.withUnsafeMutableBufferPointer { model.logits(h, rows: 1, into: $0.baseAddress!) }
                var best = 0
                for v in 1..<V where logits[v] > logits[best] { best = v }
                id = Int32(best)
            }
            if rep > 0 { tg.append(Double(genTokens) / Date().timeIntervalSince(t0)) }
        }
        let w = model.weights
        let r = Result(model: modelOptions.model, base: modelOptions.base.rawValue, threads: modelOptions.threads,
                       promptTokens: promptTokens, promptTokensPerSecond: median(pp), genTokens: genTokens,
                       genTokensPerSecond: median(tg), peakRSSBytes: ProcessMemory.peakResidentBytes,
                       weightBytes: w.linearBytes + w.embeddingBytes,
                       kvCacheBytes: 2 * model.config.numHiddenLayers * (16 + genTokens) * model.config.kvDim * 4,
                       loadSeconds: loaded.seconds, isa: peaks.isa, peakGFLOPS: peaks.fmaPeakGFLOPS,
                       readGBps: peaks.readGBps,
                       computeDType: model.int8Bytes > 0 ? "int8" : model.weights.computeDType.rawValue,
                       int8Kernels: model.int8Bytes > 0 ? (try? Int8Variant.selected())?.rawValue : nil)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            print(peaks.summary)
            print("""
                \(computeNote.map { $0 + "\n" } ?? "")\(r.base) weights, \(r.computeDType) compute, \(r.threads) thread(s): prompt processing \(r.promptTokens) tokens \
                \(String(format: "%.1f", r.promptTokensPerSecond)) tokens/s; generation \
                \(String(format: "%.1f", r.genTokensPerSecond)) tokens/s; peak RSS \
                \(String(format: "%.1f", Double(r.peakRSSBytes) / 1_048_576)) MiB (weights \
                \(String(format: "%.1f", Double(r.weightBytes) / 1_048_576)) MiB)
                """)
        }
    }
}
