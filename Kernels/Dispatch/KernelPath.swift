import QLoRACore

/// The kernels that compute a run's products, as checkpoints and summaries record them: the path
/// (`KernelISA.best`, after `QLORA_ISA`) and, when the products are bf16, the `BF16Variant` that runs
/// them (`avx512bf16` is `vdpbf16ps`; the others are that path's Float32 kernels on bf16-rounded
/// operands). Two paths compute the same products in another summation order, so a run continued on
/// another path (another CPU, another `QLORA_ISA`) is not bit-identical to an uninterrupted one.
public struct KernelPath: Codable, Equatable, Sendable, CustomStringConvertible {
    /// `avx512`, `avx2` or `scalar` (`KernelISA.userName`).
    public var isa: String
    /// The bf16 products' variant (`BF16Variant.rawValue`); nil when the run does not compute in bf16.
    public var bf16: String?

    public init(isa: String, bf16: String? = nil) {
        self.isa = isa
        self.bf16 = bf16
    }

    /// The path this process runs for products in `dtype`.
    public static func running(_ dtype: ComputeDType) -> KernelPath {
        KernelPath(isa: KernelISA.best.userName, bf16: dtype == .bf16 ? BF16Variant.best.rawValue : nil)
    }

    /// `avx512`, `avx512 (bf16 on vdpbf16ps)`, `avx2 (bf16 on Float32 avx2 kernels)`, …
    public var description: String {
        guard let bf16 else { return isa }
        let kind = bf16 == BF16Variant.avx512bf16.rawValue ? "vdpbf16ps"
            : "Float32 \(BF16Variant(rawValue: bf16)?.floatISA.userName ?? bf16) kernels"
        return "\(isa) (bf16 on \(kind))"
    }
}
