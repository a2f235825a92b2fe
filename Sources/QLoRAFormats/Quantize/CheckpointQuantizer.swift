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
    ///
    /// Streams: tensors are read, converted and written one group at a time (`options.threads`
    /// tensors in parallel, one thread each, when the source allows concurrent reads; else one tensor
    /// on every thread), the output goes to disk tensor by tensor (`SafetensorsStreamWriter`), and
    /// the source pages of each written tensor are released. Kept tensors already in the kept dtype
    /// are copied from the map as they are. So the quantizer's own (anonymous) memory is bounded by
    /// a group of tensors as Float32 and their outputs, whatever the model's size.
    public static func run(
        source: CheckpointSource, output: String, options: Options, extraFiles: [String: [UInt8]],
        baseConfigJSON: [String: Any]?, progress: (Int, Int, String) -> Void = { _, _, _ in }
    ) throws -> QuantizeReport {
        var reports: [QuantizeReport.Tensor] = []
        var quantSeconds = 0.0, quantBytesIn = 0, quantParams = 0, quantBytesOut = 0
        let start = Date()
        let names = source.tensorNames
        let width = source.concurrentReads ? max(1, options.threads) : 1
        let config = try configJSON(source: source, base: baseConfigJSON, options: options)
        try AtomicOutput.directory(at: output) { dir in
            let writer = try SafetensorsStreamWriter(path: dir + "/model.safetensors",
                                                     headerCapacity: try headerBound(source: source, options: options))
            writer.metadata = ["format": "pt"]
            var first = 0
            while first < names.count {
                let group = Array(names[first..<min(first + width, names.count)])
                let t0 = Date()
                let prepared = try prepare(group, source: source, options: options,
                                           innerThreads: group.count == 1 ? options.threads : 1)
                let groupSeconds = Date().timeIntervalSince(t0)
                for (k, p) in prepared.enumerated() {
                    progress(first + k, names.count, p.name)
                    let before = writer.entries.count
                    switch p.output {
                    case .source(let dtype, let bytes):
                        try writer.add(p.name, dtype: dtype, shape: p.shape, bytes: bytes)
                    case .tensors(let small):
                        try writer.add(small)
                    }
                    source.release(p.name)
                    let out = writer.entries[before...].reduce(0) { $0 + $1.byteCount }
                    if let q = p.quantized {
                        quantBytesIn += p.bytesIn
                        quantParams += q.params
                        quantBytesOut += q.payloadBytes
                        reports.append(.init(name: p.name, shape: p.shape, action: "quantized", dtype: options.quantType.rawValue,
                                             bytesIn: p.bytesIn, bytesOut: out, rmsError: q.rms, maxError: q.max,
                                             boundRatio: q.boundRatio))
                    } else {
                        reports.append(.init(name: p.name, shape: p.shape, action: "kept", dtype: options.keepDType.torchName,
                                             bytesIn: p.bytesIn, bytesOut: out, rmsError: nil, maxError: nil, boundRatio: nil))
                    }
                }
                if prepared.contains(where: { $0.quantized != nil }) { quantSeconds += groupSeconds }
                first += group.count
            }
            progress(names.count, names.count, "writing")
            try writer.finish()
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

    /// The quantizer's own memory for `source` (what `run` allocates, besides the mapped source):
    /// per tensor in flight its Float32 copy, the dequantized copy the error report compares, the
    /// packed output and constants (≈ 8.6 bytes per parameter), for `threads` of the largest at
    /// once; a kept tensor that is converted (not copied as it is) adds its Float32 and output copies;
    /// plus `runtimeBytes` for the process itself.
    public static func plannedBytes(source: CheckpointSource, options: Options) throws
        -> (total: Int, inFlight: Int, largestTensor: String, width: Int) {
        let width = source.concurrentReads ? max(1, options.threads) : 1
        var quantized: [(Int, String)] = [], converted = 0
        for name in source.tensorNames {
            let shape = try source.shape(of: name)
            let n = shape.reduce(1, *)
            if QuantizationTargets.isQuantized(name, shape: shape, skipModules: options.skipModules) {
                quantized.append((n, name))
            } else if try source.dtypeName(of: name) != options.keepDType.torchName {
                converted = max(converted, n * (4 + options.keepDType.size))
            }
        }
        quantized.sort { $0.0 > $1.0 }
        let inFlight = quantized.prefix(width).reduce(0) { $0 + $1.0 * 8 + $1.0 / 2 + $1.0 / 16 }
        return (inFlight + converted + runtimeBytes, inFlight, quantized.first?.1 ?? "-", width)
    }

    /// The process's own baseline (runtime, Foundation, buffers), measured ~40 MB; rounded up.
    public static let runtimeBytes = 64 << 20

    /// Header bytes that suffice for every tensor the output will have (see `Bnb4bitFormat.add`).
    static func headerBound(source: CheckpointSource, options: Options) throws -> Int {
        let quantSuffixes = [".weight", ".weight.absmax", ".weight.nested_absmax", ".weight.nested_quant_map",
                             ".weight.quant_map", Bnb4bitFormat.quantStateKey("", options.quantType)]
        var n = 256   // braces and __metadata__
        for name in source.tensorNames {
            if QuantizationTargets.isQuantized(name, shape: try source.shape(of: name), skipModules: options.skipModules) {
                let prefix = String(name.dropLast(".weight".count))
                n += quantSuffixes.reduce(0) { $0 + SafetensorsStreamWriter.headerBound(name: prefix + $1) }
            } else {
                n += SafetensorsStreamWriter.headerBound(name: name)
            }
        }
        return n
    }

    /// One source tensor made ready to write.
    struct Prepared {
        enum Output {
            /// The source's own bytes (already the kept dtype), written straight from the map.
            case source(TensorDType, UnsafeRawBufferPointer)
            /// The converted tensor(s), in memory.
            case tensors(SafetensorsWriter)
        }
        var name: String
        var shape: [Int]
        var bytesIn: Int
        var output: Output
        var quantized: (params: Int, payloadBytes: Int, rms: Double, max: Double, boundRatio: Double)?
    }

    /// Reads, checks and converts `names` (in parallel when there are several), in order.
    static func prepare(_ names: [String], source: CheckpointSource, options: Options,
                        innerThreads: Int) throws -> [Prepared] {
        var results = [Result<Prepared, Error>](repeating: .failure(CancellationError()), count: names.count)
        results.withUnsafeMutableBufferPointer { slots in
            let slots = slots
            DispatchQueue.concurrentPerform(iterations: names.count) { k in
                slots[k] = Result { try prepare(names[k], source: source, options: options, threads: innerThreads) }
            }
        }
        return try results.map { try $0.get() }
    }

    static func prepare(_ name: String, source: CheckpointSource, options: Options, threads: Int) throws -> Prepared {
        let shape = try source.shape(of: name)
        let bytesIn = try source.storedBytes(of: name)
        let quantize = QuantizationTargets.isQuantized(name, shape: shape, skipModules: options.skipModules)
        if !quantize, let raw = try source.raw(name), raw.dtype == options.keepDType,
           [.f32, .f16, .bf16].contains(raw.dtype), raw.bytes.count == shape.reduce(1, *) * raw.dtype.size {
            // Converting to Float32 and back is the identity for finite values: copy the bytes.
            if let bad = firstNonFinite(raw.bytes, raw.dtype) {
                var v: Float = 0
                TensorConvert.toFloat(raw.dtype, raw.bytes.baseAddress! + bad * raw.dtype.size, &v, count: 1)
                throw nonFinite(source, name, v, bad)
            }
            return Prepared(name: name, shape: shape, bytesIn: bytesIn, output: .source(raw.dtype, raw.bytes))
        }
        let w = try source.floats(name)
        if let bad = w.firstIndex(where: { !$0.isFinite }) { throw nonFinite(source, name, w[bad], bad) }
        var small = SafetensorsWriter()
        guard quantize else {
            small.add(name, shape: shape, floats: w, as: options.keepDType)
            return Prepared(name: name, shape: shape, bytesIn: bytesIn, output: .tensors(small))
        }
        let q = FourBitCodec.quantize(w, shape: shape, dtype: options.keepDType.torchName,
                                      type: options.quantType, blockSize: options.blockSize,
                                      doubleQuant: options.doubleQuant, threads: threads)
        Bnb4bitFormat.add(q, prefix: String(name.dropLast(".weight".count)), to: &small)
        let stats = errorStats(w, q)
        return Prepared(name: name, shape: shape, bytesIn: bytesIn, output: .tensors(small),
                        quantized: (w.count, q.packed.count + q.state.constantBytes, stats.rms, stats.max, stats.boundRatio))
    }

    static func nonFinite(_ source: CheckpointSource, _ name: String, _ value: Float, _ index: Int) -> QLoRAError {
        QLoRAError(.numeric, "\(source.path): tensor '\(name)' has a non-finite value (\(value)) at element \(index)")
    }

    /// The index of the first Inf or NaN among raw f32/f16/bf16 values (exponent all ones).
    static func firstNonFinite(_ bytes: UnsafeRawBufferPointer, _ dtype: TensorDType) -> Int? {
        switch dtype {
        case .f32:
            let n = bytes.count / 4
            for i in 0..<n where bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self) & 0x7F80_0000 == 0x7F80_0000 { return i }
        case .f16, .bf16:
            let mask: UInt16 = dtype == .f16 ? 0x7C00 : 0x7F80
            let n = bytes.count / 2
            for i in 0..<n where bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self) & mask == mask { return i }
        default:
            break
        }
        return nil
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
            skipModules: skipModulesRecorded(source.config, options.skipModules))
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        // Foundation writes 6.0 as 6; transformers' BitsAndBytesConfig insists on a float there
        // ("llm_int8_threshold must be a float"), so keep the decimal point.
        let text = ConfigJSONFloats.restore(String(decoding: data, as: UTF8.self))
        return Array(text.utf8) + [0x0A]
    }

    /// `llm_int8_skip_modules` for the output config: the user's, plus (for the Gemma 3 wrapper) the
    /// vision tower and projector this engine leaves 16-bit, so transformers does not expect them 4-bit
    /// (transformers 5 matches a pattern from the start of the live module name, `model.vision_tower…`,
    /// or as its suffix; transformers 4 as a substring: both spellings are written).
    static func skipModulesRecorded(_ config: LlamaConfig, _ user: [String]) -> [String]? {
        let wrapper = ["model.vision_tower", "model.multi_modal_projector", "vision_tower", "multi_modal_projector", "lm_head"]
        let all = user + (config.wrapper == "gemma3" ? wrapper : [])
        return all.isEmpty ? nil : all
    }
}
