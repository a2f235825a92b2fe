import Dispatch
import QLoRACore

/// Blockwise 4-bit quantization (NF4 / FP4), bit-exact with bitsandbytes 0.50's CPU path.
///
/// The tensor is flattened in row-major order and cut into blocks of `blockSize` elements (blocks
/// cross row boundaries; the last one may be short). Per block `absmax = max|w|`; a full block
/// scales by the reciprocal, `s = clamp(w * (1 / max(absmax, 1e-38)), -1, 1)`, the short last block
/// divides, `s = clamp(w / max(absmax, 1e-38), -1, 1)`; then `index(of: s)`. Two indices per byte,
/// the even element in the high nibble; an odd count pads with the code of 0.0.
public enum FourBitCodec {
    public static let allowedBlockSizes = [32, 64, 128, 256, 512, 1024, 2048, 4096]
    static let absmaxFloor: Float = 1e-38

    /// Quantizes `w` (row-major, `shape`), optionally with double quantization of the absmax.
    /// Work is split over `threads` by whole blocks.
    public static func quantize(
        _ w: UnsafeBufferPointer<Float>, shape: [Int], dtype: String = "float32",
        type: FourBitType = .nf4, blockSize: Int = 64, doubleQuant: Bool = true, threads: Int = 1
    ) -> QuantizedTensor {
        precondition(allowedBlockSizes.contains(blockSize), "blocksize \(blockSize) not supported")
        precondition(shape.reduce(1, *) == w.count, "shape \(shape) does not match \(w.count) elements")
        let n = w.count
        let nb = (n + blockSize - 1) / blockSize
        var packed = [UInt8](repeating: 0, count: (n + 1) / 2)
        var absmax = [Float](repeating: 0, count: nb)
        let chunks = max(1, min(threads * 4, nb))
        packed.withUnsafeMutableBufferPointer { pk in
            absmax.withUnsafeMutableBufferPointer { am in
                let pkp = pk.baseAddress!, amp = am.baseAddress!
                let run = { (c: Int) in
                    let b0 = c * nb / chunks, b1 = (c + 1) * nb / chunks
                    for b in b0..<b1 { quantizeBlock(w, b, blockSize, type, pkp, amp) }
                }
                if threads > 1 { DispatchQueue.concurrentPerform(iterations: chunks, execute: run) } else {
                    for c in 0..<chunks { run(c) }
                }
            }
        }
        if n % 2 == 1 {
            packed[packed.count - 1] = (packed[packed.count - 1] & 0xF0) | type.zeroIndex
        }
        let nested = doubleQuant ? DoubleQuant.quantize(absmax) : nil
        let state = QuantState(quantType: type, blockSize: blockSize, shape: shape, dtype: dtype,
                               absmax: doubleQuant ? [] : absmax, nested: nested)
        return QuantizedTensor(packed: packed, state: state)
    }

    public static func quantize(
        _ w: [Float], shape: [Int], dtype: String = "float32", type: FourBitType = .nf4,
        blockSize: Int = 64, doubleQuant: Bool = true, threads: Int = 1
    ) -> QuantizedTensor {
        w.withUnsafeBufferPointer {
            quantize($0, shape: shape, dtype: dtype, type: type, blockSize: blockSize,
                     doubleQuant: doubleQuant, threads: threads)
        }
    }

    /// One block: its absmax, then its indices packed into bytes (block starts are even).
    @inline(__always)
    static func quantizeBlock(
        _ w: UnsafeBufferPointer<Float>, _ b: Int, _ blockSize: Int, _ type: FourBitType,
        _ packed: UnsafeMutablePointer<UInt8>, _ absmax: UnsafeMutablePointer<Float>
    ) {
        let lo = b * blockSize, hi = min(lo + blockSize, w.count)
        var m: Float = 0
        for i in lo..<hi { m = max(m, abs(w[i])) }
        absmax[b] = m
        let scale = max(m, absmaxFloor)
        let isShort = hi - lo < blockSize
        let inv = 1 / scale
        var i = lo
        while i < hi {
            let s0 = isShort ? w[i] / scale : w[i] * inv
            let i0 = type.index(of: min(max(s0, -1), 1))
            var i1 = type.zeroIndex
            if i + 1 < hi {
                let s1 = isShort ? w[i + 1] / scale : w[i + 1] * inv
                i1 = type.index(of: min(max(s1, -1), 1))
            }
            packed[i >> 1] = (i0 << 4) | i1
            i += 2
        }
    }

    /// The 4-bit index of element `j`.
    @inline(__always)
    public static func index(_ packed: [UInt8], _ j: Int) -> UInt8 {
        let byte = packed[j >> 1]
        return j & 1 == 0 ? byte >> 4 : byte & 0x0F
    }

    /// Reference dequantization: `code[index] * absmax'[j / blockSize]`, one Float32 multiply.
    public static func dequantize(_ q: QuantizedTensor) -> [Float] {
        let code = q.state.quantType.code
        let absmax = q.state.dequantizedAbsmax()
        let bs = q.state.blockSize
        return (0..<q.state.elementCount).map { j in code[Int(index(q.packed, j))] * absmax[j / bs] }
    }

    /// Dequantizes rows [row0, row0 + rows) of a 2-D tensor into `out` (rows × cols).
    public static func dequantizeRows(
        _ q: QuantizedTensor, absmax: [Float], row0: Int, rows: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let cols = q.state.shape.last ?? 1
        let code = q.state.quantType.code
        let bs = q.state.blockSize
        for r in 0..<rows {
            for c in 0..<cols {
                let j = (row0 + r) * cols + c
                out[r * cols + c] = code[Int(index(q.packed, j))] * absmax[j / bs]
            }
        }
    }
}
