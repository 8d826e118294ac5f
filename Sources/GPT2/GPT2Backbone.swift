@_exported import Backbone
import Tensor

/// GPT-2 behind the backbone seam: tied head, learned positions, dropout from its config.
extension GPT2Model: LanguageBackbone {
    public var architecture: String { "gpt2" }
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.nPositions }
    public var layerCount: Int { config.nLayer }
    public var tokenEmbeddings: UnsafeMutablePointer<Float> { params.tensor(.wte).baseAddress! }
    public var outputHead: UnsafePointer<Float> { UnsafePointer(params.tensor(.wte).baseAddress!) }

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
