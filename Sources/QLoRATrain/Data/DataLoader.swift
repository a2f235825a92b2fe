import QLoRACore

/// How examples are laid out in the rows of a batch.
public enum BatchLayout: String, Sendable, Codable, CaseIterable {
    /// Examples are concatenated (each ends with EOS or the chat template's end of turn) and the
    /// stream is cut into rows; an example may continue into the next row or batch.
    case packing
    /// One example per row, truncated to T+1 tokens or padded; padding takes no loss.
    case padding
}

/// Produces training batches of B rows × T tokens from tokenized examples, in a shuffled order per
/// epoch (by seed), forever; `position` says where it is and `init(…, resumingAt:)` continues there
/// with exactly the batches an uninterrupted run gives.
///
/// A row holds T tokens and predicts the token after each: it is read from T+1 consecutive tokens
/// (packing: the next row starts at the last of them, llm.c style; padding: an example's first
/// T+1 tokens). `targets[i]` is the next token where that token is learned, else -1.
/// Packed rows carry positions: each example (or the part of one continued from the previous row)
/// is its own sequence in the row, seeing none of the others, and its last token predicts nothing
/// (as TRL's padding-free packing with `position_ids` and flash-attention varlen do), so a packed
/// batch's loss is the sum of its examples' losses run one by one.
/// Legend: B = rows, T = positions per row.
public struct DataLoader: Sendable {
    public let B: Int
    public let T: Int
    public let layout: BatchLayout
    public let shuffle: Bool
    /// The id written into padding positions (never a target).
    public let padID: Int32
    let examples: [TokenizedExample]
    /// The stream's cursor, with this epoch's order.
    var cursor: Cursor

    public var position: DataPosition { cursor.position }

    public init(examples: [TokenizedExample], B: Int, T: Int, layout: BatchLayout, seed: UInt64,
                shuffle: Bool = true, padID: Int32) throws {
        guard B >= 1, T >= 1 else { throw QLoRAError.invalid("batch and sequence length must be ≥ 1") }
        guard !examples.isEmpty, examples.contains(where: { !$0.ids.isEmpty }) else {
            throw QLoRAError.invalid("no training examples")
        }
        self.B = B
        self.T = T
        self.layout = layout
        self.shuffle = shuffle
        self.padID = padID
        self.examples = examples
        let start = DataPosition(rng: SeededRNG(seed: seed), examples: examples.count,
                                 fingerprint: DataPosition.fingerprint(examples))
        cursor = Cursor(start, count: examples.count, shuffle: shuffle)
    }

    /// A loader that continues at `position` (saved from a loader over the same examples).
    public init(examples: [TokenizedExample], B: Int, T: Int, layout: BatchLayout, shuffle: Bool = true,
                padID: Int32, resumingAt position: DataPosition) throws {
        try self.init(examples: examples, B: B, T: T, layout: layout, seed: 0, shuffle: shuffle, padID: padID)
        guard position.examples == examples.count, position.fingerprint == cursor.position.fingerprint else {
            throw QLoRAError.invalid("the training data changed since the checkpoint (\(position.examples) examples then, \(examples.count) now, or different tokens)")
        }
        guard position.epoch >= 0, (0..<examples.count).contains(position.index), position.offset >= 0 else {
            throw QLoRAError.invalid("the saved data position is out of range")
        }
        cursor = Cursor(position, count: examples.count, shuffle: shuffle)
        guard position.offset < max(1, examples[cursor.order[position.index]].ids.count) else {
            throw QLoRAError.invalid("the saved data position is out of range")
        }
    }

    /// The next B × T batch.
    public mutating func next() -> TrainingBatch {
        var ids = [Int32](repeating: padID, count: B * T)
        var targets = [Int32](repeating: -1, count: B * T)
        var positions = [Int32](repeating: 0, count: B * T)
        for b in 0..<B {
            let window: Window
            switch layout {
            case .packing:
                var ahead = cursor
                window = read(T + 1, &ahead)
                _ = read(T, &cursor)
            case .padding:
                let e = examples[cursor.order[cursor.position.index]]
                window = Window(example: e.ids.prefix(T + 1), trained: e.trained.prefix(T + 1))
                cursor.advanceExample()
            }
            Self.fill(row: b, T: T, window, &ids, &targets, positions: &positions)
        }
        return TrainingBatch(B: B, T: T, ids: ids, targets: targets, positions: layout == .packing ? positions : nil)
    }

    /// Writes a window of ≤ T+1 tokens into row b: ids are its first T, targets the learned next
    /// tokens within the same example, positions count from each example's first token in the row.
    static func fill(row b: Int, T: Int, _ w: Window, _ ids: inout [Int32], _ targets: inout [Int32],
                     positions: inout [Int32]) {
        let n = min(w.ids.count, T + 1)
        let ids0 = w.ids.startIndex, tr0 = w.trained.startIndex, st0 = w.starts.startIndex
        var p: Int32 = 0
        for t in 0..<T {   // padding continues the last example's positions (it takes no loss)
            if t > 0 { p = t < n && w.starts[st0 + t] ? 0 : p + 1 }
            positions[b * T + t] = p
        }
        for t in 0..<min(n, T) { ids[b * T + t] = w.ids[ids0 + t] }
        guard n >= 2 else { return }
        for t in 0..<(n - 1) where w.trained[tr0 + t + 1] && !w.starts[st0 + t + 1] {
            targets[b * T + t] = w.ids[ids0 + t + 1]
        }
    }

    /// The next `count` tokens of the stream (crossing examples and epochs), advancing `c`.
    func read(_ count: Int, _ c: inout Cursor) -> Window {
        var w = Window(ids: [], trained: [], starts: [])
        w.ids.reserveCapacity(count)
        w.trained.reserveCapacity(count)
        w.starts.reserveCapacity(count)
        while w.ids.count < count {
            let e = examples[c.order[c.position.index]]
            let take = min(count - w.ids.count, e.ids.count - c.position.offset)
            w.ids += e.ids[c.position.offset..<(c.position.offset + take)]
            w.trained += e.trained[c.position.offset..<(c.position.offset + take)]
            for i in 0..<take { w.starts.append(i == 0 && c.position.offset == 0) }
            c.position.offset += take
            if c.position.offset >= e.ids.count { c.advanceExample() }
        }
        return w
    }

    /// Consecutive tokens, their learned flags, and which of them start an example.
    struct Window {
        var ids: ArraySlice<Int32>
        var trained: ArraySlice<Bool>
        var starts: ArraySlice<Bool>

        init(ids: ArraySlice<Int32>, trained: ArraySlice<Bool>, starts: ArraySlice<Bool>) {
            self.ids = ids; self.trained = trained; self.starts = starts
        }

        /// The start of one example (a padded row).
        init(example ids: ArraySlice<Int32>, trained: ArraySlice<Bool>) {
            self.init(ids: ids, trained: trained, starts: ArraySlice((0..<ids.count).map { $0 == 0 }))
        }
    }

    /// A position and the order of its epoch (drawn from the position's generator).
    struct Cursor: Sendable {
        var position: DataPosition
        var order: [Int]
        /// The generator's state after drawing `order`: the next epoch's starting state.
        var nextRNG: SeededRNG
        let shuffle: Bool

        init(_ position: DataPosition, count: Int, shuffle: Bool) {
            self.position = position
            self.shuffle = shuffle
            var g = position.rng
            order = shuffle ? shuffledOrder(count, &g) : Array(0..<count)
            nextRNG = g
        }

        mutating func advanceExample() {
            position.offset = 0
            position.index += 1
            if position.index == order.count {
                var next = position
                next.epoch += 1
                next.index = 0
                next.rng = nextRNG
                self = Cursor(next, count: order.count, shuffle: shuffle)
            }
        }
    }
}
