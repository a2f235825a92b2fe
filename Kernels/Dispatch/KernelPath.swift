import QLoRACore

/// The kernels that compute a run's products, as checkpoints and summaries record them: the path
/// (`KernelISA.best`, after `QLORA_ISA`), when the products are bf16 the `BF16Variant` that runs them
/// (`avx512bf16` is `vdpbf16ps`; the others are that path's Float32 kernels on bf16-rounded operands),
/// and OpenBLAS's core (`SkylakeX`, `Haswell`, …: its kernel set, which computes the LoRA and Float32
/// attention products; chosen from the path, the CPU or `QLORA_BLAS_CORETYPE`, see `BLAS`). Two paths or
/// two cores compute the same products in another summation order, so a run continued on another one
/// (another CPU, `QLORA_ISA`, `QLORA_BLAS_CORETYPE`) is not bit-identical to an uninterrupted one.
public struct KernelPath: Codable, Equatable, Sendable, CustomStringConvertible {
    /// `avx512`, `avx2` or `scalar` (`KernelISA.userName`).
    public var isa: String
    /// The bf16 products' variant (`BF16Variant.rawValue`); nil when the run does not compute in bf16.
    public var bf16: String?
    /// The core OpenBLAS reported (`openblas_get_corename`); nil when unknown (a checkpoint written before it
    /// was recorded, or a BLAS library that does not say).
    public var openblasCore: String?

    enum CodingKeys: String, CodingKey {
        case isa, bf16, openblasCore = "openblas_core"
    }

    public init(isa: String, bf16: String? = nil, openblasCore: String? = nil) {
        self.isa = isa
        self.bf16 = bf16
        self.openblasCore = openblasCore
    }

    /// The path this process runs for products in `dtype`.
    public static func running(_ dtype: ComputeDType) -> KernelPath {
        KernelPath(isa: KernelISA.best.userName, bf16: dtype == .bf16 ? BF16Variant.best.rawValue : nil,
                   openblasCore: BLAS.shared.map(\.coreName).flatMap { $0 == "unknown" ? nil : $0 })
    }

    /// `avx512`, `avx512 (bf16 on vdpbf16ps)`, `avx2 (bf16 on Float32 avx2 kernels, OpenBLAS Haswell)`, …
    public var description: String {
        var parts: [String] = []
        if let bf16 {
            let kind = bf16 == BF16Variant.avx512bf16.rawValue ? "vdpbf16ps"
                : "Float32 \(BF16Variant(rawValue: bf16)?.floatISA.userName ?? bf16) kernels"
            parts.append("bf16 on \(kind)")
        }
        if let openblasCore { parts.append("OpenBLAS \(openblasCore)") }
        return parts.isEmpty ? isa : "\(isa) (\(parts.joined(separator: ", ")))"
    }
}
