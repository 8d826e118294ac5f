import Backbone
import Foundation
import Tensor
import Tokenizer
import WeightIO

/// The Llama family in the architecture registry: one entry per `model_type` it runs ("llama",
/// "qwen2"), Hugging Face folders (tokenizer.json) and GGUF files, the presets of `init-model`,
/// LoRA on the attention and MLP projections.
extension LlamaModel {
    public static func registryEntry(modelType: String) -> Architecture {
        Architecture(
            modelType: modelType,
            shape: { path in try LlamaConfig.load(path: path).shape },
            load: { folder in
                let (params, _) = try LlamaCheckpoint.load(path: folder)
                let tok = try BPETokenizer.load(folder: folder)
                try check(tok, params.config, source: folder)
                let model = LlamaModel(params: params)
                let kept = (folder as NSString).appendingPathComponent(LlamaQuantizedWeights.fileName)
                if FileManager.default.fileExists(atPath: kept) { model.quantized = try LlamaQuantizedWeights(path: kept, params: params) }
                return (model, tok)
            },
            adapterTargetNames: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                                 "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"],
            presets: LlamaConfig.presetNames.filter { LlamaConfig.preset($0)?.modelType == modelType },
            initRandom: { preset, seed, tokenizer, output in try initRandom(preset: preset, seed: seed, tokenizer: tokenizer, output: output) },
            importFolder: { source, output, _ in
                let started = Date()
                let (params, report) = try LlamaCheckpoint.load(path: source)
                let tokPath = (source as NSString).appendingPathComponent("tokenizer.json")
                guard FileManager.default.fileExists(atPath: tokPath) else {
                    throw ModelFileError.io(file: source, problem: "no tokenizer.json (the Llama family is read with it)")
                }
                let tok = try BPETokenizer.load(folder: source)
                try check(tok, params.config, source: tokPath)
                try LlamaCheckpoint.save(params, to: output, files: [("tokenizer.json", Array(try Data(contentsOf: URL(fileURLWithPath: tokPath))))])
                return summary(params, report, tok, output: output, started: started)
            },
            ggufArchitectures: [modelType],
            importGGUF: { path, output, keepQuantized in
                let started = Date()
                let (params, report) = try LlamaCheckpoint.load(path: path)
                let tok = try BPETokenizer(gguf: try GGUFFile(path: path))
                try check(tok, params.config, source: path)
                var files = [("tokenizer.json", tok.tokenizerJSON())]
                var kept: LlamaQuantizedWeights? = nil
                if keepQuantized {
                    kept = try LlamaQuantizedWeights(path: path, params: params)
                    guard !kept!.formats.isEmpty else {
                        throw LlamaError.unsupported(file: path, problem: "--keep-quantized: no projection is stored as F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K, the types decoding multiplies from")
                    }
                    files.append((LlamaQuantizedWeights.fileName, Array(try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped))))
                }
                try LlamaCheckpoint.save(params, to: output, files: files)
                var lines = summary(params, report, tok, output: output, started: started)
                if let kept {
                    let total = kept.formats.values.reduce(0, +)
                    lines.append("  kept for decoding: \(LlamaQuantizedWeights.fileName) (\(kept.formats.sorted { $0.key < $1.key }.map { "\($0.key) \(groupedDigits($0.value))" }.joined(separator: ", ")) weights of \(groupedDigits(total)) in products)")
                }
                return lines
            },
            mergeAdapter: { model, adapter, output in
                let (params, _) = try LlamaCheckpoint.load(path: model)
                let m = LlamaModel(params: params)
                let lora = try m.loadAdapter(path: adapter)
                m.merge(lora)
                let tokenizer = try Data(contentsOf: URL(fileURLWithPath: model + "/tokenizer.json"))
                try LlamaCheckpoint.save(params, to: output, files: [("tokenizer.json", Array(tokenizer))])
                return "merged \(adapter) (rank \(lora.rank), alpha \(lora.alpha), \(lora.modules.map(\.name).joined(separator: ", "))) into \(output)/"
            })
    }

    /// A random model of a preset shape (transformers' `_init_weights`, seeded), the tokenizer from
    /// a model folder with tokenizer.json or a GGUF file; `tiny-*` presets take its vocabulary size.
    public static func initRandom(preset: String, seed: UInt64, tokenizer source: String, output: String) throws -> String {
        guard var c = LlamaConfig.preset(preset) else {
            throw ModelFileError.invalidConfig(architecture: LlamaConfig.displayName, problem: "unknown shape \"\(preset)\"; choose \(LlamaConfig.presetNames.joined(separator: ", "))")
        }
        let tok = source.hasSuffix(".gguf") ? try BPETokenizer(gguf: try GGUFFile(path: source)) : try BPETokenizer.load(folder: source)
        if preset.hasPrefix("tiny") { c.vocabSize = tok.count }
        guard tok.count <= c.vocabSize else {
            throw ModelFileError.io(file: source, problem: "the tokenizer has \(tok.count) tokens, more than \(preset)'s vocabulary of \(c.vocabSize)")
        }
        let params = LlamaParameters(config: c)
        var g = SplitMix64(seed: seed)
        params.initializeRandomly(using: &g)
        try LlamaCheckpoint.save(params, to: output, files: [("tokenizer.json", tok.tokenizerJSON())])
        return "wrote \(output)/: random \(c.modelType) \(preset) (seed \(seed)), \(c.numHiddenLayers) layers, width \(c.hiddenSize), "
            + "\(groupedDigits(params.count)) parameters, tokenizer from \(source)"
    }

    static func check(_ tok: BPETokenizer, _ c: LlamaConfig, source: String) throws {
        guard tok.count <= c.vocabSize else {
            throw ModelFileError.io(file: source, problem: "the tokenizer has \(tok.count) tokens, more than the model's vocab_size \(c.vocabSize)")
        }
    }

    static func summary(_ params: LlamaParameters, _ report: LlamaImportReport, _ tok: BPETokenizer, output: String, started: Date) -> [String] {
        let c = params.config
        return ["imported \(report.source) (\(report.sourceFormat), \(report.sourceTypes.joined(separator: "/"))): \(c.modelType)",
                "  layers \(c.numHiddenLayers), heads \(c.numAttentionHeads) (\(c.numKeyValueHeads) key/value), width \(c.hiddenSize), "
                    + "MLP \(c.intermediateSize), context \(c.maxPositionEmbeddings), vocabulary \(c.vocabSize), rope theta \(c.ropeTheta), "
                    + "\(c.tieWordEmbeddings ? "tied" : "untied") head, parameters \(groupedDigits(params.count))",
                "  tokenizer: \(tok.count) tokens, \(tok.specialTokens.count) special, pre-tokenizer \(tok.preTokenization.rawValue), end of text id \(tok.endOfTextId)",
                "  wrote \(output)/ (config.json, model.safetensors F32, tokenizer.json) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"]
    }
}
