import QLoRACore

/// The check `qlora train` makes before it allocates: the plan's peak against the memory available.
public enum MemoryCheck {
    /// nil when `plan` fits in `available`; otherwise the one-line refusal, with the plan's total
    /// and its three largest components, the available figure and its source, and what to change.
    public static func refusal(_ plan: MemoryPlan, available: AvailableMemory.Reading) -> String? {
        guard plan.deviceBytes > available.bytes else { return nil }
        var byComponent: [(Component, Int)] = Component.allCases.map { c in
            (c, plan.table.buffers.filter { $0.component == c && $0.placement == .device }.reduce(0) { $0 + $1.bytes })
        }
        byComponent = byComponent.filter { $0.1 > 0 }.sorted { $0.1 > $1.1 }
        let largest = byComponent.prefix(3).map { "\($0.0.title) \(ByteCount.format($0.1))" }.joined(separator: ", ")
        return "the memory plan needs \(ByteCount.format(plan.deviceBytes)) (\(largest)) but \(ByteCount.format(available.bytes)) "
            + "is available (\(available.source)); lower --batch or --seq, use --grad-ckpt on or --optimizer-memory, "
            + "or pass --force to try anyway"
    }
}
