import CQLoRASupport

/// The CPUs this process may run on.
public enum CPUAffinity {
    /// CPUs in the process's affinity mask (sched_getaffinity), or nil when unknown. A launcher that
    /// binds the process (mpirun's default for -np ≤ 2, taskset) makes this smaller than the machine.
    public static var cpuCount: Int? {
        let n = Int(qlora_affinity_cpu_count())
        return n > 0 ? n : nil
    }
}
