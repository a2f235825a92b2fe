#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process environment lookups (a thin wrapper so modules need not import Glibc for it).
public enum Environment {
    public static func get(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }

    /// Sets `name` unless it is already set; returns the value now in force.
    @discardableResult
    public static func setDefault(_ name: String, _ value: String) -> String {
        if let v = get(name) { return v }
        setenv(name, value, 0)
        return value
    }
}
