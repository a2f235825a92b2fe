import QLoRACore

/// Everything besides the packed nibbles that dequantizes a 4-bit tensor: bitsandbytes' `QuantState`.
///
/// Plain: one Float32 `absmax` per block of `blockSize` elements. Double quantization: the absmax
/// vector is stored as 8-bit indices into `nested.code`, one Float32 `nested.absmax` per 256 of
/// them, plus the scalar `nested.offset` (their mean) added back after the nested dequantization.
public struct QuantState: Equatable, Sendable {
    public var quantType: FourBitType
    public var blockSize: Int
    /// The original tensor's shape ([out, in] for a linear weight) and dtype name ("float32", "bfloat16"…).
    public var shape: [Int]
    public var dtype: String
    /// Plain: the per-block absmax. Empty when `nested` is set.
    public var absmax: [Float]
    public var nested: Nested?

    public struct Nested: Equatable, Sendable {
        /// One 8-bit index per first-level block.
        public var qabsmax: [UInt8]
        /// One Float32 per `blockSize` (256) indices.
        public var absmax: [Float]
        public var offset: Float
        public var code: [Float]
        public var blockSize: Int

        public init(qabsmax: [UInt8], absmax: [Float], offset: Float, code: [Float], blockSize: Int = 256) {
            self.qabsmax = qabsmax
            self.absmax = absmax
            self.offset = offset
            self.code = code
            self.blockSize = blockSize
        }
    }

    public init(quantType: FourBitType, blockSize: Int, shape: [Int], dtype: String,
                absmax: [Float], nested: Nested?) {
        self.quantType = quantType
        self.blockSize = blockSize
        self.shape = shape
        self.dtype = dtype
        self.absmax = absmax
        self.nested = nested
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var blockCount: Int { (elementCount + blockSize - 1) / blockSize }

    /// The absmax that dequantization uses: `nested.code[q] * nested.absmax[i / 256] + offset`
    /// (Float32: multiply, then add) with double quantization, else `absmax` itself.
    public func dequantizedAbsmax() -> [Float] {
        guard let n = nested else { return absmax }
        return (0..<n.qabsmax.count).map { i in
            let scaled = n.code[Int(n.qabsmax[i])] * n.absmax[i / n.blockSize]
            return scaled + n.offset
        }
    }

    /// Bytes of quantization constants (absmax or its nested form), excluding the tables.
    public var constantBytes: Int {
        if let n = nested { return n.qabsmax.count + 4 * n.absmax.count + 4 }
        return 4 * absmax.count
    }
}

/// A 4-bit tensor: packed nibbles (element 2k in the high nibble of byte k) plus its state.
public struct QuantizedTensor: Equatable, Sendable {
    public var packed: [UInt8]
    public var state: QuantState

    public init(packed: [UInt8], state: QuantState) {
        self.packed = packed
        self.state = state
    }

    /// Stored bits per element: nibbles plus constants.
    public var bitsPerElement: Double {
        Double(8 * (packed.count + state.constantBytes)) / Double(state.elementCount)
    }
}
