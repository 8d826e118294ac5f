import ArgumentParser
import CLLM4Rec
import Foundation
import GPT2
import Llama
import Tensor
import Tokenizer
import WeightIO

/// `cllm4rec init-model --config NAME`: a randomly initialised model of a published shape, of
/// either family (the "LLM-Scratch" backbone of the paper's ablation).
struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write a randomly initialised GPT-2 or Llama-family model folder (Hugging Face's initialisation).",
        discussion: """
            GPT-2 shapes: small, medium, large, xl, distil, tiny (as init-gpt2, tokenizer from --tokenizer's \
            vocab.json + merges.txt). Llama family: \(LlamaConfig.presetNames.joined(separator: ", ")); weights \
            N(0, 0.02), norms 1, biases 0 (transformers' _init_weights), drawn from a seeded generator; the \
            tokenizer is copied from --tokenizer (a model folder with tokenizer.json, or a GGUF file) and \
            must fit the shape's vocabulary (`tiny-llama` and `tiny-qwen2` take the tokenizer's vocabulary size).
            """)

    @Option(help: "Shape name (see above).")
    var config: String

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Output folder (default: Models/random-<config>).")
    var output: String?

    @Option(help: "Tokenizer source: a model folder (tokenizer.json, or vocab.json + merges.txt for GPT-2) or a GGUF file.")
    var tokenizer: String = "Models/gpt2"

    func validate() throws {
        guard GPT2Config.preset(config) != nil || LlamaConfig.preset(config) != nil else {
            throw ValidationError("unknown --config \"\(config)\"; choose small, medium, large, xl, distil, tiny, \(LlamaConfig.presetNames.joined(separator: ", "))")
        }
    }

    func run() throws {
        let out = output ?? "Models/random-\(config)"
        if GPT2Config.preset(config) != nil {
            var gpt2 = InitGPT2()
            gpt2.config = config; gpt2.seed = seed; gpt2.output = out; gpt2.tokenizer = tokenizer
            return try gpt2.run()
        }
        var c = LlamaConfig.preset(config)!
        let source = BundledFiles.tokenizerFolder(tokenizer)
        let tok: BPETokenizer
        if source.hasSuffix(".gguf") {
            tok = try BPETokenizer(gguf: try GGUFFile(path: source))
        } else {
            tok = try BPETokenizer.load(folder: source)
        }
        if config.hasPrefix("tiny") { c.vocabSize = tok.count }
        guard tok.count <= c.vocabSize else {
            throw CLIError("\(source): the tokenizer has \(tok.count) tokens, more than \(config)'s vocabulary of \(c.vocabSize)")
        }
        let params = LlamaParameters(config: c)
        var g = SplitMix64(seed: seed)
        params.initializeRandomly(using: &g)
        try LlamaCheckpoint.save(params, to: out, files: [("tokenizer.json", tok.tokenizerJSON())])
        print("wrote \(out)/: random \(c.modelType) \(config) (seed \(seed)), \(c.numHiddenLayers) layers, width \(c.hiddenSize), "
              + "\(grouped(params.count)) parameters, tokenizer from \(source)")
    }
}
