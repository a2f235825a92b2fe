/// The hook points through which adapters attach to the base model without the model knowing them
/// (STYLE §4.5): the per-linear delta is `LlamaModel.linearDelta`; the two below are the
/// prompt-learning hooks. Prompt tuning implements the first, prefix tuning the second.
/// Legend: N = virtual tokens, C = hidden, L = layers, KVD = NKV·HS.

/// An input-embedding prefix (prompt tuning, Lester et al. 2021, arXiv 2104.08691): N virtual
/// token embeddings placed before every sequence, at positions 0…N-1; real tokens follow at N….
public protocol InputEmbeddingPrefix: AnyObject {
    /// N.
    var virtualTokens: Int { get }
    /// Writes the N embeddings, (N, C) row-major, to `out`.
    func writeEmbeddings(into out: UnsafeMutablePointer<Float>)
}

/// A per-layer attention key/value prefix (prefix tuning, Li & Liang 2021, arXiv 2101.00190), the
/// way PEFT passes it as `past_key_values`: N cached positions in every layer whose keys are used
/// as given (they are not rotated again), that every query attends to; real tokens' positions start at N.
public protocol AttentionKVPrefix: AnyObject {
    /// N.
    var virtualTokens: Int { get }
    /// Writes layer `layer`'s prefix keys and values, (N, KVD) each, to rows `rowStride` floats apart.
    func writeKeysValues(layer: Int, keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
                         rowStride: Int)
}
