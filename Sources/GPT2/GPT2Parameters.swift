import Backbone
import Tensor

/// The tensors of GPT-2, in one contiguous buffer (layout as karpathy/llm.c, shapes as Hugging Face:
/// Conv1D weights are stored [in, out]). L = n_layer, C = n_embd, V = vocab_size, P = n_positions,
/// F = n_inner (4C).
public enum GPT2Tensor: Int, CaseIterable, Sendable {
    case wte       // [V, C]        transformer.wte.weight
    case wpe       // [P, C]        transformer.wpe.weight
    case ln1w      // [L][C]        h.N.ln_1.weight
    case ln1b      // [L][C]        h.N.ln_1.bias
    case qkvw      // [L][C, 3C]    h.N.attn.c_attn.weight
    case qkvb      // [L][3C]       h.N.attn.c_attn.bias
    case attprojw  // [L][C, C]     h.N.attn.c_proj.weight
    case attprojb  // [L][C]        h.N.attn.c_proj.bias
    case ln2w      // [L][C]        h.N.ln_2.weight
    case ln2b      // [L][C]        h.N.ln_2.bias
    case fcw       // [L][C, F]     h.N.mlp.c_fc.weight
    case fcb       // [L][F]        h.N.mlp.c_fc.bias
    case fcprojw   // [L][F, C]     h.N.mlp.c_proj.weight
    case fcprojb   // [L][C]        h.N.mlp.c_proj.bias
    case lnfw      // [C]           ln_f.weight
    case lnfb      // [C]           ln_f.bias

    public var isPerLayer: Bool { self != .wte && self != .wpe && self != .lnfw && self != .lnfb }

    /// Shape of one layer's tensor (or the whole tensor when not per layer).
    public func shape(_ c: GPT2Config) -> [Int] {
        let C = c.nEmbd, F = c.innerSize
        switch self {
        case .wte: return [c.vocabSize, C]
        case .wpe: return [c.nPositions, C]
        case .ln1w, .ln1b, .ln2w, .ln2b, .attprojb, .fcprojb, .lnfw, .lnfb: return [C]
        case .qkvw: return [C, 3 * C]
        case .qkvb: return [3 * C]
        case .attprojw: return [C, C]
        case .fcw: return [C, F]
        case .fcb: return [F]
        case .fcprojw: return [F, C]
        }
    }

    /// The prefix `GPT2LMHeadModel` puts before every transformer tensor (`transformer.wte.weight`);
    /// the Hub's older files and this project's names go without it.
    public static let modelPrefix = "transformer."

    /// `name` without `modelPrefix`, if it has it: "transformer.h.0.ln_1.weight" -> "h.0.ln_1.weight".
    public static func unprefixed(_ name: String) -> String {
        name.hasPrefix(modelPrefix) ? String(name.dropFirst(modelPrefix.count)) : name
    }

    /// The Hugging Face name, without the `transformer.` prefix. This table is the only place
    /// checkpoint names appear.
    public func hfName(layer: Int) -> String {
        switch self {
        case .wte: return "wte.weight"
        case .wpe: return "wpe.weight"
        case .lnfw: return "ln_f.weight"
        case .lnfb: return "ln_f.bias"
        case .ln1w: return "h.\(layer).ln_1.weight"
        case .ln1b: return "h.\(layer).ln_1.bias"
        case .qkvw: return "h.\(layer).attn.c_attn.weight"
        case .qkvb: return "h.\(layer).attn.c_attn.bias"
        case .attprojw: return "h.\(layer).attn.c_proj.weight"
        case .attprojb: return "h.\(layer).attn.c_proj.bias"
        case .ln2w: return "h.\(layer).ln_2.weight"
        case .ln2b: return "h.\(layer).ln_2.bias"
        case .fcw: return "h.\(layer).mlp.c_fc.weight"
        case .fcb: return "h.\(layer).mlp.c_fc.bias"
        case .fcprojw: return "h.\(layer).mlp.c_proj.weight"
        case .fcprojb: return "h.\(layer).mlp.c_proj.bias"
        }
    }
}

/// All GPT-2 weights in one buffer, addressed by `GPT2Tensor` and layer.
public final class GPT2Parameters: @unchecked Sendable {
    public let config: GPT2Config
    public let buffer: FloatBuffer
    /// All layers of a per-layer tensor adjacent.
    private let layout: ParameterLayout<GPT2Tensor>

    public init(config: GPT2Config) {
        self.config = config
        layout = ParameterLayout(config: config)
        buffer = FloatBuffer(count: layout.total)
    }

    public var count: Int { buffer.count }

    /// The tensor `t` of `layer` (layer ignored for wte, wpe, ln_f).
    @inline(__always)
    public func tensor(_ t: GPT2Tensor, layer: Int = 0) -> UnsafeMutableBufferPointer<Float> {
        let (start, count) = layout.place(t, layer: layer)
        return buffer.slice(start, count)
    }

    /// Every tensor with its Hugging Face name (no prefix) and shape, in model order.
    public var namedTensors: [(name: String, shape: [Int], values: UnsafeMutableBufferPointer<Float>)] {
        var out: [(String, [Int], UnsafeMutableBufferPointer<Float>)] = []
        for t in GPT2Tensor.allCases {
            for l in 0..<(t.isPerLayer ? config.nLayer : 1) {
                out.append((t.hfName(layer: l), t.shape(config), tensor(t, layer: l)))
            }
        }
        return out
    }

    /// GPT-2's initialisation (Hugging Face `_init_weights`): N(0, 0.02) for weights, residual
    /// projections scaled by 1/sqrt(2 L), zero biases, LayerNorm weight 1.
    public func initializeRandomly<G: RandomNumberGenerator>(using g: inout G) {
        let std = config.initializerRange
        let projStd = std / Float(2 * config.nLayer).squareRoot()
        for t in GPT2Tensor.allCases {
            for l in 0..<(t.isPerLayer ? config.nLayer : 1) {
                let p = tensor(t, layer: l)
                switch t {
                case .wte, .wpe, .qkvw, .fcw: fillNormal(p, std: std, using: &g)
                case .attprojw, .fcprojw: fillNormal(p, std: projStd, using: &g)
                case .ln1w, .ln2w, .lnfw: p.update(repeating: 1)
                default: p.update(repeating: 0)
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
