import ArgumentParser
import Architectures
import CLLM4Rec
import Foundation

/// `cllm4rec merge-lora`: fold a LoRA adapter into the weights, giving a plain model folder.
struct MergeLoRA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-lora",
        abstract: "Merge a LoRA adapter into its base model (GPT-2 or Llama family) and write a plain model folder.",
        discussion: "W += (alpha / r) B A (GPT-2's Conv1D: its transpose) for every adapted projection; the result needs no adapter to run.")

    @Option(help: "Base model folder.")
    var model: String

    @Option(help: "Adapter folder (adapter_model.safetensors + adapter_config.json).")
    var adapter: String

    @Option(help: "Output model folder.")
    var output: String

    func run() throws {
        // GPT-2's merge is a product per layer: the library is opened first, so a bad
        // CLLM4REC_BLAS or CLLM4REC_MKL is an error message before any work.
        try openProductLibrary()
        print(try ArchitectureRegistry.mergeAdapter(model: model, adapter: adapter, output: output))
    }
}
