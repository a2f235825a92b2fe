/// A growable Float32 buffer that one or more layers save a forward activation into. Layers that
/// are never back-propagated at the same time (gradient checkpointing recomputes one layer's forward
/// right before its backward) can share one slot.
public final class ActivationSlot: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Float>?
    private(set) var capacity = 0

    public init() {}

    deinit { pointer?.deallocate() }

    /// At least `count` floats; the contents are kept only while the size does not grow.
    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer?.deallocate()
            pointer = .allocate(capacity: max(1, count))
            capacity = count
        }
        return pointer!
    }
}
