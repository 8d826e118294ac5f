import ArgumentParser
import Foundation
import Architectures
import Backbone
import CLLM4Rec
import Tensor
import Tokenizer

/// Flags shared by commands that run the transformer.
struct EngineOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Threads for matrix products (default: all cores).",
        discussion: """
            On an Intel CPU where Intel's MKL is installed (`bash Tools/install/mkl.sh` puts it in \
            ~/.local/lib) MKL runs the products, else OpenBLAS; set CLLM4REC_BLAS to `openblas` or `mkl` \
            to choose, and CLLM4REC_MKL to MKL's libmkl_rt.so file (or its folder) when it is elsewhere, \
            e.g. after `pip install mkl intel-openmp` into a Python environment. \
            On a CPU with AVX-512, OpenBLAS's SkylakeX kernels are used (twice the speed of the AVX2 \
            ones), whatever OPENBLAS_CORETYPE says; set CLLM4REC_BLAS_CORETYPE to a kernel set name \
            (Haswell, SkylakeX, Zen, ...) to choose another, or to `openblas` to leave the choice to \
            OpenBLAS. Training logs (pretrain, finetune) name the library in use.
            """))
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws { try FlagRules.inRange(1...1024, threads, "--threads") }

    /// Opens the product library (MKL or OpenBLAS, see `ProductLibrary`) and sets its thread count.
    func apply() throws {
        try openProductLibrary()
        BLAS.threads = threads
    }
}

/// Opens the product library, or says why it cannot (a CLLM4REC_BLAS / CLLM4REC_MKL problem, no OpenBLAS).
func openProductLibrary() throws {
    do { try ProductLibrary.load() } catch { throw CLIError(error.description) }
}

/// A model folder of any supported architecture: config.json, weights, tokenizer files.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model folder (config.json, model.safetensors, tokenizer.json or vocab.json + merges.txt) of a GPT-2, Llama or Qwen2 model; a relative path is also looked up next to the executable.")
    var model: String = "Models/gpt2"

    @Option(help: "A LoRA adapter folder (adapter_model.safetensors + adapter_config.json) to apply.")
    var adapter: String?

    func load() throws -> (any LanguageBackbone, BPETokenizer) {
        let model = BundledFiles.modelFolder(self.model)
        guard FileManager.default.fileExists(atPath: model + "/config.json") else {
            throw CLIError("\(model)/config.json not found: import a model with `cllm4rec import-model` or make one with `cllm4rec init-model`")
        }
        let (m, tok) = try ArchitectureRegistry.load(folder: model)
        if let adapter { m.adapter = try m.loadAdapter(path: adapter) }
        return (m, tok)
    }
}
