import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The tokenizers the tests use, each loaded once, and the committed reference fixtures.
enum TokenizerFixtures {
    static let directory = TestPaths.repoRoot + "/Tests/Fixtures/tokenizer"
    static var hasSmolLM2: Bool { FileManager.default.fileExists(atPath: TestPaths.smolLM2GGUF) }
    static let smolLM2Missing: Comment = "SmolLM2 GGUF not found at TestPaths.smolLM2GGUF; run tools/fetch_model.sh"

    private static let smolLM2Loaded = Result { try Tokenizer(gguf: GGUFFile(path: TestPaths.smolLM2GGUF)) }

    /// SmolLM2's tokenizer from its GGUF metadata.
    static func smolLM2() throws -> Tokenizer { try smolLM2Loaded.get() }

    /// SmolLM2's tokenizer from the `tokenizer.json`/`tokenizer_config.json` that
    /// `GGUFTokenizerFiles` builds (transformers' files, byte for byte).
    static func smolLM2FromTokenizerJSON() throws -> Tokenizer {
        let dir = TempDir("qlora-tokenizer")
        for (name, bytes) in try GGUFTokenizerFiles(gguf: GGUFFile(path: TestPaths.smolLM2GGUF)).files {
            try Data(bytes).write(to: URL(fileURLWithPath: dir.path + "/" + name))
        }
        return try Tokenizer(directory: dir.path)
    }

    /// A JSON fixture file of `Tests/Fixtures/tokenizer`, decoded with `JSONDecoder` (the Linux
    /// `JSONSerialization` drops a U+FEFF at the start of a string, and the fixtures have one).
    static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
    }
}
