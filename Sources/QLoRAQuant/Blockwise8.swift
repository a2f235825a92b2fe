/// Blockwise 8-bit quantization with a 256-entry code, as bitsandbytes' native CPU kernel does it
/// (`cquantize_blockwise_cpu_fp32`): not an exact nearest search but a 65536-cell lookup table.
///
/// Per block: `absmax = max|x|`; `v = clamp(x * (1/absmax), -1, 1)`;
/// `cell = UInt16(((v + 1) * 0.5) * 65535 + 0.5)` (Float32, truncation); `q = LUT[cell]`, where
/// `LUT[t]` is the nearest code entry to `-1 + 2t/65535` (the lower one on ties), i.e. the count of
/// midpoints `0.5 * (code[i] + code[i+1])` strictly below it. An all-zero block gives index 0.
public struct Blockwise8: Sendable {
    public let code: [Float]
    /// 65536 cells → code index.
    let lut: [UInt8]

    public init(code: [Float]) {
        precondition(code.count == 256, "an 8-bit code has 256 entries")
        self.code = code
        let mids = (0..<255).map { Float(0.5) * (code[$0] + code[$0 + 1]) }
        var lut = [UInt8](repeating: 0, count: 65536)
        var k = 0
        for t in 0..<65536 {
            let x = Float(-1) + Float(2 * t) / Float(65535)
            while k < 255 && mids[k] < x { k += 1 }
            lut[t] = UInt8(k)
        }
        self.lut = lut
    }

    /// The signed dynamic map quantizer used by double quantization.
    public static let signedDynamic = Blockwise8(code: DynamicMap.signed)

    /// Quantizes `x` in blocks of `blockSize`: one index per element, one absmax per block.
    public func quantize(_ x: [Float], blockSize: Int) -> (indices: [UInt8], absmax: [Float]) {
        let nb = (x.count + blockSize - 1) / blockSize
        var q = [UInt8](repeating: 0, count: x.count)
        var absmax = [Float](repeating: 0, count: nb)
        for b in 0..<nb {
            let lo = b * blockSize, hi = min(lo + blockSize, x.count)
            var m: Float = 0
            for i in lo..<hi { m = max(m, abs(x[i])) }
            absmax[b] = m
            if m == 0 { continue }  // all-zero block: index 0
            let inv = 1 / m
            for i in lo..<hi { q[i] = index(normalized: x[i] * inv) }
        }
        return (q, absmax)
    }

    /// The code index for a value already divided by its block's absmax.
    @inline(__always)
    public func index(normalized v0: Float) -> UInt8 {
        let v = min(max(v0, -1), 1)
        let cell = ((v + 1) * 0.5) * 65535 + 0.5
        return lut[Int(UInt16(cell))]
    }

    /// `code[q] * absmax[block]`.
    public func dequantize(_ q: [UInt8], absmax: [Float], blockSize: Int) -> [Float] {
        (0..<q.count).map { code[Int(q[$0])] * absmax[$0 / blockSize] }
    }
}
