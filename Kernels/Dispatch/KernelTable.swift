import QLoRACore
import QLoRAKernelsAVX2
import QLoRAKernelsAVX512

/// Which instruction-set variant of the kernels runs.
public enum KernelISA: String, CaseIterable, Sendable {
    case reference, avx2, avx512

    /// The best variant this CPU can run.
    public static let best: KernelISA = {
        let f = CPUFeatures.current
        return f.hasAVX512 ? .avx512 : f.hasAVX2 ? .avx2 : .reference
    }()

    public var isSupported: Bool {
        switch self {
        case .reference: return true
        case .avx2: return CPUFeatures.current.hasAVX2
        case .avx512: return CPUFeatures.current.hasAVX512
        }
    }
}
