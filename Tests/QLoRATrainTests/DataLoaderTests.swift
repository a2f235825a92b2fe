import Foundation
import QLoRA
import Testing

/// Batches from tokenized examples: shapes and contents of packing and padding, shuffling by seed,
/// and exact continuation from a saved (JSON round-tripped) position.
@Suite struct DataLoaderTests {
    /// Example i has `lengths[i]` tokens with ids 1000·i + k; every third token is a prompt token.
    static func examples(_ lengths: [Int]) -> [TokenizedExample] {
        lengths.enumerated().map { i, n in
            let trained = (0..<n).map { $0 > 0 && $0 % 3 != 0 }
            return TokenizedExample(ids: (0..<n).map { Int32(1000 * i + $0) }, trained: trained, line: i + 1)
        }
    }

    static let lengths = [5, 9, 3, 12, 7, 4, 6, 10, 2, 8]
    static let pad: Int32 = -7

    /// The targets a row of ids must have: the next token where it is learned, else -1.
    static func expectedTargets(_ window: ArraySlice<Int32>, _ learned: ArraySlice<Bool>, T: Int) -> [Int32] {
        let ids = Array(window), flags = Array(learned)
        return (0..<T).map { t in t + 1 < ids.count && flags[t + 1] ? ids[t + 1] : -1 }
    }

    @Test func packingCutsTheConcatenatedStreamIntoOverlappingRows() throws {
        let ex = Self.examples(Self.lengths)
        let B = 3, T = 8
        var loader = try DataLoader(examples: ex, B: B, T: T, layout: .packing, seed: 1, shuffle: false, padID: Self.pad)
        // Without shuffling the stream is the examples in order, repeated each epoch.
        let epoch = ex.flatMap(\.ids), epochFlags = ex.flatMap(\.trained)
        let stream = Array(repeating: epoch, count: 8).flatMap { $0 }
        let flags = Array(repeating: epochFlags, count: 8).flatMap { $0 }
        for step in 0..<12 {  // 12·3·8 = 288 tokens: several epochs of 66
            let batch = loader.next()
            #expect(batch.B == B && batch.T == T && batch.ids.count == B * T && batch.targets.count == B * T)
            for b in 0..<B {
                let start = (step * B + b) * T
                let row = Array(batch.ids[(b * T)..<((b + 1) * T)])
                #expect(row == Array(stream[start..<(start + T)]))
                let targets = Array(batch.targets[(b * T)..<((b + 1) * T)])
                #expect(targets == Self.expectedTargets(stream[start...(start + T)], flags[start...(start + T)], T: T))
            }
        }
        #expect(loader.position.epoch == 12 * B * T / epoch.count)
    }

    @Test func paddingPutsOneTruncatedOrPaddedExamplePerRow() throws {
        let ex = Self.examples(Self.lengths)
        let B = 4, T = 6
        var loader = try DataLoader(examples: ex, B: B, T: T, layout: .padding, seed: 1, shuffle: false, padID: Self.pad)
        for step in 0..<5 {
            let batch = loader.next()
            #expect(batch.B == B && batch.T == T)
            for b in 0..<B {
                let e = ex[(step * B + b) % ex.count]
                let n = min(e.ids.count, T)
                let row = Array(batch.ids[(b * T)..<((b + 1) * T)])
                #expect(Array(row[..<n]) == Array(e.ids[..<n]))
                #expect(row[n...].allSatisfy { $0 == Self.pad })
                let targets = Array(batch.targets[(b * T)..<((b + 1) * T)])
                #expect(targets == Self.expectedTargets(e.ids.prefix(T + 1), e.trained.prefix(T + 1), T: T))
            }
        }
    }

    @Test func shufflingIsAPermutationPerEpochFixedBySeed() throws {
        let ex = Self.examples(Self.lengths)
        func firstIDs(seed: UInt64, batches: Int) throws -> [Int32] {
            var loader = try DataLoader(examples: ex, B: 1, T: 16, layout: .padding, seed: seed, padID: Self.pad)
            return (0..<batches).map { _ in loader.next().ids[0] }
        }
        let a = try firstIDs(seed: 42, batches: 30), b = try firstIDs(seed: 42, batches: 30), c = try firstIDs(seed: 43, batches: 30)
        #expect(a == b)
        #expect(a != c)
        let everyExample = Set(ex.map { $0.ids[0] })
        for epoch in 0..<3 {
            #expect(Set(a[(epoch * 10)..<((epoch + 1) * 10)]) == everyExample)
        }
        #expect(a[0..<10] != a[10..<20], "each epoch draws a new order")
        #expect(a[0..<10] != ArraySlice(ex.map { $0.ids[0] }), "the order is shuffled")
    }

    static let resumeCases: [(BatchLayout, Int)] = [(.packing, 0), (.packing, 1), (.packing, 5), (.packing, 13),
                                                    (.padding, 0), (.padding, 2), (.padding, 7), (.padding, 11)]

    @Test(arguments: 0..<resumeCases.count) func resumingFromASavedPositionGivesTheSameBatches(_ i: Int) throws {
        let (layout, done) = Self.resumeCases[i]
        let ex = Self.examples(Self.lengths)
        // A seed near 2⁶⁴ checks the generator state survives JSON exactly.
        var original = try DataLoader(examples: ex, B: 2, T: 7, layout: layout, seed: UInt64.max - 12345, padID: Self.pad)
        for _ in 0..<done { _ = original.next() }
        let saved = try JSONEncoder().encode(original.position)
        let position = try JSONDecoder().decode(DataPosition.self, from: saved)
        #expect(position == original.position)
        var resumed = try DataLoader(examples: ex, B: 2, T: 7, layout: layout, padID: Self.pad, resumingAt: position)
        for _ in 0..<25 { #expect(resumed.next() == original.next()) }
        #expect(resumed.position == original.position)
    }

    @Test func resumingOnOtherDataOrAtABadPositionIsRefused() throws {
        let ex = Self.examples(Self.lengths)
        var loader = try DataLoader(examples: ex, B: 2, T: 7, layout: .packing, seed: 3, padID: Self.pad)
        _ = loader.next()
        var changed = ex
        changed[4].ids[0] += 1
        let error = try #require(throws: QLoRAError.self) {
            try DataLoader(examples: changed, B: 2, T: 7, layout: .packing, padID: Self.pad, resumingAt: loader.position)
        }
        #expect(error.message.contains("training data changed"))
        #expect(throws: QLoRAError.self) {
            try DataLoader(examples: Array(ex.dropLast()), B: 2, T: 7, layout: .packing, padID: Self.pad, resumingAt: loader.position)
        }
        var bad = loader.position
        bad.index = ex.count
        #expect(throws: QLoRAError.self) {
            try DataLoader(examples: ex, B: 2, T: 7, layout: .packing, padID: Self.pad, resumingAt: bad)
        }
    }

    @Test(arguments: BatchLayout.allCases) func evaluationBatchesCoverEveryExampleOnce(_ layout: BatchLayout) throws {
        let ex = Self.examples(Self.lengths)
        let batches = DataLoader.evaluationBatches(ex, B: 3, T: 8, layout: layout, padID: Self.pad)
        let rows = batches.reduce(0) { $0 + $1.B }
        #expect(batches.dropLast().allSatisfy { $0.B == 3 } && batches.last!.B <= 3)
        let targets = batches.reduce(0) { $0 + $1.predictionCount }
        switch layout {
        case .packing:
            let total = ex.reduce(0) { $0 + $1.ids.count }
            #expect(rows == (total - 1 + 7) / 8)
            // Every learned token after the first is predicted exactly once.
            #expect(targets == ex.flatMap(\.trained).dropFirst().filter { $0 }.count)
        case .padding:
            #expect(rows == ex.count)
            let learnedInWindow = ex.map { e in e.trained.prefix(9).dropFirst().filter { $0 }.count }
            #expect(targets == learnedInWindow.reduce(0, +))
        }
    }

    @Test func invalidShapesAndEmptyDataAreRefused() throws {
        #expect(throws: QLoRAError.self) { try DataLoader(examples: [], B: 1, T: 4, layout: .packing, seed: 0, padID: 0) }
        #expect(throws: QLoRAError.self) { try DataLoader(examples: Self.examples([3]), B: 0, T: 4, layout: .packing, seed: 0, padID: 0) }
        #expect(throws: QLoRAError.self) {
            try DataLoader(examples: [TokenizedExample(ids: [], trained: [], line: 1)], B: 1, T: 4, layout: .packing, seed: 0, padID: 0)
        }
    }
}
