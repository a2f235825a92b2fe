import Dispatch

/// Static work splitting over a fixed number of threads (llm.c's `#pragma omp parallel for`).
public enum Parallel {
    /// Calls `body(t, lo, hi)` for t in 0..<threads with [lo, hi) an even share of 0..<count in units
    /// of `granule` (the last share takes the remainder). Runs inline when one thread suffices.
    public static func forChunks(_ count: Int, threads: Int, granule: Int = 1,
                                 _ body: (_ t: Int, _ lo: Int, _ hi: Int) -> Void) {
        let units = (count + granule - 1) / granule
        let n = max(1, min(threads, units))
        if n == 1 {
            body(0, 0, count)
            return
        }
        WorkerPool.shared(n).run(n) { t in
            let lo = min(count, (t * units / n) * granule)
            let hi = min(count, ((t + 1) * units / n) * granule)
            if lo < hi { body(t, lo, hi) }
        }
    }
}

/// Scratch memory reused across kernel calls (no allocation or page faults in the steady state).
/// Not thread-safe: one per caller thread.
public final class KernelWorkspace {
    private var base: UnsafeMutableRawPointer?
    public private(set) var capacity = 0

    public init() {}

    deinit { base?.deallocate() }

    /// At least `count` floats, 64-byte aligned. Contents are unspecified.
    public func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(64, count * 4)
        if bytes > capacity {
            base?.deallocate()
            capacity = bytes + bytes / 4
            base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        return base!.assumingMemoryBound(to: Float.self)
    }
}
