import QLoRA
import Testing

@Suite struct ByteCountTests {
    @Test(arguments: [
        ("24GB", 24_000_000_000), ("24GiB", 24 << 30), ("24 gib", 24 << 30), ("512MiB", 512 << 20),
        ("1.5TB", 1_500_000_000_000), ("48gb", 48_000_000_000), ("100B", 100),
    ])
    func parsesUnits(_ text: String, _ bytes: Int) throws {
        #expect(try ByteCount.parse(text) == bytes)
    }

    @Test(arguments: ["24", "24 ", "-3GB", "0GB", "GB", "twentyGB", "24XB", "nanGB", "infGiB"])
    func refusesValuesWithoutAUnitOrNotPositive(_ text: String) {
        #expect(throws: QLoRAError.self) { try ByteCount.parse(text) }
    }

    @Test func missingUnitErrorSaysWhichUnitsExist() {
        do {
            _ = try ByteCount.parse("24")
            Issue.record("expected an error")
        } catch let error as QLoRAError {
            #expect(error.message.contains("no unit"))
            #expect(error.message.contains("24GiB"))
            #expect(!error.message.contains("\n"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func formatsBinaryUnits() {
        #expect(ByteCount.format(32_890_000_000) == "30.63 GiB")
        #expect(ByteCount.format(512 << 20) == "512.0 MiB")
        #expect(ByteCount.format(-(3 << 30)) == "-3.00 GiB")
        #expect(ByteCount.format(12) == "12 B")
    }
}
