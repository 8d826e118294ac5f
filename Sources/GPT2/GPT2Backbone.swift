import Backbone
import Tensor

/// GPT-2 behind the backbone seam: tied head, learned positions, dropout from its config.
extension GPT2Model: LanguageBackbone {
    public var shape: BackboneShape { config.shape }
    public var layerCount: Int { config.nLayer }
    /// The head is tied to wte: both halves of its gradient go to wte's.
    public var tokenTables: TokenTables {
        let wte = params.tensor(.wte).baseAddress!, gradient = weightGradients?.gradient(.wte)
        return TokenTables(embeddings: wte, head: UnsafePointer(wte), embeddingGradient: gradient, headGradient: gradient)
    }

    public var adapter: LowRankAdapter? {
        get { lora }
        set {
            precondition(newValue == nil || newValue is LoRA, "a GPT-2 adapter comes from makeAdapter or loadAdapter")
            lora = newValue as? LoRA
        }
    }
    public var adapterModules: [AdapterModule] { LoRA.modules(config) }
    public var defaultAdapterTargets: [String] { ["c_attn"] }

    /// Targets as `--lora-targets` spells them: c_attn, attn.c_proj, c_fc, mlp.c_proj, c_proj (both projections).
    public func makeAdapter(rank: Int, alpha: Float, dropout: Float, targets: [String]) throws -> LowRankAdapter {
        var chosen: [LoRATarget] = []
        for t in targets {
            guard let ts = LoRATarget.parse(t) else {
                throw BackboneError.unknownAdapterTarget(name: t, architecture: "gpt2", available: ["c_attn", "attn.c_proj", "c_fc", "mlp.c_proj", "c_proj"])
            }
            chosen += ts
        }
        return LoRA(config: config, rank: rank, alpha: alpha, dropout: dropout, targets: chosen)
    }

    public func loadAdapter(path: String) throws -> LowRankAdapter { try LoRA.load(path: path, config: config) }

    public func forwardFLOPs(sequenceLength t: Int, head: Bool) -> Double {
        let C = Double(config.nEmbd), F = Double(config.innerSize), L = Double(config.nLayer)
        let dense = 2 * L * (3 * C * C + C * C + 2 * C * F)
        let attention = 2 * 2 * L * C * Double(t) / 2
        return dense + attention + (head ? 2 * C * Double(config.vocabSize) : 0)
    }

    public func makeCache(slots: Int, maxLength: Int) -> KVCache {
        KVCache(layers: config.nLayer, width: config.nEmbd, slots: slots, maxLength: min(maxLength, config.nPositions))
    }
}

extension KVCache {
    /// A cache for GPT-2 (`maxLength` capped at n_positions).
    public convenience init(config: GPT2Config, slots: Int, maxLength: Int) {
        self.init(layers: config.nLayer, width: config.nEmbd, slots: slots, maxLength: min(maxLength, config.nPositions))
    }
}
