/// Hyper-parameters of pretraining and finetuning. Defaults are the reference values
/// (docs/CLLM4REC.md §5); every paper-vs-code choice is a field with the paper's choice as default.
public struct TrainingOptions: Codable, Sendable, Equatable {
    public enum ItemOrder: String, Codable, Sendable, CaseIterable { case shuffle, fixed }
    public enum Target: String, Codable, Sendable, CaseIterable { case holdout, all }

    public var learningRate: Float = 1e-3
    public var batch = 20
    public var accumulate = 8
    public var lambda: Float = 1
    public var seed: UInt64 = 98765
    /// Main texts of content documents longer than this are cut to a random window of it (nil: whole).
    public var maxMainTokens: Int? = nil
    /// Order of the items in a collaborative document: shuffled every time (paper) or ascending (code).
    public var itemOrder: ItemOrder = .shuffle
    /// Predict the first main token from the prompt (paper) or start at the second (code).
    public var predictFirstMain = true
    public var dropout = true
    // pretraining
    public var warmupEpochs = 10
    public var rounds = 100
    // finetuning
    public var epochs = 150
    public var target: Target = .holdout
    public var maskFraction: Double = 0.2
    public var evaluationBatch = 32
    /// A content epoch after every k-th recommendation epoch (finetuning) or in every k-th round
    /// (pretraining); 1: every one, the reference; 0: none.
    public var contentEvery = 1
    /// Finetuning: validate after every k-th recommendation epoch (and always after the last).
    public var validateEvery = 1
    // LoRA on the backbone (0: off)
    public var loraRank = 0
    public var loraAlpha: Float = 16
    public var loraDropout: Float = 0.05
    /// Empty: the backbone's default projections.
    public var loraTargets: [String] = []
    /// Adam learning rate of the adapter; nil: `learningRate` (one rate for rows and adapter, as the reference).
    public var adapterLearningRate: Float? = nil
    /// What the item head sees (`HeadInputKind`): the recommendation head's in finetuning, the
    /// collaborative head's in pretraining (raw or standardized there); nil in checkpoints written
    /// before the option existed, which were raw.
    var headInputChoice: HeadInputKind? = nil
    public var headInput: HeadInputKind {
        get { headInputChoice ?? .raw }
        set { headInputChoice = newValue }
    }
    /// Finetuning: training prompts the head-input standardization is measured on (the first of one
    /// epoch's plan; 256 give each channel's mean to about 1/16 of its spread). A constant, not a
    /// field: a field would be a key that checkpoints written before it lack.
    public static let headInputPrompts = 256
    /// Finetuning: training prompts a whitened head input's correlation matrix is measured on (up
    /// to; fewer when an epoch has fewer). More than a wide backbone's channels (576 for SmolLM2),
    /// so the matrix is estimated, not only its top directions.
    public static let whiteningPrompts = 2048
    /// Pretraining: collaborative documents the collaborative head's standardization is measured on
    /// (every row whose next item is predicted: about 47 per MovieLens-100K user, so ~3,000 rows).
    public static let headInputDocuments = 64

    /// Finetuning's learning rate when none is given: the reference code's 1e-4 (pretraining keeps
    /// `learningRate`'s 1e-3).
    public static let finetuneLearningRate: Float = 1e-4

    public init() {}
}
