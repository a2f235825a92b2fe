import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The text and JSON outputs, and the CLI end to end.
@Suite struct ReportTests {
    static func seventyB() throws -> MemoryPlan {
        try IssueAcceptanceTests.request("70b", gpu: "rtx3090").planned()
    }

    @Test func jsonHasTheDocumentedTopLevelKeysAndOneEntryPerComponent() throws {
        let plan = try Self.seventyB()
        let text = PlanJSON(plan, recommendations: Recommender.recommend(for: plan)).encoded()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        for key in ["schema_version", "model", "request", "budget_bytes", "total_bytes", "off_device_bytes",
                    "fits", "headroom_bytes", "components", "buffers", "arena_bytes", "reasons",
                    "recommendations", "notes", "budget_label"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["fits"] as? Bool == false)
        #expect(object["total_bytes"] as? Int == plan.deviceBytes)
        #expect(object["budget_bytes"] as? Int == plan.budgetBytes)
        let components = try #require(object["components"] as? [[String: Any]])
        let ids = components.compactMap { $0["id"] as? String }
        #expect(Set(ids).count == ids.count)
        #expect(ids.contains("quantized_base_weights") && ids.contains("logits_and_loss"))
        let deviceSum = components.filter { $0["placement"] as? String == "device" }
            .compactMap { $0["peak_bytes"] as? Int }.reduce(0, +)
        #expect(deviceSum == plan.deviceBytes)
        #expect(object["peak_phase"] as? String == plan.peakPhase.rawValue)
    }

    @Test func jsonWithoutBudgetHasNullFits() throws {
        var r = try IssueAcceptanceTests.request("7b")
        r.budget = nil
        let text = PlanJSON(try r.planned(), recommendations: []).encoded()
        #expect(text.contains("\"fits\" : null"))
        #expect(text.contains("\"budget_bytes\" : null"))
    }

    @Test func textSaysDoesNotFitAndWhy() throws {
        let plan = try Self.seventyB()
        let text = Report.text(plan, recommendations: Recommender.recommend(for: plan))
        #expect(text.contains("DOES NOT FIT"))
        #expect(text.contains("linears alone are 32.89 GiB"))
        #expect(text.contains("size alias '70b' resolved to llama-2-70b"))
    }

    @Test func compareListsEveryMethodAndFullIsLargest() throws {
        let comparison = try MethodComparison(try IssueAcceptanceTests.request("llama-1-65b", gpu: "a100-80g"))
        let methods = comparison.plans.map(\.request.method)
        #expect(methods == [.full, .lora, .qlora, .prefixTuning, .promptTuning])
        let totals = Dictionary(uniqueKeysWithValues: comparison.plans.map { ($0.request.method, $0.deviceBytes) })
        #expect(totals[.full]! > totals[.lora]!)
        #expect(totals[.lora]! > totals[.qlora]!)
        #expect(comparison.text().contains("prefix-tuning"))
    }

    @Test func planningAndRecommendingTakesWellUnder100Milliseconds() throws {
        let request = try IssueAcceptanceTests.request("70b", gpu: "rtx3090")
        var best = Duration.seconds(1)
        for _ in 0..<3 {
            let elapsed = try ContinuousClock().measure {
                let plan = try Planner.plan(request)
                _ = Report.text(plan, recommendations: Recommender.recommend(for: plan))
            }
            best = min(best, elapsed)
        }
        #expect(best < .milliseconds(100), "\(best)")
    }
}
