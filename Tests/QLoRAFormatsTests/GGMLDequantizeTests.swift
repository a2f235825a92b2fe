import QLoRA
import Testing

/// Every dequantizer against `gguf.quants.dequantize` (fixtures from tools/make_gguf_fixtures.py),
/// bit for bit.
@Suite struct GGMLDequantizeTests {
    static let fixtureTensors = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"]

    @Test(arguments: fixtureTensors)
    func matchesGGUFPackageBitForBit(name: String) throws {
        let file = try GGUFFile(path: GGUFFixtures.quantTypes)
        let expected = try SafetensorsFile(path: GGUFFixtures.quantTypesExpected)
        let info = try file.tensor(name)
        #expect(info.type.name.lowercased() == name)
        #expect(info.shape == (try expected.info(name)).shape)
        let got = bitPatterns(try file.floats(info))
        let want = try expectedBits(expected, name)
        #expect(got.count == info.elementCount)
        #expect(firstMismatch(got, want) == "none", "\(name)")
    }

    /// The fixture covers every type that has a dequantizer, so a new one cannot go untested.
    @Test func fixtureCoversEveryDequantizableType() throws {
        let covered = Set(try GGUFFile(path: GGUFFixtures.quantTypes).tensors.map(\.type.name))
        let dequantizable = Set(GGMLType.registry.filter(\.canDequantize).map(\.name))
        #expect(dequantizable == covered)
        #expect(dequantizable.count == 11)
    }

    @Test func registryIsOneEntryPerIDWithGGMLSizes() {
        let ids = GGMLType.registry.map(\.id)
        #expect(Set(ids).count == ids.count)
        #expect(ids == ids.sorted())
        let sizes = Dictionary(uniqueKeysWithValues: GGMLType.registry.map { ($0.name, [$0.blockSize, $0.bytesPerBlock]) })
        #expect(sizes["Q4_0"] == [32, 18] && sizes["Q4_1"] == [32, 20] && sizes["Q5_0"] == [32, 22])
        #expect(sizes["Q5_1"] == [32, 24] && sizes["Q8_0"] == [32, 34] && sizes["Q4_K"] == [256, 144])
        #expect(sizes["Q5_K"] == [256, 176] && sizes["Q6_K"] == [256, 210] && sizes["BF16"] == [1, 2])
        #expect(GGMLType.lookup(2) == .q4_0)
        #expect(GGMLType.lookup(4) == nil)  // Q4_2, removed from ggml
        #expect(GGMLType.q4_K.byteCount(elements: 512) == 288)
        #expect(GGMLType.q4_K.byteCount(elements: 100) == nil)
    }

    /// Hand-made blocks whose values can be worked out on paper: catches a swapped nibble or a
    /// wrong scale even if the fixture generator and the reader shared a misreading.
    @Test func handMadeQ4_1Block() {
        // d = 0.5 (0x3800), m = -1 (0xBC00), byte k = low nibble k % 16, high nibble 15 - k % 16.
        var block: [UInt8] = [0x00, 0x38, 0x00, 0xBC]
        for k in 0..<16 { block.append(UInt8(k) | UInt8(15 - k) << 4) }
        var out = [Float](repeating: .nan, count: 32)
        block.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { GGMLType.q4_1.dequantize(src, into: $0) } }
        let low: [Float] = (0..<16).map { Float($0) * 0.5 - 1 }
        let high: [Float] = (0..<16).map { Float(15 - $0) * 0.5 - 1 }
        let want = low + high
        #expect(out == want)
    }

    @Test func handMadeQ8_0Block() {
        // d = 2 (0x4000); qs = -16...15.
        let block: [UInt8] = [0x00, 0x40] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        var out = [Float](repeating: .nan, count: 32)
        block.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { GGMLType.q8_0.dequantize(src, into: $0) } }
        #expect(out == (0..<32).map { Float(($0 - 16) * 2) })
    }

    @Test func handMadeQ6_KBlock() {
        // ql = 0x21 everywhere (low nibble 1, high 2), qh = 0b11_10_01_00 (bits 4-5 = 0,1,2,3 for
        // the four quarters), scales = 1...16, d = 1. Element e = 32g + l of half h:
        // q = (g%4 < 2 ? 1 : 2) | (g%4) << 4, minus 32; value = scales[e/16] * q.
        var block = [UInt8](repeating: 0x21, count: 128) + [UInt8](repeating: 0b11_10_01_00, count: 64)
        block += (1...16).map { UInt8($0) } + [0x00, 0x3C]
        var out = [Float](repeating: .nan, count: 256)
        block.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { GGMLType.q6_K.dequantize(src, into: $0) } }
        let want: [Float] = (0..<256).map { e in
            let g = e / 32
            let q = ((g % 4) < 2 ? 1 : 2) | (g % 4) << 4
            return Float(e / 16 + 1) * Float(q - 32)
        }
        #expect(out == want)
    }
}
