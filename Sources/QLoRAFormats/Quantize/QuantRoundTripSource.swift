import QLoRACore
import QLoRAQuant

/// A checkpoint seen through 4-bit quantization: every tensor `qlora quantize` would quantize comes
/// back as its dequantization (what a QLoRA run computes with), everything else unchanged. Used to
/// check the NF4 kernels against a dense Float32 computation on the very same weights, and by merge.
public final class QuantRoundTripSource: CheckpointSource {
    public let inner: CheckpointSource
    public let type: FourBitType
    public let blockSize: Int
    public let doubleQuant: Bool

    public init(_ inner: CheckpointSource, type: FourBitType = .nf4, blockSize: Int = 64, doubleQuant: Bool = true) {
        self.inner = inner
        self.type = type
        self.blockSize = blockSize
        self.doubleQuant = doubleQuant
    }

    public var path: String { inner.path }
    public var config: LlamaConfig { inner.config }
    public var tensorNames: [String] { inner.tensorNames }
    public func shape(of name: String) throws -> [Int] { try inner.shape(of: name) }
    public func storedBytes(of name: String) throws -> Int { try inner.storedBytes(of: name) }
    public func dtypeName(of name: String) throws -> String { try inner.dtypeName(of: name) }

    public func floats(_ name: String) throws -> [Float] {
        let w = try inner.floats(name)
        let shape = try inner.shape(of: name)
        guard QuantizationTargets.isQuantized(name, shape: shape, skipModules: []) else { return w }
        let q = FourBitCodec.quantize(w, shape: shape, type: type, blockSize: blockSize, doubleQuant: doubleQuant)
        return FourBitCodec.dequantize(q)
    }
}
