import ArgumentParser
import Architectures
import Foundation

/// `cllm4rec init-gpt2`: a randomly initialised GPT-2, for machines without the real weights.
struct InitGPT2: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init-gpt2",
        abstract: "Write a randomly initialised GPT-2 model folder (Hugging Face's initialisation).",
        discussion: """
            For testing the pipeline where the real weights cannot be downloaded. Weights are N(0, 0.02), \
            residual projections scaled by 1/sqrt(2 x layers), biases 0, LayerNorm weights 1, drawn from \
            a seeded generator: the same seed writes the same file.
            """)

    @Option(help: "Shape: small (124M), medium, large, xl, distil (6 layers) or tiny (2 layers, width 64).")
    var config: String = "small"

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    @Option(help: "Output folder (default: Models/random-<config>).")
    var output: String?

    @Option(help: "Folder with vocab.json and merges.txt to copy.")
    var tokenizer: String = "Models/gpt2"

    func validate() throws {
        guard ArchitectureRegistry.named("gpt2")?.presets.contains(config) == true else {
            throw ValidationError("unknown --config \"\(config)\"; choose small, medium, large, xl, distil or tiny")
        }
    }

    func run() throws {
        let out = output ?? "Models/random-\(config)"
        print(try ArchitectureRegistry.named("gpt2")!.initRandom!(config, seed, BundledFiles.tokenizerFolder(tokenizer), out))
    }
}
