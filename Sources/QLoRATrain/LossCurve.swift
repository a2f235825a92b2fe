import Foundation

/// The loss curve of a run as a small self-contained SVG (train loss, and eval loss where measured).
public enum LossCurve {
    public static func svg(_ history: [StepMetrics], width: Double = 640, height: Double = 360) -> String {
        let pad = 48.0
        let train = history.map { (Double($0.step), $0.loss) }.filter { $0.1.isFinite }
        let eval = history.compactMap { m in m.evalLoss.map { (Double(m.step), $0) } }
        let all = train + eval
        guard let maxStep = all.map(\.0).max(), let lo = all.map(\.1).min(), let hi = all.map(\.1).max() else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\"/>\n"
        }
        let span = max(hi - lo, 1e-9)
        func x(_ s: Double) -> Double { pad + (width - 2 * pad) * s / max(maxStep, 1) }
        func y(_ v: Double) -> Double { height - pad - (height - 2 * pad) * (v - lo) / span }
        func line(_ pts: [(Double, Double)], _ color: String) -> String {
            let p = pts.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
            return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(p)\"/>"
        }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<line x1=\"\(pad)\" y1=\"\(height - pad)\" x2=\"\(width - pad)\" y2=\"\(height - pad)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(pad)\" y1=\"\(pad)\" x2=\"\(pad)\" y2=\"\(height - pad)\" stroke=\"black\"/>\n"
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\">%.3f</text>\n", 4.0, y(hi) + 4, hi)
        s += String(format: "<text x=\"%.0f\" y=\"%.0f\">%.3f</text>\n", 4.0, y(lo) + 4, lo)
        s += "<text x=\"\(Int(width - pad - 30))\" y=\"\(Int(height - pad + 16))\">step \(Int(maxStep))</text>\n"
        s += line(train, "#1f77b4") + "\n"
        if !eval.isEmpty { s += line(eval, "#d62728") + "\n" }
        s += "<text x=\"\(Int(pad + 8))\" y=\"\(Int(pad - 12))\" fill=\"#1f77b4\">train loss</text>"
        if !eval.isEmpty { s += "<text x=\"\(Int(pad + 90))\" y=\"\(Int(pad - 12))\" fill=\"#d62728\">eval loss</text>" }
        return s + "\n</svg>\n"
    }
}
