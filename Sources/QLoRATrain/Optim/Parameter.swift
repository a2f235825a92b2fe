import QLoRACore

/// A trainable Float32 tensor: its values and its gradient, each a 64-byte-aligned buffer of
/// `count` floats owned by this object (freed with it).
///
/// Kernels write straight into `value` and accumulate into `grad` (`+=`, llm.c style); the
/// optimizer reads `grad` and updates `value` in place. The name is the tensor's key on disk
/// (for LoRA, PEFT's key: `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`).
public final class Parameter: @unchecked Sendable {
    public let name: String
    /// Row-major extents, e.g. (r, in) for a LoRA A matrix.
    public let shape: [Int]
    /// Number of elements: the product of `shape`.
    public let count: Int
    /// The values, (count).
    public let value: UnsafeMutablePointer<Float>
    /// The gradient, (count); the trainer zeroes it after each optimizer step.
    public let grad: UnsafeMutablePointer<Float>

    /// A parameter of `shape`, values and gradient zero.
    public init(name: String, shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "\(name): negative extent in \(shape)")
        self.name = name
        self.shape = shape
        count = shape.reduce(1, *)
        value = Self.allocateZeroed(count)
        grad = Self.allocateZeroed(count)
    }

    /// A parameter of `shape` holding `values` (row-major).
    public convenience init(name: String, shape: [Int], values: [Float]) {
        self.init(name: name, shape: shape)
        precondition(values.count == count, "\(name): \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { value.update(from: $0.baseAddress!, count: count) }
    }

    deinit {
        UnsafeMutableRawPointer(value).deallocate()
        UnsafeMutableRawPointer(grad).deallocate()
    }

    /// Number of dimensions (1 for biases and norms, 2 for matrices).
    public var rank: Int { shape.count }

    /// The values as an array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: value, count: count)) }

    /// The gradient as an array (a copy).
    public var gradient: [Float] { Array(UnsafeBufferPointer(start: grad, count: count)) }

    /// Sets the gradient to zero (call after each optimizer step).
    public func zeroGrad() { grad.update(repeating: 0, count: count) }

    /// Overwrites the values with `values` (row-major, `count` long).
    public func setValues(_ values: [Float]) {
        precondition(values.count == count, "\(name): \(values.count) values for \(count) elements")
        values.withUnsafeBufferPointer { value.update(from: $0.baseAddress!, count: count) }
    }

    private static func allocateZeroed(_ n: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1) * 4, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: max(n, 1))
        p.initialize(repeating: 0, count: max(n, 1))
        return p
    }
}
