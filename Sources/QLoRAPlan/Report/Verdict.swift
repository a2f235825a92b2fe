/// Why a plan does not fit, in the order a reader should see it: the one component that alone
/// exceeds the budget if there is one, else the fixed part, else the per-step part.
public enum Verdict {
    /// One-line reasons; empty when the plan fits or has no budget.
    public static func reasons(_ plan: MemoryPlan) -> [String] {
        guard let budget = plan.budgetBytes, plan.fits == false else { return [] }
        let request = plan.request
        let budgetText = ByteCount.format(budget)
        var lines: [String] = []
        let shardNote = request.gpuCount > 1 ? " per GPU after sharding over \(request.gpuCount)" : ""
        if request.method == .qlora && !request.offloadBase && plan.quantizedLinearBytes > budget {
            let linear = request.model.config.linearParameters
            let bits = request.doubleQuant ? "4.127" : "4.5"
            lines.append("the NF4\(request.doubleQuant ? " + double-quant" : "") linears alone are "
                         + "\(ByteCount.format(plan.quantizedLinearBytes))\(shardNote) "
                         + "(\(CountFormat.format(linear)) params × \(bits) bits), more than the "
                         + "\(budgetText) budget, before embeddings, adapters, optimizer or activations")
        } else if plan.table.bytes(of: .unquantizedWeights) > budget {
            lines.append("the unquantized weights alone are "
                         + "\(ByteCount.format(plan.table.bytes(of: .unquantizedWeights)))\(shardNote), "
                         + "more than the \(budgetText) budget")
        } else if plan.staticBytes > budget {
            lines.append("weights, trainable parameters, gradients, optimizer state and runtime are "
                         + "\(ByteCount.format(plan.staticBytes))\(shardNote) before any activation, "
                         + "more than the \(budgetText) budget")
        } else {
            let reserve = plan.table.bytes(of: .allocatorReserve)
            let step = plan.deviceBytes - plan.staticBytes - reserve
            lines.append("the fixed part (\(ByteCount.format(plan.staticBytes))) fits, but activations, "
                         + "logits and workspace for B=\(request.batchSize), T=\(request.sequenceLength) "
                         + "add \(ByteCount.format(step))"
                         + (reserve > 0 ? " and the allocator reserve \(ByteCount.format(reserve))" : ""))
        }
        let largest = Component.allCases
            .filter { plan.table.placement(of: $0) == .device }
            .map { ($0, plan.table.bytes(of: $0)) }
            .sorted { $0.1 > $1.1 }
            .prefix(3)
            .map { "\($0.0.title) \(ByteCount.format($0.1))" }
        lines.append("largest components: " + largest.joined(separator: ", "))
        return lines
    }
}
