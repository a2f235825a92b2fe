import Foundation
import QLoRACore

/// Picks the next token from logits: greedy at temperature 0, else softmax(logits / T) restricted to
/// the smallest set of tokens whose probability reaches `topP` (nucleus sampling, Holtzman et al.
/// 2019), drawn with a seeded generator so runs repeat.
public struct Sampler {
    public var temperature: Float
    public var topP: Float
    public var rng: SeededRNG

    public init(temperature: Float, topP: Float, seed: UInt64) {
        self.temperature = temperature
        self.topP = topP
        rng = SeededRNG(seed: seed)
    }

    public mutating func sample(_ logits: UnsafePointer<Float>, _ V: Int) -> Int {
        var best = 0
        for v in 1..<V where logits[v] > logits[best] { best = v }
        if temperature <= 0 { return best }
        let mx = logits[best]
        var probs = [(Int, Float)]()
        probs.reserveCapacity(V)
        var sum: Float = 0
        for v in 0..<V {
            let p = expf((logits[v] - mx) / temperature)
            probs.append((v, p))
            sum += p
        }
        probs.sort { $0.1 > $1.1 }
        var kept = 0, mass: Float = 0
        while kept < probs.count && (kept == 0 || mass < topP * sum) {
            mass += probs[kept].1
            kept += 1
        }
        var r = rng.nextUnitFloat() * mass
        for i in 0..<kept {
            r -= probs[i].1
            if r <= 0 { return probs[i].0 }
        }
        return probs[kept - 1].0
    }
}
