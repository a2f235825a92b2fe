import QLoRAKernels

extension LlamaModel {
    /// Switches every NF4 block linear to the int8 products (`--compute-dtype int8`, inference only):
    /// repacks each weight once. Returns how many of the block linears took it (the others, dense or
    /// FP4 or not whole 64-blocks per row, keep the Float32 kernels).
    /// With `output`, the output layer (lm_head, or the tied embeddings) is quantized to int8 per row and 64-block too
    /// (the embedding lookup keeps its own copy).
    @discardableResult
    public func enableInt8(_ variant: Int8Variant, output: Bool) -> (int8: Int, total: Int) {
        if output {
            let head = weights.outputMatrix
            outputInt8 = Int8RowMatrix(rows: head.rows, cols: head.cols, variant: variant) { r, dst in head.row(r, into: dst) }
        } else {
            outputInt8 = nil
        }
        var n = 0, total = 0
        for layer in weights.layers {
            for (_, linear) in layer.linears {
                total += 1
                if linear.enableInt8(variant) { n += 1 }
            }
        }
        return (n, total)
    }

    /// Bytes the int8 forms of the block linears and the output layer hold (beside the weights they came from).
    public var int8Bytes: Int {
        weights.layers.reduce(0) { $0 + $1.linears.reduce(0) { $0 + ($1.1.int8?.storedBytes ?? 0) } }
            + (outputInt8?.storedBytes ?? 0)
    }
}
