import Backbone
import Tensor

/// GPT-2 as Hugging Face's `GPT2LMHeadModel` computes it, over packed sequences (no padding: each
/// sequence's rows follow the previous one's, and attention stays inside a sequence), with a
/// backward pass to the input embeddings through the frozen weights, optional LoRA, and a KV cache.
///
/// Activations live in one buffer that grows to the largest batch seen and is then reused, so the
/// training loop allocates nothing per step (the layout of karpathy/llm.c).
public final class GPT2Model: @unchecked Sendable {
    public let params: GPT2Parameters
    public var config: GPT2Config { params.config }
    public var lora: LoRA?
    /// Backbone tensors that get gradients (nil: the whole backbone is frozen).
    public var weightGradients: WeightGradients?

    /// Activations, gradients and the last forward's batch (for backward).
    public let memory = ForwardMemory()
    var layout = ActivationLayout()

    public init(params: GPT2Parameters, lora: LoRA? = nil) {
        self.params = params
        self.lora = lora
    }

    public var width: Int { config.nEmbd }

    // MARK: embeddings

    /// Copies the `wte` rows of `ids` into `out` [ids.count, C].
    public func embed(_ ids: [Int], into out: UnsafeMutablePointer<Float>) {
        let c = width, wte = params.tensor(.wte).baseAddress!
        for (r, id) in ids.enumerated() {
            precondition(id >= 0 && id < config.vocabSize, "token id \(id) outside the vocabulary of \(config.vocabSize)")
            (out + r * c).update(from: wte + id * c, count: c)
        }
    }

    // MARK: forward

    /// Runs the transformer over packed sequences and returns the final hidden states (after
    /// ln_f) [N, C], valid until the next call.
    ///
    /// - inputs: token embeddings [N, C] without positions, N = sum of `lengths`.
    /// - dropout: applies the config's dropout probabilities (training mode), seeded by `seed`.
    /// - forBackward: keeps every layer's activations so `backward` can run.
    /// - cache, slots: sequence s continues cache slot `slots[s]` (its keys and values are appended;
    ///   positions continue from the slot's length).
    @discardableResult
    public func forward(inputs: UnsafePointer<Float>, lengths: [Int], dropout: Bool = false, seed: UInt64 = 0,
                        forBackward: Bool = false, cache: KVCache? = nil, slots: [Int]? = nil) -> UnsafeMutablePointer<Float> {
        precondition(!(forBackward && cache != nil), "backward through a KV cache is not supported")
        let past = lengths.indices.map { s in cache.map { $0.lengths[slots![s]] } ?? 0 }
        for (s, n) in lengths.enumerated() {
            precondition(past[s] + n <= config.nPositions, "sequence of \(past[s] + n) tokens exceeds n_positions \(config.nPositions)")
            if let cache { precondition(past[s] + n <= cache.maxLength, "sequence of \(past[s] + n) tokens exceeds the cache's \(cache.maxLength)") }
        }
        let n = lengths.reduce(0, +)
        let attSizes = lengths.indices.map { config.nHead * lengths[$0] * (past[$0] + lengths[$0]) }
        layout = ActivationLayout(config: config, tokens: n, attention: forBackward ? attSizes.reduce(0, +) : (attSizes.max() ?? 0),
                                  maxAttention: attSizes.max() ?? 0, slots: forBackward ? config.nLayer : 1, loraRank: lora?.rank ?? 0,
                                  loraTargets: lora?.targets.count ?? 0)
        let base = memory.startForward(ForwardBatch(lengths: lengths, past: past, dropout: dropout, seed: seed, kept: forBackward),
                                       activations: layout.total)
        let c = width
        let x0 = base + layout.x0

        // Token + position embeddings, then embedding dropout.
        let wpe = params.tensor(.wpe).baseAddress!
        var row = 0
        for (s, len) in lengths.enumerated() {
            for i in 0..<len {
                add(inputs + (row + i) * c, wpe + (past[s] + i) * c, x0 + (row + i) * c, c)
            }
            row += len
        }
        if dropout { Dropout.apply(x0, count: n * c, p: config.embdPdrop, seed: Dropout.streamSeed(seed, layer: -1, site: .embeddings)) }

        var x = UnsafePointer(x0)
        for l in 0..<config.nLayer {
            x = UnsafePointer(layerForward(l, input: x, lengths: lengths, past: past, dropout: dropout, seed: seed, cache: cache, slots: slots))
        }
        let out = base + layout.lnf
        LayerNorm.forward(out: out, mean: base + layout.lnfMean, rstd: base + layout.lnfRstd, x: x,
                          weight: params.tensor(.lnfw).baseAddress!, bias: params.tensor(.lnfb).baseAddress!,
                          rows: n, width: c, eps: config.layerNormEpsilon)
        if let cache { for (s, len) in lengths.enumerated() { cache.lengths[slots![s]] += len } }
        return out
    }

    /// y [n, out] = x [n, in] W + b (+ LoRA), W stored [in, out] as HF's Conv1D.
    func linear(_ target: LoRATarget, layer l: Int, x: UnsafePointer<Float>, rows n: Int, w: GPT2Tensor, b: GPT2Tensor,
                y: UnsafeMutablePointer<Float>, loraT: UnsafeMutablePointer<Float>?, dropout: Bool, seed: UInt64) {
        let (inp, out) = target.dims(config)
        let bias = params.tensor(b, layer: l).baseAddress!
        for r in 0..<n { (y + r * out).update(from: bias, count: out) }
        if n == 1 {
            BLAS.rowTimesMatrix(k: inp, n: out, x: x, w: params.tensor(w, layer: l).baseAddress!, ldw: out, beta: 1, y: y)
        } else {
            BLAS.gemm(m: n, n: out, k: inp, a: x, lda: inp, b: params.tensor(w, layer: l).baseAddress!, ldb: out, beta: 1, c: y, ldc: out)
        }
        guard let lora, let t = loraT, let k = lora.index(target.rawValue) else { return }
        let site = Dropout.Site.adapter(LoRATarget.allCases.firstIndex(of: target)!)
        lora.forward(module: k, layer: l, x: x, rows: n, t: t, y: y, ldy: out, scratch: memory.activations.pointer.baseAddress! + layout.loraScratch,
                     dropoutSeed: dropout ? Dropout.streamSeed(seed, layer: l, site: site) : nil)
    }

    func layerForward(_ l: Int, input x: UnsafePointer<Float>, lengths: [Int], past: [Int], dropout: Bool, seed: UInt64,
                      cache: KVCache?, slots: [Int]?) -> UnsafeMutablePointer<Float> {
        let c = width, f = config.innerSize, n = layout.tokens, hs = config.headSize
        let a = layout.layer(memory.activations, l)
        let eps = config.layerNormEpsilon
        LayerNorm.forward(out: a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, x: x, weight: params.tensor(.ln1w, layer: l).baseAddress!,
                          bias: params.tensor(.ln1b, layer: l).baseAddress!, rows: n, width: c, eps: eps)
        linear(.attn, layer: l, x: a.ln1, rows: n, w: .qkvw, b: .qkvb, y: a.qkv, loraT: a.loraT(.attn, lora), dropout: dropout, seed: seed)

        let attnP = dropout ? config.attnPdrop : 0
        // attOffset: where this sequence's probabilities start among all of the batch's. It seeds
        // its dropout stream whether or not they are kept, so a forward with or without
        // `forBackward` draws the same masks; without, every sequence reuses the first slot.
        var row = 0, attOffset = 0
        let scratch = memory.activations.pointer.baseAddress! + layout.attScratch
        for (s, len) in lengths.enumerated() {
            let q: UnsafeMutablePointer<Float> = a.qkv + row * 3 * c
            var k: UnsafePointer<Float> = UnsafePointer(q + c)
            var v: UnsafePointer<Float> = UnsafePointer(q + 2 * c)
            var ldkv = 3 * c
            if let cache {
                let slot = slots![s]
                let kc = cache.keys(layer: l, slot: slot), vc = cache.values(layer: l, slot: slot)
                for i in 0..<len {
                    (kc + (past[s] + i) * c).update(from: q + i * 3 * c + c, count: c)
                    (vc + (past[s] + i) * c).update(from: q + i * 3 * c + 2 * c, count: c)
                }
                k = UnsafePointer(kc); v = UnsafePointer(vc); ldkv = c
            }
            CausalAttention.forward(q: q, ldq: 3 * c, k: k, v: v, ldkv: ldkv, y: a.atty + row * c, ldy: c, rows: len, past: past[s],
                                    heads: config.nHead, headSize: hs, probs: a.att + (layout.slots > 1 ? attOffset : 0), scratch: scratch,
                                    dropout: attnP, seed: Dropout.streamSeed(seed, layer: l, site: .attention) &+ UInt64(attOffset))
            row += len
            attOffset += config.nHead * len * (past[s] + len)
        }

        let tmp = memory.activations.pointer.baseAddress! + layout.scratchWide
        linear(.attnProj, layer: l, x: a.atty, rows: n, w: .attprojw, b: .attprojb, y: tmp, loraT: a.loraT(.attnProj, lora), dropout: dropout, seed: seed)
        if dropout { Dropout.apply(tmp, count: n * c, p: config.residPdrop, seed: Dropout.streamSeed(seed, layer: l, site: .attentionOutput)) }
        add(x, tmp, a.res2, n * c)
        LayerNorm.forward(out: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, x: a.res2, weight: params.tensor(.ln2w, layer: l).baseAddress!,
                          bias: params.tensor(.ln2b, layer: l).baseAddress!, rows: n, width: c, eps: eps)
        linear(.fc, layer: l, x: a.ln2, rows: n, w: .fcw, b: .fcb, y: a.fch, loraT: a.loraT(.fc, lora), dropout: dropout, seed: seed)
        GELU.forward(out: a.fchGelu, x: a.fch, count: n * f)
        linear(.fcProj, layer: l, x: a.fchGelu, rows: n, w: .fcprojw, b: .fcprojb, y: tmp, loraT: a.loraT(.fcProj, lora), dropout: dropout, seed: seed)
        if dropout { Dropout.apply(tmp, count: n * c, p: config.residPdrop, seed: Dropout.streamSeed(seed, layer: l, site: .mlpOutput)) }
        add(a.res2, tmp, a.res3, n * c)
        return a.res3
    }
}

/// Where each activation lives inside the one activation buffer.
struct ActivationLayout: LayeredActivations {
    var tokens = 0, c = 0, f = 0, loraRank = 0, loraTargets = 0
    var x0 = 0, lnf = 0, lnfMean = 0, lnfRstd = 0, scratchWide = 0, loraScratch = 0, attScratch = 0
    var attention = 0
    var layerSlots = LayerSlots()
    var slots: Int { layerSlots.count }
    var total: Int { layerSlots.end }
    // offsets inside one layer slot
    var ln1 = 0, ln1Mean = 0, ln1Rstd = 0, qkv = 0, att = 0, atty = 0, res2 = 0, ln2 = 0, ln2Mean = 0, ln2Rstd = 0
    var fch = 0, fchGelu = 0, res3 = 0, loraT = 0

    init() {}

    init(config: GPT2Config, tokens n: Int, attention: Int, maxAttention: Int, slots: Int, loraRank: Int, loraTargets: Int) {
        tokens = n; c = config.nEmbd; f = config.innerSize; self.attention = attention
        self.loraRank = loraRank; self.loraTargets = loraTargets
        var slot = ActivationArena()
        ln1 = slot.take(n * c); ln1Mean = slot.take(n); ln1Rstd = slot.take(n); qkv = slot.take(3 * n * c); att = slot.take(attention)
        atty = slot.take(n * c); res2 = slot.take(n * c); ln2 = slot.take(n * c); ln2Mean = slot.take(n); ln2Rstd = slot.take(n)
        fch = slot.take(n * f); fchGelu = slot.take(n * f); res3 = slot.take(n * c); loraT = slot.take(n * loraRank * loraTargets)
        var buffer = ActivationArena()
        x0 = buffer.take(n * c); lnf = buffer.take(n * c); lnfMean = buffer.take(n); lnfRstd = buffer.take(n)
        scratchWide = buffer.take(n * max(c, f)); loraScratch = buffer.take(loraRank > 0 ? n * max(c, f) : 0)
        attScratch = buffer.take(2 * maxAttention / max(config.nHead, 1) + 16)
        layerSlots = LayerSlots(of: slot, count: slots, in: &buffer)
    }

    func layer(at p: UnsafeMutablePointer<Float>) -> LayerActivations {
        LayerActivations(ln1: p + ln1, ln1Mean: p + ln1Mean, ln1Rstd: p + ln1Rstd, qkv: p + qkv, att: p + att, atty: p + atty,
                                res2: p + res2, ln2: p + ln2, ln2Mean: p + ln2Mean, ln2Rstd: p + ln2Rstd, fch: p + fch,
                                fchGelu: p + fchGelu, res3: p + res3, lora: LowRankActivations(base: p + loraT, stride: tokens * loraRank))
    }
}

/// One layer's saved activations.
struct LayerActivations {
    let ln1, ln1Mean, ln1Rstd, qkv, att, atty, res2, ln2, ln2Mean, ln2Rstd, fch, fchGelu, res3: UnsafeMutablePointer<Float>
    let lora: LowRankActivations

    /// LoRA's low-rank activations x Aᵀ [N, r] for `t`, or nil without an adapter on it.
    func loraT(_ t: LoRATarget, _ adapter: LoRA?) -> UnsafeMutablePointer<Float>? {
        guard let adapter, let k = adapter.targets.firstIndex(of: t) else { return nil }
        return lora.module(k)
    }
}
