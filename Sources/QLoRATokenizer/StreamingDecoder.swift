/// Turns ids into text as they arrive (for `qlora generate`), emitting text only at UTF-8
/// boundaries: a character whose bytes are split across tokens (an emoji is often 2–4 byte
/// tokens) is held back until it is complete. Bytes that can never become valid UTF-8 are emitted
/// at once as U+FFFD. The concatenated output equals `tokenizer.decode(ids)` for the same ids.
/// For a SentencePiece-converted tokenizer (`byteFallback`) text is held while the ids end with a
/// `<0xNN>` token, and emitted as the growth of `decode` over all ids so far.
///
///     var stream = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: true)
///     for id in generated { print(try stream.append(id), terminator: "") }
///     print(stream.finish())
public struct StreamingDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    /// Bytes of an unfinished character at the end of what arrived so far (at most 3).
    private var pending: [UInt8] = []
    /// SentencePiece-converted tokenizers (whose decoder works on the whole token list): every id
    /// so far, and the UTF-8 of the text emitted so far.
    private var history: [Int] = []
    private var emitted: [UInt8] = []

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// The text completed by this id (often empty while a character is unfinished).
    public mutating func append(_ id: Int) throws -> String {
        try append([id])
    }

    /// The text completed by these ids.
    public mutating func append(_ ids: [Int]) throws -> String {
        if tokenizer.byteFallback != nil { return try appendByteFallback(ids) }
        pending += try tokenizer.decodeBytes(ids, skipSpecialTokens: skipSpecialTokens)
        let boundary = Self.completePrefixLength(pending)
        let text = String(decoding: pending[..<boundary], as: UTF8.self)
        pending.removeFirst(boundary)
        return text
    }

    /// What is still held back (an unfinished character, as U+FFFD), and a reset.
    public mutating func finish() -> String {
        if tokenizer.byteFallback != nil {
            defer { history.removeAll(); emitted.removeAll() }
            let all = Array(((try? tokenizer.decode(history, skipSpecialTokens: skipSpecialTokens)) ?? "").utf8)
            return String(decoding: all.dropFirst(emitted.count), as: UTF8.self)
        }
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// A SentencePiece-converted tokenizer's decoder turns a run of `<0xNN>` tokens into text
    /// only as a whole, so nothing is emitted while the ids end with one; otherwise the text of
    /// all ids so far is decoded and what extends the text already emitted is returned.
    private mutating func appendByteFallback(_ ids: [Int]) throws -> String {
        _ = try tokenizer.decode(ids)  // range check
        history += ids
        guard let last = history.last, TokenDecoder.byteToken(tokenizer.vocabulary[last]) == nil else { return "" }
        let all = Array(try tokenizer.decode(history, skipSpecialTokens: skipSpecialTokens).utf8)
        guard all.count >= emitted.count, all[..<emitted.count].elementsEqual(emitted) else { return "" }
        let text = String(decoding: all[emitted.count...], as: UTF8.self)
        emitted = all
        return text
    }

    /// The length of the longest prefix of `bytes` that can be decoded now: all of it, unless it
    /// ends with the start of a character that more bytes could still complete. Cutting before a
    /// lead byte never changes how the prefix decodes, since a UTF-8 decoder's replacement of an
    /// invalid sequence never reaches past a byte that is not a continuation byte.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        // The last byte that is not a continuation byte, within a character's reach of the end.
        var lead = bytes.count - 1
        while lead >= 0, lead >= bytes.count - 4, bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0, lead >= bytes.count - 4 else { return bytes.count }
        let tail = bytes[lead...]
        return isIncompleteCharacter(tail) ? lead : bytes.count
    }

    /// True when `tail` (a lead byte and continuation bytes) is a proper prefix of a valid UTF-8
    /// encoding (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
    static func isIncompleteCharacter(_ tail: ArraySlice<UInt8>) -> Bool {
        let first = tail[tail.startIndex]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch first {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: return false
        }
        guard tail.count < length else { return false }
        if tail.count >= 2, !secondRange.contains(tail[tail.startIndex + 1]) { return false }
        return true
    }
}
