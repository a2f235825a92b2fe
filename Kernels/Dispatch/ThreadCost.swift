/// How many threads a product is worth, from two costs measured on this machine at first use rather
/// than a size threshold tuned on one CPU (issue 14 item 3): the worker pool's fork-join with its
/// workers awake, and the seconds per flop of the path's own forward micro-kernel on one core.
/// A product whose one-thread time does not pay for the extra fork-joins runs on fewer threads.
enum ThreadCost {
    /// Seconds for one `WorkerPool.run` over 2 threads whose workers are spinning (median of 64):
    /// the steady state of back-to-back kernel calls.
    static let forkJoinSeconds: Double = {
        let pool = WorkerPool.shared(2)
        // Each job writes its own slot, so the empty job is not optimized away.
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        defer { slots.deallocate() }
        slots.initialize(repeating: 0, count: 16)
        for _ in 0..<16 { pool.run(2) { t in slots[t * 8] &+= 1 } }  // wake the workers
        var samples: [Double] = []
        for _ in 0..<64 {
            let t0 = MachineProbe.now()
            pool.run(2) { t in slots[t * 8] &+= 1 }
            samples.append(MachineProbe.now() - t0)
        }
        samples.sort()
        return samples[samples.count / 2]
    }()

    /// Seconds per flop of `k`'s forward tile on one core over an L1-resident sliver and panel (best
    /// of 5), per ISA.
    static func secondsPerFlop(_ k: TileKernels) -> Double {
        if k.fMR == TileKernels.avx512.fMR && k.fNR == TileKernels.avx512.fNR { return avx512SecondsPerFlop }
        return avx2SecondsPerFlop
    }

    private static let avx512SecondsPerFlop = measure(.avx512)
    private static let avx2SecondsPerFlop = measure(.avx2)

    private static func measure(_ k: TileKernels) -> Double {
        let kc = 128, tiles = 8
        let xt = UnsafeMutablePointer<Float>.allocate(capacity: kc * k.fMR)
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: k.fNR * kc)
        let yt = UnsafeMutablePointer<Float>.allocate(capacity: k.fNR * k.fMR)
        defer { xt.deallocate(); wp.deallocate(); yt.deallocate() }
        xt.initialize(repeating: 0.5, count: kc * k.fMR)
        wp.initialize(repeating: 0.25, count: k.fNR * kc)
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = MachineProbe.now()
            for t in 0..<tiles { k.forwardTile(xt, wp, kc, kc, yt, k.fMR, t > 0) }
            best = min(best, MachineProbe.now() - t0)
        }
        return best / Double(2 * tiles * kc * k.fMR * k.fNR)
    }

    /// The thread count in 1 ... `requested` that minimizes the predicted time of `flops` of work:
    /// T1 / t + 2 (t − 1) · fork-join (the factor 2 covers the extra packing and the slower of the
    /// threads finishing last).
    static func threads(flops: Double, requested: Int, _ k: TileKernels) -> Int {
        guard requested > 1 else { return 1 }
        let t1 = flops * secondsPerFlop(k)
        let l = forkJoinSeconds
        var best = 1, bestTime = t1
        for t in 2...requested {
            let time = t1 / Double(t) + 2 * Double(t - 1) * l
            if time < bestTime { best = t; bestTime = time }
        }
        return best
    }
}
