// Small C helpers the Swift side cannot express directly.
#ifndef QLORA_SUPPORT_H
#define QLORA_SUPPORT_H

/// CPU features as bits: 1 = AVX2+FMA+F16C, 2 = AVX-512 F/BW/DQ/VL (and OS support for their state),
/// 4 = AVX512-BF16 (with 2).
int qlora_cpu_features(void);

/// Swaps two existing paths atomically (Linux renameat2 RENAME_EXCHANGE); -1 with errno where the
/// kernel or file system cannot (callers fall back to two renames).
int qlora_rename_exchange(const char *from, const char *to);

/// CPUs this process may run on (sched_getaffinity), or -1 when unknown: fewer than the worker
/// threads asked for when a launcher (mpirun, taskset) binds the process.
int qlora_affinity_cpu_count(void);

/// The spin-wait hint (x86 `pause`): lowers power and yields to a sibling hyperthread.
static inline void qlora_cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// Software prefetch of the cache line at p into L1 (read).
static inline void qlora_prefetch_l1(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
