#if canImport(Glibc)
import Glibc
#endif

/// This CPU's data-cache sizes as the machine reports them (sysconf, else
/// /sys/devices/system/cpu/cpu0/cache), for the GEMM blocking: a 256-KiB-L2 Zen 1 core and a
/// 2-MiB-L2 Xeon get panels sized to their own caches rather than constants tuned on one CPU.
public struct CacheSizes: Sendable {
    /// Per-core L1 data and L2 sizes in bytes.
    public let l1d: Int
    public let l2: Int

    public static let current = CacheSizes(l1d: read(level: 1, sysconfName: Int32(_SC_LEVEL1_DCACHE_SIZE)) ?? 32 << 10,
                                           l2: read(level: 2, sysconfName: Int32(_SC_LEVEL2_CACHE_SIZE)) ?? 512 << 10)

    static func read(level: Int, sysconfName: Int32) -> Int? {
        let v = sysconf(sysconfName)
        if v > 0 { return v }
        // sysfs: the first data or unified cache at this level ("32K", "1024K", "2M").
        for index in 0..<8 {
            let dir = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
            guard let lv = readLine(dir + "level"), Int(lv) == level,
                  let type = readLine(dir + "type"), type != "Instruction",
                  let size = readLine(dir + "size") else { continue }
            if let n = Int(size.dropLast()) {
                switch size.last {
                case "K": return n << 10
                case "M": return n << 20
                default: break
                }
            }
            if let n = Int(size) { return n }
        }
        return nil
    }

    static func readLine(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 64)
        guard fgets(&buf, 64, f) != nil else { return nil }
        let s = String(cString: buf)
        return s.hasSuffix("\n") ? String(s.dropLast()) : s
    }

    /// The largest power of two ≤ x (x ≥ 1).
    static func floorPow2(_ x: Int) -> Int { 1 << (Int.bitWidth - 1 - max(1, x).leadingZeroBitCount) }
}
