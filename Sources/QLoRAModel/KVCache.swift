/// Keys (rotated) and values of every layer for one sequence, for incremental decoding.
/// Per layer: (capacity, NKV·HS) each.
public final class KVCache: @unchecked Sendable {
    public let layers: Int
    public let capacity: Int
    public let width: Int
    public private(set) var length = 0
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>

    public init(layers: Int, capacity: Int, width: Int) {
        self.layers = layers
        self.capacity = capacity
        self.width = width
        keys = .allocate(capacity: layers * capacity * width)
        values = .allocate(capacity: layers * capacity * width)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    public var bytes: Int { 2 * layers * capacity * width * 4 }

    func keys(layer l: Int) -> UnsafeMutablePointer<Float> { keys + l * capacity * width }
    func values(layer l: Int) -> UnsafeMutablePointer<Float> { values + l * capacity * width }

    func advance(by n: Int) { length += n }

    /// Layer `l`'s cached keys (rotated) and values so far: (length, width) each, copies.
    public func contents(layer l: Int) -> (keys: [Float], values: [Float]) {
        (Array(UnsafeBufferPointer(start: keys(layer: l), count: length * width)),
         Array(UnsafeBufferPointer(start: values(layer: l), count: length * width)))
    }

    public func reset() { length = 0 }
}
