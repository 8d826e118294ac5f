import ArgumentParser
import Architectures
import Foundation

/// `cllm4rec import-model PATH`: a GGUF file or a Hugging Face folder of either family into a clean
/// model folder (config.json, model.safetensors F32, tokenizer files).
struct ImportModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-model",
        abstract: "Import a GPT-2, Llama or Qwen2 model (GGUF file or Hugging Face folder) into a model folder.",
        discussion: """
            PATH is a GGUF file (architecture llama or qwen2; tensors F32, F16, BF16, Q8_0, Q4_0, Q4_1, \
            Q5_0, Q5_1, Q4_K, Q5_K or Q6_K, dequantized to F32 exactly as gguf-py does; llama.cpp's q/k \
            row order undone; the tokenizer from its metadata, written as tokenizer.json), or a Hugging \
            Face folder: config.json with model_type gpt2 (as import-gpt2), llama or qwen2 \
            (model.safetensors or shards listed in model.safetensors.index.json, and tokenizer.json). \
            Every tensor is checked: a missing, unused or mis-shaped one is an error, and nothing is \
            written unless all of it was read.
            """)

    @Argument(help: "A .gguf file, or a Hugging Face model folder.")
    var path: String

    @Option(help: "Output folder (default: Models/<name of PATH without extension>).")
    var output: String?

    @Option(help: "GPT-2 only: folder with vocab.json and merges.txt when PATH has none.")
    var tokenizer: String = "Models/gpt2"

    @Flag(help: "GGUF only: keep the file's F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K projections and head (quantized.gguf in the folder) for decoding: generate, reviews and serve multiply from them (a half (16-bit) to an eighth (Q4) of F32's bytes per token).")
    var keepQuantized = false

    func run() throws {
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError("\(path): no such file or folder") }
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let url = URL(fileURLWithPath: path)
        let name = isDir.boolValue ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        let out = output ?? "Models/" + (name.isEmpty || name == "." ? "imported" : name)
        for line in try ArchitectureRegistry.importModel(path: path, output: out, tokenizer: BundledFiles.tokenizerFolder(tokenizer), keepQuantized: keepQuantized) {
            print(line)
        }
    }
}
