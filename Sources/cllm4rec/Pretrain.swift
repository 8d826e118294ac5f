import ArgumentParser
import CLLM4Rec

/// `cllm4rec pretrain`: mutually-regularized pretraining of the collaborative and content embeddings.
struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain the collaborative and content embeddings with mutual regularization.",
        discussion: """
            Schedule (docs/CLLM4REC.md §5): --warmup-epochs content-only epochs, then --rounds rounds of one \
            collaborative epoch (item head tied to the collaborative item embeddings) and one content epoch \
            (vocabulary head tied to GPT-2's wte), each regularized toward the other copy with weight λ. The \
            backbone stays frozen; dropout is on. Adam (β 0.9/0.999, ε 1e-8) on the mean of --accumulate \
            micro-batches. Reference values: 10 warm-up epochs, 100 rounds, lr 1e-3, λ 1, batch 20 x 8. \
            The embeddings of the round with the lowest training loss are kept. A checkpoint is written \
            after every epoch and on Ctrl-C; --resume continues exactly.
            """)

    @Argument(help: "Recommender folder (made by extend-vocab).")
    var recommender: String

    @Option(help: "Content-only epochs before the rounds.")
    var warmupEpochs: Int = 10

    @Option(help: "Rounds of (collaborative epoch, content epoch).")
    var rounds: Int = 100

    @Option(name: .customLong("lr"), help: "Adam learning rate.")
    var learningRate: Float = 1e-3

    @OptionGroup var flags: TrainingFlags

    func run() throws {
        var o = TrainingOptions()
        o.warmupEpochs = warmupEpochs; o.rounds = rounds; o.learningRate = learningRate
        try flags.apply(to: &o)
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
            Reference: 150 epochs, lr 1e-4. The epoch with the best Recall@20 + Recall@40 + NDCG@100 is kept.
            """)

    @Argument(help: "Recommender folder (made by extend-vocab, usually pretrained).")
    var recommender: String

    @Option(help: "Epochs of (recommendation epoch + validation, content epoch).")
    var epochs: Int = 150

    @Option(name: .customLong("lr"), help: "Adam learning rate.")
    var learningRate: Float = 1e-4

    @Option(help: "holdout: predict the hidden items (paper); all: every training item (reference code).")
    var target: String = "holdout"

    @Option(help: "Share of each user's training items hidden per epoch.")
    var maskFraction: Double = 0.2

    @Option(help: "Users scored per forward pass during validation.")
    var evaluationBatch: Int = 32

    @Option(help: "A content epoch after every K-th recommendation epoch (1: every one, the reference; 0: none).")
    var contentEvery: Int = 1

    @Option(help: "Validate after every K-th recommendation epoch (and after the last).")
    var validateEvery: Int = 1

    @OptionGroup var flags: TrainingFlags

    func run() throws {
        var o = TrainingOptions()
        o.epochs = epochs; o.learningRate = learningRate; o.maskFraction = maskFraction; o.evaluationBatch = evaluationBatch
        guard contentEvery >= 0, validateEvery >= 1 else { throw ValidationError("--content-every must be >= 0 and --validate-every >= 1") }
        o.contentEvery = contentEvery; o.validateEvery = validateEvery
        guard let t = TrainingOptions.Target(rawValue: target) else { throw ValidationError("--target must be holdout or all") }
        o.target = t
        try flags.apply(to: &o)
        try runStage(.finetune, path: recommender, options: o, flags: flags)
    }
}
