import ArgumentParser
import Foundation
import GPT2
import Tokenizer

/// `cllm4rec generate`: continue a prompt with the language model, streaming the text.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a prompt with a KV cache, streamed to standard output.",
        discussion: """
            Sampling follows Hugging Face `generate`: --temperature 0 is greedy (do_sample=False); \
            otherwise the repetition penalty, temperature, top-k and top-p apply in that order before \
            sampling from a generator seeded by --seed. Generation stops at <|endoftext|> or after \
            --max-new-tokens.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engine: EngineOptions

    @Option(help: "The text to continue.")
    var prompt: String

    @Option(help: "Most tokens to generate.")
    var maxNewTokens: Int = 50

    @Option(help: "Softmax temperature; 0 means greedy.")
    var temperature: Float = 1

    @Option(help: "Sample only from the K most likely tokens (0: no limit).")
    var topK: Int = 0

    @Option(help: "Sample only from the most likely tokens whose probabilities sum to P (1: no limit).")
    var topP: Float = 1

    @Option(help: "Divide the logits of tokens already present by this (1: off; 1.2 is common).")
    var repetitionPenalty: Float = 1

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Flag(help: "Print the generated token ids instead of text.")
    var ids = false

    func validate() throws {
        guard temperature >= 0 else { throw ValidationError("--temperature must be >= 0") }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard repetitionPenalty > 0 else { throw ValidationError("--repetition-penalty must be > 0") }
        guard maxNewTokens >= 0 else { throw ValidationError("--max-new-tokens must be >= 0") }
    }

    func run() throws {
        engine.apply()
        let (model, tok) = try modelOptions.load()
        let promptIds = tok.encode(prompt)
        guard !promptIds.isEmpty else { throw CLIError("the prompt is empty") }
        guard promptIds.count < model.config.nPositions else {
            throw CLIError("the prompt has \(promptIds.count) tokens; the model's context is \(model.config.nPositions)")
        }
        if let bad = promptIds.first(where: { $0 >= model.config.vocabSize }) {
            throw CLIError("the prompt's token \(bad) is outside this model's vocabulary of \(model.config.vocabSize)")
        }
        let options = SamplingOptions(temperature: temperature, topK: topK, topP: topP, repetitionPenalty: repetitionPenalty,
                                      seed: seed, maxNewTokens: min(maxNewTokens, model.config.nPositions - promptIds.count),
                                      stopTokens: [tok.endOfTextId])
        let out = FileHandle.standardOutput
        if !ids { out.write(Data(prompt.utf8)) }
        var pending: [UInt8] = []
        let generated = model.generate(prompts: [promptIds], options: options) { _, token in
            guard !ids, token != tok.endOfTextId, token < tok.count else { return }
            pending += tok.tokenBytes[token]
            // Write only complete UTF-8 characters; a multi-byte character may span tokens.
            let n = completeUTF8Prefix(pending)
            if n > 0 { out.write(Data(pending[..<n])); pending.removeFirst(n) }
        }
        if ids {
            print(generated[0].map(String.init).joined(separator: " "))
        } else {
            if !pending.isEmpty { out.write(Data(String(decoding: pending, as: UTF8.self).utf8)) }
            out.write(Data("\n".utf8))
        }
    }
}

/// Length of the longest prefix that does not end inside a multi-byte UTF-8 character.
func completeUTF8Prefix(_ b: [UInt8]) -> Int {
    var i = b.count - 1
    var back = 0
    while i >= 0 && back < 4 && b[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
    guard i >= 0 else { return b.count }
    let lead = b[i]
    let need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
    return back + 1 >= need ? b.count : i
}
