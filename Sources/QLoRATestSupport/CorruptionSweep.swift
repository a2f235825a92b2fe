import QLoRA

/// Truncates a file at many offsets and flips bytes at many positions, reads every variant, and
/// reports the ones that broke the rule: a reader either loads a variant or throws a `QLoRAError`
/// (a crash ends the test process, which fails the run just as loudly).
///
/// Offsets and positions: every one below `everyBelow` (the header, where structure lives), then
/// `spread` more evenly over the rest of the file. A flip XORs the byte with a mask that cycles
/// through 0x01, 0x80, 0xFF and 0x20 (low bit, sign/high bit, all bits, ASCII case/space).
public struct CorruptionSweep {
    public enum Variant: CustomStringConvertible, Sendable {
        case truncated(at: Int)
        case flipped(at: Int, mask: UInt8)

        public var description: String {
            switch self {
            case .truncated(let n): return "truncated to \(n) bytes"
            case .flipped(let i, let m): return "byte \(i) XOR 0x\(String(m, radix: 16))"
            }
        }

        public var isTruncation: Bool { if case .truncated = self { return true } else { return false } }
        public var position: Int {
            switch self {
            case .truncated(let n): return n
            case .flipped(let i, _): return i
            }
        }
    }

    /// What must happen to a variant: any clean outcome, rejection, or a successful load.
    public enum Expectation: Sendable { case loadOrReject, reject, load }

    public struct Report: CustomStringConvertible, Sendable {
        public var name: String
        public var variants = 0
        public var loaded = 0
        public var rejected = 0
        /// Variants whose outcome broke the expectation, with what happened.
        public var violations: [String] = []

        public var description: String {
            "\(name): \(variants) variants, \(loaded) loaded, \(rejected) rejected with a QLoRAError, \(violations.count) violations"
        }
    }

    static let masks: [UInt8] = [0x01, 0x80, 0xFF, 0x20]

    /// Every offset below `everyBelow`, then `spread` more across the rest (ascending, distinct, < count).
    public static func positions(count: Int, everyBelow: Int, spread: Int) -> [Int] {
        let dense = Array(0..<min(max(everyBelow, 0), count))
        let start = dense.count
        guard count > start, spread > 0 else { return dense }
        let rest = count - start
        let sparse = (0..<spread).map { start + $0 * rest / spread }
        return Array(Set(dense + sparse)).sorted()
    }

    public static func variants(count: Int, everyBelow: Int, spread: Int) -> [Variant] {
        let at = positions(count: count, everyBelow: everyBelow, spread: spread)
        return at.map { .truncated(at: $0) } + at.enumerated().map { k, i in .flipped(at: i, mask: masks[k % masks.count]) }
    }

    public static func apply(_ variant: Variant, to bytes: [UInt8]) -> [UInt8] {
        switch variant {
        case .truncated(let n): return Array(bytes[..<n])
        case .flipped(let i, let mask):
            var copy = bytes
            copy[i] ^= mask
            return copy
        }
    }

    /// Reads every variant of `bytes` with `read` and checks it against `expect`.
    public static func run(
        _ name: String, bytes: [UInt8], everyBelow: Int, spread: Int,
        expect: (Variant) -> Expectation = { _ in .loadOrReject }, read: ([UInt8]) throws -> Void
    ) -> Report {
        var report = Report(name: name)
        for variant in variants(count: bytes.count, everyBelow: everyBelow, spread: spread) {
            report.variants += 1
            let expectation = expect(variant)
            do {
                try read(apply(variant, to: bytes))
                report.loaded += 1
                if expectation == .reject { report.violations.append("\(variant): loaded, expected an error") }
            } catch let error as QLoRAError {
                report.rejected += 1
                if expectation == .load { report.violations.append("\(variant): rejected (\(error)), expected a load") }
            } catch {
                report.violations.append("\(variant): threw \(type(of: error)) (\(error)), not a QLoRAError")
            }
        }
        return report
    }

    /// Bytes before the trailing whitespace of a text file: cutting only whitespace may still parse.
    public static func contentEnd(_ bytes: [UInt8]) -> Int {
        var n = bytes.count
        while n > 0, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[n - 1]) { n -= 1 }
        return n
    }

    /// The data region of a safetensors file: everything after the u64 length and the header.
    public static func safetensorsDataStart(_ bytes: [UInt8]) -> Int {
        8 + Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
    }
}
