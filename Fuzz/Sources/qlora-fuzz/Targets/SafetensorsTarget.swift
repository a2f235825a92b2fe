import QLoRA

/// A `.safetensors` file: the header length, the JSON header and its tensor table, then every
/// tensor read back (converted to Float32, or as bytes) so each range it accepted is really inside
/// the file.
enum SafetensorsTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        expectingCleanErrors("safetensors") {
            let file = try SafetensorsFile(file: MappedFile(bytes: data, path: "fuzz.safetensors"))
            for name in file.names {
                let info = try file.info(name)
                precondition(info.offset + info.byteCount <= data.count, "tensor '\(name)' accepted outside the file")
                let values = try file.floats(name)
                precondition(values.count == info.elementCount)
                if info.dtype.size == 1 { _ = try file.bytes(name) }
            }
        }
    }
}
