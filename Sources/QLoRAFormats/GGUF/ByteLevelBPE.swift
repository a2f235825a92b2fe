/// Facts about GPT-2-style byte-level BPE vocabularies that building a `tokenizer.json` needs.
public enum ByteLevelBPE {
    /// GPT-2's `bytes_to_unicode`: every byte gets a printable character. Bytes that are already
    /// printable and not space-like (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68
    /// map, in byte order, to U+0100, U+0101, … (so a space is `Ġ`, a newline `Ċ`).
    /// Characters are compared as Unicode scalars (code points), as Python does: Swift's
    /// `Character` equality would treat "e\u{301}" and "é" as the same.
    public static let byteToScalar: [Unicode.Scalar] = {
        var printable = Set<Int>()
        for range in [0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF] { printable.formUnion(range) }
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if printable.contains(byte) {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The 256 code points a byte-level token may be spelled with.
    public static let alphabet: Set<Unicode.Scalar> = Set(byteToScalar)

    /// True when every code point of `token` is in the byte-level alphabet (how llama.cpp writes a
    /// byte-level token; one that is not was stored raw).
    public static func isSpelledByteLevel(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { alphabet.contains($0) }
    }

    /// `token` as a byte-level vocabulary spells it: itself when already in the alphabet, else
    /// each of its UTF-8 bytes mapped through `byteToScalar` (transformers does this for tokens
    /// llama.cpp stored raw, e.g. `\u{FFFD}` in Phi-4, so that merges naming them resolve).
    public static func spelling(_ token: String) -> String {
        if isSpelledByteLevel(token) { return token }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: token.utf8.map { byteToScalar[Int($0)] })
        return String(out)
    }

    /// The split regex a `tokenizer.ggml.pre` name declares, when it differs from GPT-2's (which
    /// the `ByteLevel` pre-tokenizer applies by itself). Several names share a regex: llama.cpp
    /// names a file after the known tokenizer whose output it reproduces. Table as transformers'
    /// `GGUF_PRE_TOKENIZER_SPLITS`.
    public static func splitRegex(forPreTokenizer name: String?) -> String? {
        guard let name else { return nil }
        return splitRegexes[name]
    }

    static let llama3Split =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Split =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen35Split =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let tekkenSplit =
        #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let gpt4oSplit =
        #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    static let splitRegexes: [String: String] = {
        var table: [String: String] = [:]
        for name in ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "jina-v5-nano", "dbrx", "smaug-bpe"] { table[name] = llama3Split }
        for name in ["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"] { table[name] = qwen2Split }
        for name in ["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"] { table[name] = gpt4oSplit }
        table["qwen35"] = qwen35Split
        table["tekken"] = tekkenSplit
        return table
    }()
}
