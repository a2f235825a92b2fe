/// One optimizer micro-batch: B rows of T token ids and their next-token targets.
/// `targets[i]` is the id to predict at position i (the next token), or -1 where no loss is taken
/// (prompt tokens, padding, the last token of a padded example, the last token of a packed example).
/// `positions[i]`, when present, is token i's position in its own example (its RoPE position), 0 at
/// each example's first token in the row: a token attends only to the `positions[i]` tokens before
/// it in its row (its own example; packing). Without positions a row is one sequence.
/// Legend: B = rows, T = positions.
public struct TrainingBatch: Sendable, Equatable {
    public var B: Int
    public var T: Int
    public var ids: [Int32]      // (B·T)
    public var targets: [Int32]  // (B·T), -1 = ignored
    public var positions: [Int32]?  // (B·T), restarting at 0 per example, or nil: 0..<T per row

    public init(B: Int, T: Int, ids: [Int32], targets: [Int32], positions: [Int32]? = nil) {
        precondition(ids.count == B * T && targets.count == B * T, "batch arrays must be B·T long")
        if let positions {
            precondition(positions.count == B * T, "batch arrays must be B·T long")
            for b in 0..<B {
                precondition(positions[b * T] == 0, "a row starts an example")
                for t in 1..<T { precondition(positions[b * T + t] == 0 || positions[b * T + t] == positions[b * T + t - 1] + 1,
                                              "positions count up within an example") }
            }
        }
        self.B = B
        self.T = T
        self.ids = ids
        self.targets = targets
        self.positions = positions
    }

    /// Positions that contribute to the loss.
    public var predictionCount: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Examples (segments) in the batch, counting a continued example again in its next row; B without positions.
    public var segmentCount: Int { positions.map { $0.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } } ?? B }
}
