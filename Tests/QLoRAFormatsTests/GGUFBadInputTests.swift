import QLoRA
import Testing

/// Broken GGUF files: each must give one line that names the file and says what is wrong, and
/// never crash or allocate what a corrupt count claims.
@Suite struct GGUFBadInputTests {
    /// Checks the error is one line, starts with the file's path, and contains `fragment`.
    func expectError(_ bytes: [UInt8], _ fragment: String, kind: QLoRAError.Kind = .format,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        let scratch = try ScratchDirectory()
        let (path, error) = try ggufError(bytes, in: scratch)
        guard let error else {
            Issue.record("no error; expected one containing '\(fragment)'", sourceLocation: sourceLocation)
            return
        }
        #expect(error.message.hasPrefix(path + ": "), "\(error.message)", sourceLocation: sourceLocation)
        #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation)
        #expect(!error.message.contains("\n"), sourceLocation: sourceLocation)
        #expect(error.kind == kind, "\(error.message)", sourceLocation: sourceLocation)
    }

    func tensorBuilder(type: UInt32 = 0, dims: [UInt64] = [32], data: [UInt8]? = nil) -> GGUFBuilder {
        var b = GGUFBuilder()
        b.metadata = [GGUFBuilder.stringKV("general.architecture", "llama")]
        b.tensors = [.init(name: "t", dims: dims, type: type, data: data ?? [UInt8](repeating: 0, count: 128))]
        return b
    }

    /// Cut at every part of the file: magic, version, counts, a key, a value, the token array,
    /// the tensor infos, the padding, the data.
    @Test(arguments: [0, 3, 6, 12, 20, 30, 60, 700, 2000, 3000, 3540, 3552, 3600, 74000])
    func truncatedFile(at length: Int) throws {
        let whole = try GGUFFixtures.bytes(GGUFFixtures.tinyLlama)
        #expect(length < whole.count)
        try expectError(Array(whole[..<length]), "truncated")
    }

    @Test func wrongMagic() throws {
        var bytes = try GGUFFixtures.bytes(GGUFFixtures.tinyLlama)
        bytes.replaceSubrange(0..<4, with: Array("PK\u{3}\u{4}".utf8))
        try expectError(bytes, "not a GGUF file (starts with 'PK..', expected 'GGUF')")
        try expectError(Array("{\"__metadata__\":{}}".utf8), "not a GGUF file (starts with '{\"__'")
    }

    @Test func legacyGGJTFile() throws {
        try expectError(GGUFBuilder.u32(0x6767_6A74) + GGUFBuilder.u32(3), "a legacy GGJT file", kind: .unsupported)
    }

    @Test func version1IsRefusedWithAHint() throws {
        var bytes = try GGUFFixtures.bytes(GGUFFixtures.tinyLlama)
        bytes[4] = 1
        try expectError(bytes, "GGUF version 1 is not supported", kind: .unsupported)
        try expectError(bytes, "convert the model again with a current llama.cpp", kind: .unsupported)
    }

    @Test func otherVersions() throws {
        var b = GGUFBuilder()
        b.version = 4
        try expectError(b.bytes(), "unsupported GGUF version 4 (this reader reads versions 2 and 3)", kind: .unsupported)
        b.version = UInt32(3).byteSwapped
        try expectError(b.bytes(), "big-endian GGUF (version 3) is not supported", kind: .unsupported)
    }

    @Test func hugeCountsFailBeforeAllocating() throws {
        var b = tensorBuilder()
        b.tensorCount = 1 << 60
        try expectError(b.bytes(), "tensor count 1152921504606846976 at byte 8 cannot fit")
        b = tensorBuilder()
        b.kvCount = 1 << 60
        try expectError(b.bytes(), "metadata count 1152921504606846976 at byte 16 cannot fit")
        b = tensorBuilder()
        b.metadata.append(GGUFBuilder.kv("tokenizer.ggml.tokens", type: .array, GGUFBuilder.array(.string, count: 1 << 60, [])))
        try expectError(b.bytes(), "metadata 'tokenizer.ggml.tokens' element count 1152921504606846976")
        b = tensorBuilder()
        b.metadata.append(GGUFBuilder.kv("big", type: .array, GGUFBuilder.array(.uint64, count: 1 << 40, [])))
        try expectError(b.bytes(), "metadata 'big' element count 1099511627776")
    }

    @Test func hugeStringsFailBeforeAllocating() throws {
        // A 4 GB key, and a 4 GB string value.
        let bytes = Array("GGUF".utf8) + GGUFBuilder.u32(3) + GGUFBuilder.u64(0) + GGUFBuilder.u64(1)
            + GGUFBuilder.u64(1 << 32) + Array("key".utf8) + [UInt8](repeating: 0, count: 64)
        try expectError(bytes, "metadata key #0 at byte 24 claims 4294967296 bytes")
        var b = GGUFBuilder()
        b.metadata = [GGUFBuilder.string("general.name") + GGUFBuilder.u32(8) + GGUFBuilder.u64(1 << 32) + Array("x".utf8)]
        try expectError(b.bytes(), "metadata 'general.name' at byte")
        try expectError(b.bytes(), "claims 4294967296 bytes")
    }

    @Test func hugeTensorDims() throws {
        try expectError(tensorBuilder(dims: [1 << 40, 1 << 20]).bytes(), "tensor 't' is too large")
        try expectError(tensorBuilder(dims: [UInt64.max]).bytes(), "tensor 't' is too large")
        try expectError(tensorBuilder(dims: [1, 1, 1, 1, 1]).bytes(), "tensor 't' has 5 dimensions (GGUF allows at most 4)")
    }

    @Test func unknownTensorType() throws {
        try expectError(tensorBuilder(type: 99).bytes(), "unsupported GGUF tensor type 99 for tensor 't'", kind: .unsupported)
        try expectError(tensorBuilder(type: 4).bytes(), "unsupported GGUF tensor type 4 for tensor 't'", kind: .unsupported)
    }

    /// A type ggml defines but this engine cannot dequantize: the file opens (its metadata is
    /// readable), reading the tensor fails.
    @Test func knownTypeWithoutDequantizer() throws {
        let scratch = try ScratchDirectory()
        let path = try scratch.write(tensorBuilder(type: 10, dims: [256], data: [UInt8](repeating: 0, count: 84)).bytes())
        let file = try GGUFFile(path: path)
        #expect(try file.tensor("t").type.name == "Q2_K")
        #expect(throws: QLoRAError.unsupported(path, "unsupported GGUF tensor type 10 (Q2_K) for tensor 't'")) {
            try file.floats("t")
        }
    }

    @Test func rowNotAWholeNumberOfBlocks() throws {
        try expectError(tensorBuilder(type: 2, dims: [48, 2]).bytes(), "row of 48 elements is not a whole number of Q4_0 blocks of 32")
    }

    @Test func offsetsOutOfRange() throws {
        var b = tensorBuilder()
        b.tensors[0].offset = 1 << 40
        try expectError(b.bytes(), "tensor 't' data [1099511627776, 1099511627904) lies outside the data section")
        b = tensorBuilder(data: [UInt8](repeating: 0, count: 100))  // 28 bytes short
        try expectError(b.bytes(), "tensor 't' data [0, 128) lies outside the data section (100 bytes")
        b = tensorBuilder()
        b.tensors[0].offset = UInt64.max - 31
        try expectError(b.bytes(), "lies outside the data section")
    }

    @Test func misalignedAndOverlappingOffsets() throws {
        var b = tensorBuilder()
        b.tensors[0].offset = 4
        try expectError(b.bytes(), "tensor 't' offset 4 is not a multiple of the alignment 32")
        b = tensorBuilder()
        b.tensors.append(.init(name: "u", dims: [32], type: 0, data: [UInt8](repeating: 0, count: 128), offset: 96))
        try expectError(b.bytes(), "tensor 'u' data overlaps the previous tensor's data")
    }

    @Test func duplicatesAndBadValues() throws {
        var b = tensorBuilder()
        b.metadata.append(GGUFBuilder.stringKV("general.architecture", "qwen2"))
        try expectError(b.bytes(), "duplicate metadata key 'general.architecture'")
        b = tensorBuilder()
        b.tensors.append(b.tensors[0])
        try expectError(b.bytes(), "duplicate tensor name 't'")
        b = tensorBuilder()
        b.metadata.append(GGUFBuilder.u32KV("general.alignment", 48))
        try expectError(b.bytes(), "general.alignment 48 is not a power of two")
        b = tensorBuilder()
        b.metadata.append(GGUFBuilder.kv("general.alignment", type: .uint64, GGUFBuilder.u64(32)))
        try expectError(b.bytes(), "general.alignment has type uint64, expected uint32")
        b = tensorBuilder()
        b.metadata.append(GGUFBuilder.string("odd") + GGUFBuilder.u32(13) + [0, 0, 0, 0])
        try expectError(b.bytes(), "metadata 'odd' has unknown value type 13")
    }

    @Test func deeplyNestedArrays() throws {
        var value: [UInt8] = GGUFBuilder.array(.uint8, count: 0, [])
        for _ in 0..<20 { value = GGUFBuilder.array(.array, count: 1, value) }
        var b = GGUFBuilder()
        b.metadata = [GGUFBuilder.kv("deep", type: .array, value)]
        try expectError(b.bytes(), "nests arrays deeper than 8 levels")
    }

    @Test func missingAndEmptyFiles() throws {
        try expectError([], "truncated GGUF file: magic at byte 0 needs 4 bytes, 0 remain")
        let missing = "/nonexistent/dir/model.gguf"
        #expect(throws: QLoRAError.io(missing, "cannot open: No such file or directory")) { try GGUFFile(path: missing) }
    }
}
