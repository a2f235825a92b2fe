import QLoRACore
import QLoRAFormats

/// An owned dense weight matrix [rows, cols] stored as Float32 or bfloat16 (round to nearest even).
public final class DenseMatrix: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let storage: DenseMatrixRef.Storage
    let data: UnsafeMutableRawPointer

    public init(rows: Int, cols: Int, values: [Float], storage: DenseMatrixRef.Storage) {
        precondition(values.count == rows * cols, "dense matrix: \(values.count) values for \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        self.storage = storage
        switch storage {
        case .f32:
            data = .allocate(byteCount: max(4, rows * cols * 4), alignment: 64)
            values.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: rows * cols * 4) }
        case .bf16:
            data = .allocate(byteCount: max(2, rows * cols * 2), alignment: 64)
            let h = data.assumingMemoryBound(to: UInt16.self)
            for i in 0..<(rows * cols) { h[i] = HalfFloat.floatToBF16(values[i]) }
        }
    }

    /// Copies a bf16 tensor out of a memory-mapped file in 4 MiB pieces, dropping each piece's pages
    /// once copied, so loading never holds the file's copy and ours at the same time.
    public init(rows: Int, cols: Int, bf16From file: SafetensorsFile, tensor: TensorInfo) {
        precondition(tensor.dtype == .bf16 && tensor.byteCount == rows * cols * 2)
        self.rows = rows
        self.cols = cols
        storage = .bf16
        data = .allocate(byteCount: max(2, rows * cols * 2), alignment: 64)
        let piece = 4 << 20
        var done = 0
        while done < tensor.byteCount {
            let n = min(piece, tensor.byteCount - done)
            data.advanced(by: done).copyMemory(from: file.file.base + tensor.offset + done, byteCount: n)
            file.file.dropPages(at: tensor.offset + done, count: n)
            done += n
        }
    }

    deinit { data.deallocate() }

    public var ref: DenseMatrixRef { DenseMatrixRef(rows: rows, cols: cols, storage: storage, data: data) }

    public var storedBytes: Int { rows * cols * (storage == .f32 ? 4 : 2) }

    /// Row r as Float32 into dst.
    public func row(_ r: Int, into dst: UnsafeMutablePointer<Float>) {
        let w = ref
        for c in 0..<cols { dst[c] = w.element(r, c) }
    }
}
