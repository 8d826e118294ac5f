import ArgumentParser
import Architectures
import Backbone
import Foundation

/// `cllm4rec import-gpt2 PATH`: any published GPT-2 checkpoint into a clean model folder.
struct ImportGPT2: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-gpt2",
        abstract: "Import GPT-2 weights (safetensors or pytorch_model.bin) into a model folder.",
        discussion: """
            PATH is a Hugging Face folder (config.json with model.safetensors or pytorch_model.bin; \
            vocab.json and merges.txt optional) or a single weights file. Both PyTorch formats are read \
            (the zip format of PyTorch >= 1.6 and the older legacy format the Hub's GPT-2 files use) \
            with a restricted unpickler that never executes code from the file. Every tensor is checked: \
            a missing, unused or mis-shaped one is an error. Without a config.json the configuration is \
            inferred from the shapes (heads of width 64, as every published GPT-2 has).
            """)

    @Argument(help: "A Hugging Face GPT-2 folder, or a model.safetensors / pytorch_model.bin file.")
    var path: String

    @Option(help: "Output folder (default: Models/<name of PATH>).")
    var output: String?

    @Option(help: "A config.json to use instead of the folder's own or the shapes.")
    var config: String?

    @Option(help: "Folder with vocab.json and merges.txt when PATH has none.")
    var tokenizer: String = "Models/gpt2"

    func run() throws {
        let source = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let name = isDir.boolValue ? source.lastPathComponent : source.deletingLastPathComponent().lastPathComponent
        let out = output ?? "Models/" + (name.isEmpty || name == "." ? "imported" : name)
        for line in try ArchitectureRegistry.importGPT2(path: path, output: out, tokenizer: BundledFiles.tokenizerFolder(tokenizer), configPath: config) {
            print(line)
        }
    }
}

/// 124439808 -> "124,439,808".
func grouped(_ n: Int) -> String { groupedDigits(n) }
