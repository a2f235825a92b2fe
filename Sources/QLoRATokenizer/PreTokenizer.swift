/// The pre-tokenizer: cuts text into the pieces BPE encodes one at a time, as the `tokenizers`
/// library's `pre_tokenizer` does. It is a sequence of steps, each splitting every current piece
/// further (`Sequence`); the supported steps are those byte-level BPE models declare:
///
/// | `tokenizer.json` | step |
/// | --- | --- |
/// | `Split` (a known `Regex`, behavior `Isolated`) | `.split(pattern)` |
/// | `Digits` | `.digits(individual:)` |
/// | `ByteLevel` | `.byteLevel(addPrefixSpace:useRegex:)` (the regex is GPT-2's) |
/// | `Split` (a `String` pattern) | `.splitString(pattern, behavior)` (Gemma: " ", merged with previous) |
/// | `Metaspace` | `.metaspace(replacement:prependScheme:split:)` (Llama 2 / Mistral as transformers 5 writes them) |
public struct PreTokenizer: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// Isolate the matches of a split regex.
        case split(SplitPattern)
        /// Isolate every `\p{N}` scalar (`individual`) or every run of them.
        case digits(individual: Bool)
        /// Prefix a space to pieces that do not start with one (`addPrefixSpace`), then split with
        /// GPT-2's regex (`useRegex`). The byte-to-character mapping itself happens in BPE.
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
        /// Cut at every occurrence of a literal string; the occurrence is its own piece
        /// (`isolated`), dropped (`removed`), or joined to the piece before or after it.
        case splitString(String, SplitBehavior)
        /// Spaces become `replacement`; `replacement` is put before a piece not starting with it
        /// (always, only at the start of the text, or never); with `split`, a piece is cut before
        /// every `replacement` (`tokenizers`' `Metaspace`).
        case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    }

    public enum SplitBehavior: String, Sendable, Equatable {
        case removed = "Removed", isolated = "Isolated"
        case mergedWithPrevious = "MergedWithPrevious", mergedWithNext = "MergedWithNext"
    }

    public enum PrependScheme: String, Sendable, Equatable {
        case always, first, never
    }

    public var steps: [Step]

    public init(steps: [Step]) {
        self.steps = steps
    }

    /// The pieces BPE would encode for `text` (which holds no added token), for inspection.
    public func pieces(of text: String) -> [String] {
        var scalars = ScalarText(text.unicodeScalars)
        return pieces(of: &scalars, ranges: [0..<scalars.scalars.count]).map { scalars.string($0) }
    }

    /// Splits `ranges` of `text` (the segments between added tokens) into pieces. `text` is
    /// replaced when a step inserts scalars (a prefix space); pieces index the final `text`.
    func pieces(of text: inout ScalarText, ranges: [Range<Int>], atTextStart: Bool = true) -> [Range<Int>] {
        var pieces = ranges
        var next: [Range<Int>] = []
        for step in steps {
            next.removeAll(keepingCapacity: true)
            switch step {
            case .split(let pattern):
                for r in pieces { pattern.split(text, r, into: &next) }
            case .digits(let individual):
                for r in pieces { Self.splitDigits(text, r, individual: individual, into: &next) }
            case .byteLevel(let addPrefixSpace, let useRegex):
                if addPrefixSpace { pieces = Self.prefixSpaces(&text, pieces) }
                if useRegex {
                    for r in pieces { SplitPattern.gpt2.split(text, r, into: &next) }
                } else {
                    next = pieces
                }
            case .splitString(let pattern, let behavior):
                let p = Array(pattern.unicodeScalars)
                for r in pieces { Self.splitString(text, r, p, behavior, into: &next) }
            case .metaspace(let replacement, let scheme, let split):
                pieces = Self.metaspace(&text, pieces, replacement, prepend: { r in
                    scheme == .always || (scheme == .first && atTextStart && r.lowerBound == 0)
                })
                if split {
                    for r in pieces { Self.splitString(text, r, [replacement], .mergedWithNext, into: &next) }
                } else {
                    next = pieces
                }
            }
            swap(&pieces, &next)
        }
        return pieces.filter { !$0.isEmpty }
    }

    /// `Digits`: numbers isolated, alone or by runs; the rest in runs between them.
    static func splitDigits(
        _ text: ScalarText, _ range: Range<Int>, individual: Bool, into pieces: inout [Range<Int>]
    ) {
        var i = range.lowerBound
        while i < range.upperBound {
            let isNumber = text.classes[i] & ScalarClass.number != 0
            var j = i + 1
            if !(isNumber && individual) {
                while j < range.upperBound, (text.classes[j] & ScalarClass.number != 0) == isNumber { j += 1 }
            }
            pieces.append(i..<j)
            i = j
        }
    }

    /// Cuts a piece at the leftmost non-overlapping occurrences of `pattern` (`Split` with a
    /// `String` pattern, not inverted).
    static func splitString(
        _ text: ScalarText, _ range: Range<Int>, _ pattern: [Unicode.Scalar], _ behavior: SplitBehavior,
        into pieces: inout [Range<Int>]
    ) {
        var start = range.lowerBound  // start of the piece being built
        var i = range.lowerBound
        while !pattern.isEmpty, i + pattern.count <= range.upperBound {
            guard text.scalars[i..<(i + pattern.count)].elementsEqual(pattern) else {
                i += 1
                continue
            }
            let match = i..<(i + pattern.count)
            switch behavior {
            case .removed, .isolated:
                if start < match.lowerBound { pieces.append(start..<match.lowerBound) }
                if behavior == .isolated { pieces.append(match) }
                start = match.upperBound
            case .mergedWithPrevious:
                pieces.append(start..<match.upperBound)
                start = match.upperBound
            case .mergedWithNext:
                if start < match.lowerBound { pieces.append(start..<match.lowerBound) }
                start = match.lowerBound
            }
            i = match.upperBound
        }
        if start < range.upperBound { pieces.append(start..<range.upperBound) }
    }

    /// A new text in which each piece has its spaces replaced by `replacement` and, where
    /// `prepend` says so and it does not already start with it, `replacement` put before it.
    static func metaspace(
        _ text: inout ScalarText, _ pieces: [Range<Int>], _ replacement: Unicode.Scalar, prepend: (Range<Int>) -> Bool
    ) -> [Range<Int>] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.scalars.count + pieces.count)
        var moved: [Range<Int>] = []
        for r in pieces where !r.isEmpty {
            let start = scalars.count
            let replaced = text.scalars[r].map { $0 == " " ? replacement : $0 }
            if replaced.first != replacement && prepend(r) { scalars.append(replacement) }
            scalars += replaced
            moved.append(start..<scalars.count)
        }
        text = ScalarText(scalars)
        return moved
    }

    /// A new text in which every piece not starting with a space has one prepended (what
    /// `ByteLevel(add_prefix_space=true)` does to each split), and the pieces in it.
    static func prefixSpaces(_ text: inout ScalarText, _ pieces: [Range<Int>]) -> [Range<Int>] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.scalars.count + pieces.count)
        var moved: [Range<Int>] = []
        for r in pieces where !r.isEmpty {
            let start = scalars.count
            if text.scalars[r.lowerBound] != " " { scalars.append(" ") }
            scalars.append(contentsOf: text.scalars[r])
            moved.append(start..<scalars.count)
        }
        text = ScalarText(scalars)
        return moved
    }
}
