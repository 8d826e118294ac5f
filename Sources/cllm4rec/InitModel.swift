import ArgumentParser
import Architectures
import Foundation

/// `cllm4rec init-model --config NAME`: a randomly initialised model of a published shape, of
/// either family (the "LLM-Scratch" backbone of the paper's ablation).
struct InitModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-model",
        abstract: "Write a randomly initialised GPT-2 or Llama-family model folder (Hugging Face's initialisation).",
        discussion: """
            GPT-2 shapes: small, medium, large, xl, distil, tiny (as init-gpt2, tokenizer from --tokenizer's \
            vocab.json + merges.txt). Llama family: \(ArchitectureRegistry.presets.filter { !["small", "medium", "large", "xl", "distil", "tiny"].contains($0) }.joined(separator: ", ")); weights \
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
        guard ArchitectureRegistry.architecture(preset: config) != nil else {
            throw ValidationError("unknown --config \"\(config)\"; choose \(ArchitectureRegistry.presets.joined(separator: ", "))")
        }
    }

    func run() throws {
        let out = output ?? "Models/random-\(config)"
        let architecture = ArchitectureRegistry.architecture(preset: config)!
        print(try architecture.initRandom!(config, seed, BundledFiles.tokenizerFolder(tokenizer), out))
    }
}
