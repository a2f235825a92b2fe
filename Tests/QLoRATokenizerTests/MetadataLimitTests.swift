import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// tokenizer.json, tokenizer_config.json and chat templates are read only up to a size (issue 16,
/// item 5), as config.json is: an oversized (sparse) file or a device is a one-line error naming it,
/// before anything is read.
@Suite struct MetadataLimitTests {
    static func sparse(_ path: String, bytes: Int) throws {
        FileManager.default.createFile(atPath: path, contents: Data("{}".utf8))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: UInt64(bytes))
        try h.close()
    }

    @Test(arguments: ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja"])
    func anOversizedTokenizerFileIsRefusedByName(_ name: String) throws {
        let dir = TempDir()
        if name != "tokenizer.json" { try Data("{}".utf8).write(to: URL(fileURLWithPath: dir.path + "/tokenizer.json")) }
        let limit = MetadataFile.limit(forFileNamed: name)
        try Self.sparse(dir.path + "/" + name, bytes: limit + 1)
        #expect(throws: QLoRAError.format(dir.path + "/" + name,
                                          "is \(limit + 1) bytes; a file of this kind is read only up to \(limit) bytes")) {
            _ = try Tokenizer(directory: dir.path)
        }
    }

    @Test func aDeviceInPlaceOfTokenizerJSONIsRefused() throws {
        let dir = TempDir()
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/tokenizer.json", withDestinationPath: "/dev/zero")
        #expect(throws: QLoRAError.format(dir.path + "/tokenizer.json", "not a regular file")) {
            _ = try Tokenizer(directory: dir.path)
        }
    }

    @Test func limitsByName() {
        #expect(MetadataFile.limit(forFileNamed: "tokenizer.json") == 128 << 20)
        #expect(MetadataFile.limit(forFileNamed: "chat_template.jinja") == 1 << 20)
        #expect(MetadataFile.limit(forFileNamed: "generation_config.json") == MetadataFile.configLimit)
        #expect(MetadataFile.limit(forFileNamed: "model.safetensors.index.json") == MetadataFile.indexLimit)
    }
}
