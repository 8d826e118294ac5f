import ArgumentParser
import Foundation
import GPT2

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
        let started = Date()
        let (params, report) = try GPT2Checkpoint.load(path: path, configPath: config)
        let source = URL(fileURLWithPath: path)
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let name = isDir.boolValue ? source.lastPathComponent : source.deletingLastPathComponent().lastPathComponent
        let out = output ?? "Models/" + (name.isEmpty || name == "." ? "imported" : name)
        let tokDir = isDir.boolValue && FileManager.default.fileExists(atPath: path + "/vocab.json")
            && FileManager.default.fileExists(atPath: path + "/merges.txt") ? path : BundledFiles.tokenizerFolder(tokenizer)
        for f in ["vocab.json", "merges.txt"] where !FileManager.default.fileExists(atPath: tokDir + "/" + f) {
            throw CLIError("\(tokDir)/\(f) not found: pass --tokenizer DIR with vocab.json and merges.txt")
        }
        try GPT2Checkpoint.save(params, to: out, vocabPath: tokDir + "/vocab.json", mergesPath: tokDir + "/merges.txt")
        let c = params.config
        print("imported \(report.weightsPath) (\(report.sourceFormat), \(report.sourceDTypes.joined(separator: "/")); config from \(report.configSource))")
        print("  layers \(c.nLayer), heads \(c.nHead), width \(c.nEmbd), context \(c.nPositions), vocabulary \(c.vocabSize), parameters \(grouped(params.count))")
        if !report.droppedBuffers.isEmpty {
            print("  dropped \(report.droppedBuffers.count) attention-mask buffers (h.N.attn.bias / masked_bias): constants, not weights")
        }
        if report.hadTiedHead { print("  lm_head.weight checked equal to wte.weight (tied)") }
        print("  wrote \(out)/ (config.json, model.safetensors F32, vocab.json, merges.txt; tokenizer from \(tokDir)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}

/// 124439808 -> "124,439,808".
func grouped(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (k, ch) in s.enumerated() {
        if k > 0 && (s.count - k) % 3 == 0 { out += "," }
        out.append(ch)
    }
    return out
}
