import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// Which instruction-set variant of the kernels runs.
///
/// `QLORA_ISA=avx512|avx2|scalar` (also `reference`) chooses the path on a CPU that has more, so
/// the AVX2 and scalar paths can be measured and tested on an AVX-512 machine: it caps every
/// dispatch (`best`, `isSupported`). A path the CPU lacks, or an unknown name, is refused by the CLI
/// at start-up (`overrideError`); library code then keeps the CPU's own best path.
public enum KernelISA: String, CaseIterable, Sendable {
    case reference, avx2, avx512

    /// The best variant the CPU itself can run, ignoring `QLORA_ISA`.
    public static let hardwareBest: KernelISA = {
        let f = CPUFeatures.current
        return f.hasAVX512 ? .avx512 : f.hasAVX2 ? .avx2 : .reference
    }()

    /// The path `QLORA_ISA` asks for (nil when unset or empty), or the one-line reason it cannot run.
    public static let requested: Result<KernelISA?, QLoRAError> = parseOverride(Environment.get("QLORA_ISA"))

    public static func parseOverride(_ value: String?) -> Result<KernelISA?, QLoRAError> {
        guard let raw = value.map({ String($0.lowercased().filter { $0 != " " }) }), !raw.isEmpty else { return .success(nil) }
        let isa: KernelISA
        switch raw {
        case "scalar", "reference": isa = .reference
        case "avx2": isa = .avx2
        case "avx512", "avx-512": isa = .avx512
        default:
            return .failure(.invalid("QLORA_ISA=\(raw) is not a kernel path (use avx512, avx2 or scalar)"))
        }
        guard isa.isAvailable else {
            return .failure(QLoRAError(.unsupported, "QLORA_ISA=\(raw): this CPU has no \(isa.userName) (it runs \(hardwareBest.userName))"))
        }
        return .success(isa)
    }

    /// The error to refuse at start-up when `QLORA_ISA` is invalid or names a path the CPU lacks.
    public static var overrideError: QLoRAError? {
        if case .failure(let e) = requested { return e }
        return nil
    }

    /// The variant that runs: `QLORA_ISA` when it names a path this CPU has, else the CPU's best.
    public static let best: KernelISA = {
        if case .success(let isa?) = requested { return isa }
        return hardwareBest
    }()

    /// Whether the CPU (and OS) can run this variant, ignoring `QLORA_ISA`.
    public var isAvailable: Bool {
        switch self {
        case .reference: return true
        case .avx2: return CPUFeatures.current.hasAVX2
        case .avx512: return CPUFeatures.current.hasAVX512
        }
    }

    /// Whether kernels may run this variant: the CPU has it and `QLORA_ISA` does not cap it away.
    public var isSupported: Bool { isAvailable && rank <= Self.best.rank }

    var rank: Int {
        switch self {
        case .reference: return 0
        case .avx2: return 1
        case .avx512: return 2
        }
    }

    /// The name users see and type (`scalar` for the reference path).
    public var userName: String { self == .reference ? "scalar" : rawValue }
}
