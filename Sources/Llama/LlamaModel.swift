import Backbone
import Tensor

/// A Llama-family model as Hugging Face's `LlamaForCausalLM` / `Qwen2ForCausalLM` computes it:
/// pre-norm blocks with RMSNorm, rotary position embeddings (rotate-half layout), grouped-query
/// attention, SwiGLU MLP, tied or untied head, optional q/k/v (and o) biases. Runs over packed
/// sequences with a backward pass to the input embeddings through the frozen weights, optional
/// LoRA on every projection, and a KV cache whose positions continue the rotary angles.
///
/// Activations live in one buffer that grows to the largest batch seen and is then reused (the
/// layout of karpathy/llm.c), as in `GPT2Model`.
public final class LlamaModel: @unchecked Sendable {
    public let params: LlamaParameters
    public var config: LlamaConfig { params.config }
    public var lora: LowRankAdapter?
    /// The projections and head as the GGUF file stored them, for decoding steps (nil: F32 only).
    public var quantized: LlamaQuantizedWeights?
    /// The forward running is a step through a KV cache (only those use `quantized`).
    var decoding = false
    /// Backbone tensors that get gradients (nil: the whole backbone is frozen).
    public var weightGradients: LlamaWeightGradients?
    let rotary: RotaryTable

    /// Activations, gradients and the last forward's batch (for backward).
    public let memory = ForwardMemory()
    var layout = LlamaLayout()

    public init(params: LlamaParameters, lora: LowRankAdapter? = nil) {
        self.params = params
        self.lora = lora
        rotary = RotaryTable(headSize: params.config.headSize, positions: params.config.maxPositionEmbeddings, theta: params.config.ropeTheta)
    }

    /// The projections LoRA can adapt, with PEFT's module names, in model order.
    public static func adapterModules(_ c: LlamaConfig) -> [AdapterModule] {
        let C = c.hiddenSize, F = c.intermediateSize, Q = c.queryWidth, K = c.keyValueWidth
        return [AdapterModule(name: "self_attn.q_proj", inp: C, out: Q), AdapterModule(name: "self_attn.k_proj", inp: C, out: K),
                AdapterModule(name: "self_attn.v_proj", inp: C, out: K), AdapterModule(name: "self_attn.o_proj", inp: Q, out: C),
                AdapterModule(name: "mlp.gate_proj", inp: C, out: F), AdapterModule(name: "mlp.up_proj", inp: C, out: F),
                AdapterModule(name: "mlp.down_proj", inp: F, out: C)]
    }

    /// PEFT's path to the blocks of a `LlamaForCausalLM`.
    public static let adapterPrefix = "base_model.model.model.layers"

    /// A new adapter on `targets` (PEFT short names: q_proj, k_proj, v_proj, o_proj, gate_proj,
    /// up_proj, down_proj), or nil when a name is not one of them.
    public func newAdapter(rank: Int, alpha: Float, dropout: Float, targets: [String]) -> LowRankAdapter? {
        let all = LlamaModel.adapterModules(config)
        var chosen: [AdapterModule] = []
        for t in targets {
            guard let m = all.first(where: { $0.name == t || $0.name.hasSuffix("." + t) }) else { return nil }
            if !chosen.contains(m) { chosen.append(m) }
        }
        return LowRankAdapter(modules: all.filter { chosen.contains($0) }, layers: config.numHiddenLayers, rank: rank, alpha: alpha,
                              dropout: dropout, prefix: LlamaModel.adapterPrefix)
    }

    /// The adapter module of a weight tensor.
    static func module(_ t: LlamaTensor) -> String {
        switch t {
        case .q: return "self_attn.q_proj"
        case .k: return "self_attn.k_proj"
        case .v: return "self_attn.v_proj"
        case .o: return "self_attn.o_proj"
        case .gate: return "mlp.gate_proj"
        case .up: return "mlp.up_proj"
        case .down: return "mlp.down_proj"
        default: preconditionFailure("\(t) is not a projection")
        }
    }

    public var width: Int { config.hiddenSize }

    // MARK: forward

    /// Final hidden states (after the last RMSNorm) [N, C] of packed sequences, valid until the next
    /// call. `dropout` applies `attention_dropout` (and LoRA's dropout), the only dropout of the
    /// family in training mode.
    @discardableResult
    public func forward(inputs: UnsafePointer<Float>, lengths: [Int], dropout: Bool = false, seed: UInt64 = 0,
                        forBackward: Bool = false, cache: KVCache? = nil, slots: [Int]? = nil) -> UnsafeMutablePointer<Float> {
        precondition(!(forBackward && cache != nil), "backward through a KV cache is not supported")
        decoding = cache != nil
        let past = lengths.indices.map { s in cache.map { $0.lengths[slots![s]] } ?? 0 }
        for (s, n) in lengths.enumerated() {
            precondition(past[s] + n <= config.maxPositionEmbeddings,
                         "sequence of \(past[s] + n) tokens exceeds max_position_embeddings \(config.maxPositionEmbeddings)")
            if let cache { precondition(past[s] + n <= cache.maxLength, "sequence of \(past[s] + n) tokens exceeds the cache's \(cache.maxLength)") }
        }
        let n = lengths.reduce(0, +)
        let spans = lengths.indices.map { lengths[$0] * (past[$0] + lengths[$0]) }
        layout = LlamaLayout(config: config, tokens: n, attention: config.numAttentionHeads * spans.reduce(0, +), maxSpan: spans.max() ?? 0,
                             slots: forBackward ? config.numHiddenLayers : 1, loraRank: lora?.rank ?? 0,
                             loraTargets: lora?.modules.count ?? 0, workers: Parallel.threads)
        layout.positions = lengths.indices.flatMap { s in past[s]..<(past[s] + lengths[s]) }
        let base = memory.startForward(ForwardBatch(lengths: lengths, past: past, dropout: dropout, seed: seed, kept: forBackward),
                                       activations: layout.total)
        let c = width
        let x0 = base + layout.x0
        x0.update(from: inputs, count: n * c)
        var x = UnsafePointer(x0)
        for l in 0..<config.numHiddenLayers {
            x = UnsafePointer(layerForward(l, input: x, lengths: lengths, past: past, dropout: dropout, seed: seed, cache: cache, slots: slots))
        }
        let out = base + layout.final
        RMSNorm.forward(out: out, rstd: base + layout.finalRstd, x: x, weight: params.tensor(.norm).baseAddress!, rows: n, width: c,
                        eps: config.rmsNormEps)
        if let cache { for (s, len) in lengths.enumerated() { cache.lengths[slots![s]] += len } }
        return out
    }

    /// y [n, out] (row stride ldy) = x [n, in] Wᵀ + b (+ LoRA); W [out, in] as `nn.Linear`.
    func linear(_ w: LlamaTensor, bias: LlamaTensor?, layer l: Int, x: UnsafePointer<Float>, rows n: Int, inp: Int, out: Int,
                y: UnsafeMutablePointer<Float>, ldy: Int, a: LlamaLayerActivations, dropout: Bool, seed: UInt64) {
        product(w, bias: bias, layer: l, x: x, rows: n, inp: inp, out: out, y: y, ldy: ldy)
        loraAdd(w, layer: l, x: x, rows: n, inp: inp, out: out, y: y, ldy: ldy, a: a, dropout: dropout, seed: seed)
    }

    /// The frozen product alone: y [n, out] = x Wᵀ + b, where W [out, in] starts at tensor `w` of
    /// layer `l` and may run on into the tensors stored after it (q, k, v or gate, up as one matrix).
    func product(_ w: LlamaTensor, bias: LlamaTensor?, layer l: Int, x: UnsafePointer<Float>, rows n: Int, inp: Int, out: Int,
                 y: UnsafeMutablePointer<Float>, ldy: Int) {
        if quantizedProduct(w, bias: bias, layer: l, x: x, rows: n, inp: inp, out: out, y: y, ldy: ldy) { return }
        let weight = params.tensor(w, layer: l).baseAddress!
        var beta: Float = 0
        if let bias, bias.exists(config) {
            let b = params.tensor(bias, layer: l).baseAddress!
            for r in 0..<n { (y + r * ldy).update(from: b, count: out) }
            beta = 1
        }
        if n == 1 {
            BLAS.matrixTimesVector(m: out, k: inp, a: weight, lda: inp, x: x, beta: beta, y: y)
        } else {
            BLAS.gemm(transB: true, m: n, n: out, k: inp, a: x, lda: inp, b: weight, ldb: inp, beta: beta, c: y, ldc: ldy)
        }
    }

    /// Decoding steps (through a KV cache) of at most this many rows multiply with the quantized
    /// weights when kept; training and evaluation (no cache) never do, nor a longer prefill.
    public static let quantizedRows = 4

    /// `product` from the quantized weights, for a step of at most `quantizedRows` rows when every
    /// tensor of the (possibly fused) matrix was kept quantized; false otherwise.
    func quantizedProduct(_ w: LlamaTensor, bias: LlamaTensor?, layer l: Int, x: UnsafePointer<Float>, rows n: Int, inp: Int, out: Int,
                          y: UnsafeMutablePointer<Float>, ldy: Int) -> Bool {
        guard decoding, let quantized, n <= Self.quantizedRows else { return false }
        var parts: [(tensor: LlamaTensor, offset: Int)] = []
        var t = w, covered = 0
        while covered < out {
            guard quantized.matrix(t, layer: l) != nil else { return false }
            parts.append((t, covered))
            covered += t.shape(config)[0]
            guard let next = LlamaTensor(rawValue: t.rawValue + 1) else { break }
            t = next
        }
        guard covered == out else { return false }
        for r in 0..<n {
            let xq = QuantizedVector(x + r * inp, count: inp)  // once for q, k, v (or gate, up)
            for p in parts { _ = quantized.multiply(p.tensor, layer: l, config: config, x: xq, into: y + r * ldy + p.offset) }
        }
        if let bias, bias.exists(config) {
            let b = params.tensor(bias, layer: l).baseAddress!
            for r in 0..<n { for i in 0..<out { y[r * ldy + i] += b[i] } }
        }
        return true
    }

    /// y += LoRA's path for projection `w`, when the adapter has it.
    func loraAdd(_ w: LlamaTensor, layer l: Int, x: UnsafePointer<Float>, rows n: Int, inp: Int, out: Int,
                 y: UnsafeMutablePointer<Float>, ldy: Int, a: LlamaLayerActivations, dropout: Bool, seed: UInt64) {
        guard let lora, let k = lora.index(LlamaModel.module(w)) else { return }
        lora.forward(module: k, layer: l, x: x, rows: n, t: a.loraT(k), y: y, ldy: ldy, scratch: memory.activations.pointer.baseAddress! + layout.loraScratch,
                     dropoutSeed: dropout ? Dropout.streamSeed(seed, layer: l, site: .adapter(k)) : nil)
    }

    func layerForward(_ l: Int, input x: UnsafePointer<Float>, lengths: [Int], past: [Int], dropout: Bool, seed: UInt64,
                      cache: KVCache?, slots: [Int]?) -> UnsafeMutablePointer<Float> {
        let c = width, f = config.intermediateSize, n = layout.tokens, d = config.headSize
        let Q = config.queryWidth, K = config.keyValueWidth, ld = Q + 2 * K
        let H = config.numAttentionHeads, group = H / config.numKeyValueHeads
        let a = layout.layer(memory.activations, l)
        RMSNorm.forward(out: a.xn1, rstd: a.rstd1, x: x, weight: params.tensor(.attnNorm, layer: l).baseAddress!, rows: n, width: c,
                        eps: config.rmsNormEps)
        // q, k, v as one product (their weights and biases are adjacent), then each one's LoRA.
        product(.q, bias: .qBias, layer: l, x: a.xn1, rows: n, inp: c, out: ld, y: a.qkv, ldy: ld)
        loraAdd(.q, layer: l, x: a.xn1, rows: n, inp: c, out: Q, y: a.qkv, ldy: ld, a: a, dropout: dropout, seed: seed)
        loraAdd(.k, layer: l, x: a.xn1, rows: n, inp: c, out: K, y: a.qkv + Q, ldy: ld, a: a, dropout: dropout, seed: seed)
        loraAdd(.v, layer: l, x: a.xn1, rows: n, inp: c, out: K, y: a.qkv + Q + K, ldy: ld, a: a, dropout: dropout, seed: seed)

        // Rotations and cache writes per sequence, then every (sequence, head) attention as one
        // task across the cores (a query head reads the key/value head of its group).
        let attnP = dropout ? config.attentionDropout : 0
        var rowStart = [Int](), attStart = [Int](), keys = [(UnsafePointer<Float>, UnsafePointer<Float>, Int)]()
        var row = 0, attOffset = 0
        // q heads then k heads lead each row: one rotation pass over both, rows across the cores.
        rotary.apply(a.qkv, ld: ld, positions: layout.positions, heads: H + config.numKeyValueHeads)
        for (s, len) in lengths.enumerated() {
            let q = a.qkv + row * ld
            var kv = (UnsafePointer(q + Q), UnsafePointer(q + Q + K), ld)
            if let cache {
                let slot = slots![s]
                let kc = cache.keys(layer: l, slot: slot), vc = cache.values(layer: l, slot: slot)
                for i in 0..<len {
                    (kc + (past[s] + i) * K).update(from: q + i * ld + Q, count: K)
                    (vc + (past[s] + i) * K).update(from: q + i * ld + Q + K, count: K)
                }
                kv = (UnsafePointer(kc), UnsafePointer(vc), K)
            }
            rowStart.append(row); attStart.append(attOffset); keys.append(kv)
            row += len
            attOffset += H * len * (past[s] + len)
        }
        let scratch = memory.activations.pointer.baseAddress! + layout.attScratch
        let costs = lengths.indices.flatMap { s in [Int](repeating: lengths[s] * (past[s] + lengths[s]), count: H) }
        Parallel.tasks(costs: costs, maxWorkers: layout.attentionWorkers) { t, w in
            let s = t / H, h = t % H, g = h / group, len = lengths[s], span = len * (past[s] + len)
            let (k, v, ldkv) = keys[s]
            // Kept for backward: every head's probabilities; otherwise one head's per worker.
            let probs = layout.slots > 1 ? a.att + attStart[s] + h * span : a.att + w * layout.maxSpan
            CausalAttention.forward(q: a.qkv + rowStart[s] * ld + h * d, ldq: ld, k: k + g * d, v: v + g * d, ldkv: ldkv,
                                    y: a.atty + rowStart[s] * Q + h * d, ldy: Q, rows: len, past: past[s], heads: 1, headSize: d,
                                    probs: probs, scratch: scratch + w * 2 * layout.maxSpan,
                                    dropout: attnP, seed: Dropout.streamSeed(seed, layer: l, site: .attention) &+ UInt64(attStart[s] + h * span))
        }

        let tmp = memory.activations.pointer.baseAddress! + layout.scratchWide
        linear(.o, bias: .oBias, layer: l, x: a.atty, rows: n, inp: Q, out: c, y: tmp, ldy: c, a: a, dropout: dropout, seed: seed)
        add(x, tmp, a.res2, n * c)
        RMSNorm.forward(out: a.xn2, rstd: a.rstd2, x: a.res2, weight: params.tensor(.mlpNorm, layer: l).baseAddress!, rows: n, width: c,
                        eps: config.rmsNormEps)
        // gate and up as one product [n, 2F] (gate | up in each row), then each one's LoRA.
        product(.gate, bias: nil, layer: l, x: a.xn2, rows: n, inp: c, out: 2 * f, y: a.gu, ldy: 2 * f)
        loraAdd(.gate, layer: l, x: a.xn2, rows: n, inp: c, out: f, y: a.gu, ldy: 2 * f, a: a, dropout: dropout, seed: seed)
        loraAdd(.up, layer: l, x: a.xn2, rows: n, inp: c, out: f, y: a.gu + f, ldy: 2 * f, a: a, dropout: dropout, seed: seed)
        SwiGLU.forward(out: a.act, gateUp: a.gu, rows: n, width: f)
        linear(.down, bias: nil, layer: l, x: a.act, rows: n, inp: f, out: c, y: tmp, ldy: c, a: a, dropout: dropout, seed: seed)
        add(a.res2, tmp, a.res3, n * c)
        return a.res3
    }
}

/// Where each activation lives inside the one activation buffer.
struct LlamaLayout: LayeredActivations {
    var tokens = 0, loraRank = 0, loraTargets = 0
    var layerSlots = LayerSlots()
    var slots: Int { layerSlots.count }
    /// Workers attention runs on (fixed at forward, so backward finds the scratch it sized) and the
    /// largest one-head attention matrix, len·(past+len).
    var attentionWorkers = 1, maxSpan = 0
    /// Each packed row's position (its sequence's cached rows come first), for the rotations.
    var positions: [Int] = []
    var x0 = 0, final = 0, finalRstd = 0, scratchWide = 0, loraScratch = 0, attScratch = 0, attBlocks = 0
    var total: Int { layerSlots.end }
    // offsets inside one layer slot
    var xn1 = 0, rstd1 = 0, qkv = 0, att = 0, atty = 0, res2 = 0, xn2 = 0, rstd2 = 0, gu = 0, act = 0, res3 = 0, loraT = 0

    init() {}

    init(config: LlamaConfig, tokens n: Int, attention: Int, maxSpan: Int, slots: Int, loraRank: Int, loraTargets: Int, workers: Int) {
        tokens = n; self.loraRank = loraRank; self.loraTargets = loraTargets
        self.maxSpan = maxSpan; attentionWorkers = max(1, workers)
        let c = config.hiddenSize, f = config.intermediateSize, Q = config.queryWidth, K = config.keyValueWidth
        var slot = ActivationArena()
        // att: every head's probabilities when kept for backward, else one head's per worker.
        xn1 = slot.take(n * c); rstd1 = slot.take(n); qkv = slot.take(n * (Q + 2 * K))
        att = slot.take(slots > 1 ? attention : attentionWorkers * maxSpan); atty = slot.take(n * Q)
        res2 = slot.take(n * c); xn2 = slot.take(n * c); rstd2 = slot.take(n); gu = slot.take(2 * n * f); act = slot.take(n * f)
        res3 = slot.take(n * c); loraT = slot.take(n * loraRank * loraTargets)
        var buffer = ActivationArena()
        x0 = buffer.take(n * c); final = buffer.take(n * c); finalRstd = buffer.take(n)
        let wide = max(c, f, Q + 2 * K)
        scratchWide = buffer.take(n * wide); loraScratch = buffer.take(loraRank > 0 ? n * wide : 0)
        // Attention scratch per worker: dropout probabilities (forward) or dP and dropped (backward)
        // of one head; for backward, every head's dq | dk | dv block [len, 3d].
        attScratch = buffer.take(attentionWorkers * 2 * maxSpan)
        attBlocks = buffer.take(slots > 1 ? n * config.numAttentionHeads * 3 * config.headSize : 0)
        layerSlots = LayerSlots(of: slot, count: slots, in: &buffer)
    }

    func layer(at p: UnsafeMutablePointer<Float>) -> LlamaLayerActivations {
        LlamaLayerActivations(xn1: p + xn1, rstd1: p + rstd1, qkv: p + qkv, att: p + att, atty: p + atty, res2: p + res2,
                                     xn2: p + xn2, rstd2: p + rstd2, gu: p + gu, act: p + act, res3: p + res3,
                                     lora: LowRankActivations(base: p + loraT, stride: tokens * loraRank))
    }
}

/// One layer's saved activations.
struct LlamaLayerActivations {
    /// gu: gate and up side by side in each row [N, 2F].
    let xn1, rstd1, qkv, att, atty, res2, xn2, rstd2, gu, act, res3: UnsafeMutablePointer<Float>
    /// LoRA's low-rank activations x Aᵀ [N, r], per adapted module.
    let lora: LowRankActivations

    /// Module k's low-rank activations.
    func loraT(_ k: Int) -> UnsafeMutablePointer<Float> { lora.module(k) }
}
