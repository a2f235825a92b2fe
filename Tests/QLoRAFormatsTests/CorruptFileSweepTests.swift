import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Every file type the model side reads, truncated at many offsets and with bytes flipped at many
/// positions (`CorruptionSweep`): each variant loads or throws a `QLoRAError`, never crashes. Where
/// the format fixes the outcome it is asserted too: a truncated binary file or JSON document is
/// always rejected; a flip inside tensor data (values are not validated) always loads.
@Suite struct CorruptFileSweepTests {
    /// One row of the table: a real (small) file and the reader `qlora` uses on it.
    struct Sweep {
        var bytes: [UInt8]
        /// Every offset below this is truncated and flipped; `spread` more cover the rest.
        var everyBelow: Int
        var spread: Int
        var expect: (CorruptionSweep.Variant) -> CorruptionSweep.Expectation
        var read: ([UInt8]) throws -> Void
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var make: @Sendable () throws -> Sweep
        var testDescription: String { name }
    }

    static let model = TinyCheckpoint.config(layers: 2, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2)
    static let encodeText = "Hello, world! <|im_start|>user\n 1234 héllo<|im_end|>"

    static func fixture(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: TestPaths.repoRoot + "/Tests/Fixtures/" + path)))
    }

    /// Binary files: any cut is an error; a flip at or after `dataStart` is a load.
    static func binary(dataStart: Int) -> (CorruptionSweep.Variant) -> CorruptionSweep.Expectation {
        { v in v.isTruncation ? .reject : (v.position >= dataStart ? .load : .loadOrReject) }
    }

    /// JSON documents: a cut before the last non-blank byte is an error; flips may go either way.
    static func json(_ bytes: [UInt8]) -> (CorruptionSweep.Variant) -> CorruptionSweep.Expectation {
        let end = CorruptionSweep.contentEnd(bytes)
        return { v in v.isTruncation && v.position < end ? .reject : .loadOrReject }
    }

    static func safetensorsBytes() -> [UInt8] {
        var w = SafetensorsWriter()
        w.metadata = ["format": "pt"]
        w.add("model.embed_tokens.weight", shape: [16, 8], floats: (0..<128).map { Float($0) / 64 - 1 })
        w.add("model.norm.weight", shape: [8], floats: [Float](repeating: 1, count: 8), as: .f16)
        w.add("lm_head.weight", shape: [4, 8], floats: (0..<32).map { Float($0) / 32 }, as: .bf16)
        w.add("position_ids", dtype: .i64, shape: [1, 4], bytes: [0, 1, 2, 3].flatMap { (v: Int64) in withUnsafeBytes(of: v.littleEndian, Array.init) })
        w.add("codes", dtype: .u8, shape: [6], bytes: [0, 1, 2, 3, 4, 5])
        return w.fileBytes()
    }

    static func loraConfig() throws -> LoRAConfig {
        try LoRAConfig(r: 2, loraAlpha: 16, loraDropout: 0.05, targets: [.q, .down], baseModelNameOrPath: "tiny")
    }

    static func adapterWeights() throws -> [UInt8] {
        var w = SafetensorsWriter()
        w.metadata = ["format": "pt"]
        for (linear, dtype) in [(LlamaLinear.q, TensorDType.f32), (.down, .bf16)] {
            let (i, o) = linear.features(model)
            let path = linear.modulePath(layer: 1)
            w.add(PEFTKeys.loraA(path), shape: [2, i], floats: (0..<(2 * i)).map { Float($0 % 7) / 10 }, as: dtype)
            w.add(PEFTKeys.loraB(path), shape: [o, 2], floats: (0..<(2 * o)).map { Float($0 % 5) / 100 }, as: dtype)
        }
        return w.fileBytes()
    }

    static let quantPrefix = "model.layers.0.mlp.up_proj"

    /// One [4, 64] weight quantized as bitsandbytes stores it (NF4, blocksize 64).
    static func quantizedEntries(doubleQuant: Bool) -> [SafetensorsWriter.Entry] {
        let weights = (0..<256).map { Float(($0 * 37) % 101) / 50 - 1 }
        let q = FourBitCodec.quantize(weights, shape: [4, 64], type: .nf4, blockSize: 64, doubleQuant: doubleQuant)
        var w = SafetensorsWriter()
        Bnb4bitFormat.add(q, prefix: quantPrefix, to: &w)
        return w.entries
    }

    static func quantizedFile(_ entries: [SafetensorsWriter.Entry], json: [UInt8]? = nil) -> [UInt8] {
        var w = SafetensorsWriter()
        for e in entries {
            let bytes = e.name.contains(".quant_state.") ? json ?? e.data.byteArray : e.data.byteArray
            w.add(e.name, dtype: e.dtype, shape: e.name.contains(".quant_state.") ? [bytes.count] : e.shape, bytes: bytes)
        }
        return w.fileBytes()
    }

    static func readQuantized(_ bytes: [UInt8]) throws {
        let file = try SafetensorsFile(file: MappedFile(bytes: bytes, path: "q.safetensors"))
        for prefix in Bnb4bitFormat.quantizedPrefixes(in: file) {
            let (packed, state) = try Bnb4bitFormat.read(prefix: prefix, from: file)
            _ = FourBitCodec.dequantize(QuantizedTensor(packed: Array(packed), state: state))
        }
    }

    static let cases: [Case] = [
        Case(name: "safetensors") {
            let bytes = safetensorsBytes()
            return Sweep(bytes: bytes, everyBelow: CorruptionSweep.safetensorsDataStart(bytes), spread: 256,
                         expect: binary(dataStart: CorruptionSweep.safetensorsDataStart(bytes))) { b in
                let file = try SafetensorsFile(file: MappedFile(bytes: b, path: "model.safetensors"))
                for name in file.names { _ = try file.floats(name) }
            }
        },
        Case(name: "sharded index (model.safetensors.index.json)") {
            let dir = TempDir("qlora-sweep-index")
            for (shard, names) in [("model-00001-of-00002.safetensors", ["a.weight", "b.weight"]),
                                   ("model-00002-of-00002.safetensors", ["c.weight"])] {
                var w = SafetensorsWriter()
                for n in names { w.add(n, shape: [2, 2], floats: [1, 2, 3, 4]) }
                try w.write(to: dir.path + "/" + shard)
            }
            try Data(TinyCheckpoint.config().encodedJSON()).write(to: URL(fileURLWithPath: dir.path + "/config.json"))
            let index = Array(#"{"metadata":{"total_size":48},"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors","c.weight":"model-00002-of-00002.safetensors"}}"#.utf8)
            return Sweep(bytes: index, everyBelow: index.count, spread: 0, expect: json(index)) { b in
                try Data(b).write(to: URL(fileURLWithPath: dir.path + "/model.safetensors.index.json"))
                let checkpoint = try HFCheckpoint(directory: dir.path)
                for name in checkpoint.tensorNames { _ = try checkpoint.floats(name) }
                withExtendedLifetime(dir) {}
            }
        },
        Case(name: "GGUF model (tiny_llama.gguf)") {
            let bytes = try fixture("gguf/tiny_llama.gguf")
            let dataStart = try GGUFFile(file: MappedFile(bytes: bytes, path: "tiny_llama.gguf")).dataStart
            return Sweep(bytes: bytes, everyBelow: min(dataStart, 1536), spread: 384, expect: binary(dataStart: dataStart)) { b in
                let checkpoint = try GGUFCheckpoint(gguf: GGUFFile(file: MappedFile(bytes: b, path: "tiny_llama.gguf")))
                for name in checkpoint.tensorNames { _ = try checkpoint.floats(name) }
            }
        },
        Case(name: "GGUF tokenizer metadata (tokenizer_variant.gguf)") {
            let bytes = try fixture("gguf/tokenizer_variant.gguf")
            return Sweep(bytes: bytes, everyBelow: bytes.count, spread: 0, expect: { _ in .loadOrReject }) { b in
                let gguf = try GGUFFile(file: MappedFile(bytes: b, path: "tokenizer_variant.gguf"))
                _ = try GGUFTokenizerFiles(gguf: gguf)
                let tokenizer = try Tokenizer(gguf: gguf)
                _ = try tokenizer.decode(tokenizer.encode(encodeText))
            }
        },
        Case(name: "config.json") {
            let bytes = try TinyCheckpoint.config().encodedJSON()
            return Sweep(bytes: bytes, everyBelow: bytes.count, spread: 0, expect: json(bytes)) { b in
                _ = try LlamaConfig.decode(Data(b), path: "config.json")
            }
        },
        Case(name: "tokenizer.json") {
            let bytes = try fixture("gguf/tokenizer_reference/tiny_llama/tokenizer.json")
            let config = try Data(fixture("gguf/tokenizer_reference/tiny_llama/tokenizer_config.json"))
            return Sweep(bytes: bytes, everyBelow: 768, spread: 512, expect: json(bytes)) { b in
                let tokenizer = try Tokenizer(tokenizerJSON: Data(b), tokenizerConfigJSON: config, source: "tokenizer.json")
                _ = try tokenizer.decode(tokenizer.encode(encodeText))
            }
        },
        Case(name: "PEFT adapter_config.json") {
            let bytes = Array(try loraConfig().json().utf8)
            let weights = try adapterWeights()
            return Sweep(bytes: bytes, everyBelow: bytes.count, spread: 0, expect: json(bytes)) { b in
                let config = try LoRAConfig.parse(Data(b), path: "adapter_config.json")
                let file = try SafetensorsFile(file: MappedFile(bytes: weights, path: "adapter_model.safetensors"))
                _ = try PEFTLoRAAdapter.read(config: config, weights: file, model: model)
            }
        },
        Case(name: "PEFT adapter_model.safetensors") {
            let bytes = try adapterWeights()
            let config = try loraConfig()
            let dataStart = CorruptionSweep.safetensorsDataStart(bytes)
            return Sweep(bytes: bytes, everyBelow: dataStart, spread: 256, expect: binary(dataStart: dataStart)) { b in
                let file = try SafetensorsFile(file: MappedFile(bytes: b, path: "adapter_model.safetensors"))
                _ = try PEFTLoRAAdapter.read(config: config, weights: file, model: model)
            }
        },
        Case(name: "4-bit weight file (bitsandbytes layout, double quant)") {
            let bytes = quantizedFile(quantizedEntries(doubleQuant: true))
            let file = try SafetensorsFile(file: MappedFile(bytes: bytes, path: "q.safetensors"))
            let packed = try file.info(quantPrefix + ".weight")
            let nibbles = packed.offset..<(packed.offset + packed.byteCount)
            return Sweep(bytes: bytes, everyBelow: nibbles.lowerBound, spread: 256, expect: { v in
                // Any nibble is a valid code; constants may become non-finite (a clean numeric error).
                v.isTruncation ? .reject : (nibbles.contains(v.position) ? .load : .loadOrReject)
            }, read: readQuantized)
        },
        Case(name: "quant-state JSON") {
            for doubleQuant in [false, true] {
                let entries = quantizedEntries(doubleQuant: doubleQuant)
                let json = entries.first { $0.name.contains(".quant_state.") }!.data.byteArray
                let report = CorruptionSweep.run("quant-state JSON", bytes: json, everyBelow: json.count, spread: 0,
                                                 expect: Self.json(json)) { b in try readQuantized(quantizedFile(entries, json: b)) }
                #expect(report.violations.isEmpty, "\(report): \(report.violations.prefix(5))")
            }
            let json = quantizedEntries(doubleQuant: false).first { $0.name.contains(".quant_state.") }!.data.byteArray
            return Sweep(bytes: json, everyBelow: json.count, spread: 0, expect: Self.json(json)) { b in
                try readQuantized(quantizedFile(quantizedEntries(doubleQuant: false), json: b))
            }
        },
    ]

    @Test(arguments: cases)
    func everyTruncationAndFlipLoadsOrGivesAQLoRAError(_ c: Case) throws {
        let sweep = try c.make()
        // The unmodified file must load, or the sweep would prove nothing.
        try sweep.read(sweep.bytes)
        let report = CorruptionSweep.run(c.name, bytes: sweep.bytes, everyBelow: sweep.everyBelow, spread: sweep.spread,
                                         expect: sweep.expect, read: sweep.read)
        print(report)
        #expect(report.violations.isEmpty, "\(report): \(report.violations.prefix(10).joined(separator: "; "))")
        #expect(report.rejected > 0, "no variant was rejected: the reader checks nothing?")
    }
}

extension LlamaConfig {
    /// The config as `config.json` text (sorted keys).
    func encodedJSON() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try encoder.encode(self))
    }
}
