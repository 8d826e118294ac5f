import ArgumentParser
import CLLM4Rec

/// `cllm4rec pretrain`: mutually-regularized pretraining of the collaborative and content embeddings.
struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain the collaborative and content embeddings with mutual regularization.",
        discussion: """
            Schedule (docs/CLLM4REC.md §5): --warmup-epochs content-only epochs, then --rounds rounds of one \
            collaborative epoch (item head tied to the collaborative item embeddings) and one content epoch \
            (vocabulary head tied to GPT-2's wte; only in every --content-every-th round), each regularized toward the other copy with weight λ. The \
            backbone stays frozen; dropout is on. Adam (β 0.9/0.999, ε 1e-8) on the mean of --accumulate \
            micro-batches. Reference values: 10 warm-up epochs, 100 rounds, lr 1e-3, λ 1, batch 20 x 8. \
            The warm-up epochs have no mutual regularization. Each copy is kept at the epoch of its own \
            lowest objective (its mean LM loss plus its MR per micro-batch; warm-up epochs count for the \
            content copy), as the reference does. A checkpoint is written after every epoch and on \
            Ctrl-C; --resume continues exactly.
            """)

    @Argument(help: "Recommender folder (made by extend-vocab).")
    var recommender: String

    @Option(help: "Content-only epochs before the rounds.")
    var warmupEpochs: Int = TrainingOptions().warmupEpochs

    @Option(help: "Rounds of (collaborative epoch, content epoch); see --content-every.")
    var rounds: Int = TrainingOptions().rounds

    @Option(help: ArgumentHelp(
        "A content epoch in every K-th round (1: every round, the reference; 0: none).",
        discussion: "With a small λ the content copy barely steers the collaborative one, so K > 1 spends the time on the collaborative epochs; with 0 the content copy keeps its warm-up (or initial) rows. Measured on MovieLens-100K (λ 0.01): --rounds 6 --content-every 0 lifted a random SmolLM2-shaped backbone's test Recall@20 from 0.300 to 0.317 (docs/quality-study.md §3k)."))
    var contentEvery: Int = TrainingOptions().contentEvery

    @Option(name: .customLong("lr"), help: "Adam learning rate.")
    var learningRate: Float = TrainingOptions().learningRate

    @Option(help: ArgumentHelp(
        "What the collaborative item head sees: raw (the paper: h, the final hidden state) or standardized ((h - mean) / scale per channel).",
        discussion: "standardized measures each channel's mean and scale of h at the start of the run, on the first 64 collaborative documents of a plan (every row whose next item is predicted), and keeps them fixed; finetune then keeps the same standardization (the recommendation copy starts as the collaborative one). A pretrained LLM's h is dominated by a direction every prompt shares, and a raw item head learns mostly popularity from it. Measured on MovieLens-100K: it did not let the pretrained SmolLM2-135M learn the collaborative language model (its loss stays at the items' popularity entropy either way), and finetuning from it ended level (docs/quality-study.md §3k).",
        valueName: "raw|standardized"))
    var headInput: CollaborativeHeadInput = .raw

    /// The head inputs pretraining's collaborative head takes (whitened and learned are finetuning's).
    enum CollaborativeHeadInput: String, ExpressibleByArgument, CaseIterable {
        case raw, standardized
        var kind: HeadInputKind { self == .raw ? .raw : .standardized }
    }

    @OptionGroup var flags: TrainingFlags

    func validate() throws {
        try FlagRules.inRange(0...100_000, warmupEpochs, "--warmup-epochs")
        try FlagRules.inRange(0...100_000, rounds, "--rounds")
        try FlagRules.inRange(0...100_000, contentEvery, "--content-every")
        guard warmupEpochs + rounds > 0 else { throw ValidationError("--warmup-epochs and --rounds are both 0: nothing to train") }
        try FlagRules.positive(learningRate, "--lr")
    }

    func run() throws {
        var o = TrainingOptions()
        o.warmupEpochs = warmupEpochs; o.rounds = rounds; o.contentEvery = contentEvery; o.learningRate = learningRate
        o.headInput = headInput.kind
        flags.apply(to: &o)
        try runStage(.pretrain, path: recommender, options: o, flags: flags)
    }
}

/// `cllm4rec finetune`: the recommendation head, validated every epoch.
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Finetune the recommendation embeddings with the multinomial item head.",
        discussion: """
            The recommendation copy starts as the collaborative one. Each epoch: for every user, hide \
            max(1, floor(--mask-fraction x n)) random training items, put the rest (shuffled) in the prompt \
            `user_i has interacted with ..., user_i will interact with`, and predict the hidden items \
            (--target holdout, the paper) or all training items (--target all, the reference code) over all \
            items; then Recall@20/40 and NDCG@100 on the validation split; then one content epoch. \
            Reference: 150 epochs, lr 1e-4. Validation prompts keep one item order for the whole run. The \
            epoch with the best Recall@20 + Recall@40 + NDCG@100 is kept, with its content embeddings.
            """)

    @Argument(help: "Recommender folder (made by extend-vocab, usually pretrained).")
    var recommender: String

    @Option(help: "Epochs of (recommendation epoch + validation, content epoch).")
    var epochs: Int = TrainingOptions().epochs

    @Option(name: .customLong("lr"), help: "Adam learning rate.")
    var learningRate: Float = TrainingOptions.finetuneLearningRate

    @Option(help: "holdout: predict the hidden items (paper); all: every training item (reference code).")
    var target: TrainingOptions.Target = .holdout

    @Option(help: "Share of each user's training items hidden per epoch, in (0, 1) (at least one item is hidden).")
    var maskFraction: Double = TrainingOptions().maskFraction

    @Option(help: "Users scored per forward pass during validation.")
    var evaluationBatch: Int = TrainingOptions().evaluationBatch

    @Option(help: "A content epoch after every K-th recommendation epoch (1: every one, the reference; 0: none).")
    var contentEvery: Int = TrainingOptions().contentEvery

    @Option(help: "Validate after every K-th recommendation epoch (and after the last).")
    var validateEvery: Int = TrainingOptions().validateEvery

    @Option(help: ArgumentHelp(
        "What the item head sees: raw (the paper: h, the final hidden state), standardized ((h - mean) / scale per channel), whitened (standardized, then decorrelated) or learned (standardized, plus a trained low-rank correction). Default: raw, but standardized for a llama-family backbone (the measured recipe).",
        discussion: """
            standardized measures each channel's mean and scale of h on 256 training prompts at the start \
            of finetuning and keeps them fixed; they are stored with the recommendation embeddings and \
            used by validation, evaluate, fold-in, generate and serve alike. A pretrained LLM's h is \
            dominated by a direction all prompts share and a few outlier channels, which a raw head \
            learns as a popularity-like ranking (evaluate's popularity overlap and head-input rank show it). \
            Measured on MovieLens-100K with SmolLM2-135M (docs/what-the-llm-adds.md): standardized with \
            --lora-rank 8 beat raw on validation, on the pretrained backbone and on its random twin; \
            standardized alone did not. So finetuning a llama-family backbone defaults to both (the \
            log says so); --head-input raw --lora-rank 0 is the paper's recipe. whitened also multiplies \
            the standardized h by W = (0.9 R + 0.1 I)^(-1/2), R the channels' correlation matrix over up to \
            2048 training prompts, so that every direction in which users differ counts, not only every \
            channel (stored as head_input.whitening, [width, width]). learned adds z + U (D z) to the \
            standardized z, D [32, width] and U [width, 32] trained with the item rows (U starts at zero; \
            stored as head_input.down and head_input.up, the best validated epoch's).
            """))
    var headInput: HeadInputKind?

    @Option(help: "With --resume: continue the run in this folder, finished or stopped, up to this many epochs in all, its other options unchanged (the result equals a run started with --epochs N).")
    var extendTo: Int?

    @OptionGroup var flags: TrainingFlags

    func validate() throws {
        try FlagRules.inRange(1...100_000, epochs, "--epochs")
        if let extendTo {
            try FlagRules.inRange(1...100_000, extendTo, "--extend-to")
            guard flags.resume else { throw ValidationError("--extend-to continues a run: give --resume too") }
        }
        try FlagRules.positive(learningRate, "--lr")
        try FlagRules.between(maskFraction, 0, 1, "--mask-fraction")
        try FlagRules.inRange(1...100_000, evaluationBatch, "--evaluation-batch")
        try FlagRules.inRange(0...100_000, contentEvery, "--content-every")
        try FlagRules.inRange(1...100_000, validateEvery, "--validate-every")
    }

    func run() throws {
        var o = TrainingOptions()
        o.epochs = epochs; o.learningRate = learningRate; o.maskFraction = maskFraction; o.evaluationBatch = evaluationBatch
        o.contentEvery = contentEvery; o.validateEvery = validateEvery
        o.target = target
        if let headInput { o.headInput = headInput }
        flags.apply(to: &o)
        try runStage(.finetune, path: recommender, options: o, flags: flags, extendTo: extendTo, open: OpenChoices(headInput: headInput, loraRank: flags.loraRank))
    }
}
