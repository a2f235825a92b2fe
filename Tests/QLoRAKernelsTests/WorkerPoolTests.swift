import Dispatch
import QLoRA
import Synchronization
import Testing

@Suite struct WorkerPoolTests {
    /// Many threads sharing one pool (and jobs that nest) each get every index exactly once.
    @Test func concurrentAndNestedCallersEachCoverTheirRange() {
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 8) { caller in
            for round in 0..<200 {
                let n = 1000 + caller * 7 + round
                let seen = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
                seen.initialize(repeating: 0, count: n)
                Parallel.forChunks(n, threads: 2, granule: 3) { _, lo, hi in
                    // A nested parallel loop inside a job must not deadlock.
                    Parallel.forChunks(hi - lo, threads: 2) { _, a, b in
                        for i in (lo + a)..<(lo + b) { seen[i] &+= 1 }
                    }
                }
                for i in 0..<n where seen[i] != 1 { failures.add(1, ordering: .relaxed) }
                seen.deallocate()
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }
}
