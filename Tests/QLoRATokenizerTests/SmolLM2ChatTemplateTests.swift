import Foundation
import QLoRA
import Testing

/// SmolLM2's chat template, read from its GGUF metadata and run by our interpreter, against the
/// text its semantics give (a default system turn when the first message is not a system one;
/// each turn as `<|im_start|>role\ncontent<|im_end|>\n`; the assistant header when a generation
/// prompt is asked for) — the same text transformers' `apply_chat_template` renders.
@Suite(.enabled(if: TokenizerFixtures.hasSmolLM2, TokenizerFixtures.smolLM2Missing))
struct SmolLM2ChatTemplateTests {
    static let defaultSystem = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"

    @Test func userMessageGetsTheDefaultSystemTurnAndTheAssistantHeader() throws {
        let t = try TokenizerFixtures.smolLM2()
        let text = try t.applyChatTemplate([.user("What is the capital of France?")])
        #expect(text == Self.defaultSystem + "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func ownSystemTurnReplacesTheDefault() throws {
        let t = try TokenizerFixtures.smolLM2()
        let messages: [ChatMessage] = [.system("Be terse."), .user(" Hi! "), .assistant("Hello.\nYes?"), .user("2+2=?")]
        let text = try t.applyChatTemplate(messages, addGenerationPrompt: false)
        #expect(text == """
            <|im_start|>system
            Be terse.<|im_end|>
            <|im_start|>user
             Hi! <|im_end|>
            <|im_start|>assistant
            Hello.
            Yes?<|im_end|>
            <|im_start|>user
            2+2=?<|im_end|>

            """)
    }

    @Test func systemTurnLaterInTheConversationStillGetsTheDefaultFirst() throws {
        let t = try TokenizerFixtures.smolLM2()
        let text = try t.applyChatTemplate([.assistant("Hi"), .system("S")], addGenerationPrompt: true)
        #expect(text == Self.defaultSystem + "<|im_start|>assistant\nHi<|im_end|>\n<|im_start|>system\nS<|im_end|>\n<|im_start|>assistant\n")
        #expect(try t.applyChatTemplate([], addGenerationPrompt: true) == "<|im_start|>assistant\n")
    }

    @Test func chatIDsUseTheControlTokens() throws {
        let t = try TokenizerFixtures.smolLM2()
        let ids = try t.encodeChat([.user("Hi")])
        #expect(ids == t.encode(try t.applyChatTemplate([.user("Hi")]), addSpecialTokens: false))
        #expect(ids.first == 1 && ids.filter { $0 == 1 }.count == 3 && ids.filter { $0 == 2 }.count == 2)
        // "<|im_start|>assistant\n" (ids from tokenizers).
        #expect(Array(ids.suffix(4)) == [1, 520, 9531, 198])
    }
}
