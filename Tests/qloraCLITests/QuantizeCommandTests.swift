import Foundation
import QLoRA
import QLoRATestSupport
import Testing

@Suite struct QuantizeCommandTests {
    static func report(_ stdout: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
    }

    @Test(arguments: [true, false]) func quantizesTinyCheckpointAndLoadsBack(_ doubleQuant: Bool) throws {
        let dir = TempDir()
        let written = try TinyCheckpoint.write(to: dir.path + "/in")
        var args = ["quantize", dir.path + "/in", "-o", dir.path + "/out", "--json", "--threads", "2"]
        if !doubleQuant { args.append("--no-double-quant") }
        let r = try CLIRunner.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        let rep = try Self.report(r.stdout)
        let bits = try #require(rep["bits_per_quantized_parameter"] as? Double)
        // Exactly: nibbles + one absmax per 64 (8-bit with double quant, plus one Float32 per 256 blocks
        // and the offset; Float32 without). On large tensors this tends to 4.127 and 4.5.
        var storedBytes = 0, params = 0
        for (name, shape, _) in written where QuantizationTargets.isQuantized(name, shape: shape, skipModules: []) {
            let n = shape.reduce(1, *), nb = (n + 63) / 64
            storedBytes += (n + 1) / 2 + (doubleQuant ? nb + 4 * ((nb + 255) / 256) + 4 : 4 * nb)
            params += n
        }
        #expect(abs(bits - Double(8 * storedBytes) / Double(params)) < 1e-9)
        #expect(doubleQuant ? (4.127..<4.2).contains(bits) : abs(bits - 4.5) < 1e-9)
        #expect(rep["tensors_quantized"] as? Int == 14)

        let out = dir.path + "/out"
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: out)) == ["config.json", "model.safetensors"])
        let cfg = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        let qc = try #require(cfg["quantization_config"] as? [String: Any])
        #expect(qc["quant_method"] as? String == "bitsandbytes")
        #expect(qc["bnb_4bit_use_double_quant"] as? Bool == doubleQuant)
        // transformers' BitsAndBytesConfig rejects an integer here ("llm_int8_threshold must be a float").
        #expect(try String(contentsOfFile: out + "/config.json", encoding: .utf8).contains("\"llm_int8_threshold\" : 6.0"))

        let file = try SafetensorsFile(path: out + "/model.safetensors")
        let prefixes = Bnb4bitFormat.quantizedPrefixes(in: file)
        #expect(prefixes.count == 14)
        let halfGap = FourBitType.nf4.maxHalfGap
        for (name, shape, values) in written {
            if let prefix = prefixes.first(where: { $0 + ".weight" == name }) {
                let (packed, state) = try Bnb4bitFormat.read(prefix: prefix, from: file)
                #expect(state.shape == shape)
                #expect((state.nested != nil) == doubleQuant)
                let q = QuantizedTensor(packed: [UInt8](packed), state: state)
                let deq = FourBitCodec.dequantize(q)
                let used = state.dequantizedAbsmax()
                for b in 0..<state.blockCount {
                    let lo = b * 64, hi = min(lo + 64, values.count)
                    let am = values[lo..<hi].map(abs).max()!
                    let bound = am * halfGap + abs(am - used[b]) + 2 * am.ulp
                    for j in lo..<hi { #expect(abs(values[j] - deq[j]) <= bound) }
                }
            } else {
                // Kept tensors are bf16 copies.
                let kept = try file.floats(name)
                #expect(kept == values.map { HalfFloat.bf16ToFloat(HalfFloat.floatToBF16($0)) })
            }
        }
    }

    @Test func refusesAnExistingOutputUnlessOverwrite() throws {
        let dir = TempDir()
        try TinyCheckpoint.write(to: dir.path + "/in")
        try FileManager.default.createDirectory(atPath: dir.path + "/out", withIntermediateDirectories: true)
        let r = try CLIRunner.run(["quantize", dir.path + "/in", "-o", dir.path + "/out"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("already exists"))
        let r2 = try CLIRunner.run(["quantize", dir.path + "/in", "-o", dir.path + "/out", "--overwrite"])
        #expect(r2.status == 0, "\(r2.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/out/model.safetensors"))
    }

    /// Each bad input: how to break the checkpoint, and a fragment of the one-line error.
    static let badInputs: [(String, (String) throws -> Void, String)] = [
        ("missing config", { try FileManager.default.removeItem(atPath: $0 + "/config.json") }, "missing config.json"),
        ("corrupt header JSON", { dir in
            var d = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
            d[9] = UInt8(ascii: "#")
            try d.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }, "not valid JSON"),
        ("truncated file", { dir in
            let d = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
            try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }, "outside the data region"),
        ("unknown dtype", { dir in
            var d = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
            let r = d.range(of: Data("\"F32\"".utf8))!
            d.replaceSubrange(r, with: Data("\"Q32\"".utf8))
            try d.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }, "unknown dtype 'Q32'"),
        ("offsets out of range", { dir in
            var d = try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors"))
            let r = d.range(of: Data("\"data_offsets\":[0,".utf8))!
            d.replaceSubrange(r, with: Data("\"data_offsets\":[9,".utf8))
            try d.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        }, "safetensors"),
        ("NaN weight", { dir in
            var w = SafetensorsWriter()
            for (name, shape, values) in TinyCheckpoint.tensors(TinyCheckpoint.config()) {
                var v = values
                if name == "model.layers.1.mlp.up_proj.weight" { v[5] = .nan }
                w.add(name, shape: shape, floats: v)
            }
            try w.write(to: dir + "/model.safetensors")
        }, "'model.layers.1.mlp.up_proj.weight' has a non-finite value"),
        ("not a checkpoint", { try FileManager.default.removeItem(atPath: $0 + "/model.safetensors") }, "no model.safetensors"),
    ]

    @Test(arguments: 0..<badInputs.count) func badInputGivesOneLineErrorAndNoOutput(_ i: Int) throws {
        let (what, breakIt, fragment) = Self.badInputs[i]
        let dir = TempDir()
        try TinyCheckpoint.write(to: dir.path + "/in")
        try breakIt(dir.path + "/in")
        let r = try CLIRunner.run(["quantize", dir.path + "/in", "-o", dir.path + "/out"])
        #expect(r.status != 0, "\(what)")
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(what): \(r.stderr)")
        #expect(r.stderr.contains(fragment), "\(what): \(r.stderr)")
        #expect(dir.listing() == ["in"], "\(what): output left behind: \(dir.listing())")
    }

    @Test func unwritableOutputIsReported() throws {
        let dir = TempDir()
        try TinyCheckpoint.write(to: dir.path + "/in")
        let r = try CLIRunner.run(["quantize", dir.path + "/in", "-o", "/proc/qlora-cannot-write/out"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("/proc/qlora-cannot-write/out"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func impossibleOptionsAreRejected() throws {
        let dir = TempDir()
        try TinyCheckpoint.write(to: dir.path + "/in")
        for (args, fragment) in [(["--blocksize", "100"], "--blocksize"), (["--quant-type", "int4"], "--quant-type"),
                                 (["--threads", "0"], "--threads")] {
            let r = try CLIRunner.run(["quantize", dir.path + "/in", "-o", dir.path + "/out"] + args)
            #expect(r.status != 0)
            #expect(r.stderr.contains(fragment), "\(r.stderr)")
        }
        #expect(dir.listing() == ["in"])
    }
}

/// GGUF bad input through the command: an unsupported tensor type and a truncated file each give a
/// one-line error naming the file, and nothing is written.
@Suite struct QuantizeGGUFBadInputTests {
    static var tiny: String { TestPaths.repoRoot + "/Tests/Fixtures/gguf/tiny_llama.gguf" }

    /// The fixture with tensor `name`'s ggml type field set to `type`.
    static func withTensorType(_ name: String, _ type: UInt32) throws -> [UInt8] {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: tiny)))
        let key = Array(name.utf8)
        var at = -1
        for i in 8..<(bytes.count - key.count) where Array(bytes[i..<(i + key.count)]) == key {
            let len = bytes[(i - 8)..<i].enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
            if len == key.count { at = i + key.count; break }
        }
        precondition(at > 0, "tensor \(name) not found in the fixture")
        let nDims = Int(bytes[at]) | Int(bytes[at + 1]) << 8
        let typeAt = at + 4 + 8 * nDims
        for b in 0..<4 { bytes[typeAt + b] = UInt8((type >> (8 * UInt32(b))) & 0xFF) }
        return bytes
    }

    @Test func unsupportedTensorTypeAndTruncationLeaveNothing() throws {
        let dir = TempDir()
        let bad = dir.path + "/bad.gguf"
        FileManager.default.createFile(atPath: bad, contents: Data(try Self.withTensorType("blk.0.attn_q.weight", 99)))
        let r = try CLIRunner.run(["quantize", bad, "-o", dir.path + "/out"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("unsupported GGUF tensor type 99"), "\(r.stderr)")
        #expect(r.stderr.contains(bad))
        #expect(r.stderr.split(separator: "\n").count == 1)
        let full = try Data(contentsOf: URL(fileURLWithPath: Self.tiny))
        let cut = dir.path + "/cut.gguf"
        FileManager.default.createFile(atPath: cut, contents: full.prefix(full.count / 3))
        let t = try CLIRunner.run(["quantize", cut, "-o", dir.path + "/out"])
        #expect(t.status != 0)
        #expect(t.stderr.contains(cut) && t.stderr.split(separator: "\n").count == 1, "\(t.stderr)")
        #expect(dir.listing() == ["bad.gguf", "cut.gguf"], "\(dir.listing())")
    }
}
