import ArgumentParser
import Architectures
import CLLM4Rec
import Foundation
import Backbone
import RecData
import Tensor
import Tokenizer

/// Flags shared by pretrain and finetune.
struct TrainingFlags: ParsableArguments {
    @Option(help: "Mutual-regularization weight λ >= 0 (reference: 1; 0 turns it off).")
    var lambda: Float = TrainingOptions().lambda

    @Option(help: "Documents per micro-batch (reference: 20 per GPU).")
    var batch: Int = TrainingOptions().batch

    @Option(help: "Micro-batches per Adam step (reference: 8 GPUs, so an effective batch of 160).")
    var accumulate: Int = TrainingOptions().accumulate

    @Option(help: "Cut each content document's main text to a random window of N tokens (the authors suggest ~128 for reviews).")
    var maxMainTokens: Int?

    @Option(help: "Random seed (shuffles, masks, dropout).")
    var seed: UInt64 = 98765

    @Option(help: "Collaborative documents' item order: shuffle (paper: stochastic item reordering) or fixed (reference code: ascending).")
    var itemOrder: TrainingOptions.ItemOrder = .shuffle

    @Flag(help: "Do not predict the first main token from the prompt (the reference code's behaviour; the paper predicts it).")
    var skipFirstMain = false

    @Flag(help: "Turn GPT-2's dropout off during training (the reference keeps it on).")
    var noDropout = false

    @Option(help: ArgumentHelp(
        "LoRA rank on the backbone (0: no adapter is trained, the reference). Default: 0, but 8 for finetuning a llama-family backbone (the measured recipe).",
        discussion: """
            With --lora-rank R > 0 a new adapter is trained and written to adapter/, or the folder's \
            adapter/ (which must have rank R) goes on training, with the alpha, dropout and targets it \
            was made with. With --lora-rank 0 an existing adapter/ is applied but stays frozen: not \
            trained, not rewritten. Not given: pretrain trains none; finetune follows the backbone \
            family's recipe (llama, qwen2: rank 8 on q_proj/v_proj, an existing adapter/ goes on \
            training at its own rank; gpt2: none, an existing adapter/ stays frozen).
            """))
    var loraRank: Int?

    @Option(help: "LoRA alpha (> 0) of a new adapter.")
    var loraAlpha: Float = TrainingOptions().loraAlpha

    @Option(help: "LoRA dropout of a new adapter, in [0, 1).")
    var loraDropout: Float = TrainingOptions().loraDropout

    @Option(help: "Adam learning rate of the LoRA adapter (> 0; default: --lr, as the reference).")
    var adapterLr: Float?

    @Option(help: ArgumentHelp(
        "LoRA projections, comma-separated (default: the backbone's, c_attn for GPT-2 and q_proj,v_proj for the Llama family).",
        discussion: "GPT-2: c_attn, attn.c_proj, c_fc, mlp.c_proj (c_proj: both projections). Llama, Qwen2: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj."))
    var loraTargets: String = ""

    @Flag(help: "Continue the run stopped in this folder (same options, same result as an uninterrupted run).")
    var resume = false

    @Flag(help: "Under mpirun: check after every epoch that all processes hold the same parameters (a hash each; stops the job if not).")
    var checkSync = false

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        try FlagRules.nonNegative(lambda, "--lambda")
        try FlagRules.inRange(1...100_000, batch, "--batch")
        try FlagRules.inRange(1...100_000, accumulate, "--accumulate")
        try FlagRules.atLeast(1, maxMainTokens, "--max-main-tokens")
        if let loraRank { try FlagRules.inRange(0...4096, loraRank, "--lora-rank") }
        try FlagRules.positive(loraAlpha, "--lora-alpha")
        try FlagRules.between(loraDropout, 0, 1, "--lora-dropout", includingLower: true)
        if let adapterLr { try FlagRules.positive(adapterLr, "--adapter-lr") }
        let targets = loraTargets.isEmpty ? [] : loraTargets.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for t in targets where !ArchitectureRegistry.adapterTargetNames.contains(t) {
            throw ValidationError("--lora-targets: unknown projection \"\(t)\" (known: \(ArchitectureRegistry.adapterTargetNames.joined(separator: ", ")); each backbone takes its own)")
        }
    }

    func apply(to o: inout TrainingOptions) {
        o.lambda = lambda; o.batch = batch; o.accumulate = accumulate; o.maxMainTokens = maxMainTokens; o.seed = seed
        o.itemOrder = itemOrder; o.predictFirstMain = !skipFirstMain; o.dropout = !noDropout
        o.loraRank = loraRank ?? 0; o.loraAlpha = loraAlpha; o.loraDropout = loraDropout; o.adapterLearningRate = adapterLr
        o.loraTargets = loraTargets.split(separator: ",").map(String.init)
    }
}

/// Runs a stage with its trainer, reporting how it ended; under mpirun, on every process.
func runStage(_ stage: Stage, path: String, options: TrainingOptions, flags: TrainingFlags, extendTo: Int? = nil, open: OpenChoices? = nil) throws {
    try flags.engine.apply()
    try Processes.run { try runStage(stage, path: path, options: options, flags: flags, extendTo: extendTo, open: open, processes: $0) }
}

func runStage(_ stage: Stage, path: String, options: TrainingOptions, flags: TrainingFlags, extendTo: Int? = nil, open: OpenChoices? = nil,
              processes: any Collective) throws {
    let rec = try LoadedRecommender(path: path, applyAdapter: false)
    let folder = rec.folder
    let setup = try rec.prepareStage(stage, options: options, resume: flags.resume,
                                     open: open, extendTo: extendTo)
    for note in setup.notes { print(note) }
    let effective = setup.options
    let trainer = try Trainer(stage: stage, options: effective, model: rec.model, corpora: rec.corpora, dataset: rec.dataset,
                              folder: folder, resume: flags.resume, extendTo: extendTo)
    trainer.collective = processes
    trainer.checkParameterSync = flags.checkSync
    if processes.isDistributed {
        print("\(processes.size) processes (mpirun): each optimizer step takes \(processes.size) x \(effective.accumulate) micro-batches, gradients summed with MPI_Allreduce")
    }
    print("\(stage.rawValue): \(rec.dataset.users.count) users, \(rec.dataset.items.count) items, backbone \(folder.backbonePath(rec.manifest)) (\(rec.model.backbone.architecture), \(rec.model.backbone.layerCount) layers), \(flags.engine.threads) threads, products on \(ProductLibrary.shared.shortName)" + (flags.resume ? ", resuming" : ""))
    if let advice = ProductLibrary.shared.advice { print(advice) }
    switch try trainer.run() {
    case .finished: print("\(stage.rawValue) finished: \(path)/embeddings.safetensors, training-\(stage.rawValue).json, metrics.jsonl")
    case .interrupted:
        print("\(stage.rawValue) interrupted: checkpoint saved in \(path)/checkpoint-\(stage.rawValue); continue with `cllm4rec \(stage.rawValue) \(path) --resume`")
        throw ExitCode(130)
    }
}

extension TrainingOptions.ItemOrder: ExpressibleByArgument {}
extension TrainingOptions.Target: ExpressibleByArgument {}
extension HeadInputKind: ExpressibleByArgument {}
