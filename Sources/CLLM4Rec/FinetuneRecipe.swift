/// What `finetune` does by default for a backbone family: chosen on validation in the recipe study
/// (docs/quality-study.md; MovieLens-100K, shared split, seeds 98765), the paper's choices one flag
/// away. A family without a measurement keeps the paper's.
public struct FinetuneRecipe: Equatable, Sendable {
    public var headInput: HeadInputKind
    /// LoRA rank trained during finetuning (0: none), on the backbone's default projections.
    public var loraRank: Int
    /// Where the choice comes from, for the log line.
    public var basis: String

    /// The paper's: the raw final hidden state into the item head, the backbone frozen.
    public static let paper = FinetuneRecipe(headInput: .raw, loraRank: 0, basis: "the paper's recipe")

    /// The default for an architecture (`ArchitectureRegistry.modelTypes`).
    ///
    /// Llama family (SmolLM2-135M pretrained and its random twin, 4 epochs, validation Recall@20):
    /// standardized head input with a rank-8 adapter on q/v 0.267 and 0.273, against 0.214 and
    /// 0.257 for the paper's raw head without an adapter; standardization alone lowered the
    /// pretrained backbone to 0.192, LoRA alone lifted it to 0.220 only. GPT-2: not measured on
    /// the shared split, so the paper's.
    public static func measured(architecture: String) -> FinetuneRecipe {
        switch architecture {
        case "llama", "qwen2":
            return FinetuneRecipe(headInput: .standardized, loraRank: 8,
                                  basis: "the recipe measured for llama-family backbones (docs/what-the-llm-adds.md; the paper's: --head-input raw --lora-rank 0)")
        default:
            var p = paper
            p.basis = "the paper's recipe (none measured for \(architecture) backbones yet)"
            return p
        }
    }
}
