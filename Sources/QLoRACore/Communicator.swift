import CQLoRASupport
import Foundation

/// The processes of a data-parallel job and the few collectives they use: MPI (Open MPI, loaded at
/// run time) when started by `mpirun`, otherwise a single rank whose collectives return their input.
///
/// Only the calling (main) thread uses MPI (MPI_THREAD_FUNNELED). Every blocking collective is
/// watched: if it has not returned within `timeout(for:)` seconds (a rank died where the launcher
/// cannot see it, a host was lost), the process prints one line naming the collective and exits, and
/// `mpirun` then ends the other ranks.
public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Whether MPI is in use (started by mpirun, even with -np 1).
    public let usesMPI: Bool
    /// A collective's deadline is max(`minimumTimeout`, `slowStepFactor` × the slowest step seen),
    /// since a collective waits for the slowest rank's compute. QLORA_MPI_TIMEOUT sets the minimum.
    public var minimumTimeout: Double
    public var slowStepFactor = 4.0
    public var slowestStep = 0.0
    private let watchdog: Watchdog?
    private var finalized = false

    /// One rank, no MPI.
    public static func single() -> Communicator { Communicator(rank: 0, size: 1, mpi: false) }

    /// MPI when Open MPI's launcher started this process (OMPI_COMM_WORLD_SIZE is set), else one rank.
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Communicator {
        guard env["OMPI_COMM_WORLD_SIZE"] != nil else { return single() }
        var rank: Int32 = 0, size: Int32 = 0
        guard qlora_mpi_init(&rank, &size) == 0 else {
            throw QLoRAError(.unsupported, "started by mpirun, but MPI cannot start: \(String(cString: qlora_mpi_error()))")
        }
        let c = Communicator(rank: Int(rank), size: Int(size), mpi: true)
        if let t = env["QLORA_MPI_TIMEOUT"].flatMap(Double.init), t > 0 { c.minimumTimeout = t }
        return c
    }

    private init(rank: Int, size: Int, mpi: Bool) {
        self.rank = rank
        self.size = size
        usesMPI = mpi
        minimumTimeout = 120
        watchdog = mpi ? Watchdog(rank: rank) : nil
    }

    /// The deadline of one collective, in seconds.
    public var timeout: Double { max(minimumTimeout, slowStepFactor * slowestStep) }

    // MARK: Collectives (every rank calls each one, in the same order)

    /// Every rank's `count` floats, in rank order: recv holds size × count floats.
    public func allgather(_ send: UnsafePointer<Float>, count: Int, into recv: UnsafeMutablePointer<Float>,
                          what: @autoclosure () -> String) throws {
        guard usesMPI else { recv.update(from: send, count: count); return }
        try watched(what(), timeout) { qlora_mpi_allgather_floats(send, count, recv) }
    }

    /// Every rank's value of a fixed-size type, in rank order.
    public func allgather<T: BitwiseCopyable>(_ value: T, what: @autoclosure () -> String) throws -> [T] {
        guard usesMPI else { return [value] }
        var v = value
        var out = [T](repeating: value, count: size)
        let n = MemoryLayout<T>.stride
        try out.withUnsafeMutableBytes { recv in
            try withUnsafeBytes(of: &v) { send in
                try watched(what(), timeout) { qlora_mpi_allgather_bytes(send.baseAddress, n, recv.baseAddress) }
            }
        }
        return out
    }

    /// Rank `root`'s bytes on every rank (`bytes` is read on the root only).
    public func broadcast(_ bytes: [UInt8], root: Int = 0, what: @autoclosure () -> String) throws -> [UInt8] {
        guard usesMPI else { return bytes }
        let label = what()
        var count = UInt64(rank == root ? bytes.count : 0)
        try watched(label, timeout) { qlora_mpi_bcast_bytes(&count, 8, Int32(root)) }
        var buffer = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count))
        guard count > 0 else { return buffer }
        try buffer.withUnsafeMutableBytes { b in
            try watched(label, timeout) { qlora_mpi_bcast_bytes(b.baseAddress, b.count, Int32(root)) }
        }
        return buffer
    }

    public func barrier(what: @autoclosure () -> String) throws {
        guard usesMPI else { return }
        try watched(what(), timeout) { qlora_mpi_barrier() }
    }

    /// Ends MPI after a successful run (every rank must call it). A failed rank exits without it, so
    /// that mpirun ends the others.
    public func finalize() {
        guard usesMPI, !finalized else { return }
        finalized = true
        _ = watchdog.map { w in w.arm("MPI_Finalize", seconds: timeout) }
        _ = qlora_mpi_finalize()
        watchdog?.disarm()
    }

    private func watched(_ what: String, _ seconds: Double, _ call: () -> Int32) throws {
        watchdog?.arm(what, seconds: seconds)
        let rc = call()
        watchdog?.disarm()
        guard rc == 0 else { throw QLoRAError(.io, "rank \(rank): \(what): \(String(cString: qlora_mpi_error()))") }
    }
}

/// A thread that ends the process when a collective outlives its deadline.
private final class Watchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var deadline: Date?
    private var label = ""
    private var seconds = 0.0
    private let rank: Int

    init(rank: Int) {
        self.rank = rank
        let t = Thread { [unowned self] in self.watch() }
        t.name = "qlora-mpi-watchdog"
        t.start()
    }

    func arm(_ what: String, seconds: Double) {
        lock.lock()
        label = what
        self.seconds = seconds
        deadline = Date().addingTimeInterval(seconds)
        lock.unlock()
    }

    func disarm() {
        lock.lock()
        deadline = nil
        lock.unlock()
    }

    private func watch() {
        while true {
            Thread.sleep(forTimeInterval: 0.5)
            lock.lock()
            let expired = deadline.map { Date() > $0 } ?? false
            let what = label, s = seconds
            lock.unlock()
            if expired {
                let line = "error: rank \(rank): no answer from the other ranks for \(Int(s)) s in \(what) (a rank or host is gone?); stopping\n"
                FileHandle.standardError.write(Data(line.utf8))
                _exit(75)
            }
        }
    }
}
