import Backbone
import Foundation

/// GPT-2 hyper-parameters, with Hugging Face's `config.json` key names.
public struct GPT2Config: Codable, Equatable, Sendable, CheckedConfig {
    public var vocabSize: Int
    public var nPositions: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    /// Width of the MLP's hidden layer; `nil` means 4 x nEmbd.
    public var nInner: Int?
    public var activationFunction: String
    public var residPdrop: Float
    public var embdPdrop: Float
    public var attnPdrop: Float
    public var layerNormEpsilon: Float
    public var initializerRange: Float
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    public var scaleAttnByInverseLayerIdx: Bool
    public var reorderAndUpcastAttn: Bool

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", nPositions = "n_positions", nEmbd = "n_embd", nLayer = "n_layer"
        case nHead = "n_head", nInner = "n_inner", activationFunction = "activation_function"
        case residPdrop = "resid_pdrop", embdPdrop = "embd_pdrop", attnPdrop = "attn_pdrop"
        case layerNormEpsilon = "layer_norm_epsilon", initializerRange = "initializer_range"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case scaleAttnByInverseLayerIdx = "scale_attn_by_inverse_layer_idx"
        case reorderAndUpcastAttn = "reorder_and_upcast_attn"
        case modelType = "model_type", nCtx = "n_ctx"
    }

    public init(vocabSize: Int = 50257, nPositions: Int = 1024, nEmbd: Int = 768, nLayer: Int = 12, nHead: Int = 12,
                nInner: Int? = nil, activationFunction: String = "gelu_new", residPdrop: Float = 0.1,
                embdPdrop: Float = 0.1, attnPdrop: Float = 0.1, layerNormEpsilon: Float = 1e-5,
                initializerRange: Float = 0.02, bosTokenId: Int? = 50256, eosTokenId: Int? = 50256) {
        self.vocabSize = vocabSize; self.nPositions = nPositions; self.nEmbd = nEmbd; self.nLayer = nLayer
        self.nHead = nHead; self.nInner = nInner; self.activationFunction = activationFunction
        self.residPdrop = residPdrop; self.embdPdrop = embdPdrop; self.attnPdrop = attnPdrop
        self.layerNormEpsilon = layerNormEpsilon; self.initializerRange = initializerRange
        self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId
        scaleAttnByInverseLayerIdx = false; reorderAndUpcastAttn = false
    }

    /// Missing keys take Hugging Face's `GPT2Config` defaults, as `from_pretrained` does.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GPT2Config()
        if let t = try c.decodeIfPresent(String.self, forKey: .modelType), t != "gpt2" {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c, debugDescription: "model_type is \"\(t)\", expected \"gpt2\"")
        }
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        nPositions = try c.decodeIfPresent(Int.self, forKey: .nPositions) ?? c.decodeIfPresent(Int.self, forKey: .nCtx) ?? d.nPositions
        nEmbd = try c.decodeIfPresent(Int.self, forKey: .nEmbd) ?? d.nEmbd
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer) ?? d.nLayer
        nHead = try c.decodeIfPresent(Int.self, forKey: .nHead) ?? d.nHead
        nInner = try c.decodeIfPresent(Int.self, forKey: .nInner)
        activationFunction = try c.decodeIfPresent(String.self, forKey: .activationFunction) ?? d.activationFunction
        residPdrop = try c.decodeIfPresent(Float.self, forKey: .residPdrop) ?? d.residPdrop
        embdPdrop = try c.decodeIfPresent(Float.self, forKey: .embdPdrop) ?? d.embdPdrop
        attnPdrop = try c.decodeIfPresent(Float.self, forKey: .attnPdrop) ?? d.attnPdrop
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? d.layerNormEpsilon
        initializerRange = try c.decodeIfPresent(Float.self, forKey: .initializerRange) ?? d.initializerRange
        bosTokenId = try c.decodeIfPresent(Int.self, forKey: .bosTokenId) ?? d.bosTokenId
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? d.eosTokenId
        scaleAttnByInverseLayerIdx = try c.decodeIfPresent(Bool.self, forKey: .scaleAttnByInverseLayerIdx) ?? false
        reorderAndUpcastAttn = try c.decodeIfPresent(Bool.self, forKey: .reorderAndUpcastAttn) ?? false
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("gpt2", forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize); try c.encode(nPositions, forKey: .nPositions)
        try c.encode(nPositions, forKey: .nCtx)
        try c.encode(nEmbd, forKey: .nEmbd); try c.encode(nLayer, forKey: .nLayer); try c.encode(nHead, forKey: .nHead)
        try c.encode(nInner, forKey: .nInner); try c.encode(activationFunction, forKey: .activationFunction)
        try c.encode(residPdrop, forKey: .residPdrop); try c.encode(embdPdrop, forKey: .embdPdrop)
        try c.encode(attnPdrop, forKey: .attnPdrop); try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
        try c.encode(initializerRange, forKey: .initializerRange)
        try c.encode(bosTokenId, forKey: .bosTokenId); try c.encode(eosTokenId, forKey: .eosTokenId)
        try c.encode(scaleAttnByInverseLayerIdx, forKey: .scaleAttnByInverseLayerIdx)
        try c.encode(reorderAndUpcastAttn, forKey: .reorderAndUpcastAttn)
    }

    /// Width of the MLP's hidden layer.
    public var innerSize: Int { nInner ?? 4 * nEmbd }
    public var headSize: Int { nEmbd / nHead }

    /// What this engine cannot run in this config, naming the key to fix (nil: it runs it).
    public var problem: String? {
        for (k, v) in [("vocab_size", vocabSize), ("n_positions", nPositions), ("n_embd", nEmbd), ("n_layer", nLayer), ("n_head", nHead), ("n_inner", innerSize)] where v <= 0 {
            return "\(k) must be positive, found \(v)"
        }
        guard nEmbd % nHead == 0 else { return "n_embd \(nEmbd) is not divisible by n_head \(nHead)" }
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activationFunction) else {
            return "activation_function \"\(activationFunction)\" is not supported (GPT-2 uses gelu_new)"
        }
        guard !scaleAttnByInverseLayerIdx, !reorderAndUpcastAttn else {
            return "scale_attn_by_inverse_layer_idx and reorder_and_upcast_attn are not supported"
        }
        for (k, p) in [("resid_pdrop", residPdrop), ("embd_pdrop", embdPdrop), ("attn_pdrop", attnPdrop)] where !(0..<1).contains(p) {
            return "\(k) must be in [0, 1), found \(p)"
        }
        return nil
    }

    public static let displayName = "GPT-2"

    public var shape: BackboneShape { BackboneShape(architecture: "gpt2", width: nEmbd, vocabSize: vocabSize, contextLength: nPositions) }

    /// Published GPT-2 shapes: `small` (124M), `medium`, `large`, `xl`, `distil`, and `tiny` for tests.
    public static func preset(_ name: String) -> GPT2Config? {
        switch name {
        case "small", "gpt2": return GPT2Config()
        case "medium", "gpt2-medium": return GPT2Config(nEmbd: 1024, nLayer: 24, nHead: 16)
        case "large", "gpt2-large": return GPT2Config(nEmbd: 1280, nLayer: 36, nHead: 20)
        case "xl", "gpt2-xl": return GPT2Config(nEmbd: 1600, nLayer: 48, nHead: 25)
        case "distil", "distilgpt2": return GPT2Config(nLayer: 6)
        case "tiny": return GPT2Config(nPositions: 128, nEmbd: 64, nLayer: 2, nHead: 4)
        default: return nil
        }
    }


    /// Pretty-printed JSON with sorted keys, as Hugging Face writes it.
    public func jsonData() -> Data { ConfigFile.encode(self) }
}

