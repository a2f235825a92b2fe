import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Loading a run's data: evaluation split by fraction or from a file, and bad records.
@Suite struct TrainingDataTests {
    @Test func evalSplitHoldsOutAFixedFractionBySeed() throws {
        let dir = TempDir()
        let path = DataFiles.write(DataFiles.alpaca(40), in: dir)
        let tok = try ByteTokenizer.make()
        let a = try TrainingData.load(train: path, eval: .split(0.1), tokenizer: tok, seed: 5)
        let b = try TrainingData.load(train: path, eval: .split(0.1), tokenizer: tok, seed: 5)
        let c = try TrainingData.load(train: path, eval: .split(0.1), tokenizer: tok, seed: 6)
        #expect(a.eval.count == 4 && a.train.count == 36)
        #expect(a.evalRecords.map(\.line) == b.evalRecords.map(\.line))
        #expect(a.evalRecords.map(\.line) != c.evalRecords.map(\.line))
        #expect(Set(a.evalRecords.map(\.line)).isDisjoint(with: a.trainRecords.map(\.line)))
        #expect(a.evalRecords.map(\.line) == a.evalRecords.map(\.line).sorted())
        #expect(a.eval.map(\.line) == a.evalRecords.map(\.line))
        #expect(a.summary.contains("train: 36 examples") && a.summary.contains("eval: 4 examples"))
    }

    @Test(arguments: [0.0, 1.0, -0.5, 1.5]) func evalSplitOutsideTheOpenIntervalIsRefused(_ f: Double) throws {
        let dir = TempDir()
        let path = DataFiles.write(DataFiles.alpaca(10), in: dir)
        let error = try #require(throws: QLoRAError.self) {
            try TrainingData.load(train: path, eval: .split(f), tokenizer: try ByteTokenizer.make())
        }
        #expect(error.message.contains("--eval-split"))
    }

    @Test func tinySplitsKeepAtLeastOneOnEachSide() throws {
        let dir = TempDir()
        let path = DataFiles.write(DataFiles.alpaca(3), in: dir)
        let tok = try ByteTokenizer.make()
        #expect(try TrainingData.load(train: path, eval: .split(0.01), tokenizer: tok).eval.count == 1)
        #expect(try TrainingData.load(train: path, eval: .split(0.99), tokenizer: tok).train.count == 1)
    }

    @Test func evalFileIsReadInTheTrainingForm() throws {
        let dir = TempDir()
        let train = DataFiles.write(DataFiles.alpaca(5), "train.jsonl", in: dir)
        let eval = DataFiles.write(DataFiles.alpaca(2), "eval.jsonl", in: dir)
        let text = DataFiles.write([#"{"text": "x"}"#], "text.jsonl", in: dir)
        let tok = try ByteTokenizer.make()
        let data = try TrainingData.load(train: train, eval: .file(eval), tokenizer: tok)
        #expect(data.train.count == 5 && data.eval.count == 2 && data.format == .alpaca)
        let error = try #require(throws: QLoRAError.self) { try TrainingData.load(train: train, eval: .file(text), tokenizer: tok) }
        #expect(error.message.contains("text.jsonl: line 1: no \"instruction\" field"), "\(error.message)")
    }

    @Test func recordsTheTemplateCannotRenderAreBadLines() throws {
        let dir = TempDir()
        let raising = #"{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tools') }}{% endif %}{{ m['content'] }}{% endfor %}"#
        let tok = try ByteTokenizer.make(chatTemplate: raising)
        let good = #"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#
        let tool = #"{"messages": [{"role": "tool", "content": "q"}, {"role": "assistant", "content": "a"}]}"#
        let path = DataFiles.write([good, tool, good], in: dir)
        let error = try #require(throws: QLoRAError.self) { try TrainingData.load(train: path, tokenizer: tok) }
        #expect(error.message.hasPrefix("\(path): line 2: ") && error.message.contains("no tools"), "\(error.message)")
        let skipped = try TrainingData.load(train: path, tokenizer: tok, options: DataOptions(skipBadLines: true))
        #expect(skipped.train.map(\.line) == [1, 3])
        #expect(skipped.skipped.first?.lines.map(\.line) == [2])
        #expect(skipped.summary.contains("skipped 1 bad lines (lines 2)"))
    }
}
