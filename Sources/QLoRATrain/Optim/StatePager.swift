import Foundation
import QLoRACore

/// Keeps optimizer-state pages within a resident-memory budget.
///
/// Pages live in at most F resident frames; the rest sit zstd-compressed in a `SpillFile`. A pass
/// (`forEachPage`) hands every page to a body in turn while a background I/O thread pages the
/// next ones in ahead of use — writing an evicted dirty page back first — so I/O overlaps the
/// update. Eviction is Belady's rule on the known order: a page already done in this pass (oldest
/// first), else the page needed furthest in the future. Passes alternate direction, so the pages
/// left resident by one pass are the first the next pass needs.
///
/// When the budget holds every page (or there is no budget) nothing is spilled, no thread runs and
/// no codec is allocated: pages are allocated zeroed on first use and stay. Either way a page's
/// bytes are exactly what the last pass left in it (zstd is lossless), so paged and unpaged runs
/// are bit-identical.
///
/// The budget counts everything the pager allocates: frames, the codec's scratch and zstd
/// contexts, and its page table. An I/O error poisons the pager: the pass throws it, as will every
/// later one.
public final class StatePager {
    /// What the pager holds and has moved.
    public struct Stats: Sendable, Equatable {
        /// Bytes allocated now: frames, codec, page table.
        public var residentBytes: Int
        /// The most `residentBytes` has been.
        public var peakResidentBytes: Int
        /// Compressed bytes of the pages held only in the spill file.
        public var spilledBytes: Int
        /// Raw bytes of those pages (what they would take resident).
        public var spilledRawBytes: Int
        /// Size of the spill file (0 when unpaged).
        public var spillFileBytes: Int
        /// Cumulative page writes to and reads from the spill file.
        public var pagesWritten: Int
        public var pagesRead: Int
        public var frameCount: Int
        public var pageCount: Int
        public var isPaged: Bool
    }

    /// Order of a pass over the pages.
    public enum PassOrder: Sendable {
        /// 0, 1, …, N−1 (checkpoint export and import).
        case ascending
        /// Whatever order needs the least I/O (updates, whose result does not depend on order).
        case cheapest
    }

    public let pageBytes: Int
    public let pageCount: Int
    let core: PagerCore

    /// A pager for `pageCount` zero pages of `pageBytes`. With `budgetBytes` smaller than all pages
    /// need, pages spill to `spillPath` (created now). Throws a one-line error when the budget is
    /// below the minimum (two frames plus the pager's buffers) or the spill file cannot be created.
    public init(pageCount: Int, pageBytes: Int, budgetBytes: Int?, spillPath: String) throws {
        precondition(pageCount >= 0 && pageBytes > 0 && pageBytes % 64 == 0, "bad page geometry")
        self.pageBytes = pageBytes
        self.pageCount = pageCount
        let table = PagerCore.tableBytes(pageCount: pageCount)
        let allFit = budgetBytes.map { $0 >= pageCount * pageBytes + table } ?? true
        if allFit {
            core = PagerCore(pageCount: pageCount, pageBytes: pageBytes, frameCount: pageCount, codec: nil, spill: nil)
            return
        }
        let budget = budgetBytes!
        let codec = PageCodec(pageBytes: pageBytes)
        let first = UnsafeMutableRawPointer.allocate(byteCount: pageBytes, alignment: 64)
        Self.warm(codec, page: first, path: spillPath)  // contexts reach their working size now
        let overhead = codec.allocatedBytes + table
        let frames = (budget - overhead) / pageBytes
        guard budget > overhead, frames >= 2 else {
            first.deallocate()
            let minimum = overhead + 2 * pageBytes
            throw QLoRAError.invalid(
                "optimizer memory \(Self.mib(budget)) is below the minimum \(Self.mib(minimum)) "
                    + "(two \(Self.mib(pageBytes)) pages and the pager's buffers)")
        }
        let spill: SpillFile
        do { spill = try SpillFile(path: spillPath) } catch {
            first.deallocate()
            throw error
        }
        core = PagerCore(pageCount: pageCount, pageBytes: pageBytes, frameCount: frames, codec: codec,
                         spill: spill, firstFrame: first)
        core.startIOThread()
    }

    deinit { core.shutdown() }

    /// The budget that gives exactly `frames` resident frames for pages of `pageBytes` (for tests
    /// and for reporting what `--optimizer-memory` buys).
    public static func budget(frames: Int, pageCount: Int, pageBytes: Int) -> Int {
        let codec = PageCodec(pageBytes: pageBytes)
        let page = UnsafeMutableRawPointer.allocate(byteCount: pageBytes, alignment: 64)
        defer { page.deallocate() }
        warm(codec, page: page, path: "(budget)")
        return frames * pageBytes + codec.allocatedBytes + PagerCore.tableBytes(pageCount: pageCount)
    }

    public var stats: Stats { core.stats() }

    /// Runs `body` on every page once, in `order`. `body` gets the page index and its bytes
    /// (pageBytes, 64-byte aligned) and returns whether it changed them. Pages are resident only
    /// while their body runs or while they wait in a frame.
    public func forEachPage(_ order: PassOrder, _ body: (Int, UnsafeMutableRawPointer) throws -> Bool) throws {
        let pages = core.beginPass(order)
        defer { core.endPass() }
        for position in pages.indices {
            let buffer = try core.acquire(position: position)
            var dirty = true
            do {
                dirty = try body(pages[position], buffer)
            } catch {
                core.release(position: position, dirty: true)
                throw error
            }
            core.release(position: position, dirty: dirty)
        }
    }

    /// Stops the I/O thread, frees the frames and removes the spill file.
    public func close() { core.shutdown() }

    private static func warm(_ codec: PageCodec, page: UnsafeMutableRawPointer, path: String) {
        page.initializeMemory(as: UInt8.self, repeating: 0, count: codec.pageBytes)
        if let n = try? codec.compress(page, path: path) {
            try? codec.decompress(length: n, into: page, path: path)
        }
    }

    static func mib(_ bytes: Int) -> String {
        let m = Double(bytes) / 1_048_576
        return m >= 10 ? "\(Int(m.rounded())) MiB" : String(format: "%.2f MiB", m)
    }
}
