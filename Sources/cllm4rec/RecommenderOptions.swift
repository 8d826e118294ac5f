import ArgumentParser
import CLLM4Rec
import Foundation
import GPT2
import RecData
import Tensor
import Tokenizer

/// A recommender folder with everything loaded: backbone, embeddings, dataset, corpora, tokenizer.
struct LoadedRecommender {
    let folder: RecommenderFolder
    let manifest: RecommenderManifest
    let model: RecModel
    let dataset: PreparedDataset
    let corpora: Corpora
    let tokenizer: IDTokenizer

    init(path: String, applyAdapter: Bool = true) throws {
        folder = RecommenderFolder(path)
        manifest = try folder.manifest()
        let backbonePath = folder.backbonePath(manifest)
        let (params, _) = try GPT2Checkpoint.load(path: backbonePath)
        guard params.config.nEmbd == manifest.width else {
            throw CLIError("\(backbonePath): width \(params.config.nEmbd) differs from the recommender's \(manifest.width)")
        }
        let backbone = GPT2Model(params: params)
        if applyAdapter, FileManager.default.fileExists(atPath: folder.file("adapter/adapter_model.safetensors")) {
            backbone.lora = try LoRA.load(path: folder.file("adapter"), config: params.config)
        }
        let embeddings = try IDEmbeddings.load(path: folder.file("embeddings.safetensors"), users: manifest.users, items: manifest.items,
                                               width: manifest.width)
        model = RecModel(backbone: backbone, embeddings: embeddings)
        (dataset, _, corpora) = try PreparedDataset.load(from: path)
        guard dataset.users.count == manifest.users, dataset.items.count == manifest.items else {
            throw CLIError("\(path): recommender.json and ids.json disagree on the number of users or items")
        }
        let base = try GPT2Tokenizer(vocabPath: backbonePath + "/vocab.json", mergesPath: backbonePath + "/merges.txt")
        tokenizer = IDTokenizer(base: base, users: manifest.users, items: manifest.items)
    }

    /// Index of an external user id.
    func user(_ id: String) throws -> Int {
        guard let u = dataset.users.firstIndex(exactly: id) else { throw CLIError("unknown user \"\(id)\" (ids as in the dataset, e.g. \"\(dataset.users[0])\")") }
        return u
    }

    func item(_ id: String) throws -> Int {
        guard let j = dataset.items.firstIndex(exactly: id) else { throw CLIError("unknown item \"\(id)\" (ids as in the dataset, e.g. \"\(dataset.items[0])\")") }
        return j
    }

    func title(_ j: Int) -> String {
        let t = dataset.itemText[j] ?? ""
        return t.count > 70 ? String(t.prefix(67)) + "..." : t
    }
}

/// Flags shared by pretrain and finetune.
struct TrainingFlags: ParsableArguments {
    @Option(help: "Mutual-regularization weight λ (reference: 1).")
    var lambda: Float = 1

    @Option(help: "Documents per micro-batch (reference: 20 per GPU).")
    var batch: Int = 20

    @Option(help: "Micro-batches per Adam step (reference: 8 GPUs, so an effective batch of 160).")
    var accumulate: Int = 8

    @Option(help: "Cut each content document's main text to a random window of N tokens (the authors suggest ~128 for reviews).")
    var maxMainTokens: Int?

    @Option(help: "Random seed (shuffles, masks, dropout).")
    var seed: UInt64 = 98765

    @Option(help: "Collaborative documents' item order: shuffle (paper: stochastic item reordering) or fixed (reference code: ascending).")
    var itemOrder: String = "shuffle"

    @Flag(help: "Do not predict the first main token from the prompt (the reference code's behaviour; the paper predicts it).")
    var skipFirstMain = false

    @Flag(help: "Turn GPT-2's dropout off during training (the reference keeps it on).")
    var noDropout = false

    @Option(help: "LoRA rank on the backbone (0: off, the reference). An existing adapter/ is continued.")
    var loraRank: Int = 0

    @Option(help: "LoRA alpha.")
    var loraAlpha: Float = 16

    @Option(help: "LoRA dropout.")
    var loraDropout: Float = 0.05

    @Option(help: "LoRA projections, comma-separated: c_attn, attn.c_proj, c_fc, mlp.c_proj (c_proj: both projections).")
    var loraTargets: String = "c_attn"

    @Flag(help: "Continue the run stopped in this folder (same options, same result as an uninterrupted run).")
    var resume = false

    @OptionGroup var engine: EngineOptions

    func apply(to o: inout TrainingOptions) throws {
        guard batch > 0, accumulate > 0 else { throw ValidationError("--batch and --accumulate must be positive") }
        guard let order = TrainingOptions.ItemOrder(rawValue: itemOrder) else { throw ValidationError("--item-order must be shuffle or fixed") }
        o.lambda = lambda; o.batch = batch; o.accumulate = accumulate; o.maxMainTokens = maxMainTokens; o.seed = seed
        o.itemOrder = order; o.predictFirstMain = !skipFirstMain; o.dropout = !noDropout
        o.loraRank = loraRank; o.loraAlpha = loraAlpha; o.loraDropout = loraDropout
        o.loraTargets = loraTargets.split(separator: ",").map(String.init)
        for t in o.loraTargets where LoRATarget.parse(t) == nil { throw ValidationError("unknown LoRA target \"\(t)\"") }
    }
}

/// Runs a stage with its trainer, reporting how it ended.
func runStage(_ stage: Stage, path: String, options: TrainingOptions, flags: TrainingFlags) throws {
    try flags.engine.apply()
    let rec = try LoadedRecommender(path: path, applyAdapter: false)
    let folder = rec.folder
    let effective = flags.resume ? (Trainer.savedOptions(folder: folder, stage: stage) ?? options) : options
    if flags.resume && Trainer.savedOptions(folder: folder, stage: stage) == nil {
        throw CLIError("\(path): no \(stage.rawValue) checkpoint to resume from")
    }
    if effective.loraRank > 0 {
        let config = rec.model.backbone.config
        if FileManager.default.fileExists(atPath: folder.file("adapter/adapter_model.safetensors")) {
            rec.model.backbone.lora = try LoRA.load(path: folder.file("adapter"), config: config)
        } else {
            let lora = LoRA(config: config, rank: effective.loraRank, alpha: effective.loraAlpha, dropout: effective.loraDropout,
                            targets: effective.loraTargets.flatMap { LoRATarget.parse($0) ?? [] })
            var g = SplitMix64(seed: effective.seed)
            lora.initialize(using: &g)
            rec.model.backbone.lora = lora
        }
    } else if FileManager.default.fileExists(atPath: folder.file("adapter/adapter_model.safetensors")) {
        rec.model.backbone.lora = try LoRA.load(path: folder.file("adapter"), config: rec.model.backbone.config)  // frozen
    }
    let trainer = try Trainer(stage: stage, options: effective, model: rec.model, corpora: rec.corpora, dataset: rec.dataset,
                              folder: folder, resume: flags.resume)
    print("\(stage.rawValue): \(rec.dataset.users.count) users, \(rec.dataset.items.count) items, backbone \(folder.backbonePath(rec.manifest)) (\(rec.model.backbone.config.nLayer) layers), \(flags.engine.threads) threads, OpenBLAS kernels \(OpenBLAS.shared.coreName)" + (flags.resume ? ", resuming" : ""))
    switch try trainer.run() {
    case .finished: print("\(stage.rawValue) finished: \(path)/embeddings.safetensors, training-\(stage.rawValue).json, metrics.jsonl")
    case .interrupted:
        print("\(stage.rawValue) interrupted: checkpoint saved in \(path)/checkpoint-\(stage.rawValue); continue with `cllm4rec \(stage.rawValue) \(path) --resume`")
        throw ExitCode(130)
    }
}
