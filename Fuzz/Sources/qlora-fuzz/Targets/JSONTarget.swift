import Foundation
import QLoRA

/// Any bytes as a JSON document (`JSONValue`, the one parser every JSON file goes through): parsing
/// either succeeds or throws a one-line `JSONValue.ParseError`; what parses prints, in each style,
/// to text that parses back to the same value.
enum JSONTarget {
    static let styles: [JSONStyle] = [.pretty, .line, JSONStyle(separators: (",", ":"), ensureASCII: true)]

    static func run(_ data: UnsafeRawBufferPointer) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(data)
        } catch let error as JSONValue.ParseError {
            precondition(!error.description.contains("\n") && error.offset <= data.count, "bad parse error: \(error)")
            return
        } catch {
            fatalError("json: the parser threw \(type(of: error)), not JSONValue.ParseError: \(error)")
        }
        for style in styles {
            let text = value.serialized(style)
            guard let again = try? JSONValue.parse(text) else { fatalError("json: printed text does not parse: \(text.prefix(200))") }
            precondition(again == value, "json: \(text.prefix(200)) does not read back as what was printed")
        }
    }
}
