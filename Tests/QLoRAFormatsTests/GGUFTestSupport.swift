import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The committed GGUF fixtures (made by tools/make_gguf_fixtures.py) and the fetched model.
enum GGUFFixtures {
    static let directory = TestPaths.repoRoot + "/Tests/Fixtures/gguf"
    static let quantTypes = directory + "/quant_types.gguf"
    static let quantTypesExpected = directory + "/quant_types_expected.safetensors"
    static let tinyLlama = directory + "/tiny_llama.gguf"
    static let tinyLlamaExpected = directory + "/tiny_llama_expected.safetensors"

    static var smolLM2: String { TestPaths.smolLM2GGUF }
    static var hasSmolLM2: Bool { FileManager.default.fileExists(atPath: smolLM2) }
    static let smolLM2Missing: Comment = "SmolLM2 GGUF not found at TestPaths.smolLM2GGUF; run tools/fetch_model.sh"

    static func bytes(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// A scratch directory removed when the value is released.
final class ScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "qlora-gguf-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to a new file in the directory and returns its path.
    func write(_ bytes: [UInt8], name: String = "test.gguf") throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// Float32 values as bit patterns, so NaNs compare and -0 differs from +0.
func bitPatterns(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// The raw little-endian F32 data of a safetensors tensor, as bit patterns.
func expectedBits(_ file: SafetensorsFile, _ name: String) throws -> [UInt32] {
    let raw = try file.raw(name)
    return (0..<(raw.count / 4)).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
}

/// Where two bit-pattern arrays first differ, for a failure message.
func firstMismatch(_ got: [UInt32], _ want: [UInt32]) -> String {
    guard got.count == want.count else { return "count \(got.count) vs \(want.count)" }
    guard let i = got.indices.first(where: { got[$0] != want[$0] }) else { return "none" }
    let n = zip(got, want).filter { $0 != $1 }.count
    return "\(n) differ; first at \(i): got \(Float(bitPattern: got[i])) (0x\(String(got[i], radix: 16))), want \(Float(bitPattern: want[i])) (0x\(String(want[i], radix: 16)))"
}

/// Opens `bytes` as a GGUF file and returns the one-line error it must give.
func ggufError(_ bytes: [UInt8], in scratch: ScratchDirectory, name: String = "bad.gguf") throws -> (path: String, error: QLoRAError?) {
    let path = try scratch.write(bytes, name: name)
    do {
        _ = try GGUFFile(path: path)
        return (path, nil)
    } catch let e as QLoRAError {
        return (path, e)
    }
}

/// Builds GGUF files byte by byte, for headers no writer would produce.
struct GGUFBuilder {
    struct Tensor {
        var name: String
        var dims: [UInt64]
        var type: UInt32
        var data: [UInt8]
        /// Overrides the computed (aligned, consecutive) offset.
        var offset: UInt64? = nil
    }

    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64? = nil
    var kvCount: UInt64? = nil
    /// Each entry is a whole encoded key/value (see `kv`).
    var metadata: [[UInt8]] = []
    var tensors: [Tensor] = []
    var alignment = 32

    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func string(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }

    /// An encoded key/value: key, value type, value bytes.
    static func kv(_ key: String, type: GGUFValueType, _ value: [UInt8]) -> [UInt8] {
        string(key) + u32(type.rawValue) + value
    }

    static func stringKV(_ key: String, _ value: String) -> [UInt8] { kv(key, type: .string, string(value)) }
    static func u32KV(_ key: String, _ value: UInt32) -> [UInt8] { kv(key, type: .uint32, u32(value)) }

    /// An encoded array value: element type, count, elements.
    static func array(_ type: GGUFValueType, count: UInt64, _ elements: [UInt8]) -> [UInt8] {
        u32(type.rawValue) + u64(count) + elements
    }

    /// The relative offset each tensor gets when not overridden.
    func offsets() -> [UInt64] {
        var next: UInt64 = 0
        return tensors.map { t in
            let here = t.offset ?? next
            let end = max(next, here &+ UInt64(t.data.count))  // wraps for offsets meant to be absurd
            next = (end &+ UInt64(alignment) &- 1) / UInt64(alignment) &* UInt64(alignment)
            return here
        }
    }

    func bytes() -> [UInt8] {
        var out = magic + Self.u32(version)
        out += Self.u64(tensorCount ?? UInt64(tensors.count)) + Self.u64(kvCount ?? UInt64(metadata.count))
        for entry in metadata { out += entry }
        let offsets = offsets()
        for (t, offset) in zip(tensors, offsets) {
            out += Self.string(t.name) + Self.u32(UInt32(t.dims.count))
            for d in t.dims { out += Self.u64(d) }
            out += Self.u32(t.type) + Self.u64(offset)
        }
        out += [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)
        let dataStart = out.count
        for (t, offset) in zip(tensors, offsets) {
            guard offset < 1 << 24 else { continue }  // an offset meant to point outside the file
            let at = dataStart + Int(offset)
            if out.count < at + t.data.count { out += [UInt8](repeating: 0, count: at + t.data.count - out.count) }
            out.replaceSubrange(at..<(at + t.data.count), with: t.data)
        }
        return out
    }
}
