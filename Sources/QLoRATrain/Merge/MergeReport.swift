import Foundation
import QLoRACore
import QLoRAFormats

/// What `qlora merge --dtype nf4` measured: the error re-quantization adds to each merged tensor
/// (against the merged Float32 weight, also relative to that weight's RMS) and, on held-out data,
/// the loss of base + adapter (unmerged) against the merged 4-bit model. Written as JSON next to OUT.
public struct MergeReport: Codable, Sendable {
    public struct Tensor: Codable, Sendable {
        public var name: String
        public var shape: [Int]
        /// RMS of the merged Float32 weight.
        public var rms: Double
        public var rmsError: Double
        public var maxError: Double
        public var relativeRMSError: Double
        public var relativeMaxError: Double
        /// RMS of what the adapter changed (W' − W), and the re-quantization error in units of it: near 1
        /// means rounding undid the adapter's change (W sits on the 4-bit grid, W' rounds back onto it).
        public var adapterDeltaRMS: Double?
        public var errorToDelta: Double?

        enum CodingKeys: String, CodingKey {
            case name, shape, rms, rmsError = "rms_error", maxError = "max_error"
            case relativeRMSError = "relative_rms_error", relativeMaxError = "relative_max_error"
            case adapterDeltaRMS = "adapter_delta_rms", errorToDelta = "error_to_delta"
        }
    }

    public struct Evaluation: Codable, Sendable {
        public var data: String
        public var predictions: Int
        public var lossBasePlusAdapter: Double
        public var lossMerged: Double
        public var delta: Double

        public init(data: String, predictions: Int, lossBasePlusAdapter: Double, lossMerged: Double, delta: Double) {
            self.data = data
            self.predictions = predictions
            self.lossBasePlusAdapter = lossBasePlusAdapter
            self.lossMerged = lossMerged
            self.delta = delta
        }

        enum CodingKeys: String, CodingKey {
            case data, predictions, lossBasePlusAdapter = "loss_base_plus_adapter", lossMerged = "loss_merged", delta
        }
    }

    public var base: String
    public var adapter: String
    public var output: String
    public var dtype: String
    public var useDoRA: Bool
    public var quantType: String
    public var blockSize: Int
    public var doubleQuant: Bool
    public var tensors: [Tensor]
    public var meanRelativeRMSError: Double
    public var worstRelativeRMSError: Double
    public var worstRelativeMaxError: Double
    /// Mean of `errorToDelta` over the adapted tensors.
    public var meanErrorToDelta: Double?
    public var evaluation: Evaluation?

    enum CodingKeys: String, CodingKey {
        case base, adapter, output, dtype, useDoRA = "use_dora", quantType = "quant_type", blockSize = "blocksize"
        case doubleQuant = "double_quant", tensors, meanRelativeRMSError = "mean_relative_rms_error"
        case worstRelativeRMSError = "worst_relative_rms_error", worstRelativeMaxError = "worst_relative_max_error"
        case meanErrorToDelta = "mean_error_to_delta", evaluation
    }

    /// The quantized tensors of `report`, with their merged weights' RMS from `source`.
    public init(base: String, adapter: String, useDoRA: Bool, quantize report: QuantizeReport, rms: [String: Double],
                deltaRMS: [String: Double]) {
        self.base = base
        self.adapter = adapter
        output = report.output
        dtype = report.quantType
        self.useDoRA = useDoRA
        quantType = report.quantType
        blockSize = report.blockSize
        doubleQuant = report.doubleQuant
        tensors = report.tensors.filter { $0.action == "quantized" }.map { t in
            let r = rms[t.name] ?? .nan, e = t.rmsError ?? .nan, m = t.maxError ?? .nan
            let d = deltaRMS[t.name]
            return Tensor(name: t.name, shape: t.shape, rms: r, rmsError: e, maxError: m,
                          relativeRMSError: e / r, relativeMaxError: m / r, adapterDeltaRMS: d,
                          errorToDelta: d.flatMap { $0 > 0 ? e / $0 : nil })
        }
        let ratios = tensors.compactMap(\.errorToDelta)
        meanErrorToDelta = ratios.isEmpty ? nil : ratios.reduce(0, +) / Double(ratios.count)
        let rel = tensors.map(\.relativeRMSError)
        meanRelativeRMSError = rel.reduce(0, +) / Double(max(rel.count, 1))
        worstRelativeRMSError = rel.max() ?? 0
        worstRelativeMaxError = tensors.map(\.relativeMaxError).max() ?? 0
    }

    /// `<OUT>.merge.json`.
    public static func path(for output: String) -> String {
        var p = output
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p + ".merge.json"
    }

    public func write() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicOutput.write([UInt8](try enc.encode(self)) + [0x0A], to: Self.path(for: output))
    }
}
