import Foundation
import QLoRACore
import QLoRAQuant

/// Turns a checkpoint into a Hugging Face checkpoint directory that transformers + bitsandbytes load as
/// a pre-quantized 4-bit model: block linears in bitsandbytes' serialized 4-bit layout, everything else
/// in 16-bit, `config.json` with `quantization_config`, and the tokenizer files.
public enum CheckpointQuantizer {
    public struct Options: Sendable {
        public var quantType: FourBitType = .nf4
        public var blockSize = 64
        public var doubleQuant = true
        public var skipModules: [String] = []
        public var threads = 1
        /// dtype of the tensors that stay unquantized.
        public var keepDType: TensorDType = .bf16
        /// The compute dtype recorded in `quantization_config`.
        public var computeDType = "float32"

        public init() {}
    }

    /// Quantizes `source` into the directory `output` (created atomically: it appears complete or not
    /// at all). `extraFiles` (name → bytes) are written beside the weights (tokenizer files);
    /// `baseConfigJSON` is the source's own config.json object when there is one.
    public static func run(
        source: CheckpointSource, output: String, options: Options, extraFiles: [String: [UInt8]],
        baseConfigJSON: [String: Any]?, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> QuantizeReport {
        var writer = SafetensorsWriter()
        writer.metadata = ["format": "pt"]
        var reports: [QuantizeReport.Tensor] = []
        var quantSeconds = 0.0, quantBytesIn = 0, quantParams = 0, quantBytesOut = 0
        let start = Date()
        let names = source.tensorNames
        for (i, name) in names.enumerated() {
            progress(i, names.count, name)
            let shape = try source.shape(of: name)
            let w = try source.floats(name)
            if let bad = w.firstIndex(where: { !$0.isFinite }) {
                throw QLoRAError(.numeric, "\(source.path): tensor '\(name)' has a non-finite value (\(w[bad])) at element \(bad)")
            }
            let bytesIn = try source.storedBytes(of: name)
            if QuantizationTargets.isQuantized(name, shape: shape, skipModules: options.skipModules) {
                let t0 = Date()
                let q = FourBitCodec.quantize(w, shape: shape, dtype: options.keepDType.torchName,
                                              type: options.quantType, blockSize: options.blockSize,
                                              doubleQuant: options.doubleQuant, threads: options.threads)
                quantSeconds += Date().timeIntervalSince(t0)
                let before = writer.entries.count
                Bnb4bitFormat.add(q, prefix: String(name.dropLast(".weight".count)), to: &writer)
                let out = writer.entries[before...].reduce(0) { $0 + $1.data.count }
                let stats = errorStats(w, q)
                quantBytesIn += bytesIn
                quantParams += w.count
                quantBytesOut += q.packed.count + q.state.constantBytes
                reports.append(.init(name: name, shape: shape, action: "quantized", dtype: options.quantType.rawValue,
                                     bytesIn: bytesIn, bytesOut: out, rmsError: stats.rms, maxError: stats.max,
                                     boundRatio: stats.boundRatio))
            } else {
                writer.add(name, shape: shape, floats: w, as: options.keepDType)
                reports.append(.init(name: name, shape: shape, action: "kept", dtype: options.keepDType.torchName,
                                     bytesIn: bytesIn, bytesOut: writer.entries.last!.data.count,
                                     rmsError: nil, maxError: nil, boundRatio: nil))
            }
        }
        progress(names.count, names.count, "writing")
        let config = try configJSON(source: source, base: baseConfigJSON, options: options)
        try AtomicOutput.directory(at: output) { dir in
            try writer.write(to: dir + "/model.safetensors")
            try AtomicOutput.write(config, to: dir + "/config.json")
            for (file, bytes) in extraFiles.sorted(by: { $0.key < $1.key }) {
                try AtomicOutput.write(bytes, to: dir + "/" + file)
            }
        }
        let quantized = reports.filter { $0.action == "quantized" }
        return QuantizeReport(
            input: source.path, output: output, quantType: options.quantType.rawValue,
            blockSize: options.blockSize, doubleQuant: options.doubleQuant, threads: options.threads,
            tensorsQuantized: quantized.count, tensorsKept: reports.count - quantized.count,
            bytesIn: reports.reduce(0) { $0 + $1.bytesIn }, bytesOut: reports.reduce(0) { $0 + $1.bytesOut },
            quantizedParameters: quantParams,
            bitsPerQuantizedParameter: quantParams > 0 ? Double(8 * quantBytesOut) / Double(quantParams) : 0,
            seconds: Date().timeIntervalSince(start),
            quantizeMBPerSecond: quantSeconds > 0 ? Double(quantBytesIn) / quantSeconds / 1e6 : 0,
            tensors: reports)
    }

    /// RMS and max error of the round trip, and the worst block's error relative to the bound.
    static func errorStats(_ w: [Float], _ q: QuantizedTensor) -> (rms: Double, max: Double, boundRatio: Double) {
        let deq = FourBitCodec.dequantize(q)
        let bs = q.state.blockSize
        let halfGap = Double(q.state.quantType.maxHalfGap)
        let used = q.state.dequantizedAbsmax()
        var sum = 0.0, mx = 0.0, ratio = 0.0
        var b = 0
        while b * bs < w.count {
            let lo = b * bs, hi = min(lo + bs, w.count)
            var am: Float = 0, blockMax = 0.0
            for j in lo..<hi {
                am = max(am, abs(w[j]))
                let e = Double(abs(w[j] - deq[j]))
                sum += e * e
                blockMax = max(blockMax, e)
            }
            mx = max(mx, blockMax)
            let bound = Double(am) * halfGap + Double(abs(am - used[b])) + Double(am.ulp) * 2
            if bound > 0 { ratio = max(ratio, blockMax / bound) } else if blockMax > 0 { ratio = .infinity }
            b += 1
        }
        return ((sum / Double(max(w.count, 1))).squareRoot(), mx, ratio)
    }

    /// The output config.json: the source's own (when it had one) or one built from the config, with
    /// `quantization_config` and `torch_dtype` set.
    static func configJSON(source: CheckpointSource, base: [String: Any]?, options: Options) throws -> [UInt8] {
        var obj: [String: Any]
        if let base {
            obj = base
        } else {
            let data = try JSONEncoder().encode(source.config)
            obj = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            obj["architectures"] = [source.config.causalLMArchitecture]
            obj["model_type"] = source.config.modelType
            obj["hidden_act"] = "silu"
            obj["initializer_range"] = 0.02
            obj["use_cache"] = true
        }
        obj["torch_dtype"] = options.keepDType.torchName
        obj["quantization_config"] = Bnb4bitFormat.quantizationConfig(
            type: options.quantType, doubleQuant: options.doubleQuant, computeDType: options.computeDType,
            skipModules: options.skipModules.isEmpty ? nil : options.skipModules)
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        // Foundation writes 6.0 as 6; transformers' BitsAndBytesConfig insists on a float there
        // ("llm_int8_threshold must be a float"), so keep the decimal point.
        let text = String(decoding: data, as: UTF8.self).replacingOccurrences(
            of: #""llm_int8_threshold" : 6\b(?!\.)"#, with: "\"llm_int8_threshold\" : 6.0", options: .regularExpression)
        return Array(text.utf8) + [0x0A]
    }
}
