import ArgumentParser
import Foundation
import Backbone
import Tokenizer

/// `cllm4rec perplexity`: how well the model predicts a text file.
struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean next-token cross-entropy and perplexity of a text file.",
        discussion: """
            The file's tokens are cut into consecutive windows of the model's context (n_positions, max_position_embeddings); \
            within each window every token but the first is predicted from the ones before it. The last \
            line reads `loss=<nats per token> ppl=<exp(loss)> tokens=<predicted tokens>`. With --decode \
            each window runs one token at a time through a KV cache, the path generate and reviews take: \
            a model folder holding quantized.gguf (import-model --keep-quantized) is then measured on its \
            quantized weights, which is how its numerics are compared with llama.cpp's.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engine: EngineOptions

    @Argument(help: "A UTF-8 text file.")
    var file: String

    @Option(help: "Window length in tokens (>= 2; default and most: the model's context).")
    var window: Int?

    @Flag(help: "Run one token per step through a KV cache (the decoding path, quantized weights when the folder keeps them) instead of one forward pass per window.")
    var decode = false

    func validate() throws { try FlagRules.atLeast(2, window, "--window") }

    func run() throws {
        try engine.apply()
        let (model, tok) = try modelOptions.load()
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot read") }
        let ids = tok.encode(String(decoding: data, as: UTF8.self))
        guard ids.count >= 2 else { throw CLIError("\(file): needs at least 2 tokens, has \(ids.count)") }
        if let bad = ids.first(where: { $0 >= model.vocabSize }) {
            throw CLIError("\(file): token \(bad) is outside this model's vocabulary of \(model.vocabSize)")
        }
        let w = min(window ?? model.contextLength, model.contextLength)
        guard w >= 2 else { throw CLIError("--window must be at least 2") }
        let (mean, count) = model.windowedLoss(ids, window: w, decoding: decode)
        print(String(format: "loss=%.6f ppl=%.4f tokens=%d", mean, exp(mean), count))
    }
}
