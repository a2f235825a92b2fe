/// One optimizer micro-batch: B rows of T token ids and their next-token targets.
/// `targets[i]` is the id to predict at position i (the next token), or -1 where no loss is taken
/// (prompt tokens, padding, the last token of a padded example). Legend: B = rows, T = positions.
public struct TrainingBatch: Sendable, Equatable {
    public var B: Int
    public var T: Int
    public var ids: [Int32]      // (B·T)
    public var targets: [Int32]  // (B·T), -1 = ignored

    public init(B: Int, T: Int, ids: [Int32], targets: [Int32]) {
        precondition(ids.count == B * T && targets.count == B * T, "batch arrays must be B·T long")
        self.B = B
        self.T = T
        self.ids = ids
        self.targets = targets
    }

    /// Positions that contribute to the loss.
    public var predictionCount: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }
}
