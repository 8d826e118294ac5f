import ArgumentParser
import CLLM4Rec
import Foundation
import GPT2
import Llama

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
        if try BackboneRegistry.architecture(folder: model) == "gpt2" {
            let (params, _) = try GPT2Checkpoint.load(path: model)
            let lora = try LoRA.load(path: adapter, config: params.config)
            lora.merge(into: params)
            try GPT2Checkpoint.save(params, to: output, vocabPath: model + "/vocab.json", mergesPath: model + "/merges.txt")
            print("merged \(adapter) (rank \(lora.rank), alpha \(lora.alpha), \(lora.targets.map(\.rawValue).joined(separator: ", "))) into \(output)/")
            return
        }
        let (params, _) = try LlamaCheckpoint.load(path: model)
        let m = LlamaModel(params: params)
        let lora = try m.loadAdapter(path: adapter)
        m.merge(lora)
        let tokenizer = try Data(contentsOf: URL(fileURLWithPath: model + "/tokenizer.json"))
        try LlamaCheckpoint.save(params, to: output, files: [("tokenizer.json", Array(tokenizer))])
        print("merged \(adapter) (rank \(lora.rank), alpha \(lora.alpha), \(lora.modules.map(\.name).joined(separator: ", "))) into \(output)/")
    }
}
