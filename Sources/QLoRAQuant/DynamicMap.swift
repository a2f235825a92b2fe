/// bitsandbytes' 8-bit "dynamic tree" code (`create_dynamic_map`), used for double quantization.
///
/// For i in 0..<7: `linspace(0.1, 1, k)` in Float32 (k = 2^i + 1 signed, 2^(i+1) + 1 unsigned), the
/// midpoints of consecutive points, scaled by 10^(i-6) (as a Float32 multiply); signed adds their
/// negatives. Then 0 and 1.0 are appended and the list is sorted: 256 entries. The signed map runs
/// from -0.99296874 to 1.0 with 0.0 at index 127.
public enum DynamicMap {
    public static func make(signed: Bool = true) -> [Float] {
        var data: [Float] = []
        for i in 0..<7 {
            let k = signed ? (1 << i) + 1 : (1 << (i + 1)) + 1
            let bounds = linspace(0.1, 1, k)
            let scale = Float(pow10(i - 6))
            for j in 0..<(k - 1) {
                let mean = (bounds[j] + bounds[j + 1]) / 2
                data.append(scale * mean)
                if signed { data.append(-scale * mean) }
            }
        }
        data.append(0)
        data.append(1)
        while data.count < 256 { data.append(0) }
        return data.sorted()
    }

    /// The signed map, computed once.
    public static let signed: [Float] = make(signed: true)

    /// torch.linspace in Float32: the first half steps up from start, the second half steps down
    /// from end (`RangeFactoriesKernel.cpp`), each as one fused multiply-add, which is what torch's
    /// CPU build computes (checked bit for bit against bitsandbytes' stored map).
    static func linspace(_ start: Float, _ end: Float, _ steps: Int) -> [Float] {
        if steps == 1 { return [start] }
        let step = (end - start) / Float(steps - 1)
        let halfway = steps / 2
        return (0..<steps).map { i in
            i < halfway ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(steps - i - 1))
        }
    }

    static func pow10(_ e: Int) -> Double {
        var v = 1.0
        if e >= 0 { for _ in 0..<e { v *= 10 } } else { v = 1 / pow10(-e) }
        return e < 0 ? Double("1e\(e)")! : v
    }
}
