import Backbone
import Foundation

/// Hyper-parameters of the Llama family (Llama 2/3, SmolLM, TinyLlama, Qwen2), with Hugging Face's
/// `config.json` key names. Qwen2 is Llama with biases on q, k and v (`model_type` "qwen2").
public struct LlamaConfig: Codable, Equatable, Sendable, CheckedConfig {
    /// "llama" or "qwen2".
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    /// Width of one head; nil means hidden_size / num_attention_heads.
    public var headDim: Int?
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var tieWordEmbeddings: Bool
    /// Biases on q, k, v and o (Llama's `attention_bias`); Qwen2 has them on q, k, v only.
    public var attentionBias: Bool
    public var attentionDropout: Float
    public var hiddenAct: String
    public var initializerRange: Float
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type", vocabSize = "vocab_size", hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", numKeyValueHeads = "num_key_value_heads", headDim = "head_dim"
        case maxPositionEmbeddings = "max_position_embeddings", rmsNormEps = "rms_norm_eps", ropeTheta = "rope_theta"
        case tieWordEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias", attentionDropout = "attention_dropout"
        case hiddenAct = "hidden_act", initializerRange = "initializer_range", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case ropeScaling = "rope_scaling", mlpBias = "mlp_bias", ropeParameters = "rope_parameters"
    }

    public init(modelType: String = "llama", vocabSize: Int = 32000, hiddenSize: Int = 4096, intermediateSize: Int = 11008,
                numHiddenLayers: Int = 32, numAttentionHeads: Int = 32, numKeyValueHeads: Int? = nil, headDim: Int? = nil,
                maxPositionEmbeddings: Int = 2048, rmsNormEps: Float = 1e-6, ropeTheta: Float = 10000, tieWordEmbeddings: Bool = false,
                attentionBias: Bool = false, attentionDropout: Float = 0, hiddenAct: String = "silu", initializerRange: Float = 0.02,
                bosTokenId: Int? = 1, eosTokenId: Int? = 2) {
        self.modelType = modelType; self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers; self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads; self.headDim = headDim
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta
        self.tieWordEmbeddings = tieWordEmbeddings; self.attentionBias = attentionBias; self.attentionDropout = attentionDropout
        self.hiddenAct = hiddenAct; self.initializerRange = initializerRange; self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId
    }

    /// Missing keys take the defaults of transformers' `LlamaConfig` / `Qwen2Config`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llama"
        guard modelType == "llama" || modelType == "qwen2" else {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c, debugDescription: "model_type is \"\(modelType)\"; the Llama family here is \"llama\" and \"qwen2\"")
        }
        let qwen = modelType == "qwen2"
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? (qwen ? 151936 : 32000)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? 4096
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? (qwen ? 22016 : 11008)
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? 32
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? 32
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim)
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? (qwen ? 32768 : 2048)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        attentionDropout = try c.decodeIfPresent(Float.self, forKey: .attentionDropout) ?? 0
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "silu"
        initializerRange = try c.decodeIfPresent(Float.self, forKey: .initializerRange) ?? 0.02
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        eosTokenId = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId)
        // rope_theta moved into rope_parameters in transformers 5; older files have it at the top.
        var theta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta)
        if let p = try? c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters) {
            guard p.ropeType == nil || p.ropeType == "default" else {
                throw DecodingError.dataCorruptedError(forKey: .ropeParameters, in: c, debugDescription: "rope_type \"\(p.ropeType!)\" is not supported (only the default rotary embedding)")
            }
            theta = theta ?? p.ropeTheta
        }
        ropeTheta = theta ?? (qwen ? 1_000_000 : 10000)
        if let s = try? c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling), s.ropeType != nil, s.ropeType != "default" {
            throw DecodingError.dataCorruptedError(forKey: .ropeScaling, in: c, debugDescription: "rope_scaling \"\(s.ropeType!)\" is not supported (only the default rotary embedding)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw DecodingError.dataCorruptedError(forKey: .mlpBias, in: c, debugDescription: "mlp_bias true is not supported")
        }
    }

    struct RopeParameters: Codable {
        var ropeType: String?
        var ropeTheta: Float?
        enum CodingKeys: String, CodingKey { case ropeType = "rope_type", ropeTheta = "rope_theta", type }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType) ?? c.decodeIfPresent(String.self, forKey: .type)
            ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta)
        }
        func encode(to encoder: Encoder) throws {}
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType); try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize); try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers); try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads); try c.encode(headSize, forKey: .headDim)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings); try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta); try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        if modelType == "llama" { try c.encode(attentionBias, forKey: .attentionBias); try c.encode(false, forKey: .mlpBias) }
        try c.encode(attentionDropout, forKey: .attentionDropout); try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(initializerRange, forKey: .initializerRange)
        try c.encode(bosTokenId, forKey: .bosTokenId); try c.encode(eosTokenId, forKey: .eosTokenId)
    }

    public var headSize: Int { headDim ?? hiddenSize / numAttentionHeads }
    /// Width of all query heads (H · d) and of all key (or value) heads (KV · d).
    public var queryWidth: Int { numAttentionHeads * headSize }
    public var keyValueWidth: Int { numKeyValueHeads * headSize }
    /// Biases on q, k, v (Qwen2 always; Llama with attention_bias).
    public var hasQKVBias: Bool { modelType == "qwen2" || attentionBias }
    /// Bias on o (Llama with attention_bias; never Qwen2).
    public var hasOutputBias: Bool { modelType == "llama" && attentionBias }

    /// What this engine cannot run in this config, naming the key to fix (nil: it runs it).
    public var problem: String? {
        for (k, v) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                       ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                       ("num_key_value_heads", numKeyValueHeads), ("max_position_embeddings", maxPositionEmbeddings), ("head_dim", headSize)] where v <= 0 {
            return "\(k) must be positive, found \(v)"
        }
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            return "num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)"
        }
        guard headSize % 2 == 0 else { return "head_dim \(headSize) must be even for rotary embeddings" }
        guard hiddenAct == "silu" else { return "hidden_act \"\(hiddenAct)\" is not supported (the Llama family uses silu)" }
        guard rmsNormEps > 0, ropeTheta > 0 else { return "rms_norm_eps and rope_theta must be positive" }
        guard (0..<1).contains(attentionDropout) else { return "attention_dropout must be in [0, 1), found \(attentionDropout)" }
        return nil
    }

    public static let displayName = "Llama"

    public var shape: BackboneShape {
        BackboneShape(architecture: modelType, width: hiddenSize, vocabSize: vocabSize, contextLength: maxPositionEmbeddings)
    }

    /// Published shapes: SmolLM2 135M/360M, TinyLlama 1.1B, Qwen2.5 0.5B; `tiny-llama` and `tiny-qwen2` for tests.
    public static func preset(_ name: String) -> LlamaConfig? {
        switch name {
        case "smollm2-135m":
            return LlamaConfig(vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30, numAttentionHeads: 9,
                               numKeyValueHeads: 3, maxPositionEmbeddings: 8192, rmsNormEps: 1e-5, ropeTheta: 100000, tieWordEmbeddings: true,
                               bosTokenId: 1, eosTokenId: 2)
        case "smollm2-360m":
            return LlamaConfig(vocabSize: 49152, hiddenSize: 960, intermediateSize: 2560, numHiddenLayers: 32, numAttentionHeads: 15,
                               numKeyValueHeads: 5, maxPositionEmbeddings: 8192, rmsNormEps: 1e-5, ropeTheta: 100000, tieWordEmbeddings: true,
                               bosTokenId: 1, eosTokenId: 2)
        case "tinyllama-1.1b":
            return LlamaConfig(vocabSize: 32000, hiddenSize: 2048, intermediateSize: 5632, numHiddenLayers: 22, numAttentionHeads: 32,
                               numKeyValueHeads: 4, maxPositionEmbeddings: 2048, rmsNormEps: 1e-5)
        case "qwen2.5-0.5b":
            return LlamaConfig(modelType: "qwen2", vocabSize: 151936, hiddenSize: 896, intermediateSize: 4864, numHiddenLayers: 24,
                               numAttentionHeads: 14, numKeyValueHeads: 2, maxPositionEmbeddings: 32768, rmsNormEps: 1e-6,
                               ropeTheta: 1_000_000, tieWordEmbeddings: true, bosTokenId: nil, eosTokenId: 151643)
        case "tiny-llama":
            return LlamaConfig(vocabSize: 300, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2, numAttentionHeads: 4,
                               numKeyValueHeads: 2, maxPositionEmbeddings: 128, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true)
        case "tiny-qwen2":
            return LlamaConfig(modelType: "qwen2", vocabSize: 300, hiddenSize: 64, intermediateSize: 96, numHiddenLayers: 2, numAttentionHeads: 4,
                               numKeyValueHeads: 2, maxPositionEmbeddings: 128, rmsNormEps: 1e-6, ropeTheta: 1_000_000, tieWordEmbeddings: false)
        default: return nil
        }
    }

    public static let presetNames = ["smollm2-135m", "smollm2-360m", "tinyllama-1.1b", "qwen2.5-0.5b", "tiny-llama", "tiny-qwen2"]


    /// Pretty-printed JSON with sorted keys, as Hugging Face writes it.
    public func jsonData() -> Data { ConfigFile.encode(self) }
}

