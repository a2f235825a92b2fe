import Foundation
import QLoRACore
import QLoRAQuant

/// bitsandbytes' serialized 4-bit layout in a safetensors state dict (`Linear4bit._save_to_state_dict`,
/// `QuantState.as_dict(packed=True)`), for a module with prefix `P`:
///
/// | key | dtype, shape |
/// |---|---|
/// | `P.weight` | U8 [(n+1)/2, 1]: packed nibbles, even element high |
/// | `P.weight.absmax` | F32 [nblocks] plain; U8 [nblocks] (8-bit codes) with double quant |
/// | `P.weight.quant_map` | F32 [16]: the NF4/FP4 code |
/// | `P.weight.nested_absmax` | F32 [ceil(nblocks/256)] (double quant only) |
/// | `P.weight.nested_quant_map` | F32 [256] (double quant only) |
/// | `P.weight.quant_state.bitsandbytes__nf4` | U8 [len]: UTF-8 JSON `quant_type, blocksize, dtype, shape` (+ `nested_blocksize, nested_dtype, nested_offset`) |
public enum Bnb4bitFormat {
    public static func quantStateKey(_ prefix: String, _ type: FourBitType) -> String {
        "\(prefix).weight.quant_state.bitsandbytes__\(type.rawValue)"
    }

    /// The quant-state JSON, with Python `json.dumps`'s default separators and key order.
    public static func quantStateJSON(_ s: QuantState) -> String {
        var parts = ["\"quant_type\": \"\(s.quantType.rawValue)\"", "\"blocksize\": \(s.blockSize)",
                     "\"dtype\": \"\(s.dtype)\"",
                     "\"shape\": [\(s.shape.map(String.init).joined(separator: ", "))]"]
        if let n = s.nested {
            parts += ["\"nested_blocksize\": \(n.blockSize)", "\"nested_dtype\": \"float32\"",
                      "\"nested_offset\": \(Double(n.offset))"]
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    /// Adds the tensors of one quantized linear weight under `prefix` (e.g. `model.layers.0.self_attn.q_proj`).
    public static func add(_ q: QuantizedTensor, prefix: String, to w: inout SafetensorsWriter) {
        let s = q.state
        w.add("\(prefix).weight", dtype: .u8, shape: [q.packed.count, 1], bytes: q.packed)
        if let n = s.nested {
            w.add("\(prefix).weight.absmax", dtype: .u8, shape: [n.qabsmax.count], bytes: n.qabsmax)
            w.add("\(prefix).weight.nested_absmax", shape: [n.absmax.count], floats: n.absmax)
            w.add("\(prefix).weight.nested_quant_map", shape: [n.code.count], floats: n.code)
        } else {
            w.add("\(prefix).weight.absmax", shape: [s.absmax.count], floats: s.absmax)
        }
        w.add("\(prefix).weight.quant_map", shape: [16], floats: s.quantType.code)
        let json = Array(quantStateJSON(s).utf8)
        w.add(quantStateKey(prefix, s.quantType), dtype: .u8, shape: [json.count], bytes: json)
    }

    /// The module prefixes in `file` that hold a 4-bit weight.
    public static func quantizedPrefixes(in file: SafetensorsFile) -> [String] {
        file.names.compactMap { name in
            for t in FourBitType.allCases {
                let suffix = ".weight.quant_state.bitsandbytes__\(t.rawValue)"
                if name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
            }
            return nil
        }.sorted()
    }

    /// Reads the 4-bit weight under `prefix`. The packed nibbles stay in the memory map (`packed`
    /// points into `file`, which the caller keeps alive); the constants are copied (they are ~3% of it).
    public static func read(prefix: String, from file: SafetensorsFile) throws -> (packed: UnsafeRawBufferPointer, state: QuantState) {
        let path = file.path
        let stateKeys = FourBitType.allCases.map { quantStateKey(prefix, $0) }.filter { file.tensors[$0] != nil }
        guard stateKeys.count == 1 else {
            throw QLoRAError.format(path, "'\(prefix).weight' needs exactly one quant_state.bitsandbytes__* entry, found \(stateKeys.count)")
        }
        let type: FourBitType = stateKeys[0].hasSuffix("nf4") ? .nf4 : .fp4
        let json = try file.bytes(stateKeys[0])
        guard let obj = try? JSONValue.parse(Data(json)), case .object = obj else {
            throw QLoRAError.format(path, "'\(stateKeys[0])' is not a JSON object")
        }
        guard obj["quant_type"]?.string == type.rawValue,
              let blockSize = obj["blocksize"].flatMap(jsonInt), FourBitCodec.allowedBlockSizes.contains(blockSize),
              let shapeAny = obj["shape"]?.array else {
            throw QLoRAError.format(path, "'\(stateKeys[0])' has an invalid quant_type, blocksize or shape")
        }
        let shape = try shapeAny.map { (d: JSONValue) -> Int in
            guard let n = jsonInt(d), n > 0 else { throw QLoRAError.format(path, "'\(prefix)': invalid shape in quant state") }
            return n
        }
        let (count, overflow) = shape.reduce((1, false)) { acc, d in
            let r = acc.0.multipliedReportingOverflow(by: d); return (r.partialValue, acc.1 || r.overflow)
        }
        // Bounded like every other tensor (2^48 elements), so `count + 1` and the block count cannot overflow.
        guard !overflow, count <= 1 << 48 else { throw QLoRAError.format(path, "'\(prefix)': shape too large") }
        let nb = (count + blockSize - 1) / blockSize
        let weight = try file.info("\(prefix).weight")
        guard weight.dtype.size == 1, weight.byteCount == (count + 1) / 2 else {
            throw QLoRAError.format(path, "'\(prefix).weight' has \(weight.byteCount) bytes, shape \(shape) needs \((count + 1) / 2)")
        }
        let qmap = try file.floats("\(prefix).weight.quant_map")
        guard qmap.count == 16, qmap.map(\.bitPattern) == type.code.map(\.bitPattern) else {
            throw QLoRAError.format(path, "'\(prefix).weight.quant_map' is not the \(type.rawValue) code")
        }
        let absInfo = try file.info("\(prefix).weight.absmax")
        guard absInfo.elementCount == nb else {
            throw QLoRAError.format(path, "'\(prefix).weight.absmax' has \(absInfo.elementCount) entries, expected \(nb)")
        }
        var state = QuantState(quantType: type, blockSize: blockSize, shape: shape,
                               dtype: obj["dtype"]?.string ?? "float32", absmax: [], nested: nil)
        if absInfo.dtype == .u8 {
            guard let offset = obj["nested_offset"]?.double.map(Float.init),
                  let nbs = obj["nested_blocksize"].flatMap(jsonInt), nbs > 0 else {
                throw QLoRAError.format(path, "'\(prefix)': 8-bit absmax without nested_offset/nested_blocksize")
            }
            let nestedAbsmax = try file.floats("\(prefix).weight.nested_absmax")
            let nestedCode = try file.floats("\(prefix).weight.nested_quant_map")
            guard nestedAbsmax.count == (nb + nbs - 1) / nbs, nestedCode.count == 256 else {
                throw QLoRAError.format(path, "'\(prefix)': nested absmax/quant map have the wrong size")
            }
            state.nested = .init(qabsmax: try file.bytes("\(prefix).weight.absmax"), absmax: nestedAbsmax,
                                 offset: offset, code: nestedCode, blockSize: nbs)
        } else {
            state.absmax = try file.floats("\(prefix).weight.absmax")
        }
        let values = state.nested?.absmax ?? state.absmax
        guard values.allSatisfy(\.isFinite) else {
            throw QLoRAError(.numeric, "\(path): '\(prefix)' has non-finite quantization constants")
        }
        return (try file.raw("\(prefix).weight"), state)
    }

    /// The `quantization_config` transformers writes for a bitsandbytes 4-bit model.
    public static func quantizationConfig(type: FourBitType, doubleQuant: Bool, computeDType: String,
                                          skipModules: [String]?) -> [String: Any] {
        [
            "quant_method": "bitsandbytes", "_load_in_4bit": true, "_load_in_8bit": false,
            "load_in_4bit": true, "load_in_8bit": false, "bnb_4bit_quant_type": type.rawValue,
            "bnb_4bit_use_double_quant": doubleQuant, "bnb_4bit_compute_dtype": computeDType,
            "bnb_4bit_quant_storage": "uint8", "llm_int8_enable_fp32_cpu_offload": false,
            "llm_int8_has_fp16_weight": false, "llm_int8_threshold": 6.0,
            "llm_int8_skip_modules": skipModules.map { $0 as Any } ?? NSNull(),
        ]
    }
}
