import ArgumentParser
import Foundation
import QLoRA

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize an HF checkpoint or a GGUF file into a bitsandbytes 4-bit checkpoint.",
        discussion: """
            OUT is a Hugging Face checkpoint directory that transformers + bitsandbytes load as a
            pre-quantized 4-bit model. Block linears become NF4 (or FP4) blocks; embeddings, norms and
            lm_head stay 16-bit. OUT appears complete or not at all.
            """
    )

    @Argument(help: "An HF checkpoint directory or a .gguf file.")
    var input: String

    @Option(name: .shortAndLong, help: "The output checkpoint directory.")
    var output: String

    @Option(help: "4-bit data type: nf4 or fp4.")
    var quantType: String = "nf4"

    @Option(help: "Elements per quantization block (32…4096, a power of two).")
    var blocksize: Int = 64

    @Flag(help: "Store the per-block absmax as Float32 instead of double-quantizing it.")
    var noDoubleQuant = false

    @Option(help: "Comma-separated module names to keep unquantized (substring match).")
    var skipModules: String = ""

    @Option(help: "dtype of the tensors kept unquantized: bf16, f16 or f32.")
    var keepDtype: String = "bf16"

    @Option(help: "Worker threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Replace OUT if it exists.")
    var overwrite = false

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(help: "Quantize even when the planned memory exceeds the memory available.")
    var force = false

    func validate() throws {
        guard FourBitType(rawValue: quantType) != nil else {
            throw QLoRAError.invalid("--quant-type must be nf4 or fp4, not '\(quantType)'")
        }
        guard FourBitCodec.allowedBlockSizes.contains(blocksize) else {
            throw QLoRAError.invalid("--blocksize must be one of \(FourBitCodec.allowedBlockSizes.map(String.init).joined(separator: ", "))")
        }
        guard ["bf16", "f16", "f32"].contains(keepDtype) else {
            throw QLoRAError.invalid("--keep-dtype must be bf16, f16 or f32")
        }
        guard (1...256).contains(threads) else { throw QLoRAError.invalid("--threads must be in 1…256") }
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output) && !overwrite {
            throw QLoRAError.io(output, "already exists (pass --overwrite to replace it)")
        }
        var options = CheckpointQuantizer.Options()
        options.quantType = FourBitType(rawValue: quantType)!
        options.blockSize = blocksize
        options.doubleQuant = !noDoubleQuant
        options.skipModules = skipModules.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        options.threads = threads
        options.keepDType = ["bf16": .bf16, "f16": .f16, "f32": .f32][keepDtype]!
        let opened = try ModelInput.open(input)
        try checkMemory(opened.source, options)
        let bar = ProgressBar(label: "quantize")
        let anonymous = AnonymousMemoryPeak()
        var report = try CheckpointQuantizer.run(
            source: opened.source, output: output, options: options, extraFiles: opened.tokenizerFiles,
            baseConfigJSON: opened.configJSON, progress: bar.update)
        report.peakAnonymousBytes = anonymous.stop()
        report.peakRSSBytes = ProcessMemory.peakResidentBytes
        bar.finish()
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print(Self.summary(report))
        }
    }

    /// Refuses, before anything is read or written, when the quantizer's planned memory exceeds the
    /// memory available, unless --force.
    func checkMemory(_ source: CheckpointSource, _ options: CheckpointQuantizer.Options) throws {
        let plan = try CheckpointQuantizer.plannedBytes(source: source, options: options)
        guard let available = try AvailableMemory.read(), plan.total > available.bytes else { return }
        let refusal = "quantize plans \(ByteCount.format(plan.total)) of its own memory (\(plan.width) tensor\(plan.width == 1 ? "" : "s") "
            + "at a time: \(ByteCount.format(plan.inFlight)) for the largest, \(plan.largestTensor); runtime "
            + "\(ByteCount.format(CheckpointQuantizer.runtimeBytes))) but \(ByteCount.format(available.bytes)) is available "
            + "(\(available.source))"
        if force {
            FileHandle.standardError.write("warning: \(refusal); --force given, quantizing anyway\n".data(using: .utf8)!)
            return
        }
        throw QLoRAError(.invalidArgument, refusal + "; lower --threads, or pass --force to try anyway")
    }

    static func summary(_ r: QuantizeReport) -> String {
        let rows = r.tensors.map { t -> [String] in
            [t.name, t.shape.map(String.init).joined(separator: "x"), t.action == "quantized" ? t.dtype : "kept \(t.dtype)",
             formatBytes(t.bytesIn), formatBytes(t.bytesOut),
             t.rmsError.map { String(format: "%.2e", $0) } ?? "-", t.maxError.map { String(format: "%.2e", $0) } ?? "-"]
        }
        let table = TextTable.render(["tensor", "shape", "stored as", "in", "out", "rms err", "max err"], rows)
        return table + "\n\n" + """
            \(r.tensorsQuantized) tensors quantized (\(r.quantType), blocksize \(r.blockSize), \
            double quant \(r.doubleQuant ? "on" : "off")), \(r.tensorsKept) kept
            bytes: \(formatBytes(r.bytesIn)) in, \(formatBytes(r.bytesOut)) out
            \(String(format: "%.3f", r.bitsPerQuantizedParameter)) bits per quantized parameter \
            (\(r.quantizedParameters) parameters)
            quantize throughput: \(String(format: "%.1f", r.quantizeMBPerSecond)) MB/s of source weights \
            on \(r.threads) thread\(r.threads == 1 ? "" : "s"); total \(String(format: "%.2f", r.seconds)) s
            memory: peak RSS \(formatBytes(r.peakRSSBytes ?? 0)), of it anonymous (the quantizer's own) \(formatBytes(r.peakAnonymousBytes ?? 0))
            wrote \(r.output)
            """
    }
}
