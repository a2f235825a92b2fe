/// A 4-bit weight matrix W [rows, cols] in the kernels' layout: raw pointers only, no ownership.
///
/// **Nibble layout ("groups of 32")**: the row-major flattened weight is cut into groups of 32
/// elements; group g is 16 bytes at `packed + 16·g`, byte i holding element 32g+i in its low nibble
/// and element 32g+16+i in its high nibble. A 16-byte load zero-extended to 32-bit lanes then gives
/// elements 0…15 of the group from the low 4 bits (which a 16-entry permute uses directly) and
/// elements 16…31 after a shift by 4: no interleaving, no masking. It is the bitsandbytes bytes
/// reordered within each 16-byte group, so the size is the same, 4 bits per weight.
///
/// **Scales**: blockwise absmax, one per `blockSize` elements of the flattened weight (bitsandbytes'
/// blocks, which may cross rows); either Float32 (`absmax`) or double-quantized (`qabsmax` 8-bit
/// codes into `nestedCode`, times `nestedAbsmax[b / nestedBlockSize]`, plus `offset`).
/// Weight element j = code[nibble(j)] × scale(j / blockSize), exactly as bitsandbytes dequantizes.
public struct NF4MatrixRef: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let blockSize: Int
    public let packed: UnsafePointer<UInt8>
    /// The 16 code values.
    public let code: UnsafePointer<Float>
    public let absmax: UnsafePointer<Float>?
    public let qabsmax: UnsafePointer<UInt8>?
    public let nestedAbsmax: UnsafePointer<Float>?
    public let nestedCode: UnsafePointer<Float>?
    public let nestedBlockSize: Int
    public let offset: Float
    /// log2 of `blockSize` and of `nestedBlockSize` (both powers of two): block indices by shift,
    /// never by a division in the inner loops.
    public let blockShift: Int
    public let nestedShift: Int

    public init(rows: Int, cols: Int, blockSize: Int, packed: UnsafePointer<UInt8>, code: UnsafePointer<Float>,
                absmax: UnsafePointer<Float>?, qabsmax: UnsafePointer<UInt8>?, nestedAbsmax: UnsafePointer<Float>?,
                nestedCode: UnsafePointer<Float>?, nestedBlockSize: Int, offset: Float) {
        precondition(blockSize >= 32 && blockSize & (blockSize - 1) == 0, "blocksize must be a power of two ≥ 32")
        precondition(nestedBlockSize > 0 && nestedBlockSize & (nestedBlockSize - 1) == 0,
                     "nested blocksize must be a power of two")
        precondition(absmax != nil || (qabsmax != nil && nestedAbsmax != nil && nestedCode != nil))
        self.rows = rows
        self.cols = cols
        self.blockSize = blockSize
        self.packed = packed
        self.code = code
        self.absmax = absmax
        self.qabsmax = qabsmax
        self.nestedAbsmax = nestedAbsmax
        self.nestedCode = nestedCode
        self.nestedBlockSize = nestedBlockSize
        self.offset = offset
        self.blockShift = blockSize.trailingZeroBitCount
        self.nestedShift = nestedBlockSize.trailingZeroBitCount
    }

    public var elementCount: Int { rows * cols }
    public var blockCount: Int { (elementCount + blockSize - 1) / blockSize }
    public var groupCount: Int { (elementCount + 31) / 32 }

    /// True when every group of 32 lies inside one row (the SIMD kernels' precondition).
    public var rowsAreGroupAligned: Bool { cols % 32 == 0 }

    /// The absmax block b dequantizes with (Float32 multiply then add, as bitsandbytes).
    @inlinable @inline(__always)
    public func scale(block b: Int) -> Float {
        if let absmax { return absmax[b] }
        let scaled = nestedCode.unsafelyUnwrapped[Int(qabsmax.unsafelyUnwrapped[b])]
            * nestedAbsmax.unsafelyUnwrapped[b &>> nestedShift]
        return scaled + offset
    }

    /// The 4-bit index of flattened element j.
    @inlinable @inline(__always)
    public func nibble(_ j: Int) -> Int {
        let g = j >> 5, i = j & 31
        let byte = packed[16 * g + (i & 15)]
        return Int(i < 16 ? byte & 0x0F : byte >> 4)
    }

    /// Flattened element j, dequantized.
    @inlinable @inline(__always)
    public func element(_ j: Int) -> Float {
        code[nibble(j)] * scale(block: j &>> blockShift)
    }
}
