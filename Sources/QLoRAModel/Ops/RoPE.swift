import Foundation
import QLoRACore
import QLoRAFormats

/// Rotary position embedding (Su et al. 2021, arXiv 2104.09864) in Hugging Face's "rotate half"
/// layout: for each head, with x1 = x[0..<HS/2] and x2 = x[HS/2..<HS],
/// y = (x1·cos − x2·sin, x2·cos + x1·sin), angle = position · invFreq[i].
/// invFreq[i] = 1 / θ^(2i/HS), adjusted by Llama-3 or linear rope scaling.
/// Legend: T = positions, NH = heads, HS = head size.
public final class RoPE: @unchecked Sendable {
    public let headSize: Int
    public let invFreq: [Float]
    private(set) var cos: [Float] = []   // (positions, HS/2)
    private(set) var sin: [Float] = []
    public private(set) var positions = 0

    public init(config: LlamaConfig) {
        headSize = config.headDim
        invFreq = RoPE.inverseFrequencies(config)
    }

    /// Hugging Face's `_compute_default_rope_parameters` (Float32 power) and `_compute_llama3_parameters`.
    public static func inverseFrequencies(_ c: LlamaConfig) -> [Float] {
        let hs = c.headDim
        let base = Float(c.ropeTheta)
        var inv = (0..<(hs / 2)).map { i -> Float in 1 / powf(base, Float(2 * i) / Float(hs)) }
        guard let s = c.ropeScaling else { return inv }
        switch s.ropeType {
        case "llama3":
            let factor = Float(s.factor), low = Float(s.lowFreqFactor ?? 1), high = Float(s.highFreqFactor ?? 4)
            let old = Float(s.originalMaxPositionEmbeddings ?? 8192)
            let lowWavelen = old / low, highWavelen = old / high
            inv = inv.map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / factor }
                let smooth = (old / wavelen - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }
        case "linear":
            inv = inv.map { $0 / Float(s.factor) }
        default:
            break
        }
        return inv
    }

    /// Makes the tables cover positions 0..<n.
    public func ensure(_ n: Int) {
        guard n > positions else { return }
        let half = headSize / 2
        var c = [Float](repeating: 0, count: n * half), s = c
        for p in 0..<n {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                c[p * half + i] = Float(Foundation.cos(Double(angle)))
                s[p * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
        cos = c
        sin = s
        positions = n
    }

    /// Rotates x (rows of `heads` heads, row stride `stride`) in place; row t is at position
    /// `start + t % period` (period = the sequence length when rows hold B sequences of T).
    public func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, stride: Int, start: Int, period: Int) {
        ensure(start + min(rows, period))
        forward(x, rows: rows, heads: heads, stride: stride) { start + $0 % period }
    }

    /// `forward` with row t at `positions[t]` (packed rows: positions restart per example).
    public func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, stride: Int, positions: UnsafePointer<Int32>) {
        var n = 0
        for t in 0..<rows { n = max(n, Int(positions[t]) + 1) }
        ensure(n)
        forward(x, rows: rows, heads: heads, stride: stride) { Int(positions[$0]) }
    }

    @inline(__always)
    private func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, stride: Int, position: (Int) -> Int) {
        let half = headSize / 2
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in
                for t in 0..<rows {
                    let pos = position(t)
                    let cp = cb.baseAddress! + pos * half, sp = sb.baseAddress! + pos * half
                    for h in 0..<heads {
                        let v = x + t * stride + h * headSize
                        for i in 0..<half {
                            let x1 = v[i], x2 = v[i + half]
                            v[i] = x1 * cp[i] - x2 * sp[i]
                            v[i + half] = x2 * cp[i] + x1 * sp[i]
                        }
                    }
                }
            }
        }
    }

    /// The gradient of `forward`: rotation by the opposite angle (the map is orthogonal), in place
    /// on dx (which holds dy on entry).
    public func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, stride: Int, start: Int, period: Int) {
        ensure(start + min(rows, period))
        backward(dx, rows: rows, heads: heads, stride: stride) { start + $0 % period }
    }

    /// `backward` with row t at `positions[t]`.
    public func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, stride: Int, positions: UnsafePointer<Int32>) {
        var n = 0
        for t in 0..<rows { n = max(n, Int(positions[t]) + 1) }
        ensure(n)
        backward(dx, rows: rows, heads: heads, stride: stride) { Int(positions[$0]) }
    }

    @inline(__always)
    private func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, stride: Int, position: (Int) -> Int) {
        let half = headSize / 2
        cos.withUnsafeBufferPointer { cb in
            sin.withUnsafeBufferPointer { sb in
                for t in 0..<rows {
                    let pos = position(t)
                    let cp = cb.baseAddress! + pos * half, sp = sb.baseAddress! + pos * half
                    for h in 0..<heads {
                        let v = dx + t * stride + h * headSize
                        for i in 0..<half {
                            let g1 = v[i], g2 = v[i + half]
                            v[i] = g1 * cp[i] + g2 * sp[i]
                            v[i + half] = g2 * cp[i] - g1 * sp[i]
                        }
                    }
                }
            }
        }
    }
}
