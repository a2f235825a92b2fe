import Foundation

/// Byte-level byte-pair encoding of one pre-tokenized piece (Sennrich et al. 2016,
/// https://arxiv.org/abs/1508.07909; byte-level as GPT-2, Radford et al. 2019).
///
/// A piece's UTF-8 bytes start as one symbol each (the vocabulary token spelling that byte through
/// `ByteLevelBPE.byteToScalar`); then the adjacent pair with the lowest merge rank is merged, the
/// leftmost first among equals, until no adjacent pair has a merge — the `tokenizers` library's
/// `Word::merge_all`, with its priority queue, so a long piece costs O(n log n). With
/// `ignoreMerges` (Llama 3), a piece that is itself a vocabulary token is that token.
/// Results are cached per piece.
struct BPEModel: Sendable {
    /// The merged token of a pair and the merge's rank (lower merges first).
    struct Merge {
        var rank: Int32
        var id: Int32
    }

    /// Token id of each single byte, -1 when the vocabulary lacks it (the byte is then dropped,
    /// as `tokenizers` drops symbols it cannot name when the model has no unknown token).
    let byteTokenID: [Int32]  // (256)
    /// (left id << 32 | right id) → merge.
    let merges: [UInt64: Merge]
    /// Vocabulary keyed by token bytes, for `ignoreMerges`.
    let vocabularyByBytes: [[UInt8]: Int32]
    let ignoreMerges: Bool
    /// Set for a SentencePiece-converted BPE (`byte_fallback`): symbols start as characters.
    let characterSymbols: CharacterSymbols?
    let cache = WordCache()

    /// The first symbols of a piece in a SentencePiece-converted BPE (`tokenizers`'
    /// `BPE::merge_word` with `byte_fallback`): each character's own token (its UTF-8 is a
    /// vocabulary key), else the `<0xNN>` tokens of its bytes (`byteTokenID`) when all exist, else
    /// the unknown token (dropped without one). A pending unknown is written before the next
    /// character with a token, but not before byte tokens (as in `tokenizers`); with
    /// `fuseUnknown` a run of unknowns is one.
    struct CharacterSymbols {
        var unknownID: Int32?
        var fuseUnknown: Bool
    }

    @inline(__always) static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Appends the ids of one piece (its UTF-8 bytes) to `ids`.
    func encode(piece bytes: [UInt8], into ids: inout [Int]) {
        if let cached = cache.lookup(bytes) {
            for id in cached { ids.append(Int(id)) }
            return
        }
        var word: [Int32]
        if ignoreMerges, let id = vocabularyByBytes[bytes] {
            word = [id]
        } else {
            word = mergeAll(initialSymbols(bytes))
        }
        cache.insert(bytes, word)
        for id in word { ids.append(Int(id)) }
    }

    /// The merge loop over a word's symbols, as a doubly linked list with a min-queue of
    /// candidate merges ordered by (rank, position); stale entries are skipped when popped.
    func initialSymbols(_ bytes: [UInt8]) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(bytes.count)
        guard let characterSymbols else {
            for b in bytes where byteTokenID[Int(b)] >= 0 { ids.append(byteTokenID[Int(b)]) }
            return ids
        }
        var pendingUnknown = false
        var i = 0
        while i < bytes.count {
            var end = i + 1
            while end < bytes.count, bytes[end] & 0xC0 == 0x80 { end += 1 }
            let character = bytes[i..<end]
            if let id = vocabularyByBytes[Array(character)] {
                if pendingUnknown, let unknown = characterSymbols.unknownID { ids.append(unknown) }
                pendingUnknown = false
                ids.append(id)
            } else if character.allSatisfy({ byteTokenID[Int($0)] >= 0 }) {
                for b in character { ids.append(byteTokenID[Int(b)]) }
            } else if let unknown = characterSymbols.unknownID {
                if pendingUnknown && !characterSymbols.fuseUnknown { ids.append(unknown) }
                pendingUnknown = true
            }
            i = end
        }
        if pendingUnknown, let unknown = characterSymbols.unknownID { ids.append(unknown) }
        return ids
    }

    func mergeAll(_ symbols: [Int32]) -> [Int32] {
        var ids = symbols  // (S) symbol ids; a merged-away symbol keeps its slot, dead
        let S = ids.count
        if S < 2 { return ids }
        var prev = [Int32](unsafeUninitializedCapacity: S) { p, n in
            for s in 0..<S { p[s] = Int32(s) - 1 }
            n = S
        }
        var next = [Int32](unsafeUninitializedCapacity: S) { p, n in
            for s in 0..<S { p[s] = s + 1 < S ? Int32(s + 1) : -1 }
            n = S
        }
        var alive = [Bool](repeating: true, count: S)
        var queue = MergeQueue()
        for s in 0..<(S - 1) {
            if let m = merges[Self.pairKey(ids[s], ids[s + 1])] { queue.push(m.rank, Int32(s), m.id) }
        }
        while let top = queue.pop() {
            let s = Int(top.position)
            let n = Int(next[s])
            guard alive[s], n >= 0 else { continue }
            // Stale when the pair at `s` changed since this entry was queued.
            guard let m = merges[Self.pairKey(ids[s], ids[n])], m.id == top.id else { continue }
            ids[s] = m.id
            alive[n] = false
            let after = next[n]
            next[s] = after
            if after >= 0 { prev[Int(after)] = Int32(s) }
            let before = prev[s]
            if before >= 0, let left = merges[Self.pairKey(ids[Int(before)], m.id)] {
                queue.push(left.rank, before, left.id)
            }
            if after >= 0, let right = merges[Self.pairKey(m.id, ids[Int(after)])] {
                queue.push(right.rank, Int32(s), right.id)
            }
        }
        var out: [Int32] = []
        var s = 0
        while s >= 0 {
            out.append(ids[s])
            s = Int(next[s])
        }
        return out
    }
}

/// A binary min-heap of candidate merges ordered by rank, then by position.
struct MergeQueue {
    struct Entry {
        var rank: Int32
        var position: Int32
        var id: Int32

        @inline(__always) func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    var heap: [Entry] = []

    mutating func push(_ rank: Int32, _ position: Int32, _ id: Int32) {
        heap.append(Entry(rank: rank, position: position, id: id))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < heap.count, heap[l].precedes(heap[smallest]) { smallest = l }
            if r < heap.count, heap[r].precedes(heap[smallest]) { smallest = r }
            if smallest == i { break }
            heap.swapAt(i, smallest)
            i = smallest
        }
        return top
    }
}

/// Encoded pieces by their bytes, shared by every copy of a tokenizer and safe across threads.
/// It stops growing at `capacity` entries (as `tokenizers`' cache does), which bounds its memory.
final class WordCache: @unchecked Sendable {
    static let capacity = 100_000
    /// Pieces longer than this are not cached (rare, and they would crowd out the common ones).
    static let maxPieceBytes = 256

    private var words: [[UInt8]: [Int32]] = [:]
    private let lock = NSLock()

    func lookup(_ bytes: [UInt8]) -> [Int32]? {
        guard bytes.count <= Self.maxPieceBytes else { return nil }
        lock.lock()
        defer { lock.unlock() }
        return words[bytes]
    }

    func insert(_ bytes: [UInt8], _ ids: [Int32]) {
        guard bytes.count <= Self.maxPieceBytes else { return }
        lock.lock()
        defer { lock.unlock() }
        if words.count < Self.capacity { words[bytes] = ids }
    }
}
