import Foundation

extension Tokenizer.Normalization {
    /// The normalized scalars of a segment of text (between added tokens), as the `tokenizers`
    /// library's normalizers (`NFC`, `Replace`, `Prepend`, `Sequence`) give them.
    func apply(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case .none:
            return scalars
        case .nfc:
            return Array(TokenDecoder.string(scalars).precomposedStringWithCanonicalMapping.unicodeScalars)
        case .replace(let pattern, let content):
            return replacing(scalars, Array(pattern.unicodeScalars), Array(content.unicodeScalars))
        case .prepend(let prefix):
            return scalars.isEmpty ? scalars : Array(prefix.unicodeScalars) + scalars
        case .sequence(let steps):
            return steps.reduce(scalars) { $1.apply($0) }
        }
    }
}
