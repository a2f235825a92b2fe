import Foundation

/// Foundation's JSONSerialization writes 30.0 as `30`; transformers 5's strict config classes then
/// refuse the file ("Field 'final_logit_softcapping' expected float, got int" for Gemma 2; "llm_int8_threshold
/// must be a float" for BitsAndBytesConfig). For the keys transformers types as float, an integral value
/// is written back with its decimal point.
public enum ConfigJSONFloats {
    public static let floatKeys = ["final_logit_softcapping", "attn_logit_softcapping", "llm_int8_threshold",
                                   "rms_norm_eps", "initializer_range", "rope_theta", "rope_local_base_freq",
                                   "partial_rotary_factor", "factor"]

    /// `text` (pretty-printed JSON, `"key" : value`) with `"key" : 30` → `"key" : 30.0` for the float keys.
    public static func restore(_ text: String) -> String {
        let keys = floatKeys.joined(separator: "|")
        return text.replacingOccurrences(of: #""(\#(keys))" : (-?[0-9]+)(?=\s*[,}\n])"#, with: "\"$1\" : $2.0",
                                         options: .regularExpression)
    }
}
