import ArgumentParser
import Foundation
import QLoRA

enum MergeFormat: String, ExpressibleByArgument, CaseIterable { case hf, gguf }

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold a LoRA or DoRA adapter into its base for deployment (HF checkpoint, re-quantized NF4, or GGUF).",
        discussion: """
            W' = dequantize(W) + (alpha/r)·B·A (LoRA), or m ⊙ (W + s·B·A)/‖W + s·B·A‖_row (DoRA): the \
            dequantized NF4 weight is what training saw. --dtype f32|f16|bf16 writes a plain HF checkpoint; \
            --dtype nf4 re-quantizes the merged linears with the base's options into the checkpoint form \
            `qlora quantize` writes, reports the error that adds per tensor and the held-out loss of base + \
            adapter against the merged model (--eval-data; default datasets/eval.jsonl when present), and \
            writes both to OUT.merge.json. --format gguf --dtype f16|q8_0 writes a GGUF file for \
            llama.cpp-based tools: from a GGUF base its metadata and tokenizer are copied; from a Hugging \
            Face base (llama, mistral, qwen2) the metadata, Llama 3 RoPE factors and tokenizer are built \
            as llama.cpp's converter builds them. \
            OUT appears complete or not at all.
            """
    )

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .shortAndLong, help: "The output checkpoint directory (or .gguf file with --format gguf).") var output: String
    @Option(help: "Stored dtype: f32, f16, bf16 or nf4 (hf); f16 or q8_0 (gguf).") var dtype: String = "f32"
    @Option(help: "Output format: hf or gguf.") var format: MergeFormat = .hf
    @Option(help: "nf4: held-out JSONL (text, Alpaca, chat) for the loss comparison.") var evalData: String?
    @Option(help: "nf4: rows of --seq tokens per evaluation batch.") var batch: Int = 4
    @Option(help: "nf4: tokens per evaluation row.") var seq: Int = 256
    @Flag(help: "nf4: skip the held-out loss comparison.") var noEval = false
    @Flag(help: "Replace OUT if it exists.") var overwrite = false
    @Flag(help: "Run even when the memory plan exceeds the memory available.") var force = false

    static let bundledEvalData = "datasets/eval.jsonl"

    func validate() throws {
        guard modelOptions.adapter != nil else { throw QLoRAError.invalid("--adapter is required (the adapter to merge)") }
        switch format {
        case .hf:
            guard AdapterMerge.supportedDTypes[dtype] != nil || dtype == "nf4" else {
                throw QLoRAError.invalid("--dtype must be f32, f16, bf16 or nf4 (q8_0 needs --format gguf)")
            }
        case .gguf:
            guard GGUFExport.WeightType(rawValue: dtype) != nil else {
                throw QLoRAError.invalid("--format gguf needs --dtype f16 or q8_0")
            }
        }
        guard batch >= 1, seq >= 2 else { throw QLoRAError.invalid("--batch must be ≥ 1 and --seq ≥ 2") }
    }

    func run() throws {
        try modelOptions.refuseInt8()
        if FileManager.default.fileExists(atPath: output) && !overwrite {
            throw QLoRAError.io(output, "already exists (pass --overwrite to replace it)")
        }
        let adapterDir = modelOptions.adapter!
        try AdapterMerge.checkMergeable(adapterDirectory: adapterDir)
        // The base model, its held-out loss batches (nf4) and the merged tensor in flight (one
        // Float32 copy of the largest: the activations of `batch` rows cover it for real models).
        try InferenceMemoryCheck.check("merge", modelOptions, rows: dtype == "nf4" && !noEval ? batch : 1,
                                       positions: dtype == "nf4" && !noEval ? seq : 1, force: force)
        var options = modelOptions
        options.adapter = nil
        let loaded = try LoadedModel.load(options)
        let adapter = try LoRAAdapterWeights.load(from: adapterDir, model: loaded.model.config)
        let source = try MergedCheckpointSource(weights: loaded.model.weights, adapter: adapter, path: modelOptions.model)
        let kind = adapter.config.useDoRA ? "DoRA" : "LoRA"
        switch (format, dtype) {
        case (.gguf, _):
            let type = GGUFExport.WeightType(rawValue: dtype)!
            if modelOptions.model.hasSuffix(".gguf") {
                try GGUFExport.write(source, base: try GGUFFile(path: modelOptions.model), to: output, type: type)
            } else {
                let dir = modelOptions.model
                let vocab = loaded.model.config.vocabSize
                let tokenizer = try GGUFTokenizerMetadata(
                    huggingFace: loaded.tokenizer, vocabularySize: vocab,
                    specialIDs: try HFSpecialTokenIDs(directory: dir, tokenizer: loaded.tokenizer, vocabularySize: vocab),
                    source: loaded.tokenizer.source)
                let name = URL(fileURLWithPath: dir).standardizedFileURL.lastPathComponent
                try GGUFExport.write(source, name: name, tokenizer: tokenizer, to: output, type: type)
            }
            print("merged \(adapter.orderedModules.count) \(kind) linears into \(output) (GGUF, \(dtype))")
        case (.hf, "nf4"):
            try mergeQuantized(loaded, adapterDir, adapter, source)
        default:
            let input = try ModelInput.open(modelOptions.model)
            try AdapterMerge.write(source, to: output, dtype: AdapterMerge.supportedDTypes[dtype]!,
                                   extraFiles: input.tokenizerFiles, baseConfigJSON: input.configJSON)
            print("merged \(adapter.orderedModules.count) \(kind) linears into \(output) (\(dtype))")
        }
    }

    /// nf4: re-quantize, report the per-tensor error, compare held-out losses, write OUT.merge.json.
    func mergeQuantized(_ loaded: LoadedModel, _ adapterDir: String, _ adapter: LoRAAdapterWeights,
                        _ source: MergedCheckpointSource) throws {
        // Evaluation data is read (and refused) before anything is written.
        let evalPath = noEval ? nil : evalData ?? (FileManager.default.fileExists(atPath: Self.bundledEvalData) ? Self.bundledEvalData : nil)
        var batches: [TrainingBatch] = []
        if let evalPath {
            let examples = try TrainingData.load(train: evalPath, tokenizer: loaded.tokenizer).train
            let T = min(seq, loaded.model.config.maxPositionEmbeddings)
            batches = DataLoader.evaluationBatches(examples, B: batch, T: T, layout: .packing,
                                                   padID: Int32(loaded.tokenizer.eosTokenID ?? 0))
        }
        let input = try ModelInput.open(modelOptions.model)
        let quantOptions = AdapterMerge.baseQuantOptions(loaded.model.weights, threads: modelOptions.threads)
        let quantized = try AdapterMerge.writeQuantized(source, to: output, options: quantOptions,
                                                        extraFiles: input.tokenizerFiles, baseConfigJSON: input.configJSON)
        var report = MergeReport(base: modelOptions.model, adapter: adapterDir, useDoRA: adapter.config.useDoRA,
                                 quantize: quantized, rms: source.rms, deltaRMS: source.deltaRMS)
        print("merged \(adapter.orderedModules.count) \(adapter.config.useDoRA ? "DoRA" : "LoRA") linears into \(output) (nf4, blocksize \(quantOptions.blockSize), double quant \(quantOptions.doubleQuant ? "on" : "off"))")
        print("re-quantization error (vs the merged Float32 weight, relative to its RMS):")
        for t in report.tensors.sorted(by: { $0.relativeRMSError > $1.relativeRMSError }).prefix(5) {
            print(String(format: "  %@  rms %.3e (%.2f%%)  max %.3e (%.1f%%)", t.name, t.rmsError, 100 * t.relativeRMSError,
                         t.maxError, 100 * t.relativeMaxError))
        }
        print(String(format: "  %d tensors: mean relative RMS error %.2f%%, worst %.2f%%; worst max error %.1f%% of RMS",
                     report.tensors.count, 100 * report.meanRelativeRMSError, 100 * report.worstRelativeRMSError,
                     100 * report.worstRelativeMaxError))
        if let ratio = report.meanErrorToDelta {
            print(String(format: "  the error is %.2f× the adapter's own change (RMS of W' − W), averaged over the adapted tensors%@",
                         ratio, ratio > 0.5 ? ": rounding to the 4-bit grid undoes much of the adapter (f16/bf16 or GGUF q8_0 keep it)" : ""))
        }
        if let evalPath, !batches.isEmpty {
            let withAdapter = loaded.model
            try AdapterAttachment.attach(adapterDir, to: withAdapter)
            let before = HeldOutLoss.mean(withAdapter, batches)
            let merged = try LlamaModel(weights: LlamaWeights.loadQuantized(directory: output), threads: modelOptions.threads)
            let after = HeldOutLoss.mean(merged, batches)
            let n = batches.reduce(0) { $0 + $1.predictionCount }
            report.evaluation = .init(data: evalPath, predictions: n, lossBasePlusAdapter: before, lossMerged: after,
                                      delta: after - before)
            print(String(format: "held-out loss on %@ (%d predictions): base + adapter %.4f, merged nf4 %.4f (%+.4f)",
                         evalPath, n, before, after, after - before))
        }
        try report.write()
        print("report: \(MergeReport.path(for: output))")
    }
}
