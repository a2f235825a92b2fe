import QLoRACore

/// Where a `DataLoader` is in its stream of examples: enough to continue with exactly the batches an
/// uninterrupted run would have produced. Stored in checkpoints.
public struct DataPosition: Codable, Sendable, Equatable {
    /// Passes over the examples completed.
    public var epoch: Int
    /// The next example, as an index into this epoch's order.
    public var index: Int
    /// Tokens of that example already used (packing continues an example into the next row).
    public var offset: Int
    /// The generator's state before it drew this epoch's order (the order is drawn again from it).
    public var rng: SeededRNG
    /// How many examples the stream has, and a hash of their tokens: resuming on other data is refused.
    public var examples: Int
    public var fingerprint: UInt64

    public init(epoch: Int = 0, index: Int = 0, offset: Int = 0, rng: SeededRNG, examples: Int, fingerprint: UInt64) {
        self.epoch = epoch
        self.index = index
        self.offset = offset
        self.rng = rng
        self.examples = examples
        self.fingerprint = fingerprint
    }

    /// FNV-1a over every example's ids, learned flags and length.
    public static func fingerprint(_ examples: [TokenizedExample]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: UInt64) { h = (h ^ v) &* 0x0000_0100_0000_01b3 }
        for e in examples {
            mix(UInt64(e.ids.count))
            for (id, t) in zip(e.ids, e.trained) { mix(UInt64(UInt32(bitPattern: id)) << 1 | (t ? 1 : 0)) }
        }
        return h
    }
}

/// The order of `n` items for one epoch: a Fisher–Yates shuffle driven by `rng`, written out here
/// (not `Array.shuffle`) so the order never changes with the standard library.
func shuffledOrder(_ n: Int, _ rng: inout SeededRNG) -> [Int] {
    var order = Array(0..<n)
    var i = n - 1
    while i > 0 {
        // Lemire's multiply-shift: a uniform index in 0...i from 64 random bits (bias < 2⁻³²).
        let j = Int((UInt64(i + 1).multipliedFullWidth(by: rng.next())).high)
        order.swapAt(i, j)
        i -= 1
    }
    return order
}
