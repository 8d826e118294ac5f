import Tensor

#if canImport(Glibc)
import Glibc
#endif

/// The tensors of an architecture, by Hugging Face name: what `TensorGradients` chooses from.
public protocol ModelTensor: CaseIterable, Hashable, Sendable {
    associatedtype Config
    /// Distinct per case (the enum's raw value).
    var index: Int { get }
    /// One tensor per layer (else one for the model).
    var isPerLayer: Bool { get }
    /// Whether a model with `config` has this tensor (biases some configs lack, an untied head).
    func exists(_ config: Config) -> Bool
    /// Shape of one layer's tensor (or of the whole tensor when not per layer).
    func shape(_ config: Config) -> [Int]
    /// The Hugging Face name in `layer`.
    func hfName(layer: Int) -> String
    static func layers(_ config: Config) -> Int
    /// A name as a user may write it, as `hfName` spells it (GPT-2's names drop `transformer.`).
    static func canonical(_ name: String) -> String
    /// The model in the error for a pattern that matches nothing: "12-layer GPT-2 (names look like ...)".
    static func describe(_ config: Config) -> String
}

extension ModelTensor {
    public func exists(_ config: Config) -> Bool { true }
    public static func canonical(_ name: String) -> String { name }
}

/// Gradients for the backbone tensors chosen as trainable, by Hugging Face name, for any
/// architecture. The backbone is frozen by default (CLLM4Rec trains only the ID embeddings and
/// optional LoRA); a tensor chosen here gets d(loss)/d(tensor) added by every `backward`.
///
///     // T: the architecture's `ModelTensor` (these names are GPT-2's)
///     let g = try TensorGradients<T>(config: config, patterns: ["ln_f.*", "h.11.mlp.c_fc.weight"])
///     model.weightGradients = g
///     g.gradient(named: "ln_f.weight")  // [C] values after a backward
public final class TensorGradients<T: ModelTensor>: @unchecked Sendable {
    /// One trainable tensor and its gradient buffer (same shape and layout as the tensor).
    public struct Entry: @unchecked Sendable {
        public let tensor: T
        public let layer: Int
        /// Hugging Face name as `T.hfName` spells it, e.g. "h.0.attn.c_attn.weight".
        public let name: String
        public let shape: [Int]
        public let buffer: FloatBuffer
    }

    public let entries: [Entry]
    private let byKey: [Int: Int]

    /// Chooses tensors by name. Each pattern is a Hugging Face name where `*` matches any run of
    /// characters and `?` one character (`fnmatch` rules): "h.*.ln_?.weight" is every GPT-2 block's
    /// two LayerNorm weights. A pattern that matches nothing is an error, so a typo cannot silently
    /// leave everything frozen.
    public init(config: T.Config, patterns: [String]) throws(BackboneError) {
        var chosen: [Entry] = [], keys: [Int: Int] = [:]
        var matched = Set<String>()
        for t in T.allCases where t.exists(config) {
            for l in 0..<(t.isPerLayer ? T.layers(config) : 1) {
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
            throw BackboneError.unmatchedTensorPattern(pattern: unmatched, model: T.describe(config))
        }
        entries = chosen
        byKey = keys
    }

    /// True when `pattern` (as a user may write it: `T.canonical`) matches `name`.
    ///
    ///     matches("h.*.ln_1.weight", "h.3.ln_1.weight")            // true
    ///     matches("transformer.ln_f.bias", "ln_f.bias")             // true for GPT-2
    ///     matches("h.1.*", "h.11.mlp.c_fc.weight")                  // false: "h.1." is not "h.11"
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(T.canonical(pattern), name, 0) == 0
    }

    private static func key(_ t: T, _ layer: Int) -> Int { t.index &* 1_000_000 &+ layer }

    /// The gradient of tensor `t` in `layer`, or nil when that tensor is frozen.
    @inline(__always)
    public func gradient(_ t: T, layer: Int = 0) -> UnsafeMutablePointer<Float>? {
        guard !byKey.isEmpty, let k = byKey[Self.key(t, t.isPerLayer ? layer : 0)] else { return nil }
        return entries[k].buffer.pointer.baseAddress!
    }

    /// The gradient by Hugging Face name (as a user may write it), or nil when frozen.
    public func gradient(named name: String) -> UnsafeMutableBufferPointer<Float>? {
        let n = T.canonical(name)
        return entries.first { $0.name == n }?.buffer.pointer
    }

    /// Sets every gradient to zero (before a new accumulation).
    public func zero() { for e in entries { e.buffer.pointer.update(repeating: 0) } }
}

/// Where each tensor of an architecture lives in its one parameter buffer (llm.c's layout): every
/// layer's copies of a tensor adjacent, or, for the tensors of a `group` (used by one product
/// together, as Llama's q, k, v), side by side within each layer.
public struct ParameterLayout<T: ModelTensor>: Sendable {
    /// By `T.index`: where layer 0's copy starts, the distance to the next layer's, the size of one.
    public let offsets: [Int], strides: [Int], sizes: [Int]
    public let total: Int

    public init(config: T.Config, groups: [[T]] = []) {
        let cases = Array(T.allCases)
        var sizes = [Int](repeating: 0, count: cases.count)
        for t in cases where t.exists(config) { sizes[t.index] = t.shape(config).reduce(1, *) }
        var offsets = [Int](repeating: 0, count: cases.count), strides = offsets
        var total = 0
        var placed = Set<T>()
        for t in cases where !placed.contains(t) {
            let group = groups.first { $0.contains(t) } ?? [t]
            let width = group.reduce(0) { $0 + sizes[$1.index] }
            var inner = 0
            for m in group {
                offsets[m.index] = total + inner
                strides[m.index] = m.isPerLayer ? width : 0
                inner += sizes[m.index]
                placed.insert(m)
            }
            total += t.isPerLayer ? width * T.layers(config) : width
        }
        self.offsets = offsets; self.strides = strides; self.sizes = sizes; self.total = total
    }

    /// The start and size of tensor `t` in `layer` (layer ignored for a tensor of the whole model).
    @inline(__always)
    public func place(_ t: T, layer: Int) -> (start: Int, count: Int) {
        (offsets[t.index] + layer * strides[t.index], sizes[t.index])
    }
}
