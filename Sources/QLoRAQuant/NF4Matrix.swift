import QLoRACore

/// A 4-bit weight matrix owned in the kernels' layout (`NF4MatrixRef`): the bitsandbytes nibbles
/// reordered within each 16-byte group, and the quantization constants kept as they are (Float32
/// absmax, or the double-quantized 8-bit codes with their nested absmax and offset). Same size as the
/// bitsandbytes form: ≈ 4.127 bits per weight with double quantization, 4.5 without.
public final class NF4Matrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let state: QuantState
    let packed: UnsafeMutablePointer<UInt8>
    let packedCount: Int
    let code: UnsafeMutablePointer<Float>
    let absmax: UnsafeMutablePointer<Float>?
    let qabsmax: UnsafeMutablePointer<UInt8>?
    let nestedAbsmax: UnsafeMutablePointer<Float>?
    let nestedCode: UnsafeMutablePointer<Float>?

    /// Repacks bitsandbytes-layout nibbles (`bnbPacked`: byte k = element 2k high, 2k+1 low) of a
    /// 2-D weight described by `state`.
    public init(bnbPacked: UnsafeRawBufferPointer, state: QuantState) {
        precondition(state.shape.count == 2, "an NF4 matrix is 2-D")
        rows = state.shape[0]
        cols = state.shape[1]
        self.state = state
        let n = rows * cols
        precondition(bnbPacked.count == (n + 1) / 2, "packed size does not match the shape")
        let groups = (n + 31) / 32
        packedCount = groups * 16
        packed = .allocate(capacity: packedCount)
        let src = bnbPacked.bindMemory(to: UInt8.self)
        let zero = state.quantType.zeroIndex
        @inline(__always) func nibble(_ j: Int) -> UInt8 {
            guard j < n else { return zero }
            let b = src[j >> 1]
            return j & 1 == 0 ? b >> 4 : b & 0x0F
        }
        for g in 0..<groups {
            let base = 32 * g
            if base + 32 <= n {
                // Fast path: 16 source bytes hold elements base..<base+32 as (even high, odd low) pairs.
                for i in 0..<8 {
                    let b0 = src[(base >> 1) + i], b1 = src[(base >> 1) + 8 + i]
                    // element base+2i (high of b0) and base+2i+1 (low of b0) go to low nibbles of
                    // bytes 2i and 2i+1; elements base+16+2i, +1 (from b1) to their high nibbles.
                    packed[16 * g + 2 * i] = (b0 >> 4) | (b1 & 0xF0)
                    packed[16 * g + 2 * i + 1] = (b0 & 0x0F) | (b1 << 4)
                }
            } else {
                for i in 0..<16 {
                    packed[16 * g + i] = nibble(base + i) | (nibble(base + 16 + i) << 4)
                }
            }
        }
        code = .allocate(capacity: 16)
        code.initialize(from: state.quantType.code, count: 16)
        if let nq = state.nested {
            absmax = nil
            qabsmax = .allocate(capacity: nq.qabsmax.count)
            qabsmax!.initialize(from: nq.qabsmax, count: nq.qabsmax.count)
            nestedAbsmax = .allocate(capacity: nq.absmax.count)
            nestedAbsmax!.initialize(from: nq.absmax, count: nq.absmax.count)
            nestedCode = .allocate(capacity: 256)
            nestedCode!.initialize(from: nq.code, count: 256)
        } else {
            absmax = .allocate(capacity: state.absmax.count)
            absmax!.initialize(from: state.absmax, count: state.absmax.count)
            qabsmax = nil
            nestedAbsmax = nil
            nestedCode = nil
        }
    }

    /// The kernels' form of a quantized tensor (a repacked copy).
    public static func make(_ q: QuantizedTensor) -> NF4Matrix {
        q.packed.withUnsafeBytes { NF4Matrix(bnbPacked: $0, state: q.state) }
    }

    deinit {
        packed.deallocate()
        code.deallocate()
        absmax?.deallocate()
        qabsmax?.deallocate()
        nestedAbsmax?.deallocate()
        nestedCode?.deallocate()
    }

    /// Raw view for the kernels; valid while this object is alive.
    public var ref: NF4MatrixRef {
        NF4MatrixRef(rows: rows, cols: cols, blockSize: state.blockSize, packed: packed, code: code,
                     absmax: absmax, qabsmax: qabsmax, nestedAbsmax: nestedAbsmax, nestedCode: nestedCode,
                     nestedBlockSize: state.nested?.blockSize ?? 256, offset: state.nested?.offset ?? 0)
    }

    /// Bytes held: nibbles plus constants.
    public var storedBytes: Int { packedCount + state.constantBytes }
}
