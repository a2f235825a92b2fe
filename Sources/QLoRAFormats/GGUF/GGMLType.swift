import QLoRACore

/// A ggml tensor element type: the registry entry that says how many elements one block holds, how
/// many bytes it takes, and (for the types this engine reads) how to dequantize it to Float32.
///
/// `GGMLType.registry` is the one table of types: adding a type is one line there. Every type ggml
/// defines is listed with its size so that any GGUF file's data ranges can be validated; only
/// those with a dequantizer can be read as numbers. Ids and sizes are ggml's (`ggml_type`,
/// `type_traits` in ggml.c; `GGML_QUANT_SIZES` in the `gguf` Python package).
public struct GGMLType: Sendable, Hashable, CustomStringConvertible {
    /// Dequantizes `blocks` consecutive blocks at `source` into `blocks * blockSize` floats.
    public typealias BlockDequantizer = @Sendable (
        _ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, _ blocks: Int
    ) -> Void

    /// The id stored in a GGUF tensor info.
    public let id: UInt32
    /// ggml's name, e.g. "Q4_K".
    public let name: String
    /// Elements per block (1 for plain float/int types).
    public let blockSize: Int
    /// Bytes per block.
    public let bytesPerBlock: Int
    /// Reference dequantizer, bit-exact with `gguf.quants.dequantize`; nil when unsupported.
    let dequantizer: BlockDequantizer?

    init(_ id: UInt32, _ name: String, _ blockSize: Int, _ bytesPerBlock: Int, _ dequantizer: BlockDequantizer? = nil) {
        self.id = id
        self.name = name
        self.blockSize = blockSize
        self.bytesPerBlock = bytesPerBlock
        self.dequantizer = dequantizer
    }

    public static func == (a: GGMLType, b: GGMLType) -> Bool { a.id == b.id }
    public func hash(into h: inout Hasher) { h.combine(id) }
    public var description: String { name }

    /// True when this engine can dequantize the type.
    public var canDequantize: Bool { dequantizer != nil }

    public static let f32 = GGMLType(0, "F32", 1, 4, GGMLFloatTypes.dequantizeF32)
    public static let f16 = GGMLType(1, "F16", 1, 2, GGMLFloatTypes.dequantizeF16)
    public static let q4_0 = GGMLType(2, "Q4_0", 32, 18, GGMLLegacyQuants.dequantizeQ4_0)
    public static let q4_1 = GGMLType(3, "Q4_1", 32, 20, GGMLLegacyQuants.dequantizeQ4_1)
    public static let q5_0 = GGMLType(6, "Q5_0", 32, 22, GGMLLegacyQuants.dequantizeQ5_0)
    public static let q5_1 = GGMLType(7, "Q5_1", 32, 24, GGMLLegacyQuants.dequantizeQ5_1)
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 34, GGMLLegacyQuants.dequantizeQ8_0)
    public static let q4_K = GGMLType(12, "Q4_K", 256, 144, GGMLKQuants.dequantizeQ4_K)
    public static let q5_K = GGMLType(13, "Q5_K", 256, 176, GGMLKQuants.dequantizeQ5_K)
    public static let q6_K = GGMLType(14, "Q6_K", 256, 210, GGMLKQuants.dequantizeQ6_K)
    public static let bf16 = GGMLType(30, "BF16", 1, 2, GGMLFloatTypes.dequantizeBF16)

    /// Every ggml type a GGUF file can store, in id order. Absent on purpose: 4 and 5 (Q4_2, Q4_3)
    /// and 31–33, 36–38, removed from ggml; 9 and 15 (Q8_1, Q8_K), which ggml only uses for
    /// activations inside its matmuls and never writes.
    public static let registry: [GGMLType] = [
        f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0,
        GGMLType(10, "Q2_K", 256, 84),
        GGMLType(11, "Q3_K", 256, 110),
        q4_K, q5_K, q6_K,
        GGMLType(16, "IQ2_XXS", 256, 66),
        GGMLType(17, "IQ2_XS", 256, 74),
        GGMLType(18, "IQ3_XXS", 256, 98),
        GGMLType(19, "IQ1_S", 256, 50),
        GGMLType(20, "IQ4_NL", 32, 18),
        GGMLType(21, "IQ3_S", 256, 110),
        GGMLType(22, "IQ2_S", 256, 82),
        GGMLType(23, "IQ4_XS", 256, 136),
        GGMLType(24, "I8", 1, 1),
        GGMLType(25, "I16", 1, 2),
        GGMLType(26, "I32", 1, 4),
        GGMLType(27, "I64", 1, 8),
        GGMLType(28, "F64", 1, 8),
        GGMLType(29, "IQ1_M", 256, 56),
        bf16,
        GGMLType(34, "TQ1_0", 256, 54),
        GGMLType(35, "TQ2_0", 256, 66),
        GGMLType(39, "MXFP4", 32, 17),
        GGMLType(40, "NVFP4", 64, 36),
        GGMLType(41, "Q1_0", 128, 18),
    ]

    private static let byID: [UInt32: GGMLType] = Dictionary(uniqueKeysWithValues: registry.map { ($0.id, $0) })

    /// The type with this id, or nil when ggml defines none.
    public static func lookup(_ id: UInt32) -> GGMLType? { byID[id] }

    /// Bytes taken by `elements` elements, or nil when `elements` is not a whole number of blocks
    /// or the size overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: bytesPerBlock)
        return overflow ? nil : bytes
    }

    /// Dequantizes whole blocks: `source.count` must be a multiple of `bytesPerBlock` and
    /// `destination.count` the matching number of elements. Callers check `canDequantize` first.
    public func dequantize(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<Float>) {
        guard let dequantizer else { preconditionFailure("no dequantizer for ggml type \(name)") }
        precondition(source.count % bytesPerBlock == 0, "\(name): \(source.count) bytes is not a whole number of blocks")
        let blocks = source.count / bytesPerBlock
        precondition(destination.count == blocks * blockSize, "\(name): destination holds \(destination.count) floats, need \(blocks * blockSize)")
        guard blocks > 0 else { return }
        dequantizer(source.baseAddress!, destination.baseAddress!, blocks)
    }
}
