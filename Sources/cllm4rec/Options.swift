import ArgumentParser
import Foundation
import GPT2
import Tensor
import Tokenizer

/// Flags shared by commands that run the transformer.
struct EngineOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Threads for matrix products (default: all cores).",
        discussion: """
            OpenBLAS runs the products. On a CPU with AVX-512 its SkylakeX kernels are used (twice the \
            speed of the AVX2 ones), whatever OPENBLAS_CORETYPE says; set CLLM4REC_BLAS_CORETYPE to a \
            kernel set name (Haswell, SkylakeX, Zen, ...) to choose another, or to `openblas` to leave \
            the choice to OpenBLAS.
            """))
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws { try FlagRules.inRange(1...1024, threads, "--threads") }

    /// Opens OpenBLAS with its kernel set chosen and sets its thread count.
    func apply() throws {
        do { try OpenBLAS.load() } catch { throw CLIError(error.description) }
        BLAS.threads = threads
    }
}

/// A model folder: config.json, model.safetensors, vocab.json, merges.txt.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model folder (config.json, model.safetensors, vocab.json, merges.txt); a relative path is also looked up next to the executable.")
    var model: String = "Models/gpt2"

    @Option(help: "A LoRA adapter folder (adapter_model.safetensors + adapter_config.json) to apply.")
    var adapter: String?

    func load() throws -> (GPT2Model, BPETokenizer) {
        let model = BundledFiles.modelFolder(self.model)
        for f in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] where !FileManager.default.fileExists(atPath: model + "/" + f) {
            throw CLIError("\(model)/\(f) not found: import a model with `cllm4rec import-gpt2` or make one with `cllm4rec init-gpt2`")
        }
        let (params, _) = try GPT2Checkpoint.load(path: model)
        let tok = try BPETokenizer(vocabPath: model + "/vocab.json", mergesPath: model + "/merges.txt")
        let m = GPT2Model(params: params)
        if let adapter { m.lora = try LoRA.load(path: adapter, config: params.config) }
        return (m, tok)
    }
}
