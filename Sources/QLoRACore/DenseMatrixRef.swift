/// A dense weight matrix W [rows, cols], row-major, stored as Float32 or bfloat16 (raw pointers only).
public struct DenseMatrixRef: @unchecked Sendable {
    public enum Storage: Sendable { case f32, bf16 }

    public let rows: Int
    public let cols: Int
    public let storage: Storage
    public let data: UnsafeRawPointer

    public init(rows: Int, cols: Int, storage: Storage, data: UnsafeRawPointer) {
        self.rows = rows
        self.cols = cols
        self.storage = storage
        self.data = data
    }

    @inlinable @inline(__always)
    public func element(_ r: Int, _ c: Int) -> Float {
        let i = r &* cols &+ c
        switch storage {
        case .f32: return data.load(fromByteOffset: 4 &* i, as: Float.self)
        case .bf16: return Float(bitPattern: UInt32(data.load(fromByteOffset: 2 &* i, as: UInt16.self)) << 16)
        }
    }

    public var bytesPerElement: Int { storage == .f32 ? 4 : 2 }
}
