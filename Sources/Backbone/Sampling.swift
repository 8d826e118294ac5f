import Tensor

/// How the next token is chosen, with Hugging Face `generate`'s meanings.
public struct SamplingOptions: Sendable {
    /// 0 is greedy (argmax, first index on ties, as `do_sample=False`).
    public var temperature: Float = 1
    /// Keep only the k most likely tokens (0: all). Ties with the k-th are kept, as HF's TopK.
    public var topK: Int = 0
    /// Keep the smallest set of most likely tokens whose probability reaches p (1: all).
    public var topP: Float = 1
    /// HF's CTRL-style penalty: a seen token's logit is divided by it (multiplied when negative).
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0
    public var maxNewTokens: Int = 50
    /// Generation of a sequence stops after it produces one of these (e.g. <|endoftext|>).
    public var stopTokens: Set<Int> = []
    /// Asked before each new token: true stops every sequence where it is (a server's client left).
    public var isCancelled: (@Sendable () -> Bool)? = nil

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0,
                maxNewTokens: Int = 50, stopTokens: Set<Int> = []) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.repetitionPenalty = repetitionPenalty
        self.seed = seed; self.maxNewTokens = maxNewTokens; self.stopTokens = stopTokens
    }
}

/// Picks a token from logits (modified in place) given the tokens seen so far.
///
///     greedy: [0.1, 2.0, 2.0] -> 1 (first of the tied maxima)
public func sampleToken<G: RandomNumberGenerator>(logits: UnsafeMutableBufferPointer<Float>, seen: Set<Int>,
                                                  options o: SamplingOptions, using g: inout G) -> Int {
    let v = logits.count
    if o.repetitionPenalty != 1 {
        for t in seen where t >= 0 && t < v {
            logits[t] = logits[t] < 0 ? logits[t] * o.repetitionPenalty : logits[t] / o.repetitionPenalty
        }
    }
    if o.temperature <= 0 {
        var best = 0
        for i in 1..<v where logits[i] > logits[best] { best = i }
        return best
    }
    let p = logits.baseAddress!
    scale(p, v, by: 1 / o.temperature)
    if o.topK > 0 && o.topK < v {
        let kth = logits.sorted(by: >)[o.topK - 1]
        for i in 0..<v where logits[i] < kth { logits[i] = -.infinity }
    }
    let m = maximum(p, v)
    let s = expShiftSum(p, v, shift: m)
    scale(p, v, by: 1 / s)
    if o.topP < 1 {
        let order = (0..<v).filter { logits[$0] > 0 }.sorted { logits[$0] > logits[$1] }
        var cumulative: Float = 0, keep = 0
        while keep < order.count {
            cumulative += logits[order[keep]]
            keep += 1
            if cumulative >= o.topP { break }
        }
        var kept = Set(order.prefix(keep))
        if kept.isEmpty { kept = [order.first ?? 0] }
        var total: Float = 0
        for i in 0..<v { if kept.contains(i) { total += logits[i] } else { logits[i] = 0 } }
        scale(p, v, by: 1 / total)
    }
    let u = Float.random(in: 0..<1, using: &g)
    var acc: Float = 0
    var lastPositive = 0
    for i in 0..<v where logits[i] > 0 {
        acc += logits[i]
        lastPositive = i
        if u < acc { return i }
    }
    return lastPositive
}
