import Backbone
import Foundation
import Tensor
import Tokenizer
import WeightIO

/// GPT-2 in the architecture registry: config.json `model_type` "gpt2" (or none, as its oldest
/// configs), Hugging Face folders or bare `pytorch_model.bin` / `model.safetensors` files, the
/// published shapes, LoRA on Conv1D projections.
extension GPT2Model {
    public static let registryEntry = Architecture(
        modelType: "gpt2",
        shape: { path in try GPT2Config.load(path: path).shape },
        load: { folder in
            let (params, _) = try GPT2Checkpoint.load(path: folder)
            return (GPT2Model(params: params), try BPETokenizer.load(folder: folder))
        },
        adapterTargetNames: ["c_attn", "attn.c_attn", "attn.c_proj", "c_fc", "mlp.c_fc", "mlp.c_proj", "c_proj"],
        presets: ["small", "medium", "large", "xl", "distil", "tiny"],
        initRandom: { preset, seed, tokenizer, output in try initRandom(preset: preset, seed: seed, tokenizer: tokenizer, output: output) },
        importFolder: { source, output, tokenizer in try importModel(source: source, output: output, tokenizer: tokenizer) },
        importsBareWeightFiles: true,
        mergeAdapter: { model, adapter, output in
            let (params, _) = try GPT2Checkpoint.load(path: model)
            let lora = try LoRA.load(path: adapter, config: params.config)
            lora.merge(into: params)
            try GPT2Checkpoint.save(params, to: output, vocabPath: model + "/vocab.json", mergesPath: model + "/merges.txt")
            return "merged \(adapter) (rank \(lora.rank), alpha \(lora.alpha), \(lora.targets.map(\.rawValue).joined(separator: ", "))) into \(output)/"
        })

    /// A random GPT-2 of a published shape (Hugging Face's initialisation, seeded), GPT-2's
    /// tokenizer files copied from `tokenizer` (a folder with vocab.json and merges.txt).
    public static func initRandom(preset: String, seed: UInt64, tokenizer: String, output: String) throws -> String {
        guard let c = GPT2Config.preset(preset) else {
            throw ModelFileError.invalidConfig(architecture: GPT2Config.displayName, problem: "unknown GPT-2 shape \"\(preset)\"; choose \(registryEntry.presets.joined(separator: ", "))")
        }
        let params = GPT2Parameters(config: c)
        var g = SplitMix64(seed: seed)
        params.initializeRandomly(using: &g)
        try GPT2Checkpoint.save(params, to: output, vocabPath: tokenizer + "/vocab.json", mergesPath: tokenizer + "/merges.txt")
        return "wrote \(output)/: random GPT-2 \(preset) (seed \(seed)), \(c.nLayer) layers, width \(c.nEmbd), \(groupedDigits(params.count)) parameters"
    }

    /// Any published GPT-2 checkpoint (a Hugging Face folder or a bare weights file) into a clean
    /// model folder; the tokenizer files from the folder, else from `tokenizer`. `configPath`: a
    /// config.json to use instead of the folder's own or the shapes.
    public static func importModel(source: String, output: String, tokenizer: String, configPath: String? = nil) throws -> [String] {
        let started = Date()
        let (params, report) = try GPT2Checkpoint.load(path: source, configPath: configPath)
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: source, isDirectory: &isDir)
        let tokDir = isDir.boolValue && FileManager.default.fileExists(atPath: source + "/vocab.json")
            && FileManager.default.fileExists(atPath: source + "/merges.txt") ? source : tokenizer
        for f in ["vocab.json", "merges.txt"] where !FileManager.default.fileExists(atPath: tokDir + "/" + f) {
            throw ModelFileError.io(file: tokDir + "/" + f, problem: "not found: pass --tokenizer DIR with vocab.json and merges.txt")
        }
        try GPT2Checkpoint.save(params, to: output, vocabPath: tokDir + "/vocab.json", mergesPath: tokDir + "/merges.txt")
        let c = params.config
        var lines = ["imported \(report.weightsPath) (\(report.sourceFormat), \(report.sourceDTypes.joined(separator: "/")); config from \(report.configSource))",
                     "  layers \(c.nLayer), heads \(c.nHead), width \(c.nEmbd), context \(c.nPositions), vocabulary \(c.vocabSize), parameters \(groupedDigits(params.count))"]
        if !report.droppedBuffers.isEmpty {
            lines.append("  dropped \(report.droppedBuffers.count) attention-mask buffers (h.N.attn.bias / masked_bias): constants, not weights")
        }
        if report.hadTiedHead { lines.append("  lm_head.weight checked equal to wte.weight (tied)") }
        lines.append("  wrote \(output)/ (config.json, model.safetensors F32, vocab.json, merges.txt; tokenizer from \(tokDir)) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        return lines
    }
}
