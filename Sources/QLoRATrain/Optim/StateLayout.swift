/// Where each parameter element's optimizer state lives: the parameters, in group order, are laid
/// end to end in one flat element space of E elements, cut into pages of P elements.
///
/// A page holds the state of its P elements as `stateCount` consecutive runs of P floats — for
/// AdamW m[P] then v[P], for Lion m[P] — so one page is all an update of its elements needs.
/// Page k covers elements [k·P, min((k+1)·P, E)); it may span several parameters (small LoRA
/// matrices share pages), each piece a `Segment`. The last page's unused tail stays zero.
public struct StateLayout: Sendable, Equatable {
    /// One parameter's piece of one page.
    public struct Segment: Sendable, Equatable {
        /// Index into the flattened parameter list.
        public var parameter: Int
        /// First element of the piece within the parameter.
        public var parameterOffset: Int
        /// First element of the piece within the page's state runs.
        public var pageOffset: Int
        public var count: Int
    }

    /// Bytes per page (P · stateCount · 4).
    public let pageBytes: Int
    /// State floats per element (2 for AdamW, 1 for Lion).
    public let stateCount: Int
    /// P: elements per page.
    public let elementsPerPage: Int
    /// E: elements of all parameters.
    public let elementCount: Int
    /// Segments of each page, in element order: (pages).
    public let segments: [[Segment]]

    public var pageCount: Int { segments.count }

    /// The layout of parameters with `counts` elements each, in this order.
    public init(parameterCounts counts: [Int], stateCount: Int, pageBytes: Int) {
        precondition(stateCount >= 1 && pageBytes >= 4 * stateCount, "page of \(pageBytes) B cannot hold one element")
        self.pageBytes = pageBytes
        self.stateCount = stateCount
        let P = pageBytes / (4 * stateCount)
        precondition(P * 4 * stateCount == pageBytes, "page bytes \(pageBytes) not a multiple of \(4 * stateCount)")
        elementsPerPage = P
        elementCount = counts.reduce(0, +)
        var pages: [[Segment]] = Array(repeating: [], count: (elementCount + P - 1) / P)
        var flat = 0
        for (index, n) in counts.enumerated() {
            var done = 0
            while done < n {
                let page = (flat + done) / P
                let inPage = (flat + done) % P
                let take = min(n - done, P - inPage)
                pages[page].append(Segment(parameter: index, parameterOffset: done, pageOffset: inPage, count: take))
                done += take
            }
            flat += n
        }
        segments = pages
    }
}
