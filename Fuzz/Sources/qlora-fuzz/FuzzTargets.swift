import Foundation
import QLoRA

/// The fuzz targets by name: one per parser of a file this tool reads from strangers.
enum FuzzTargets {
    static let all: [String: (UnsafeRawBufferPointer) -> Void] = [
        "safetensors": SafetensorsTarget.run,
        "sharded-index": ShardedIndexTarget.run,
        "gguf": GGUFTarget.run,
        "config": ConfigTarget.run,
        "tokenizer-json": TokenizerJSONTarget.run,
        "gguf-tokenizer": GGUFTokenizerTarget.run,
        "jsonl": JSONLTarget.run,
        "peft-adapter": PEFTAdapterTarget.run,
        "quant-state": QuantStateTarget.run,
        "json": JSONTarget.run,
    ]

    /// The target `main.swift` chose (libFuzzer's callback cannot capture it).
    static var selected: (UnsafeRawBufferPointer) -> Void = { _ in }
}

/// What every target asserts: parsing either succeeds or throws a `QLoRAError`. Any other error
/// escaping a parser is a bug (the CLI would print it raw), so it stops the fuzzer like a crash.
func expectingCleanErrors(_ target: String, _ body: () throws -> Void) {
    do {
        try body()
    } catch is QLoRAError {
        return
    } catch {
        fatalError("\(target): a parser threw \(type(of: error)), not QLoRAError: \(error)")
    }
}

/// Splits a fuzz input at its first NUL byte: targets that read two files (a JSON file, which
/// cannot hold a raw NUL, then a binary one) take them from one input this way. No NUL: all of
/// it is the first part and the second is empty.
func splitAtFirstNUL(_ data: UnsafeRawBufferPointer) -> (first: Data, rest: Data) {
    guard let i = data.firstIndex(of: 0) else { return (Data(data), Data()) }
    return (Data(data[..<i]), Data(data[(i + 1)...]))
}
