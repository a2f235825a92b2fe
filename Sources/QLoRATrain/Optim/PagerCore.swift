import Foundation
import QLoRACore

/// The state behind a `StatePager`, shared by the compute thread and the I/O thread. Every field
/// is guarded by `cond`'s lock, except the bytes of a frame, which belong to whoever holds the
/// frame: the compute thread while `.inUse`, the I/O thread while `.loading`.
final class PagerCore: @unchecked Sendable {
    enum FrameState: Equatable {
        case empty
        case loading(Int)
        case ready(Int)
        case inUse(Int)
    }

    struct PageEntry {
        /// The frame holding (or loading) the page.
        var frame: Int?
        /// The page's copy in the spill file (stale while `dirty`); nil with no frame means zero.
        var extent: SpillFile.Extent?
        /// The frame's bytes are newer than the extent.
        var dirty = false
    }

    let pageCount: Int
    let pageBytes: Int
    /// F: the most frames the budget allows.
    let frameCount: Int
    let codec: PageCodec?
    let spill: SpillFile?

    private let cond = NSCondition()
    private var frames: [UnsafeMutableRawPointer] = []
    private var frameStates: [FrameState] = []
    private var entries: [PageEntry]
    /// This pass: pages in visit order, and each page's position in it.
    private var order: [Int] = []
    private var position: [Int]
    private var passActive = false
    private var ascendingNext = true
    /// Position the compute thread works on or waits for.
    private var cursor = 0
    private var failure: Error?
    private var stopping = false
    private var threadRunning = false
    private var peak = 0
    private var pagesWritten = 0
    private var pagesRead = 0

    init(pageCount: Int, pageBytes: Int, frameCount: Int, codec: PageCodec?, spill: SpillFile?,
         firstFrame: UnsafeMutableRawPointer? = nil) {
        self.pageCount = pageCount
        self.pageBytes = pageBytes
        self.frameCount = frameCount
        self.codec = codec
        self.spill = spill
        entries = Array(repeating: PageEntry(), count: pageCount)
        position = Array(repeating: 0, count: pageCount)
        if let firstFrame {
            frames.append(firstFrame)
            frameStates.append(.empty)
        }
        peak = residentBytesLocked()
    }

    deinit {
        for f in frames { f.deallocate() }
    }

    /// Bytes of the page table and pass bookkeeping for `pageCount` pages.
    /// (Page entries, visit order and positions, and at most one free spill extent per page.)
    static func tableBytes(pageCount: Int) -> Int {
        pageCount * (MemoryLayout<PageEntry>.stride + 4 * MemoryLayout<Int>.stride)
    }

    var isPaged: Bool { spill != nil }

    // MARK: Passes (compute thread)

    /// Starts a pass; returns the pages in visit order.
    func beginPass(_ requested: StatePager.PassOrder) -> [Int] {
        cond.lock()
        defer { cond.unlock() }
        let ascending: Bool
        switch requested {
        case .ascending: ascending = true
        case .cheapest: ascending = ascendingNext
        }
        ascendingNext = !ascending
        order = ascending ? Array(0..<pageCount) : Array((0..<pageCount).reversed())
        for (i, p) in order.enumerated() { position[p] = i }
        cursor = 0
        passActive = true
        cond.broadcast()
        return order
    }

    func endPass() {
        cond.lock()
        passActive = false
        cursor = order.count
        cond.unlock()
    }

    /// Waits until the page at `position` is resident and hands its frame to the compute thread.
    func acquire(position at: Int) throws -> UnsafeMutableRawPointer {
        cond.lock()
        defer { cond.unlock() }
        cursor = at
        cond.broadcast()
        let page = order[at]
        while true {
            if let failure { throw failure }
            if let f = entries[page].frame, frameStates[f] == .ready(page) {
                frameStates[f] = .inUse(page)
                return frames[f]
            }
            if !isPaged {
                let f = allocateFrameLocked()
                frames[f].initializeMemory(as: UInt8.self, repeating: 0, count: pageBytes)
                entries[page].frame = f
                frameStates[f] = .inUse(page)
                return frames[f]
            }
            cond.wait()
        }
    }

    /// Gives the frame at `position` back; a dirty page will be written back before it is evicted.
    func release(position at: Int, dirty: Bool) {
        cond.lock()
        let page = order[at]
        if let f = entries[page].frame { frameStates[f] = .ready(page) }
        if dirty { entries[page].dirty = true }
        cursor = at + 1
        cond.broadcast()
        cond.unlock()
    }

    // MARK: Stats

    func stats() -> StatePager.Stats {
        cond.lock()
        defer { cond.unlock() }
        var spilled = 0, spilledPages = 0
        for e in entries where e.frame == nil {
            if let x = e.extent {
                spilled += x.length
                spilledPages += 1
            }
        }
        return StatePager.Stats(
            residentBytes: residentBytesLocked(), peakResidentBytes: peak, spilledBytes: spilled,
            spilledRawBytes: spilledPages * pageBytes, spillFileBytes: spill?.fileBytes ?? 0,
            pagesWritten: pagesWritten, pagesRead: pagesRead, frameCount: frames.count, pageCount: pageCount,
            isPaged: isPaged)
    }

    private func residentBytesLocked() -> Int {
        frames.count * pageBytes + (codec?.allocatedBytes ?? 0) + Self.tableBytes(pageCount: pageCount)
    }

    private func notePeakLocked() { peak = max(peak, residentBytesLocked()) }

    private func allocateFrameLocked() -> Int {
        frames.append(UnsafeMutableRawPointer.allocate(byteCount: pageBytes, alignment: 64))
        frameStates.append(.empty)
        notePeakLocked()
        return frames.count - 1
    }

    // MARK: The I/O thread

    func startIOThread() {
        cond.lock()
        threadRunning = true
        cond.unlock()
        let thread = Thread { [self] in ioLoop() }
        thread.name = "qlora-optimizer-pager"
        thread.start()
    }

    /// Stops the I/O thread (waiting for it) and removes the spill file.
    func shutdown() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while threadRunning { cond.wait() }
        cond.unlock()
        spill?.close()
    }

    /// One unit of I/O-thread work: write the victim back (if dirty), then load the target.
    private struct Job {
        var target: Int
        var frame: Int
        /// The page leaving the frame, if any.
        var victim: Int?
        /// The victim is dirty: compress it into the spill file, reusing `victimExtent` if it fits.
        var writeBack = false
        var victimExtent: SpillFile.Extent?
        /// Where the target's bytes are; nil means a zero page.
        var source: SpillFile.Extent?
    }

    private func ioLoop() {
        cond.lock()
        while !stopping {
            guard failure == nil, passActive, let job = nextJobLocked() else {
                cond.wait()
                continue
            }
            cond.unlock()
            var written: SpillFile.Extent?
            var error: Error?
            do {
                if job.writeBack { written = try writeBack(frame: job.frame, replacing: job.victimExtent) }
                try load(job.source, into: frames[job.frame])
            } catch let e {
                error = e
            }
            cond.lock()
            if let error {
                failure = error
                cond.broadcast()
                continue
            }
            if let victim = job.victim, job.writeBack {
                entries[victim].extent = written
                entries[victim].dirty = false
                pagesWritten += 1
            }
            if job.source != nil { pagesRead += 1 }
            frameStates[job.frame] = .ready(job.target)
            notePeakLocked()
            cond.broadcast()
        }
        threadRunning = false
        cond.broadcast()
        cond.unlock()
    }

    /// The next page to bring in within the look-ahead window, and the frame to bring it into;
    /// claims both (the victim leaves its frame now).
    private func nextJobLocked() -> Job? {
        let end = min(order.count, cursor + frameCount)
        guard cursor < end, let targetPos = (cursor..<end).first(where: { entries[order[$0]].frame == nil })
        else { return nil }
        let target = order[targetPos]
        var frame: Int?
        if let f = frameStates.firstIndex(of: .empty) {
            frame = f
        } else if frames.count < frameCount {
            frame = allocateFrameLocked()
        } else {
            var best: (Int, Int)?  // (frame, priority): done pages oldest first, then furthest future
            for (f, s) in frameStates.enumerated() {
                guard case .ready(let p) = s else { continue }
                let pos = position[p]
                let priority: Int
                if pos < cursor { priority = Int.max - pos } else if pos > targetPos { priority = pos } else { continue }
                if best == nil || priority > best!.1 { best = (f, priority) }
            }
            frame = best?.0
        }
        guard let frame else { return nil }
        var job = Job(target: target, frame: frame, source: entries[target].extent)
        if case .ready(let victim) = frameStates[frame] {
            job.victim = victim
            job.writeBack = entries[victim].dirty
            job.victimExtent = entries[victim].extent
            entries[victim].frame = nil
        }
        frameStates[frame] = .loading(target)
        entries[target].frame = frame
        entries[target].dirty = false
        return job
    }

    private func writeBack(frame: Int, replacing old: SpillFile.Extent?) throws -> SpillFile.Extent {
        let n = try codec!.compress(frames[frame], path: spill!.path)
        return try spill!.write(codec!.scratch, length: n, replacing: old)
    }

    private func load(_ source: SpillFile.Extent?, into frame: UnsafeMutableRawPointer) throws {
        guard let source else {
            frame.initializeMemory(as: UInt8.self, repeating: 0, count: pageBytes)
            return
        }
        try spill!.read(source, into: codec!.scratch)
        try codec!.decompress(length: source.length, into: frame, path: spill!.path)
    }
}
