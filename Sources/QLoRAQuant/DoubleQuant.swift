/// Double quantization of the first-level absmax (QLoRA §3; bitsandbytes `quantize_4bit` with
/// `compress_statistics=True`): subtract the mean, quantize blockwise (256) with the signed dynamic
/// 8-bit map.
public enum DoubleQuant {
    public static let nestedBlockSize = 256

    /// The mean of `absmax` in Float32 (accumulated in Double, then rounded once; torch's own
    /// summation order may differ from this in the last bit).
    public static func offset(of absmax: [Float]) -> Float {
        guard !absmax.isEmpty else { return 0 }
        var s = 0.0
        for a in absmax { s += Double(a) }
        return Float(s / Double(absmax.count))
    }

    /// Quantizes `absmax` around `offset` (computed when nil).
    public static func quantize(_ absmax: [Float], offset given: Float? = nil) -> QuantState.Nested {
        let offset = given ?? self.offset(of: absmax)
        let centred = absmax.map { $0 - offset }
        let q8 = Blockwise8.signedDynamic
        let (indices, nestedAbsmax) = q8.quantize(centred, blockSize: nestedBlockSize)
        return QuantState.Nested(qabsmax: indices, absmax: nestedAbsmax, offset: offset, code: q8.code,
                                 blockSize: nestedBlockSize)
    }
}
