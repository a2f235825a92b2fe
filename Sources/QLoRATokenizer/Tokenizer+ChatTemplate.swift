import QLoRACore

extension Tokenizer {
    /// The model's own chat template, read (and checked) from its metadata.
    public func chatTemplateProgram(limits: ChatTemplate.Limits = .default) throws -> ChatTemplate {
        guard let chatTemplate else {
            throw QLoRAError.format(source, "the model ships no chat template (tokenizer.chat_template / chat_template)")
        }
        return try ChatTemplate(chatTemplate, name: source + " (chat template)", limits: limits)
    }

    /// The prompt text of a conversation, rendered with the model's chat template as
    /// transformers' `apply_chat_template(messages, tokenize=False)` renders it.
    public func applyChatTemplate(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        try chatTemplateProgram().render(
            messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken)
    }

    /// The ids of a conversation: the rendered template, encoded without adding BOS/EOS again
    /// (the template writes any it wants), as `apply_chat_template(messages)` tokenizes.
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Int] {
        encode(try applyChatTemplate(messages, addGenerationPrompt: addGenerationPrompt), addSpecialTokens: false)
    }
}
