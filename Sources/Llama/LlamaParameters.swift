import Backbone
import Tensor

/// The tensors of a Llama-family model in one contiguous buffer, shapes as Hugging Face stores them
/// (`nn.Linear` weights [out, in]). L layers, C hidden, F intermediate, Q = H·d query width,
/// K = KV·d key/value width, V vocabulary.
public enum LlamaTensor: Int, CaseIterable, Sendable {
    case embed       // [V, C]      model.embed_tokens.weight
    case attnNorm    // [L][C]      model.layers.N.input_layernorm.weight
    case q           // [L][Q, C]   model.layers.N.self_attn.q_proj.weight
    case k           // [L][K, C]   ...k_proj.weight
    case v           // [L][K, C]   ...v_proj.weight
    case o           // [L][C, Q]   ...o_proj.weight
    case qBias       // [L][Q]      ...q_proj.bias (Qwen2, attention_bias)
    case kBias       // [L][K]
    case vBias       // [L][K]
    case oBias       // [L][C]      ...o_proj.bias (Llama with attention_bias)
    case mlpNorm     // [L][C]      model.layers.N.post_attention_layernorm.weight
    case gate        // [L][F, C]   model.layers.N.mlp.gate_proj.weight
    case up          // [L][F, C]   ...up_proj.weight
    case down        // [L][C, F]   ...down_proj.weight
    case norm        // [C]         model.norm.weight
    case head        // [V, C]      lm_head.weight (untied models only)

    public var isPerLayer: Bool { self != .embed && self != .norm && self != .head }

    /// Whether a model with `c` has this tensor.
    public func exists(_ c: LlamaConfig) -> Bool {
        switch self {
        case .qBias, .kBias, .vBias: return c.hasQKVBias
        case .oBias: return c.hasOutputBias
        case .head: return !c.tieWordEmbeddings
        default: return true
        }
    }

    /// Shape of one layer's tensor (or of the whole tensor when not per layer).
    public func shape(_ c: LlamaConfig) -> [Int] {
        let C = c.hiddenSize, F = c.intermediateSize, Q = c.queryWidth, K = c.keyValueWidth
        switch self {
        case .embed, .head: return [c.vocabSize, C]
        case .attnNorm, .mlpNorm, .norm, .oBias: return [C]
        case .q: return [Q, C]
        case .k, .v: return [K, C]
        case .o: return [C, Q]
        case .qBias: return [Q]
        case .kBias, .vBias: return [K]
        case .gate, .up: return [F, C]
        case .down: return [C, F]
        }
    }

    /// The Hugging Face name. This table and `ggufName` are the only places checkpoint names appear.
    public func hfName(layer l: Int) -> String {
        let p = "model.layers.\(l)."
        switch self {
        case .embed: return "model.embed_tokens.weight"
        case .norm: return "model.norm.weight"
        case .head: return "lm_head.weight"
        case .attnNorm: return p + "input_layernorm.weight"
        case .q: return p + "self_attn.q_proj.weight"
        case .k: return p + "self_attn.k_proj.weight"
        case .v: return p + "self_attn.v_proj.weight"
        case .o: return p + "self_attn.o_proj.weight"
        case .qBias: return p + "self_attn.q_proj.bias"
        case .kBias: return p + "self_attn.k_proj.bias"
        case .vBias: return p + "self_attn.v_proj.bias"
        case .oBias: return p + "self_attn.o_proj.bias"
        case .mlpNorm: return p + "post_attention_layernorm.weight"
        case .gate: return p + "mlp.gate_proj.weight"
        case .up: return p + "mlp.up_proj.weight"
        case .down: return p + "mlp.down_proj.weight"
        }
    }

    /// llama.cpp's name in a GGUF file.
    public func ggufName(layer l: Int) -> String {
        let p = "blk.\(l)."
        switch self {
        case .embed: return "token_embd.weight"
        case .norm: return "output_norm.weight"
        case .head: return "output.weight"
        case .attnNorm: return p + "attn_norm.weight"
        case .q: return p + "attn_q.weight"
        case .k: return p + "attn_k.weight"
        case .v: return p + "attn_v.weight"
        case .o: return p + "attn_output.weight"
        case .qBias: return p + "attn_q.bias"
        case .kBias: return p + "attn_k.bias"
        case .vBias: return p + "attn_v.bias"
        case .oBias: return p + "attn_output.bias"
        case .mlpNorm: return p + "ffn_norm.weight"
        case .gate: return p + "ffn_gate.weight"
        case .up: return p + "ffn_up.weight"
        case .down: return p + "ffn_down.weight"
        }
    }
}

/// All weights of one Llama-family model in one buffer, addressed by `LlamaTensor` and layer.
///
/// Tensors that one product can use together are adjacent within each layer: q, k, v (one [Q+2K, C]
/// matrix, and their biases one [Q+2K] vector), and gate, up (one [2F, C] matrix), so that each
/// group is one matrix product instead of two or three.
public final class LlamaParameters: @unchecked Sendable {
    public let config: LlamaConfig
    public let buffer: FloatBuffer
    private let layout: ParameterLayout<LlamaTensor>

    /// Tensors stored side by side in each layer, in this order.
    static let groups: [[LlamaTensor]] = [[.q, .k, .v], [.qBias, .kBias, .vBias], [.gate, .up]]

    public init(config: LlamaConfig) {
        self.config = config
        layout = ParameterLayout(config: config, groups: LlamaParameters.groups)
        buffer = FloatBuffer(count: layout.total)
    }

    public var count: Int { buffer.count }

    /// The tensor `t` of `layer` (layer ignored for embed, norm, head). The head of a tied model is
    /// the embedding table.
    @inline(__always)
    public func tensor(_ t: LlamaTensor, layer: Int = 0) -> UnsafeMutableBufferPointer<Float> {
        if t == .head && config.tieWordEmbeddings { return tensor(.embed) }
        let (start, count) = layout.place(t, layer: layer)
        return buffer.slice(start, count)
    }

    /// Every stored tensor with its Hugging Face name and shape, in model order.
    public var namedTensors: [(tensor: LlamaTensor, layer: Int, name: String, shape: [Int], values: UnsafeMutableBufferPointer<Float>)] {
        var out: [(LlamaTensor, Int, String, [Int], UnsafeMutableBufferPointer<Float>)] = []
        for t in LlamaTensor.allCases where t.exists(config) {
            for l in 0..<(t.isPerLayer ? config.numHiddenLayers : 1) {
                out.append((t, l, t.hfName(layer: l), t.shape(config), tensor(t, layer: l)))
            }
        }
        return out
    }

    /// Hugging Face's initialisation (`LlamaPreTrainedModel._init_weights`): N(0, initializer_range)
    /// for every Linear weight and the embeddings, zero biases, norm weights 1.
    public func initializeRandomly<G: RandomNumberGenerator>(using g: inout G) {
        for (t, _, _, _, p) in namedTensors {
            switch t {
            case .attnNorm, .mlpNorm, .norm: p.update(repeating: 1)
            case .qBias, .kBias, .vBias, .oBias: p.update(repeating: 0)
            default: fillNormal(p, std: config.initializerRange, using: &g)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
