import Tensor

#if canImport(Glibc)
import Glibc
#endif

/// Gradients for the Llama tensors chosen as trainable, by Hugging Face name (`fnmatch` patterns:
/// "model.layers.*.input_layernorm.weight"). A pattern that matches nothing is an error, so a typo
/// cannot silently leave everything frozen. As `WeightGradients` for GPT-2.
public final class LlamaWeightGradients: @unchecked Sendable {
    public struct Entry: @unchecked Sendable {
        public let tensor: LlamaTensor
        public let layer: Int
        public let name: String
        public let shape: [Int]
        public let buffer: FloatBuffer
    }

    public let entries: [Entry]
    private let byKey: [Int: Int]

    public init(config: LlamaConfig, patterns: [String]) throws(LlamaError) {
        var chosen: [Entry] = [], keys: [Int: Int] = [:]
        var matched = Set<String>()
        for t in LlamaTensor.allCases where t.exists(config) {
            for l in 0..<(t.isPerLayer ? config.numHiddenLayers : 1) {
                let name = t.hfName(layer: l)
                let hits = patterns.filter { fnmatch($0, name, 0) == 0 }
                guard !hits.isEmpty else { continue }
                matched.formUnion(hits)
                keys[Self.key(t, l)] = chosen.count
                let shape = t.shape(config)
                chosen.append(Entry(tensor: t, layer: l, name: name, shape: shape, buffer: FloatBuffer(count: shape.reduce(1, *))))
            }
        }
        if let unmatched = patterns.first(where: { !matched.contains($0) }) {
            throw LlamaError.invalidConfig("trainable tensor pattern \"\(unmatched)\" matches no tensor of this \(config.numHiddenLayers)-layer model "
                                           + "(names look like model.layers.0.self_attn.q_proj.weight, model.norm.weight, model.embed_tokens.weight)")
        }
        entries = chosen
        byKey = keys
    }

    private static func key(_ t: LlamaTensor, _ layer: Int) -> Int { t.rawValue &* 1_000_000 &+ layer }

    /// The gradient of tensor `t` in `layer`, or nil when that tensor is frozen.
    @inline(__always)
    public func gradient(_ t: LlamaTensor, layer: Int = 0) -> UnsafeMutablePointer<Float>? {
        guard !byKey.isEmpty, let k = byKey[Self.key(t, t.isPerLayer ? layer : 0)] else { return nil }
        return entries[k].buffer.pointer.baseAddress!
    }

    public func gradient(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        entries.first { $0.name == name }?.buffer.pointer
    }

    public func zero() { for e in entries { e.buffer.pointer.update(repeating: 0) } }
}
