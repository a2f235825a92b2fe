import Foundation
import QLoRACore
import QLoRAFormats

/// Rotary position embedding (Su et al. 2021, arXiv 2104.09864) in Hugging Face's "rotate half"
/// layout over the first RD = rotary dimensions of each head (RD = HS unless `partial_rotary_factor`
/// < 1; the rest pass through): with x1 = x[0..<RD/2] and x2 = x[RD/2..<RD],
/// y = (x1·cos − x2·sin, x2·cos + x1·sin), angle = position · invFreq[i]; cos and sin are multiplied
/// by the scaling's attention factor (yarn, longrope; 1 otherwise).
/// invFreq[i] = 1 / θ^(2i/RD), adjusted by the config's rope type (transformers `modeling_rope_utils.py`):
/// linear, dynamic (NTK, past `max_position_embeddings`), llama3, yarn, longrope (short or long
/// factors chosen by the sequence length). Types whose frequencies depend on the length get them
/// from the length the call covers (start + rows), as transformers does from the largest position.
/// Legend: T = positions, NH = heads, HS = head size, RD = rotary dimensions.
public final class RoPE: @unchecked Sendable {
    public let headSize: Int
    public let rotaryDim: Int
    let config: LlamaConfig
    let rope: LlamaConfig.LayerRope
    /// The frequencies and attention factor at short lengths (what most calls use).
    public let invFreq: [Float]
    public let attentionFactor: Float
    private(set) var cos: [Float] = []   // (positions, RD/2), × attention factor
    private(set) var sin: [Float] = []
    public private(set) var positions = 0
    private var regime = 0

    public init(config: LlamaConfig, layer: Int = 0) {
        self.config = config
        rope = config.rope(layer: layer)
        headSize = config.headDim
        rotaryDim = config.rotaryDim
        (invFreq, attentionFactor) = RoPE.frequencies(config, rope, length: 1)
    }

    /// A RoPE for every layer of `config`, one object per distinct θ and scaling.
    public static func perLayer(_ config: LlamaConfig) -> [RoPE] {
        var made: [LlamaConfig.LayerRope: RoPE] = [:]
        return (0..<config.numHiddenLayers).map { l in
            let r = config.rope(layer: l)
            if let existing = made[r] { return existing }
            let new = RoPE(config: config, layer: l)
            made[r] = new
            return new
        }
    }

    /// The first layer's inverse frequencies at short lengths.
    public static func inverseFrequencies(_ c: LlamaConfig) -> [Float] {
        frequencies(c, c.rope(layer: 0), length: 1).inv
    }

    /// Which table a call of `length` positions uses: 0 for the short-length one; longrope's long
    /// factors are 1; dynamic NTK past the context is the length itself.
    func regime(_ length: Int) -> Int {
        guard let s = rope.scaling else { return 0 }
        switch s.ropeType {
        case "longrope": return length > config.originalContext(s) ? 1 : 0
        case "dynamic": return length > config.maxPositionEmbeddings ? length : 0
        default: return 0
        }
    }

    /// Whether a sequence growing to `n` positions changes the rotation of the positions before it:
    /// longrope switching from its short to its long factors as `n` passes the original context.
    /// (transformers' Phi-3 then recomputes the whole KV cache; `TokenGenerator` does the same.)
    public func rotatesEarlierPositions(growingTo n: Int) -> Bool {
        guard let s = rope.scaling, s.ropeType == "longrope" else { return false }
        return n == config.originalContext(s) + 1
    }

    /// Hugging Face's `_compute_*_parameters` (Float32 where transformers computes in Float32).
    public static func frequencies(_ c: LlamaConfig, _ r: LlamaConfig.LayerRope, length: Int) -> (inv: [Float], attention: Float) {
        let dim = c.rotaryDim, half = dim / 2
        var base = Float(r.theta)
        func plain() -> [Float] { (0..<half).map { i -> Float in 1 / powf(base, Float(2 * i) / Float(dim)) } }
        guard let s = r.scaling else { return (plain(), 1) }
        switch s.ropeType {
        case "llama3":
            let factor = Float(s.factor), low = Float(s.lowFreqFactor ?? 1), high = Float(s.highFreqFactor ?? 4)
            let old = Float(c.originalContext(s))
            let lowWavelen = old / low, highWavelen = old / high
            return (plain().map { f in
                let wavelen = 2 * Float.pi / f
                if wavelen < highWavelen { return f }
                if wavelen > lowWavelen { return f / factor }
                let smooth = (old / wavelen - low) / (high - low)
                return (1 - smooth) * f / factor + smooth * f
            }, 1)
        case "linear":
            return (plain().map { $0 / Float(s.factor) }, 1)
        case "dynamic":
            let maxPos = c.maxPositionEmbeddings
            if length > maxPos {
                let f = Double(s.factor), n = Double(length)
                base = Float(r.theta * pow(f * n / Double(maxPos) - (f - 1), Double(dim) / Double(dim - 2)))
            }
            return (plain(), 1)
        case "yarn":
            let orig = Double(c.originalContext(s))
            let factor = s.factorGiven ? s.factor : Double(c.maxPositionEmbeddings) / orig
            func mscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * log(scale) + 1 }
            var attention = s.attentionFactor
            if attention == nil {
                if let m = s.mscale, let all = s.mscaleAllDim, m != 0, all != 0 {
                    attention = mscale(factor, m) / mscale(factor, all)
                } else {
                    attention = mscale(factor)
                }
            }
            let betaFast = s.betaFast ?? 32, betaSlow = s.betaSlow ?? 1
            func correctionDim(_ rotations: Double) -> Double {
                Double(dim) * log(orig / (rotations * 2 * Double.pi)) / (2 * log(r.theta))
            }
            var low = correctionDim(betaFast), high = correctionDim(betaSlow)
            if s.truncate ?? true { low = low.rounded(.down); high = high.rounded(.up) }
            low = max(low, 0); high = min(high, Double(dim - 1))
            if low == high { high += 0.001 }
            let (lo, hi) = (Float(low), Float(high))
            let pos = (0..<half).map { i in powf(base, Float(2 * i) / Float(dim)) }
            let fFactor = Float(factor)
            let inv = (0..<half).map { i -> Float in
                let ramp = min(max((Float(i) - lo) / (hi - lo), 0), 1)
                let extrapolation = 1 - ramp
                let interp = 1 / (fFactor * pos[i]), extra = 1 / pos[i]
                return interp * (1 - extrapolation) + extra * extrapolation
            }
            return (inv, Float(attention!))
        case "longrope":
            let orig = c.originalContext(s)
            let factor = s.factorGiven ? s.factor : Double(c.maxPositionEmbeddings) / Double(orig)
            let attention = s.attentionFactor ?? (factor <= 1 ? 1 : (1 + log(factor) / log(Double(orig))).squareRoot())
            let ext = (length > orig ? s.longFactor! : s.shortFactor!).map(Float.init)
            let inv = (0..<half).map { i -> Float in 1 / (ext[i] * powf(base, Float(2 * i) / Float(dim))) }
            return (inv, Float(attention))
        default:
            return (plain(), 1)
        }
    }

    /// Makes the tables cover positions 0..<n, with the frequencies a call of length n uses.
    public func ensure(_ n: Int) {
        let r = regime(n)
        guard n > positions || r != regime else { return }
        let count = max(n, r == regime ? positions : 0)
        let (inv, attention) = r == 0 ? (invFreq, attentionFactor) : RoPE.frequencies(config, rope, length: n)
        let half = rotaryDim / 2
        var c = [Float](repeating: 0, count: count * half), s = c
        for p in 0..<count {
            for i in 0..<half {
                let angle = Float(p) * inv[i]
                c[p * half + i] = Float(Foundation.cos(Double(angle))) * attention
                s[p * half + i] = Float(Foundation.sin(Double(angle))) * attention
            }
        }
        cos = c
        sin = s
        positions = count
        regime = r
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
        let half = rotaryDim / 2
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

    /// The gradient of `forward`: the transposed rotation (by the opposite angle, times the same
    /// attention factor), in place on dx (which holds dy on entry); the unrotated tail passes through.
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
        let half = rotaryDim / 2
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
