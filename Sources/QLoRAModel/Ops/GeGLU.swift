import Foundation
import QLoRAFormats

/// The GeGLU gate of Gemma's MLP (Shazeer 2020, arXiv 2002.05202): h = gelu(g) ⊙ u with the tanh
/// approximation transformers calls `gelu_pytorch_tanh`:
/// gelu(g) = ½ g (1 + tanh(k (g + a g³))), k = √(2/π), a = 0.044715. Legend: M = tokens,
/// F = intermediate size. Scalar loops (Foundation's tanh): not vectorized yet.
public enum GeGLU {
    static let k: Float = 0.7978845608028654   // √(2/π)
    static let a: Float = 0.044715

    @inline(__always) static func gelu(_ g: Float) -> Float {
        0.5 * g * (1 + tanh(k * (g + a * g * g * g)))
    }

    /// - out: (M·F), may be `gate`; gate, up: (M·F).
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>,
                               _ up: UnsafePointer<Float>, _ count: Int) {
        for i in 0..<count { out[i] = gelu(gate[i]) * up[i] }
    }

    /// Accumulates dgate += dh · u · gelu′(g) and dup += dh · gelu(g), with t = tanh(k (g + a g³)):
    /// gelu′(g) = ½ (1 + t) + ½ g (1 − t²) k (1 + 3 a g²).
    /// - dgate, dup: (M·F), accumulated; dh: (M·F); gate, up: (M·F) saved from forward.
    public static func backward(_ dgate: UnsafeMutablePointer<Float>, _ dup: UnsafeMutablePointer<Float>,
                                _ dh: UnsafePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>,
                                _ count: Int) {
        for i in 0..<count {
            let g = gate[i]
            let t = tanh(k * (g + a * g * g * g))
            let value = 0.5 * g * (1 + t)
            let slope = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * k * (1 + 3 * a * g * g)
            dgate[i] += dh[i] * up[i] * slope
            dup[i] += dh[i] * value
        }
    }
}

/// The MLP's gated unit h = act(gate) ⊙ up for the family's activation (SwiGLU or GeGLU).
public enum GatedUnit {
    public static func forward(_ activation: DecoderFamily.GateActivation, _ out: UnsafeMutablePointer<Float>,
                               _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ count: Int) {
        switch activation {
        case .silu: SwiGLU.forward(out, gate, up, count)
        case .geluTanh: GeGLU.forward(out, gate, up, count)
        }
    }

    public static func backward(_ activation: DecoderFamily.GateActivation, _ dgate: UnsafeMutablePointer<Float>,
                                _ dup: UnsafeMutablePointer<Float>, _ dh: UnsafePointer<Float>,
                                _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ count: Int) {
        switch activation {
        case .silu: SwiGLU.backward(dgate, dup, dh, gate, up, count)
        case .geluTanh: GeGLU.backward(dgate, dup, dh, gate, up, count)
        }
    }
}
