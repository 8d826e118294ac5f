import Backbone
import Tensor

/// The Llama family behind the backbone seam.
extension LlamaModel: LanguageBackbone {
    public var shape: BackboneShape { config.shape }
    public var layerCount: Int { config.numHiddenLayers }
    /// A tied head's gradient is the token table's.
    public var tokenTables: TokenTables {
        TokenTables(embeddings: params.tensor(.embed).baseAddress!, head: UnsafePointer(params.tensor(.head).baseAddress!),
                    embeddingGradient: weightGradients?.gradient(.embed),
                    headGradient: weightGradients?.gradient(config.tieWordEmbeddings ? .embed : .head))
    }

    public var adapter: LowRankAdapter? {
        get { lora }
        set { lora = newValue }
    }
    public var adapterModules: [AdapterModule] { LlamaModel.adapterModules(config) }
    /// PEFT's default for the Llama family.
    public var defaultAdapterTargets: [String] { ["q_proj", "v_proj"] }

    public func makeAdapter(rank: Int, alpha: Float, dropout: Float, targets: [String]) throws -> LowRankAdapter {
        guard let a = newAdapter(rank: rank, alpha: alpha, dropout: dropout, targets: targets) else {
            let all = LlamaModel.adapterModules(config)
            let bad = targets.first { t in !all.contains { $0.name == t || $0.name.hasSuffix("." + t) } } ?? targets.joined(separator: ",")
            throw BackboneError.unknownAdapterTarget(name: bad, architecture: config.modelType, available: all.map { String($0.name.split(separator: ".").last!) })
        }
        return a
    }

    public func loadAdapter(path: String) throws -> LowRankAdapter {
        try LowRankAdapter.load(path: path, available: LlamaModel.adapterModules(config), layers: config.numHiddenLayers, prefix: LlamaModel.adapterPrefix)
    }

    public func forwardFLOPs(sequenceLength t: Int, head: Bool) -> Double {
        let C = Double(config.hiddenSize), F = Double(config.intermediateSize), Q = Double(config.queryWidth)
        let K = Double(config.keyValueWidth), L = Double(config.numHiddenLayers)
        let dense = 2 * L * (C * Q + 2 * C * K + Q * C + 3 * C * F)
        let attention = 2 * 2 * L * Q * Double(t) / 2
        return dense + attention + (head ? 2 * C * Double(config.vocabSize) : 0)
    }

    /// A decoding step's logits from the quantized head when kept, else the F32 head's.
    public func logits(hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        guard decoding, let quantized, rows <= LlamaModel.quantizedRows, quantized.matrix(.head, layer: 0) != nil else {
            return outputLogits(hidden: hidden, rows: rows, into: out)
        }
        for r in 0..<rows {
            _ = quantized.multiply(.head, layer: 0, config: config, x: QuantizedVector(hidden + r * config.hiddenSize, count: config.hiddenSize),
                                   into: out + r * config.vocabSize)
        }
    }

    public func makeCache(slots: Int, maxLength: Int) -> KVCache {
        KVCache(layers: config.numHiddenLayers, width: config.keyValueWidth, slots: slots, maxLength: min(maxLength, config.maxPositionEmbeddings))
    }
}

extension LlamaModel {
    /// W [out, in] += (alpha / r) · B A for every adapted projection of `adapter` (made or loaded
    /// by this model): the merged weights compute what base + adapter computed, without the adapter.
    public func merge(_ adapter: LowRankAdapter) {
        let tensors: [String: LlamaTensor] = ["self_attn.q_proj": .q, "self_attn.k_proj": .k, "self_attn.v_proj": .v, "self_attn.o_proj": .o,
                                              "mlp.gate_proj": .gate, "mlp.up_proj": .up, "mlp.down_proj": .down]
        for (k, m) in adapter.modules.enumerated() {
            let t = tensors[m.name]!
            for l in 0..<config.numHiddenLayers {
                BLAS.gemm(m: m.out, n: m.inp, k: adapter.rank, alpha: adapter.scaling, a: adapter.b(k, l), lda: adapter.rank,
                          b: adapter.a(k, l), ldb: m.inp, beta: 1, c: params.tensor(t, layer: l).baseAddress!, ldc: m.inp)
            }
        }
    }
}
