import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// The committed task in datasets/ (made by datasets/make_dates.py): counts, form, sizes, a held-out
/// split that shares no date with training, and answers that follow from the questions. The forms
/// a date is written in are re-implemented here, so each input must be one of them for its answer.
@Suite struct BundledTaskTests {
    static let directory = TestPaths.repoRoot + "/datasets"
    static let instruction = "Convert the date to ISO 8601 format (YYYY-MM-DD). Answer with the date only."
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                         "October", "November", "December"]
    static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    static func ordinal(_ d: Int) -> String {
        if (11...13).contains(d) { return "\(d)th" }
        return "\(d)" + ([1: "st", 2: "nd", 3: "rd"][d % 10] ?? "th")
    }

    /// Every way make_dates.py writes the date y-m-d.
    static func writings(_ y: Int, _ m: Int, _ d: Int) -> [String] {
        let month = months[m - 1], mon = String(month.prefix(3))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = calendar.date(from: DateComponents(year: y, month: m, day: d))!
        let weekday = weekdays[calendar.component(.weekday, from: date) - 1]
        return ["\(month) \(d), \(y)", "\(d) \(month) \(y)", "\(mon) \(d), \(y)", "\(d) \(mon) \(y)",
                "\(month) \(ordinal(d)), \(y)", "the \(ordinal(d)) of \(month), \(y)", "\(weekday), \(month) \(d), \(y)"]
    }

    /// (y, m, d) of a valid YYYY-MM-DD date, else nil.
    static func isoDate(_ s: String) -> (Int, Int, Int)? {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard s.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]), (1...12).contains(m) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: y, month: m, day: d)),
              calendar.component(.day, from: date) == d else { return nil }
        return (y, m, d)
    }

    static func records(_ name: String) throws -> [(input: String, output: String)] {
        let file = try JSONLReader.read(directory + "/" + name)
        #expect(file.format == .alpaca && file.badLines.isEmpty)
        return file.records.map {
            guard case .alpaca(let instruction, let input, let output) = $0.record else { return ("", "") }
            #expect(instruction == Self.instruction)
            return (input, output)
        }
    }

    @Test(arguments: [("train.jsonl", 3000), ("eval.jsonl", 300)])
    func everyAnswerFollowsFromItsQuestion(_ name: String, _ count: Int) throws {
        let path = Self.directory + "/" + name
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(size < 1 << 20)
        let file = try JSONLReader.read(path)
        #expect(file.records.count == count)
        var forms = Set<Int>()
        for r in file.records {
            guard case .alpaca(let instruction, let input, let output) = r.record else {
                Issue.record("line \(r.line) is not an Alpaca record"); continue
            }
            #expect(instruction == Self.instruction)
            guard let (y, m, d) = Self.isoDate(output), (1950...2049).contains(y) else {
                Issue.record("line \(r.line): \(output) is not a YYYY-MM-DD date in 1950…2049"); continue
            }
            guard let form = Self.writings(y, m, d).firstIndex(of: input) else {
                Issue.record("line \(r.line): \(input) is not a writing of \(output)"); continue
            }
            forms.insert(form)
        }
        #expect(forms.count == 7, "every form occurs")
    }

    @Test func heldOutDatesNeverOccurInTraining() throws {
        let train = try Self.records("train.jsonl"), eval = try Self.records("eval.jsonl")
        let trainDates = Set(train.map(\.output)), evalDates = Set(eval.map(\.output))
        #expect(trainDates.count == train.count && evalDates.count == eval.count, "dates are distinct")
        #expect(trainDates.isDisjoint(with: evalDates))
    }

    @Test func theGeneratorIsCommittedBesideItsOutput() throws {
        let script = try String(contentsOfFile: Self.directory + "/make_dates.py", encoding: .utf8)
        #expect(script.contains("SEED = ") && script.contains("TRAIN_COUNT = 3000") && script.contains("EVAL_COUNT = 300"))
        #expect(FileManager.default.fileExists(atPath: Self.directory + "/README.md"))
    }
}
