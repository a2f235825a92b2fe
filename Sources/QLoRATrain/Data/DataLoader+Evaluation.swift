extension DataLoader {
    /// Every example once, in the given order, as batches of up to B rows (the last batch may have
    /// fewer): for an evaluation loss that does not depend on a seed or on where training is.
    /// Packing cuts the concatenated examples into rows of T+1 tokens overlapping by one, as
    /// training does; the last row may be short (padded, no loss there).
    public static func evaluationBatches(_ examples: [TokenizedExample], B: Int, T: Int, layout: BatchLayout,
                                         padID: Int32) -> [TrainingBatch] {
        precondition(B >= 1 && T >= 1)
        var windows: [Window] = []
        switch layout {
        case .padding:
            windows = examples.filter { $0.ids.count >= 2 }.map {
                Window(example: $0.ids.prefix(T + 1), trained: $0.trained.prefix(T + 1))
            }
        case .packing:
            let ids = examples.flatMap(\.ids), trained = examples.flatMap(\.trained)
            let starts = examples.flatMap { e in (0..<e.ids.count).map { $0 == 0 } }
            var start = 0
            while start + 1 < ids.count {
                let end = min(start + T + 1, ids.count)
                windows.append(Window(ids: ids[start..<end], trained: trained[start..<end], starts: starts[start..<end]))
                start += T
            }
        }
        return stride(from: 0, to: windows.count, by: B).map { first in
            let rows = min(B, windows.count - first)
            var ids = [Int32](repeating: padID, count: rows * T)
            var targets = [Int32](repeating: -1, count: rows * T)
            var positions = [Int32](repeating: 0, count: rows * T)
            for b in 0..<rows { fill(row: b, T: T, windows[first + b], &ids, &targets, positions: &positions) }
            return TrainingBatch(B: rows, T: T, ids: ids, targets: targets, positions: layout == .packing ? positions : nil)
        }
    }
}
