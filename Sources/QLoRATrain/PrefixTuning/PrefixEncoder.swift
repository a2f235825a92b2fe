import Foundation
import QLoRACore
import QLoRAFormats
import QLoRAKernels
import QLoRAModel

/// Prefix tuning (Li & Liang 2021, arXiv 2101.00190; PEFT's `PrefixEncoder`): every attention layer
/// gets N extra key/value positions, produced by an encoder and fed to the model's KV-prefix hook.
/// Without projection the encoder is a table, its output; with projection it is
/// Embedding(N, D) → Linear(D → H) → tanh → Linear(H → L·2·D), trained end to end.
///
/// The output (N, L·2·D) is PEFT's layout: viewed as (N, L·2, NKV, HS), index 2l holds layer l's
/// keys and 2l+1 its values; a KVD row is laid out like the model's keys (head-major), and the keys
/// are used as given, as PEFT's past_key_values are.
/// Legend: N = virtual tokens, L = layers, D = token_dim = KVD = NKV·HS, H = encoder hidden,
/// O = L·2·D.
public final class PrefixEncoder: TrainableAdapter, AttentionKVPrefix {
    public let config: PromptLearningConfig
    /// (N, O) without projection, (N, D) with.
    public let embedding: Parameter
    /// transform.0: (H, D) and (H); transform.2: (O, H) and (O); nil without projection.
    public let w1, b1, w2, b2: Parameter?
    let N: Int, L: Int, D: Int, H: Int, O: Int
    let blas: BLAS
    /// With projection: the encoder output (N, O) and its gradient, tanh activations and their gradient (N, H).
    private let output, dOutput, act, dAct: UnsafeMutablePointer<Float>?

    public var virtualTokens: Int { N }
    public var projects: Bool { w1 != nil }
    public var parameters: [Parameter] { [embedding] + [w1, b1, w2, b2].compactMap { $0 } }

    /// An encoder with `projection` (train mode) or a table (no projection, or a loaded adapter:
    /// PEFT's inference mode keeps only the output); all values zero.
    public init(config: PromptLearningConfig, projection: Bool) throws {
        precondition(config.method == .prefixTuning)
        guard let blas = BLAS.shared else { throw QLoRAError(.notFound, "OpenBLAS not found (install libopenblas-dev)") }
        self.blas = blas
        self.config = config
        N = config.numVirtualTokens; L = config.numLayers; D = config.tokenDim; H = config.encoderHiddenSize
        O = L * 2 * D
        let p = "prompt_encoder."
        embedding = Parameter(name: p + "embedding.weight", shape: [N, projection ? D : O])
        if projection {
            w1 = Parameter(name: p + "transform.0.weight", shape: [H, D]); b1 = Parameter(name: p + "transform.0.bias", shape: [H])
            w2 = Parameter(name: p + "transform.2.weight", shape: [O, H]); b2 = Parameter(name: p + "transform.2.bias", shape: [O])
            func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
                let q = UnsafeMutablePointer<Float>.allocate(capacity: n)
                q.initialize(repeating: 0, count: n)
                return q
            }
            output = alloc(N * O); dOutput = alloc(N * O); act = alloc(N * H); dAct = alloc(N * H)
        } else {
            w1 = nil; b1 = nil; w2 = nil; b2 = nil
            output = nil; dOutput = nil; act = nil; dAct = nil
        }
    }

    deinit { for p in [output, dOutput, act, dAct] { p?.deallocate() } }

    /// A new encoder initialized as PEFT's modules are: nn.Embedding N(0, 1), nn.Linear weights and
    /// biases U(−1/√in, 1/√in), drawn from `rng` in parameter order.
    public static func random(config: PromptLearningConfig, rng: inout SeededRNG) throws -> PrefixEncoder {
        let e = try PrefixEncoder(config: config, projection: config.prefixProjection)
        for i in 0..<e.embedding.count { e.embedding.value[i] = rng.nextNormal() }
        for (p, fanIn) in [(e.w1, e.D), (e.b1, e.D), (e.w2, e.H), (e.b2, e.H)] {
            guard let p else { continue }
            let bound = 1 / Float(fanIn).squareRoot()
            for i in 0..<p.count { p.value[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
        }
        return e
    }

    /// A table encoder holding `output` (N, O) (a saved adapter, or a text initialization).
    public static func table(config: PromptLearningConfig, output: [Float]) throws -> PrefixEncoder {
        let e = try PrefixEncoder(config: config, projection: false)
        e.embedding.setValues(output)
        return e
    }

    /// The output (N, O): the table itself, or the projection's last result.
    var outputValues: UnsafeMutablePointer<Float> { output ?? embedding.value }
    /// Where the prefix gradient (N, O) accumulates: the table's gradient, or the projection's.
    var outputGradient: UnsafeMutablePointer<Float> { dOutput ?? embedding.grad }

    // MARK: Forward and backward of the projection

    /// Computes the output from the parameters (projection only; a table is its own output) and
    /// clears the output gradient, before a step's forward pass.
    public func forward() {
        guard let w1, let b1, let w2, let b2, let act, let output, let dOutput else { return }
        // act (N, H) = tanh(E (N, D) · W1ᵀ + b1)
        blas.sgemm(transA: false, transB: true, M: N, N: H, K: D, A: embedding.value, lda: D, B: w1.value, ldb: D,
                   C: act, ldc: H)
        for n in 0..<N { for h in 0..<H { act[n * H + h] = tanhf(act[n * H + h] + b1.value[h]) } }
        // output (N, O) = act · W2ᵀ + b2
        blas.sgemm(transA: false, transB: true, M: N, N: O, K: H, A: act, lda: H, B: w2.value, ldb: H, C: output, ldc: O)
        for n in 0..<N { for o in 0..<O { output[n * O + o] += b2.value[o] } }
        dOutput.initialize(repeating: 0, count: N * O)
    }

    /// Accumulates the parameters' gradients from the output gradient (projection only; a table's
    /// output gradient is already its own).
    public func backward() {
        guard let w1, let b1, let w2, let b2, let act, let dAct, let dOutput else { return }
        for n in 0..<N { for o in 0..<O { b2.grad[o] += dOutput[n * O + o] } }
        // dW2 (O, H) += dOutᵀ · act;  dAct (N, H) = dOut · W2
        blas.sgemm(transA: true, transB: false, M: O, N: H, K: N, A: dOutput, lda: O, B: act, ldb: H, beta: 1,
                   C: w2.grad, ldc: H)
        blas.sgemm(transA: false, transB: false, M: N, N: H, K: O, A: dOutput, lda: O, B: w2.value, ldb: H, C: dAct, ldc: H)
        for i in 0..<(N * H) { dAct[i] *= 1 - act[i] * act[i] }                      // through tanh
        for n in 0..<N { for h in 0..<H { b1.grad[h] += dAct[n * H + h] } }
        // dW1 (H, D) += dActᵀ · E;  dE (N, D) += dAct · W1
        blas.sgemm(transA: true, transB: false, M: H, N: D, K: N, A: dAct, lda: H, B: embedding.value, ldb: D, beta: 1,
                   C: w1.grad, ldc: D)
        blas.sgemm(transA: false, transB: false, M: N, N: D, K: H, A: dAct, lda: H, B: w1.value, ldb: D, beta: 1,
                   C: embedding.grad, ldc: D)
    }

    // MARK: The KV-prefix hook

    public func writeKeysValues(layer l: Int, keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
                                rowStride: Int) {
        let out = outputValues
        for n in 0..<N {
            (keys + n * rowStride).update(from: out + n * O + 2 * l * D, count: D)
            (values + n * rowStride).update(from: out + n * O + (2 * l + 1) * D, count: D)
        }
    }

    /// Adds layer l's prefix key/value gradients, summed over B sequences: the first N rows (rows
    /// `rowStride` apart) of each sequence's dK and dV, sequences `sequenceStride` floats apart.
    public func accumulateGradient(layer l: Int, dKeys: UnsafePointer<Float>, dValues: UnsafePointer<Float>, B: Int,
                                   rowStride: Int, sequenceStride: Int) {
        let g = outputGradient
        for b in 0..<B {
            for n in 0..<N {
                let gk = g + n * O + 2 * l * D, gv = gk + D
                let sk = dKeys + b * sequenceStride + n * rowStride, sv = dValues + b * sequenceStride + n * rowStride
                for i in 0..<D { gk[i] += sk[i]; gv[i] += sv[i] }
            }
        }
    }

    // MARK: Files

    /// Saves PEFT's PREFIX_TUNING files: `prompt_embeddings` = the encoder output.
    public func save(to dir: String) throws {
        if projects {  // the output of the current parameters, without touching a step's gradient
            let keep = Array(UnsafeBufferPointer(start: dOutput!, count: N * O))
            forward()
            dOutput!.update(from: keep, count: N * O)
        }
        try PEFTPromptAdapter(config: config, embeddings: Array(UnsafeBufferPointer(start: outputValues, count: N * O)))
            .write(to: dir)
    }

    /// A saved PREFIX_TUNING adapter: the prefix directly (PEFT's inference mode).
    public static func load(_ adapter: PEFTPromptAdapter) throws -> PrefixEncoder {
        try table(config: adapter.config, output: adapter.embeddings)
    }
}
