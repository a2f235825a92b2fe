import QLoRACore

/// The few messages of TensorBoard's event protocol that a training run writes, with a hand-written
/// protobuf encoder and decoder (field numbers from tensorflow/core/util/event.proto and
/// framework/summary.proto):
///
///     Event        { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
///     Summary      { repeated Value value = 1; }
///     Value        { string tag = 1; float simple_value = 2; TensorProto tensor = 8; SummaryMetadata metadata = 9; }
///     SummaryMetadata { PluginData plugin_data = 1; }   PluginData { string plugin_name = 1; }
///     TensorProto  { DataType dtype = 1 (DT_STRING = 7); TensorShapeProto tensor_shape = 2; repeated bytes string_val = 8; }
public struct TensorBoardEvent: Equatable {
    public enum Value: Equatable {
        case scalar(Float)
        /// Shown by TensorBoard's text plugin (markdown).
        case text(String)
    }

    public var wallTime: Double
    public var step: Int64
    public var fileVersion: String?
    public var values: [(tag: String, value: Value)]

    public init(wallTime: Double, step: Int64, fileVersion: String? = nil, values: [(tag: String, value: Value)] = []) {
        self.wallTime = wallTime
        self.step = step
        self.fileVersion = fileVersion
        self.values = values
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.wallTime == b.wallTime && a.step == b.step && a.fileVersion == b.fileVersion
            && a.values.map(\.tag) == b.values.map(\.tag) && a.values.map(\.value) == b.values.map(\.value)
    }

    /// The first event of every file: names the format version.
    public static func header(wallTime: Double) -> Self { Self(wallTime: wallTime, step: 0, fileVersion: "brain.Event:2") }

    // MARK: Encoding

    public func encoded() -> [UInt8] {
        var e = Protobuf.Writer()
        e.double(1, wallTime)
        e.varint(2, UInt64(bitPattern: step))
        if let fileVersion { e.bytes(3, Array(fileVersion.utf8)) }
        if !values.isEmpty {
            var summary = Protobuf.Writer()
            for (tag, value) in values {
                var v = Protobuf.Writer()
                v.bytes(1, Array(tag.utf8))
                switch value {
                case .scalar(let x):
                    v.float(2, x)
                case .text(let s):
                    var tensor = Protobuf.Writer()
                    tensor.varint(1, 7)  // DT_STRING
                    tensor.bytes(2, [])  // a scalar: no dimensions
                    tensor.bytes(8, Array(s.utf8))
                    v.bytes(8, tensor.out)
                    var plugin = Protobuf.Writer()
                    plugin.bytes(1, Array("text".utf8))
                    var meta = Protobuf.Writer()
                    meta.bytes(1, plugin.out)
                    v.bytes(9, meta.out)
                }
                summary.bytes(1, v.out)
            }
            e.bytes(5, summary.out)
        }
        return e.out
    }

    // MARK: Decoding

    public init(decoding bytes: [UInt8]) throws {
        self.init(wallTime: 0, step: 0)
        for f in try Protobuf.fields(bytes) {
            switch (f.number, f.payload) {
            case (1, .fixed64(let b)): wallTime = Double(bitPattern: b)
            case (2, .varint(let v)): step = Int64(bitPattern: v)
            case (3, .bytes(let b)): fileVersion = String(decoding: b, as: UTF8.self)
            case (5, .bytes(let b)):
                for sf in try Protobuf.fields(b) where sf.number == 1 {
                    guard case .bytes(let vb) = sf.payload else { continue }
                    var tag = "", scalar: Float?, text: String?
                    for vf in try Protobuf.fields(vb) {
                        switch (vf.number, vf.payload) {
                        case (1, .bytes(let t)): tag = String(decoding: t, as: UTF8.self)
                        case (2, .fixed32(let x)): scalar = Float(bitPattern: x)
                        case (8, .bytes(let t)):
                            for tf in try Protobuf.fields(t) where tf.number == 8 {
                                if case .bytes(let s) = tf.payload { text = String(decoding: s, as: UTF8.self) }
                            }
                        default: break
                        }
                    }
                    if let scalar { values.append((tag, .scalar(scalar))) } else if let text { values.append((tag, .text(text))) }
                }
            default: break
            }
        }
    }
}

/// The protobuf wire format, just enough for `TensorBoardEvent`.
enum Protobuf {
    struct Writer {
        var out: [UInt8] = []

        mutating func key(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }
        mutating func rawVarint(_ v: UInt64) {
            var v = v
            while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
            out.append(UInt8(v))
        }
        mutating func varint(_ field: Int, _ v: UInt64) { key(field, 0); rawVarint(v) }
        mutating func double(_ field: Int, _ v: Double) { key(field, 1); out += TFRecord.littleEndian(v.bitPattern) }
        mutating func float(_ field: Int, _ v: Float) { key(field, 5); out += TFRecord.littleEndian(v.bitPattern) }
        mutating func bytes(_ field: Int, _ b: [UInt8]) { key(field, 2); rawVarint(UInt64(b.count)); out += b }
    }

    enum Payload {
        case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes([UInt8])
    }

    static func fields(_ b: [UInt8]) throws -> [(number: Int, payload: Payload)] {
        var at = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard at < b.count, shift < 64 else { throw QLoRAError.invalid("protobuf: truncated varint") }
                let byte = b[at]
                at += 1
                v |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return v }
                shift += 7
            }
        }
        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard n >= 0, n <= b.count - at else { throw QLoRAError.invalid("protobuf: field runs past the message") }
            defer { at += n }
            return b[at..<at + n]
        }
        var out: [(Int, Payload)] = []
        while at < b.count {
            let key = try varint()
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: out.append((number, .varint(try varint())))
            case 1: out.append((number, .fixed64(try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) })))
            case 2:
                let n = try varint()
                guard n <= UInt64(b.count) else { throw QLoRAError.invalid("protobuf: field runs past the message") }
                out.append((number, .bytes(Array(try take(Int(n))))))
            case 5: out.append((number, .fixed32(try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) })))
            default: throw QLoRAError.invalid("protobuf: unsupported wire type \(key & 7)")
            }
        }
        return out
    }
}
