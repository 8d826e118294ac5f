import ArgumentParser
import Foundation
import GPT2
import Tensor

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
        guard GPT2Config.preset(config) != nil else {
            throw ValidationError("unknown --config \"\(config)\"; choose small, medium, large, xl, distil or tiny")
        }
    }

    func run() throws {
        let c = GPT2Config.preset(config)!
        let params = GPT2Parameters(config: c)
        var g = SplitMix64(seed: seed)
        params.initializeRandomly(using: &g)
        let out = output ?? "Models/random-\(config)"
        let tokenizer = BundledFiles.tokenizerFolder(self.tokenizer)
        try GPT2Checkpoint.save(params, to: out, vocabPath: tokenizer + "/vocab.json", mergesPath: tokenizer + "/merges.txt")
        print("wrote \(out)/: random GPT-2 \(config) (seed \(seed)), \(c.nLayer) layers, width \(c.nEmbd), \(grouped(params.count)) parameters")
    }
}
