import Synchronization
import CQLoRASupport

#if canImport(Glibc)
import Glibc
#endif

/// A pool of persistent worker threads that spin briefly between jobs, so that a kernel call of a
/// fraction of a millisecond can use every core without paying a thread wake-up (tens of
/// microseconds with libdispatch) — the same reason llama.cpp and OpenMP runtimes keep spinning
/// workers. After `spinLimit` pause iterations with no new job a worker sleeps on a condition variable.
public final class WorkerPool: @unchecked Sendable {
    /// Participants per job, the calling thread included.
    public let size: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private var job: ((Int) -> Void)?
    private var jobCount = 0
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    /// Pause iterations (≈ 50–100 µs) a worker spins after a job before it sleeps: long enough to
    /// catch the next kernel of a layer, short enough not to steal a core from other work for long.
    private let spinLimit = 2_000
    /// When set, idle workers go to sleep at once (e.g. before handing the cores to OpenBLAS).
    private let parked = Atomic<Bool>(false)
    /// Held by the caller whose job the workers run; a second caller (another thread, or nested
    /// parallelism inside a job) runs its work inline instead of waiting.
    private let busy = Atomic<Bool>(false)

    private static let lock = Mutex<[Int: WorkerPool]>([:])

    /// The process-wide pool with `threads` participants.
    public static func shared(_ threads: Int) -> WorkerPool {
        lock.withLock { pools in
            if let p = pools[threads] { return p }
            let p = WorkerPool(size: threads)
            pools[threads] = p
            return p
        }
    }

    init(size: Int) {
        self.size = max(1, size)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
        for t in 1..<self.size {
            let box = Unmanaged.passRetained(WorkerStart(pool: self, index: t))
            var thread = pthread_t()
            pthread_create(&thread, nil, { arg in
                let start = Unmanaged<WorkerStart>.fromOpaque(arg!).takeRetainedValue()
                start.pool.workerLoop(start.index)
                return nil
            }, box.toOpaque())
            pthread_detach(thread)
        }
    }

    private final class WorkerStart {
        let pool: WorkerPool
        let index: Int
        init(pool: WorkerPool, index: Int) { self.pool = pool; self.index = index }
    }

    private func workerLoop(_ index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins &+= 1
                if spins < spinLimit && !parked.load(ordering: .relaxed) {
                    qlora_cpu_pause()
                } else {
                    pthread_mutex_lock(&mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen {
                        pthread_cond_wait(&cond, &mutex)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(&mutex)
                }
            }
            seen = generation.load(ordering: .acquiring)
            if index < jobCount, let job { job(index) }
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// Sends idle workers to sleep now instead of after their spin (the next `run` wakes them).
    public func park() { parked.store(true, ordering: .relaxed) }

    /// Parks every pool (before code that brings its own threads, such as OpenBLAS).
    public static func parkAll() {
        lock.withLock { pools in for p in pools.values { p.park() } }
    }

    /// Runs `body(t)` for t in 0..<n (n ≤ size) across the pool; t = 0 on the calling thread.
    /// Returns when every call has finished. When the pool is already running another caller's job,
    /// the calls run one after another on this thread.
    public func run(_ n: Int, _ body: (Int) -> Void) {
        precondition(n <= size)
        if n <= 1 || size == 1
            || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for t in 0..<n { body(t) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        parked.store(false, ordering: .relaxed)
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            jobCount = n
            pending.store(size - 1, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(&mutex)
                pthread_cond_broadcast(&cond)
                pthread_mutex_unlock(&mutex)
            }
            escaping(0)
            while pending.load(ordering: .acquiring) > 0 { qlora_cpu_pause() }
            job = nil
        }
    }
}
