/// What `qlora quantize` did to each tensor, and in total (the `--json` output).
public struct QuantizeReport: Codable, Sendable {
    public struct Tensor: Codable, Sendable {
        public var name: String
        public var shape: [Int]
        /// "quantized" or "kept".
        public var action: String
        public var dtype: String
        public var bytesIn: Int
        public var bytesOut: Int
        /// Root-mean-square and maximum |w - dequant(quant(w))| (quantized tensors only).
        public var rmsError: Double?
        public var maxError: Double?
        /// Largest per-block ratio of the error to the NF4 bound (absmax × largest half-gap, plus the
        /// absmax's own double-quantization error); ≤ 1 everywhere means every block is within bound.
        public var boundRatio: Double?

        enum CodingKeys: String, CodingKey {
            case name, shape, action, dtype, bytesIn = "bytes_in", bytesOut = "bytes_out"
            case rmsError = "rms_error", maxError = "max_error", boundRatio = "bound_ratio"
        }
    }

    public var input: String
    public var output: String
    public var quantType: String
    public var blockSize: Int
    public var doubleQuant: Bool
    public var threads: Int
    public var tensorsQuantized: Int
    public var tensorsKept: Int
    public var bytesIn: Int
    public var bytesOut: Int
    public var quantizedParameters: Int
    /// Stored bits per quantized parameter: nibbles plus quantization constants.
    public var bitsPerQuantizedParameter: Double
    public var seconds: Double
    /// Source bytes of the quantized tensors per second of quantization (MB = 10^6 bytes).
    public var quantizeMBPerSecond: Double
    public var tensors: [Tensor]
    /// The process's peak resident set (VmHWM) and peak anonymous memory (RssAnon, sampled) over the
    /// run, set by the command (nil from the library call).
    public var peakRSSBytes: Int?
    public var peakAnonymousBytes: Int?

    enum CodingKeys: String, CodingKey {
        case input, output, quantType = "quant_type", blockSize = "blocksize", doubleQuant = "double_quant"
        case threads, tensorsQuantized = "tensors_quantized", tensorsKept = "tensors_kept"
        case bytesIn = "bytes_in", bytesOut = "bytes_out", quantizedParameters = "quantized_parameters"
        case bitsPerQuantizedParameter = "bits_per_quantized_parameter", seconds
        case quantizeMBPerSecond = "quantize_mb_per_second", tensors
        case peakRSSBytes = "peak_rss_bytes", peakAnonymousBytes = "peak_anonymous_bytes"
    }
}
