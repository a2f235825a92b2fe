import QLoRA

/// bitsandbytes' 4-bit quantization state (`Bnb4bitFormat`), two ways, chosen by the first byte:
///
/// - even: the rest is a whole safetensors file; every 4-bit weight in it is read and dequantized;
/// - odd: the rest is the quant-state JSON alone, put into a safetensors file with the tensors of a
///   fixed 4×64 NF4 weight (bit 1: with double quantization), so mutations land in the JSON.
enum QuantStateTarget {
    static let prefix = "model.layers.0.mlp.up_proj"

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let selector = data.first else { return }
        let rest = data.dropFirst()
        let bytes: [UInt8]
        if selector & 1 == 0 {
            bytes = Array(rest)
        } else {
            bytes = fixedWeightFile(json: Array(rest), doubleQuant: selector & 2 != 0)
        }
        expectingCleanErrors("quant-state") {
            let file = try SafetensorsFile(file: MappedFile(bytes: bytes, path: "fuzz.safetensors"))
            for prefix in Bnb4bitFormat.quantizedPrefixes(in: file) {
                let (packed, state) = try Bnb4bitFormat.read(prefix: prefix, from: file)
                let values = FourBitCodec.dequantize(QuantizedTensor(packed: Array(packed), state: state))
                precondition(values.count == state.elementCount)
            }
        }
    }

    /// The fixed weight's tensors (built once per layout).
    static let plainEntries = fixedWeightEntries(doubleQuant: false)
    static let nestedEntries = fixedWeightEntries(doubleQuant: true)

    static func fixedWeightEntries(doubleQuant: Bool) -> [SafetensorsWriter.Entry] {
        let weights = (0..<256).map { Float(($0 * 37) % 101) / 50 - 1 }
        let q = FourBitCodec.quantize(weights, shape: [4, 64], type: .nf4, blockSize: 64, doubleQuant: doubleQuant)
        var writer = SafetensorsWriter()
        Bnb4bitFormat.add(q, prefix: prefix, to: &writer)
        return writer.entries
    }

    /// The fixed weight's tensors with `json` as its quant state.
    static func fixedWeightFile(json: [UInt8], doubleQuant: Bool) -> [UInt8] {
        var writer = SafetensorsWriter()
        for e in doubleQuant ? nestedEntries : plainEntries {
            if e.name.contains(".quant_state.") {
                writer.add(e.name, dtype: .u8, shape: [json.count], bytes: json)
            } else {
                writer.add(e.name, dtype: e.dtype, shape: e.shape, bytes: e.data)
            }
        }
        return writer.fileBytes()
    }
}
