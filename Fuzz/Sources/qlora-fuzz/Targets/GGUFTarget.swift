import QLoRA

/// A `.gguf` file: header, metadata, tensor infos; then what `qlora` reads from it: every
/// metadata value through the typed getters, the Hugging Face config, the checkpoint view (names,
/// shapes) and every tensor dequantized.
enum GGUFTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        expectingCleanErrors("gguf") {
            let gguf = try GGUFFile(file: MappedFile(bytes: data, path: "fuzz.gguf"))
            for key in gguf.metadataKeys {
                _ = try? gguf.int(key)
                _ = try? gguf.double(key)
                _ = try? gguf.bool(key)
                _ = try? gguf.string(key)
                _ = try? gguf.strings(key)
                _ = try? gguf.ints(key)
                _ = try? gguf.floatArray(key)
            }
            for info in gguf.tensors {
                precondition(info.offset + info.byteCount <= data.count, "tensor '\(info.name)' accepted outside the file")
                if info.type.canDequantize { _ = try gguf.floats(info) }
            }
            expectingCleanErrors("gguf checkpoint") {
                let checkpoint = try GGUFCheckpoint(gguf: gguf)
                _ = checkpoint.config.totalParameters
                for name in checkpoint.tensorNames {
                    _ = try checkpoint.shape(of: name)
                    _ = try checkpoint.floats(name)
                }
            }
        }
    }
}
