import ArgumentParser
import Foundation
import GPT2

/// `cllm4rec merge-lora`: fold a LoRA adapter into the weights, giving a plain model folder.
struct MergeLoRA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-lora",
        abstract: "Merge a LoRA adapter into its base model and write a plain model folder.",
        discussion: "W += (alpha / r) (B A)ᵀ for every adapted projection; the result needs no adapter to run.")

    @Option(help: "Base model folder.")
    var model: String

    @Option(help: "Adapter folder (adapter_model.safetensors + adapter_config.json).")
    var adapter: String

    @Option(help: "Output model folder.")
    var output: String

    func run() throws {
        let (params, _) = try GPT2Checkpoint.load(path: model)
        let lora = try LoRA.load(path: adapter, config: params.config)
        lora.merge(into: params)
        try GPT2Checkpoint.save(params, to: output, vocabPath: model + "/vocab.json", mergesPath: model + "/merges.txt")
        print("merged \(adapter) (rank \(lora.rank), alpha \(lora.alpha), \(lora.targets.map(\.rawValue).joined(separator: ", "))) into \(output)/")
    }
}
