/// Exact-match scoring: an answer is right when, with leading and trailing whitespace (spaces,
/// tabs, newlines) removed, it has exactly the expected answer's Unicode scalars.
public enum AnswerMatch {
    /// The answer as compared.
    public static func normalize(_ s: String) -> String {
        var t = Substring(s)
        while let f = t.first, f.isWhitespace { t.removeFirst() }
        while let l = t.last, l.isWhitespace { t.removeLast() }
        return String(t)
    }

    public static func matches(_ generated: String, expected: String) -> Bool {
        normalize(generated).unicodeScalars.elementsEqual(normalize(expected).unicodeScalars)
    }

    /// Whether text generated so far could still match `expected` once more text follows: it is a
    /// prefix of the expected answer, or the expected answer followed by whitespace (leading
    /// whitespace ignored). False means the answer is already wrong, so generation can stop.
    public static func canStillMatch(_ partial: String, expected: String) -> Bool {
        var g = Substring(partial)
        while let f = g.first, f.isWhitespace { g.removeFirst() }
        let e = normalize(expected)
        let gs = Array(g.unicodeScalars), es = Array(e.unicodeScalars)
        if gs.count <= es.count { return es.starts(with: gs) }
        return gs.starts(with: es) && gs[es.count...].allSatisfy { Character($0).isWhitespace }
    }
}
