/// How well a layout fills its rows, over one epoch of the examples in order (the report
/// `qlora train` prints: packing efficiency).
/// Legend: T = positions per row.
public struct LayoutStats: Sendable, Equatable {
    public var layout: BatchLayout
    /// Rows one epoch takes.
    public var rows: Int
    /// Share of the rows' positions that hold a token (the rest is padding).
    public var filled: Double
    /// Examples per row (packing; 1 for padding).
    public var examplesPerRow: Double
    /// Packing: examples split at a row boundary (the part in the next row restarts at position 0,
    /// without the part before). Padding: examples longer than T + 1, truncated.
    public var cut: Int
    public var examples: Int

    public init(_ examples: [TokenizedExample], T: Int, layout: BatchLayout) {
        self.layout = layout
        let lengths = examples.map(\.ids.count).filter { $0 > 0 }
        self.examples = lengths.count
        switch layout {
        case .padding:
            rows = lengths.count
            filled = Double(lengths.reduce(0) { $0 + min($1, T) }) / Double(max(1, rows * T))
            examplesPerRow = 1
            cut = lengths.filter { $0 > T + 1 }.count
        case .packing:
            // Rows start every T tokens of the concatenated stream (each reads T + 1).
            let total = lengths.reduce(0, +)
            rows = max(1, (total - 1 + T - 1) / T)
            filled = Double(total) / Double(max(total, rows * T))
            examplesPerRow = Double(lengths.count) / Double(rows)
            var start = 0
            cut = 0
            for n in lengths {
                // A row starts at a multiple of T strictly inside the example.
                if (start / T + 1) * T < start + n { cut += 1 }
                start += n
            }
        }
    }

    /// One line for the train report.
    public var summary: String {
        let pct = { (x: Double) in String(Int((100 * x).rounded())) + "%" }
        switch layout {
        case .packing:
            return "layout packing: " + String(Double(Int(examplesPerRow * 10)) / 10) + " examples per row, "
                + "\(pct(filled)) of positions hold tokens; \(cut) of \(examples) examples (\(pct(Double(cut) / Double(max(1, examples))))) "
                + "cross a row boundary and continue without their start"
        case .padding:
            return "layout padding: \(pct(filled)) of positions hold tokens (the rest is padding); "
                + "\(cut) of \(examples) examples truncated to --seq"
        }
    }
}
