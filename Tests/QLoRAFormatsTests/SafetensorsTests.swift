import Foundation
import QLoRA
import QLoRATestSupport
import Testing

@Suite struct SafetensorsTests {
    /// Writes a raw safetensors file from a header string and a data region.
    static func rawFile(_ dir: TempDir, header: String, data: [UInt8] = [], name: String = "t.safetensors") -> String {
        var bytes = [UInt8]()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { bytes += $0 }
        bytes += Array(header.utf8) + data
        let path = dir.path + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    static func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    @Test func roundTripEveryFloatDType() throws {
        let dir = TempDir()
        var w = SafetensorsWriter()
        let values: [Float] = [0, 1, -2.5, 0.1, 65504, 1e-3]
        w.add("a", shape: [2, 3], floats: values)
        w.add("b", shape: [6], floats: values, as: .bf16)
        w.add("c", shape: [3, 2], floats: values, as: .f16)
        w.add("d", dtype: .u8, shape: [3], bytes: [1, 2, 255])
        w.metadata = ["format": "pt"]
        try w.write(to: dir.path + "/x.safetensors")
        let f = try SafetensorsFile(path: dir.path + "/x.safetensors")
        #expect(f.metadata["format"] == "pt")
        #expect(try f.floats("a") == values)
        #expect(try f.info("c").shape == [3, 2])
        #expect(try f.floats("b") == values.map { HalfFloat.bf16ToFloat(HalfFloat.floatToBF16($0)) })
        #expect(try f.floats("c") == values.map { HalfFloat.f16ToFloat(HalfFloat.floatToF16($0)) })
        #expect(try f.bytes("d") == [1, 2, 255])
        #expect(dir.listing() == ["x.safetensors"])
    }

    @Test func bf16RoundsToNearestEven() {
        #expect(HalfFloat.floatToBF16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie → even
        #expect(HalfFloat.floatToBF16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie → even (up)
        #expect(HalfFloat.floatToBF16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(HalfFloat.bf16ToFloat(HalfFloat.floatToBF16(.nan)).isNaN)
    }

    /// Each malformed header: (description, header, data bytes, expected fragment of the message).
    static let badHeaders: [(String, String, Int, String)] = [
        ("not JSON", "{\"a\": ", 0, "not valid JSON"),
        ("not an object", "[1, 2]", 0, "not a JSON object"),
        ("unknown dtype", #"{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}"#, 4, "unknown dtype 'F7'"),
        ("offsets out of range", #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8, "outside the data region"),
        ("size mismatch", #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, "needs 12 bytes"),
        ("overlap", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, "overlaps"),
        ("negative shape", #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, "invalid shape"),
        ("reversed offsets", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, 4, "outside the data region"),
        ("huge shape", #"{"a":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,4]}}"#, 4, "too large"),
    ]

    @Test(arguments: 0..<badHeaders.count) func malformedHeadersGiveOneLineErrors(_ i: Int) {
        let (what, header, n, fragment) = Self.badHeaders[i]
        let dir = TempDir()
        let path = Self.rawFile(dir, header: header, data: [UInt8](repeating: 0, count: n))
        let msg = Self.message { _ = try SafetensorsFile(path: path) }
        #expect(msg?.contains(fragment) == true, "\(what): \(msg ?? "no error")")
        #expect(msg?.contains(path) == true)
        #expect(msg?.contains("\n") == false)
    }

    @Test func truncatedFilesAreRefused() throws {
        let dir = TempDir()
        var w = SafetensorsWriter()
        w.add("a", shape: [64], floats: [Float](repeating: 1, count: 64))
        try w.write(to: dir.path + "/full.safetensors")
        let full = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/full.safetensors"))
        for cut in [0, 4, 7, 8, 20, full.count / 2, full.count - 1] {
            let p = dir.path + "/cut\(cut).safetensors"
            FileManager.default.createFile(atPath: p, contents: full.prefix(cut))
            let msg = Self.message { _ = try SafetensorsFile(path: p) }
            #expect(msg != nil && msg!.contains(p), "cut at \(cut): \(msg ?? "loaded")")
        }
    }

    @Test func headerLengthBeyondLimitIsRefusedWithoutAllocating() {
        let dir = TempDir()
        var bytes = [UInt8](repeating: 0xFF, count: 8)
        bytes += Array("{}".utf8)
        let p = dir.path + "/huge.safetensors"
        FileManager.default.createFile(atPath: p, contents: Data(bytes))
        let msg = Self.message { _ = try SafetensorsFile(path: p) }
        #expect(msg?.contains("exceeds") == true)
    }
}
