import Foundation
import QLoRA

/// A straightforward Double-precision LLaMA forward with LoRA, prompt tuning or prefix tuning, for
/// finite-difference gradient checks: plain loops, no kernels, every weight read element by element
/// from the engine's own storage. Gemma (2 and 3) from the config's own keys, written out here again:
/// (1 + w) norms, √C embeddings, the post-attention and post-feedforward norms, tanh-GELU, the score
/// scale from query_pre_attn_scalar, and tanh soft-capping of scores and logits.
struct ReferenceLlama {
    let c: LlamaConfig
    let embed: [Double]                 // (V, C)
    let finalNorm: [Double]
    struct Layer {
        var attnNorm: [Double], mlpNorm: [Double]
        var qNorm: [Double]? = nil, kNorm: [Double]? = nil
        var postAttnNorm: [Double]? = nil, postMlpNorm: [Double]? = nil
        var w: [String: [Double]]        // module → (out, in)
        var dims: [String: (out: Int, in: Int)]
    }
    var layers: [Layer]
    /// LoRA A (r, in) and B (out, r) by (layer, module), and the scale.
    var a: [String: [Double]], b: [String: [Double]]
    /// DoRA: magnitude m (out) by (layer, module), and the row norms ‖W + s·B·A‖ of the initial A and
    /// B, held fixed (PEFT detaches them, so finite differences must too).
    var m: [String: [Double]] = [:]
    var norm: [String: [Double]] = [:]
    let rank: Int, scale: Double
    /// Prompt tuning: the virtual embeddings (NP, C), put before every row at positions 0…NP-1.
    var prompt: [Double] = []
    /// Prefix tuning: the encoder's parameters by name ("embedding", and with projection "w1", "b1",
    /// "w2", "b2"); its output (NKVP, L·2·KVD) gives layer l's keys (2l) and values (2l+1).
    var prefix: [String: [Double]] = [:]
    var prefixTokens = 0, encoderHidden = 0

    init(weights: LlamaWeights, model: LoRALlama) {
        let config = weights.config
        c = config
        let e = weights.embed.ref
        embed = (0..<(config.vocabSize * config.hiddenSize)).map { Double(e.element($0 / config.hiddenSize, $0 % config.hiddenSize)) }
        finalNorm = weights.finalNorm.map(Double.init)
        var ls: [Layer] = []
        for layer in weights.layers {
            var w: [String: [Double]] = [:], dims: [String: (Int, Int)] = [:]
            for (name, lin) in layer.linears {
                let n = lin.outFeatures * lin.inFeatures
                var dense = [Float](repeating: 0, count: n)
                switch lin.storage {
                case .nf4(let m): NF4Reference.dequantizeAll(m.ref, into: &dense)
                case .dense(let m): for i in 0..<n { dense[i] = m.ref.element(i / lin.inFeatures, i % lin.inFeatures) }
                }
                w[name] = dense.map(Double.init)
                dims[name] = (lin.outFeatures, lin.inFeatures)
            }
            ls.append(Layer(attnNorm: layer.attnNorm.map(Double.init), mlpNorm: layer.mlpNorm.map(Double.init),
                            qNorm: layer.qNorm?.map(Double.init), kNorm: layer.kNorm?.map(Double.init),
                            postAttnNorm: layer.postAttnNorm?.map(Double.init), postMlpNorm: layer.postMlpNorm?.map(Double.init),
                            w: w, dims: dims))
        }
        layers = ls
        var a: [String: [Double]] = [:], b: [String: [Double]] = [:]
        for (l, m) in model.adapters.enumerated() {
            for (name, ad) in m {
                a["\(l).\(name)"] = (0..<(ad.rank * ad.inFeatures)).map { Double(ad.a[$0]) }
                b["\(l).\(name)"] = (0..<(ad.outFeatures * ad.rank)).map { Double(ad.b[$0]) }
            }
        }
        self.a = a
        self.b = b
        rank = model.lora?.r ?? 0
        scale = Double(Float(model.lora?.scaling ?? 0))
        for (l, mods) in model.adapters.enumerated() {
            for (name, ad) in mods where ad.isDoRA {
                let key = "\(l).\(name)", (out, inn) = layers[l].dims[name]!
                let w = layers[l].w[name]!, A = a[key]!, B = b[key]!
                m[key] = (0..<out).map { Double(ad.magnitude[$0]) }
                norm[key] = (0..<out).map { o in
                    (0..<inn).reduce(0.0) { acc, i in
                        let v = w[o * inn + i] + scale * (0..<rank).reduce(0.0) { $0 + B[o * rank + $1] * A[$1 * inn + i] }
                        return acc + v * v
                    }.squareRoot()
                }
            }
        }
        if let p = model.prompt { prompt = p.embedding.values.map(Double.init) }
        if let e = model.prefix {
            prefixTokens = e.virtualTokens
            encoderHidden = e.config.encoderHiddenSize
            prefix["embedding"] = e.embedding.values.map(Double.init)
            for (name, p) in [("w1", e.w1), ("b1", e.b1), ("w2", e.w2), ("b2", e.b2)] {
                if let p { prefix[name] = p.values.map(Double.init) }
            }
        }
    }

    /// The prefix encoder's output (NKVP, L·2·KVD): the table, or tanh MLP of the embedding.
    func prefixOutput() -> [Double] {
        guard let w1 = prefix["w1"], let b1 = prefix["b1"], let w2 = prefix["w2"], let b2 = prefix["b2"] else {
            return prefix["embedding"] ?? []
        }
        let e = prefix["embedding"]!, D = c.kvDim, H = encoderHidden, O = c.numHiddenLayers * 2 * D
        var out = [Double](repeating: 0, count: prefixTokens * O)
        for n in 0..<prefixTokens {
            let act = (0..<H).map { h in tanh(b1[h] + (0..<D).reduce(0.0) { $0 + w1[h * D + $1] * e[n * D + $1] }) }
            for o in 0..<O { out[n * O + o] = b2[o] + (0..<H).reduce(0.0) { $0 + w2[o * H + $1] * act[$1] } }
        }
        return out
    }

    func rms(_ x: [Double], _ w: [Double]) -> [Double] {
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let r = 1 / (ms + Double(Float(c.rmsNormEps))).squareRoot()
        let offset = c.isGemma ? 1.0 : 0.0
        return (0..<x.count).map { (offset + w[$0]) * x[$0] * r }
    }

    func linear(_ l: Int, _ name: String, _ x: [Double]) -> [Double] {
        let (out, inn) = layers[l].dims[name]!
        let w = layers[l].w[name]!
        var y = (0..<out).map { o in (0..<inn).reduce(0.0) { $0 + w[o * inn + $1] * x[$1] } }
        if let A = a["\(l).\(name)"], let B = b["\(l).\(name)"] {
            let u = (0..<rank).map { r in (0..<inn).reduce(0.0) { $0 + A[r * inn + $1] * x[$1] } }
            for o in 0..<out { y[o] += scale * (0..<rank).reduce(0.0) { $0 + B[o * rank + $1] * u[$1] } }
            if let mag = m["\(l).\(name)"], let n = norm["\(l).\(name)"] { for o in 0..<out { y[o] *= mag[o] / n[o] } }
        }
        return y
    }

    /// RoPE over the first rotary dimensions of each head, with layer `l`'s frequencies (the engine's
    /// own `RoPE.frequencies`, whose formulas are checked against transformers by the family fixtures)
    /// and attention factor.
    func rope(_ v: inout [Double], heads: Int, pos: Int, layer l: Int = 0, length: Int = 1) {
        let hs = c.headDim, half = c.rotaryDim / 2
        let (inv, factor) = RoPE.frequencies(c, c.rope(layer: l), length: length)
        let m = Double(factor)
        for h in 0..<heads {
            for i in 0..<half {
                let ang = Double(Float(pos) * inv[i])
                let x1 = v[h * hs + i], x2 = v[h * hs + i + half]
                v[h * hs + i] = m * (x1 * cos(ang) - x2 * sin(ang))
                v[h * hs + i + half] = m * (x2 * cos(ang) + x1 * sin(ang))
            }
        }
    }

    /// Qwen3's q/k norm: RMSNorm over each head.
    func headNorm(_ v: [Double], heads: Int, _ w: [Double]) -> [Double] {
        let hs = c.headDim
        return (0..<heads).flatMap { h in rms(Array(v[(h * hs)..<((h + 1) * hs)]), w) }
    }

    /// Mean cross-entropy over the batch's valid targets.
    func loss(_ batch: TrainingBatch) -> Double {
        let C = c.hiddenSize, V = c.vocabSize, hs = c.headDim
        let nh = c.numAttentionHeads, nkv = c.numKeyValueHeads
        var total = 0.0, count = 0
        let NP = prompt.count / C, NK = prefixTokens, TT = NP + batch.T
        let kvd = c.kvDim, O = c.numHiddenLayers * 2 * kvd
        let pre = prefixOutput()
        let gemma = c.isGemma
        let embedScale = gemma ? Double(C).squareRoot() : 1
        let scoreScale = 1 / (c.queryPreAttnScalar ?? Double(hs)).squareRoot()
        func cap(_ x: Double, _ cap: Double?) -> Double { cap.map { $0 * tanh(x / $0) } ?? x }
        for bi in 0..<batch.B {
            var xs: [[Double]] = (0..<TT).map { t in
                if t < NP { return Array(prompt[(t * C)..<((t + 1) * C)]) }
                let id = Int(batch.ids[bi * batch.T + t - NP])
                return embed[(id * C)..<((id + 1) * C)].map { $0 * embedScale }
            }
            for (l, layer) in layers.enumerated() {
                let xn = xs.map { rms($0, layer.attnNorm) }
                var q: [[Double]], k: [[Double]], v: [[Double]]
                if layer.w["qkv_proj"] != nil {  // Phi-3: one product, q | k | v side by side
                    let qkv = xn.map { linear(l, "qkv_proj", $0) }
                    q = qkv.map { Array($0[0..<c.qDim]) }
                    k = qkv.map { Array($0[c.qDim..<(c.qDim + kvd)]) }
                    v = qkv.map { Array($0[(c.qDim + kvd)...]) }
                } else {
                    q = xn.map { linear(l, "q_proj", $0) }
                    k = xn.map { linear(l, "k_proj", $0) }
                    v = xn.map { linear(l, "v_proj", $0) }
                }
                if let qn = layer.qNorm, let kn = layer.kNorm {
                    q = q.map { headNorm($0, heads: nh, qn) }
                    k = k.map { headNorm($0, heads: nkv, kn) }
                }
                for t in 0..<TT {
                    rope(&q[t], heads: nh, pos: NK + t, layer: l, length: NK + TT)
                    rope(&k[t], heads: nkv, pos: NK + t, layer: l, length: NK + TT)
                }
                let window = c.attentionWindow(layer: l)
                // Prefix keys and values first (used as given), then the row's own.
                let keys = (0..<NK).map { n in Array(pre[(n * O + 2 * l * kvd)..<(n * O + (2 * l + 1) * kvd)]) } + k
                let vals = (0..<NK).map { n in Array(pre[(n * O + (2 * l + 1) * kvd)..<(n * O + (2 * l + 2) * kvd)]) } + v
                var att = [[Double]](repeating: [Double](repeating: 0, count: nh * hs), count: TT)
                for h in 0..<nh {
                    let g = h / (nh / nkv)
                    for t in 0..<TT {
                        let lo = window.map { max(0, NK + t + 1 - $0) } ?? 0
                        let seen = Array(lo...(NK + t))
                        var s = seen.map { j in
                            cap((0..<hs).reduce(0.0) { $0 + q[t][h * hs + $1] * keys[j][g * hs + $1] } * scoreScale, c.attnLogitSoftcapping)
                        }
                        let mx = s.max()!
                        s = s.map { exp($0 - mx) }
                        let z = s.reduce(0, +)
                        for d in 0..<hs { att[t][h * hs + d] = seen.indices.reduce(0.0) { $0 + s[$1] / z * vals[seen[$1]][g * hs + d] } }
                    }
                }
                for t in 0..<TT {
                    var o = linear(l, "o_proj", att[t])
                    if let pn = layer.postAttnNorm { o = rms(o, pn) }
                    let mid = (0..<C).map { xs[t][$0] + o[$0] }
                    let xn2 = rms(mid, layer.mlpNorm)
                    var g: [Double], u: [Double]
                    if layer.w["gate_up_proj"] != nil {  // Phi-3: gate | up side by side
                        let gu = linear(l, "gate_up_proj", xn2), F = gu.count / 2
                        (g, u) = (Array(gu[0..<F]), Array(gu[F...]))
                    } else {
                        (g, u) = (linear(l, "gate_proj", xn2), linear(l, "up_proj", xn2))
                    }
                    let hgl = (0..<g.count).map { i in
                        let x = g[i]
                        let act = gemma ? 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
                                        : x / (1 + exp(-x))
                        return act * u[i]
                    }
                    var down = linear(l, "down_proj", hgl)
                    if let pn = layer.postMlpNorm { down = rms(down, pn) }
                    xs[t] = (0..<C).map { mid[$0] + down[$0] }
                }
            }
            for t in 0..<batch.T {
                let target = Int(batch.targets[bi * batch.T + t])
                guard target >= 0 else { continue }
                let xn = rms(xs[NP + t], finalNorm)
                let logits = (0..<V).map { v in cap((0..<C).reduce(0.0) { $0 + embed[v * C + $1] * xn[$1] }, c.finalLogitSoftcapping) }
                let mx = logits.max()!
                total += log(logits.reduce(0) { $0 + exp($1 - mx) }) + mx - logits[target]
                count += 1
            }
        }
        return total / Double(count)
    }
}

extension NF4Reference {
    static func dequantizeAll(_ w: NF4MatrixRef, into out: inout [Float]) {
        for j in 0..<(w.rows * w.cols) { out[j] = w.element(j) }
    }
}
