import ArgumentParser
import CLLM4Rec
import Foundation
import GPT2
import Llama
import Tokenizer
import WeightIO

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

    func run() throws {
        let started = Date()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CLIError("\(path): no such file or folder") }
        let url = URL(fileURLWithPath: path)
        let name = isDir.boolValue ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        let out = output ?? "Models/" + (name.isEmpty || name == "." ? "imported" : name)
        if !isDir.boolValue {
            let head = FileHandle(forReadingAtPath: path)?.readData(ofLength: 4) ?? Data()
            if Array(head) == Array("GGUF".utf8) { return try importGGUF(out: out, started: started) }
            return try importGPT2(out: out)
        }
        let arch = try BackboneRegistry.architecture(folder: path)
        if arch == "gpt2" { return try importGPT2(out: out) }
        let (params, report) = try LlamaCheckpoint.load(path: path)
        let tokPath = (path as NSString).appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: tokPath) else { throw CLIError("\(path): no tokenizer.json (the Llama family is read with it)") }
        let tok = try BPETokenizer.load(folder: path)
        try check(tok, params.config, source: tokPath)
        try LlamaCheckpoint.save(params, to: out, files: [("tokenizer.json", Array(try Data(contentsOf: URL(fileURLWithPath: tokPath))))])
        summary(params, report, tok, out: out, started: started)
    }

    func importGGUF(out: String, started: Date) throws {
        let (params, report) = try LlamaCheckpoint.load(path: path)
        let tok = try BPETokenizer(gguf: try GGUFFile(path: path))
        try check(tok, params.config, source: path)
        try LlamaCheckpoint.save(params, to: out, files: [("tokenizer.json", tok.tokenizerJSON())])
        summary(params, report, tok, out: out, started: started)
    }

    func check(_ tok: BPETokenizer, _ c: LlamaConfig, source: String) throws {
        guard tok.count <= c.vocabSize else {
            throw CLIError("\(source): the tokenizer has \(tok.count) tokens, more than the model's vocab_size \(c.vocabSize)")
        }
    }

    func summary(_ params: LlamaParameters, _ report: LlamaImportReport, _ tok: BPETokenizer, out: String, started: Date) {
        let c = params.config
        print("imported \(report.source) (\(report.sourceFormat), \(report.sourceTypes.joined(separator: "/"))): \(c.modelType)")
        print("  layers \(c.numHiddenLayers), heads \(c.numAttentionHeads) (\(c.numKeyValueHeads) key/value), width \(c.hiddenSize), "
              + "MLP \(c.intermediateSize), context \(c.maxPositionEmbeddings), vocabulary \(c.vocabSize), rope theta \(c.ropeTheta), "
              + "\(c.tieWordEmbeddings ? "tied" : "untied") head, parameters \(grouped(params.count))")
        print("  tokenizer: \(tok.count) tokens, \(tok.specialTokens.count) special, pre-tokenizer \(tok.preTokenization.rawValue), end of text id \(tok.endOfTextId)")
        print("  wrote \(out)/ (config.json, model.safetensors F32, tokenizer.json) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    func importGPT2(out: String) throws {
        var gpt2 = ImportGPT2()
        gpt2.path = path
        gpt2.output = out
        gpt2.tokenizer = tokenizer
        try gpt2.run()
    }
}
