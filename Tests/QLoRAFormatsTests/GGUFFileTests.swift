import QLoRA
import Testing

@Suite struct GGUFFileTests {
    @Test func readsEveryMetadataValueType() throws {
        let file = try GGUFFile(path: GGUFFixtures.quantTypes)
        #expect(file.version == 3)
        #expect(file.architecture == "fixture")
        #expect(file.metadata["fixture.u8"] == .uint8(200))
        #expect(file.metadata["fixture.i8"] == .int8(-100))
        #expect(file.metadata["fixture.u16"] == .uint16(60000))
        #expect(file.metadata["fixture.i16"] == .int16(-30000))
        #expect(file.metadata["fixture.u32"] == .uint32(4_000_000_000))
        #expect(file.metadata["fixture.i32"] == .int32(-2_000_000_000))
        #expect(file.metadata["fixture.f32"] == .float32(0.1))
        #expect(file.metadata["fixture.bool"] == .bool(true))
        #expect(file.metadata["fixture.string"] == .string("héllo ✓"))
        #expect(file.metadata["fixture.u64"] == .uint64(1 << 63))
        #expect(file.metadata["fixture.i64"] == .int64(-(1 << 62)))
        #expect(file.metadata["fixture.f64"] == .float64(0.1))
        #expect(try file.strings("fixture.strings") == ["a", "", "Ġthe"])
        #expect(try file.ints("fixture.i32s") == [1, -2, 3])
        #expect(file.metadata["fixture.nested"] == .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)])]))
        #expect(try file.double("fixture.f32") == Double(Float(0.1)))
        #expect(throws: QLoRAError.format(file.path, "metadata key 'fixture.u64' value 9223372036854775808 is out of range")) {
            try file.int("fixture.u64")
        }
        #expect(file.metadata["fixture.u64"]?.int == nil)
        #expect(file.metadataKeys.first == "general.architecture")
        #expect(file.metadataKeys.count == 16)
    }

    @Test func typedAccessorsNameFileAndKeyOnMismatch() throws {
        let file = try GGUFFile(path: GGUFFixtures.quantTypes)
        #expect(throws: QLoRAError.format(file.path, "metadata key 'fixture.string' has type string, expected an integer")) {
            try file.int("fixture.string")
        }
        #expect(throws: QLoRAError.format(file.path, "metadata key 'fixture.i32s' has type array[int32], expected array[string]")) {
            try file.strings("fixture.i32s")
        }
        #expect(throws: QLoRAError.format(file.path, "metadata key 'nope' is missing")) {
            try file.requiredInt("nope")
        }
        #expect(try file.int("nope") == nil)
    }

    @Test func tensorInfosAreInGGMLOrderWithHFShape() throws {
        let file = try GGUFFile(path: GGUFFixtures.quantTypes)
        #expect(file.tensors.map(\.name) == GGMLDequantizeTests.fixtureTensors)
        let q4k = try file.tensor("q4_k")
        #expect(q4k.dims == [512, 4])
        #expect(q4k.shape == [4, 512])
        #expect(q4k.type == .q4_K)
        #expect(q4k.byteCount == 8 * 144)
        #expect(q4k.offset % file.alignment == 0)
        #expect(file.alignment == 32)
        #expect(file.dataStart % 32 == 0)
        #expect(file.tensors.allSatisfy { $0.offset >= file.dataStart && $0.offset + $0.byteCount <= file.file.count })
        #expect(throws: QLoRAError(.notFound, "\(file.path): no tensor named 'missing'")) { try file.tensor("missing") }
    }

    /// Version 2 has the same layout as version 3 (v3 only added big-endian files).
    @Test func readsVersion2() throws {
        var bytes = try GGUFFixtures.bytes(GGUFFixtures.tinyLlama)
        bytes[4] = 2
        let scratch = try ScratchDirectory()
        let file = try GGUFFile(path: try scratch.write(bytes))
        #expect(file.version == 2)
        let v3 = try GGUFFile(path: GGUFFixtures.tinyLlama)
        #expect(file.tensors.map(\.name) == v3.tensors.map(\.name))
        #expect(try file.floats("blk.1.attn_q.weight") == (try v3.floats("blk.1.attn_q.weight")))
    }

    @Test func honoursCustomAlignmentAndEmptyArrays() throws {
        var builder = GGUFBuilder()
        builder.alignment = 64
        builder.metadata = [
            GGUFBuilder.u32KV("general.alignment", 64),
            GGUFBuilder.kv("empty", type: .array, GGUFBuilder.array(.uint8, count: 0, [])),
        ]
        let a = (0..<8).flatMap { GGUFBuilder.u32(Float($0).bitPattern) }
        builder.tensors = [
            .init(name: "a", dims: [8], type: 0, data: a),
            .init(name: "b", dims: [4, 2], type: 0, data: a),
        ]
        let scratch = try ScratchDirectory()
        let file = try GGUFFile(path: try scratch.write(builder.bytes()))
        #expect(file.alignment == 64)
        #expect(file.dataStart % 64 == 0)
        #expect(try file.tensor("b").offset - file.dataStart == 64)
        #expect(file.metadata["empty"] == .array(.uint8, []))
        #expect(try file.floats("b") == (0..<8).map(Float.init))
        #expect(try file.tensor("b").shape == [2, 4])
    }

    @Test func opensAFileWithoutTensors() throws {
        var builder = GGUFBuilder()
        builder.metadata = [GGUFBuilder.stringKV("general.architecture", "llama")]
        let scratch = try ScratchDirectory()
        let file = try GGUFFile(path: try scratch.write(builder.bytes()))
        #expect(file.tensors.isEmpty)
        #expect(file.architecture == "llama")
    }
}
