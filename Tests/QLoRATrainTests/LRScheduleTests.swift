import Foundation
import QLoRA
import Testing

/// Schedule factors at the steps where transformers' schedules change shape.
@Suite struct LRScheduleTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var kind: LRSchedule.Kind
        var warmup: Int
        var total: Int
        var expected: [(step: Int, factor: Double)]
        var testDescription: String { "\(kind.rawValue) warmup \(warmup) total \(total)" }
    }

    static let cases: [Case] = [
        Case(kind: .constant, warmup: 0, total: 100, expected: [(0, 1), (50, 1), (1000, 1)]),
        Case(kind: .constant, warmup: 4, total: 100, expected: [(0, 0), (1, 0.25), (2, 0.5), (4, 1), (1000, 1)]),
        Case(kind: .linear, warmup: 10, total: 100,
             expected: [(0, 0), (5, 0.5), (10, 1), (55, 0.5), (91, 0.1), (100, 0), (150, 0)]),
        Case(kind: .linear, warmup: 0, total: 4, expected: [(0, 1), (1, 0.75), (3, 0.25), (4, 0)]),
        // Cosine (0.5 cycles): 1 at the end of warmup, ½ halfway, 0 at the end; like transformers it
        // does not clamp progress, so past the end it rises again (0.5·(1 + cos 1.1π) at 110%).
        Case(kind: .cosine, warmup: 10, total: 110,
             expected: [(0, 0), (5, 0.5), (10, 1), (35, 0.5 * (1 + cos(Double.pi / 4))), (60, 0.5), (110, 0),
                        (120, 0.5 * (1 + cos(1.1 * Double.pi)))]),
        Case(kind: .cosine, warmup: 0, total: 1, expected: [(0, 1), (1, 0)]),
    ]

    @Test(arguments: cases)
    func factorsAtKeySteps(_ c: Case) throws {
        let s = try LRSchedule(c.kind, warmupSteps: c.warmup, totalSteps: c.total)
        for (step, factor) in c.expected {
            #expect(abs(s.factor(at: step) - factor) < 1e-12, "step \(step)")
        }
    }

    @Test func warmupRisesLinearlyAndDecayNeverGoesNegative() throws {
        let s = try LRSchedule(.linear, warmupSteps: 7, totalSteps: 20)
        for k in 0..<7 { #expect(s.factor(at: k) == Double(k) / 7) }
        for k in 0...40 { #expect(s.factor(at: k) >= 0 && s.factor(at: k) <= 1) }
    }

    @Test func codableRoundTripAndBadInput() throws {
        let s = try LRSchedule(.cosine, warmupSteps: 3, totalSteps: 9)
        let back = try JSONDecoder().decode(LRSchedule.self, from: JSONEncoder().encode(s))
        #expect(back == s)
        #expect(throws: QLoRAError.invalid("warmup steps must be ≥ 0, got -1")) {
            try LRSchedule(.linear, warmupSteps: -1, totalSteps: 3)
        }
    }
}
