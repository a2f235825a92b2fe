import QLoRACore

/// Token embedding lookup: out[t, :] = table[ids[t], :].
/// Legend: M = tokens (B·T), C = hidden, V = vocab.
public enum Embedding {
    /// - out: (M, C); ids: (M) token ids, each in 0..<V; table: (V, C) Float32 or bf16.
    public static func forward(_ out: UnsafeMutablePointer<Float>, _ ids: UnsafePointer<Int32>, _ M: Int,
                               _ table: DenseMatrixRef) {
        let C = table.cols
        for t in 0..<M {
            let row = Int(ids[t])
            precondition(row >= 0 && row < table.rows, "token id \(row) outside the vocabulary")
            let o = out + t * C
            switch table.storage {
            case .f32:
                o.update(from: table.data.assumingMemoryBound(to: Float.self) + row * C, count: C)
            case .bf16:
                let h = table.data.assumingMemoryBound(to: UInt16.self) + row * C
                for c in 0..<C { o[c] = Float(bitPattern: UInt32(h[c]) << 16) }
            }
        }
    }

    /// Gemma's scaled embeddings: x ← x · s over `count` floats (s = √hidden in Float32). The table is
    /// frozen and nothing before it trains, so there is no backward.
    public static func scale(_ x: UnsafeMutablePointer<Float>, _ count: Int, by s: Float) {
        for i in 0..<count { x[i] *= s }
    }
}
