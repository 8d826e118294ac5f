import Backbone
import Tensor

#if canImport(Glibc)
import Glibc
#endif

/// Gradients for the backbone tensors chosen as trainable, by Hugging Face name. The backbone is
/// frozen by default (CLLM4Rec trains only the ID embeddings and optional LoRA); a tensor chosen here
/// gets d(loss)/d(tensor) added by every `backward` (and by `nextTokenLoss(..., gradient: true)`
/// for `wte`, whose gradient comes from the tied head and the token lookup there).
///
///     let g = try WeightGradients(config: config, patterns: ["ln_f.*", "h.11.mlp.c_fc.weight"])
///     model.weightGradients = g
///     _ = model.nextTokenLoss(batch, gradient: true)
///     g.gradient(named: "ln_f.weight")  // [C] values
public final class WeightGradients: @unchecked Sendable {
    /// One trainable tensor and its gradient buffer (same shape and layout as the tensor).
    public struct Entry: @unchecked Sendable {
        public let tensor: GPT2Tensor
        public let layer: Int
        /// Hugging Face name without the `transformer.` prefix, e.g. "h.0.attn.c_attn.weight".
        public let name: String
        public let shape: [Int]
        public let buffer: FloatBuffer
    }

    public let entries: [Entry]
    private let byKey: [Int: Int]

    /// Chooses tensors by name. Each pattern is a Hugging Face name, with or without the
    /// `transformer.` prefix, where `*` matches any run of characters and `?` one character
    /// (`fnmatch` rules): "h.*.ln_?.weight" is every block's two LayerNorm weights. A pattern that
    /// matches nothing is an error, so a typo cannot silently leave everything frozen.
    public init(config: GPT2Config, patterns: [String]) throws(GPT2Error) {
        var chosen: [Entry] = [], keys: [Int: Int] = [:]
        var matched = Set<String>()
        for t in GPT2Tensor.allCases {
            for l in 0..<(t.isPerLayer ? config.nLayer : 1) {
                let name = t.hfName(layer: l)
                let hits = patterns.filter { Self.matches($0, name) }
                guard !hits.isEmpty else { continue }
                matched.formUnion(hits)
                keys[Self.key(t, l)] = chosen.count
                let shape = t.shape(config)
                chosen.append(Entry(tensor: t, layer: l, name: name, shape: shape, buffer: FloatBuffer(count: shape.reduce(1, *))))
            }
        }
        if let unmatched = patterns.first(where: { !matched.contains($0) }) {
            throw GPT2Error.invalidConfig("trainable tensor pattern \"\(unmatched)\" matches no tensor of this \(config.nLayer)-layer GPT-2 "
                                          + "(names look like h.0.attn.c_attn.weight, h.3.ln_2.bias, ln_f.weight, wte.weight, wpe.weight)")
        }
        entries = chosen
        byKey = keys
    }

    /// True when `pattern` (optionally prefixed by `transformer.`) matches `name`.
    ///
    ///     matches("h.*.ln_1.weight", "h.3.ln_1.weight")            // true
    ///     matches("transformer.ln_f.bias", "ln_f.bias")             // true
    ///     matches("h.1.*", "h.11.mlp.c_fc.weight")                  // false: "h.1." is not "h.11"
    static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(GPT2Tensor.unprefixed(pattern), name, 0) == 0
    }

    private static func key(_ t: GPT2Tensor, _ layer: Int) -> Int { t.rawValue &* 1_000_000 &+ layer }

    /// The gradient of tensor `t` in `layer`, or nil when that tensor is frozen.
    @inline(__always)
    public func gradient(_ t: GPT2Tensor, layer: Int = 0) -> UnsafeMutablePointer<Float>? {
        guard let k = byKey[Self.key(t, t.isPerLayer ? layer : 0)] else { return nil }
        return entries[k].buffer.pointer.baseAddress!
    }

    /// The gradient by Hugging Face name (with or without `transformer.`), or nil when frozen.
    public func gradient(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        let n = GPT2Tensor.unprefixed(name)
        return entries.first { $0.name == n }?.buffer.pointer
    }

    /// Sets every gradient to zero (before a new accumulation).
    public func zero() { for e in entries { e.buffer.pointer.update(repeating: 0) } }
}
