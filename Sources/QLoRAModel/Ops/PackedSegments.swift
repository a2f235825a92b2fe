/// Packed rows as data for RoPE and attention: several examples share a row, each one its own
/// sequence. From the per-token positions (restarting at 0 at each example's first token), each
/// token's rotary position and the first key its attention sees (`Attention.Shape.segmentStarts`).
/// Virtual positions (P embedding rows before each row's tokens: prompt tuning; NKVP key/value
/// rows before each row's keys: prefix tuning) come first in every example's view: pinned keys that
/// every later query sees, with each example's own positions starting after them, as when the
/// example runs alone. Legend: B = rows, T = real tokens per row, TT = P + T.
public struct PackedSegments: Sendable {
    /// (B·TT): the rotary position of each query/key row.
    public let ropePositions: [Int32]
    /// (B·TT): the key index where each query's example begins.
    public let keyStarts: [Int32]
    /// Keys every query sees (NKVP + P).
    public let pinned: Int

    public init(positions: UnsafeBufferPointer<Int32>, B: Int, T: Int, virtualRows P: Int = 0, prefixKeys NKVP: Int = 0) {
        precondition(positions.count == B * T)
        let TT = P + T
        var rope = [Int32](repeating: 0, count: B * TT), starts = rope
        for b in 0..<B {
            for tt in 0..<TT {
                if tt < P {
                    rope[b * TT + tt] = Int32(NKVP + tt)
                } else {
                    let t = tt - P, p = Int(positions[b * T + t])
                    rope[b * TT + tt] = Int32(NKVP + P + p)
                    starts[b * TT + tt] = Int32(NKVP + P + t - p)
                }
            }
        }
        ropePositions = rope
        keyStarts = starts
        pinned = NKVP + P
    }
}
