import QLoRACore

/// The two 4-bit data types of bitsandbytes and how a normalized value in [-1, 1] maps to a code.
public enum FourBitType: String, CaseIterable, Codable, Sendable {
    case nf4, fp4

    /// The 16 code values in index order.
    public var code: [Float] {
        switch self {
        case .nf4: return QuantCodebooks.nf4
        case .fp4: return QuantCodebooks.fp4
        }
    }

    /// The index that encodes 0.0 (the pad nibble for an odd count).
    public var zeroIndex: UInt8 {
        switch self {
        case .nf4: return QuantCodebooks.nf4ZeroIndex
        case .fp4: return QuantCodebooks.fp4ZeroIndex
        }
    }

    /// NF4 decision boundaries: `bounds[i] = (code[i] + code[i+1]) / 2` in Float32.
    public static let nf4Bounds: [Float] = {
        let c = QuantCodebooks.nf4
        return (0..<15).map { (c[$0] + c[$0 + 1]) / 2 }
    }()

    /// The largest half-gap between neighbouring NF4 codes: the worst-case error of a normalized
    /// value, so |w - w'| ≤ absmax × this for every element.
    public var maxHalfGap: Float {
        let sorted = code.sorted()
        return (0..<15).map { (sorted[$0 + 1] - sorted[$0]) / 2 }.max()!
    }

    /// The code index for a normalized value `s` in [-1, 1].
    ///
    /// NF4: the number of boundaries strictly below `s` (torch.bucketize, right=False), so a value on a
    /// boundary takes the lower code. FP4: bitsandbytes' decision tree on |s| with the sign in bit 3.
    @inline(__always)
    public func index(of s: Float) -> UInt8 {
        switch self {
        case .nf4:
            var n: UInt8 = 0
            for b in FourBitType.nf4Bounds where s > b { n &+= 1 }
            return n
        case .fp4:
            let sign: UInt8 = s < 0 ? 0b1000 : 0
            let x = abs(s)
            if x > 0.29166667 {
                if x > 0.583333 { return (x > 0.8333333 ? 0b011 : 0b010) + sign }
                return (x > 0.4166667 ? 0b101 : 0b100) + sign
            }
            if x > 0.0859375 { return (x > 0.20833333 ? 0b111 : 0b110) + sign }
            return (x > 0.00260417 ? 0b001 : 0b000) + sign
        }
    }
}
