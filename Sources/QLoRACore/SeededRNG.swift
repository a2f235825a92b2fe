/// A small, fast, seedable random number generator (SplitMix64), so runs repeat exactly by seed.
public struct SeededRNG: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Float {
        var u1 = nextUnitFloat()
        while u1 <= 0 { u1 = nextUnitFloat() }
        let u2 = nextUnitFloat()
        return (-2 * Float.log(u1)).squareRoot() * Float.cos(2 * Float.pi * u2)
    }
}

extension Float {
    @inline(__always) static func log(_ x: Float) -> Float { Float(_log(Double(x))) }
    @inline(__always) static func cos(_ x: Float) -> Float { Float(_cos(Double(x))) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
#endif
