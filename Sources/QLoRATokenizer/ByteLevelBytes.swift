import QLoRAFormats

/// Between byte-level spellings and bytes: GPT-2 spells every byte with one printable character
/// (`ByteLevelBPE.byteToScalar`: a space is `Ġ`, a newline `Ċ`), so a vocabulary token is a string
/// over a 256-character alphabet and its bytes are the bytes those characters stand for.
enum ByteLevelBytes {
    /// Each byte with the scalar that spells it.
    static let byteSpellings: [(byte: UInt8, scalar: Unicode.Scalar)] =
        ByteLevelBPE.byteToScalar.enumerated().map { (UInt8($0.offset), $0.element) }

    /// Scalar value → byte, for the alphabet (all below U+0144); -1 elsewhere.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in byteSpellings { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The bytes a byte-level spelling stands for; nil when a scalar is outside the alphabet.
    static func bytes(ofSpelling token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let v = Int(scalar.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else { return nil }
            out.append(UInt8(scalarToByte[v]))
        }
        return out
    }

    /// The bytes a token decodes to, as the `ByteLevel` decoder maps it: through the alphabet
    /// when every scalar is in it, else (a token stored raw, e.g. an added token) its own UTF-8.
    static func decodedBytes(_ token: String) -> [UInt8] {
        bytes(ofSpelling: token) ?? Array(token.utf8)
    }

    /// Every token's decoded bytes in one buffer, with `count + 1` offsets.
    static func flatten(_ tokens: [String]) -> ([UInt8], [Int]) {
        var bytes: [UInt8] = []
        var offsets = [0]
        offsets.reserveCapacity(tokens.count + 1)
        for token in tokens {
            bytes.append(contentsOf: decodedBytes(token))
            offsets.append(bytes.count)
        }
        return (bytes, offsets)
    }

    /// Appends the UTF-8 encoding of a scalar.
    @inline(__always) static func appendUTF8(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        let v = scalar.value
        switch v {
        case 0..<0x80:
            out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | v >> 6))
            out.append(UInt8(0x80 | v & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | v >> 12))
            out.append(UInt8(0x80 | v >> 6 & 0x3F))
            out.append(UInt8(0x80 | v & 0x3F))
        default:
            out.append(UInt8(0xF0 | v >> 18))
            out.append(UInt8(0x80 | v >> 12 & 0x3F))
            out.append(UInt8(0x80 | v >> 6 & 0x3F))
            out.append(UInt8(0x80 | v & 0x3F))
        }
    }
}

extension ByteLevelBytes {
    /// Every token's own UTF-8 in one buffer, with `count + 1` offsets (SentencePiece-style vocabularies).
    static func flattenUTF8(_ tokens: [String]) -> ([UInt8], [Int]) {
        var bytes: [UInt8] = []
        var offsets = [0]
        offsets.reserveCapacity(tokens.count + 1)
        for token in tokens {
            bytes.append(contentsOf: token.utf8)
            offsets.append(bytes.count)
        }
        return (bytes, offsets)
    }
}
