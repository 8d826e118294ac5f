import Tensor
import Foundation

extension LanguageBackbone {
    /// Continues each prompt with a KV cache: the prompts are run once (packed), then every step
    /// feeds one new token per unfinished sequence. `onToken(sequence, token)` is called as each
    /// token is chosen (for streaming). Returns the new tokens of each prompt, stop token included.
    public func generate(prompts: [[Int]], options: SamplingOptions, onToken: ((Int, Int) -> Void)? = nil) -> [[Int]] {
        precondition(!prompts.isEmpty && prompts.allSatisfy { !$0.isEmpty }, "every prompt needs at least one token")
        var inputs = [Float](repeating: 0, count: prompts.reduce(0) { $0 + $1.count } * width)
        inputs.withUnsafeMutableBufferPointer { embedTokens(prompts.flatMap { $0 }, into: $0.baseAddress!) }
        return generate(promptEmbeddings: inputs, lengths: prompts.map(\.count), seen: prompts.map { Set($0) }, options: options, onToken: onToken)
    }

    /// Continues prompts given as input embeddings [sum(lengths), C] (prompts that hold tokens
    /// outside the vocabulary, such as CLLM4Rec's user and item tokens). `seen` are the token ids the
    /// repetition penalty applies to.
    public func generate(promptEmbeddings: [Float], lengths: [Int], seen seenTokens: [Set<Int>], options: SamplingOptions,
                         onToken: ((Int, Int) -> Void)? = nil) -> [[Int]] {
        precondition(!lengths.isEmpty && lengths.allSatisfy { $0 > 0 } && promptEmbeddings.count == lengths.reduce(0, +) * width)
        let prompts = lengths.map { [Int](repeating: 0, count: $0) }  // only their lengths are used below
        let c = width, v = vocabSize
        let longest = prompts.map(\.count).max()!
        precondition(longest <= contextLength, "a prompt of \(longest) tokens exceeds the context of \(contextLength)")
        if options.maxNewTokens <= 0 { return prompts.map { _ in [] } }
        let cache = makeCache(slots: prompts.count, maxLength: min(longest + options.maxNewTokens, contextLength))
        var rng = SplitMix64(seed: options.seed)
        var outputs = [[Int]](repeating: [], count: prompts.count)
        var seen = seenTokens
        var active = Array(prompts.indices)
        var logits = [Float](repeating: 0, count: prompts.count * v)
        var inputs = [Float](repeating: 0, count: max(promptEmbeddings.count, prompts.count * c))
        var next: [Int] = []

        func choose(_ hidden: UnsafePointer<Float>, rows: [Int]) {
            // rows[k]: the hidden row of active sequence k
            next = []
            logits.withUnsafeMutableBufferPointer { lg in
                for (k, s) in active.enumerated() {
                    let out = lg.baseAddress! + k * v
                    self.logits(hidden: hidden + rows[k] * c, rows: 1, into: out)
                    let t = sampleToken(logits: UnsafeMutableBufferPointer(start: out, count: v), seen: seen[s], options: options, using: &rng)
                    next.append(t)
                }
            }
            for (k, s) in active.enumerated() {
                outputs[s].append(next[k])
                seen[s].insert(next[k])
                onToken?(s, next[k])
            }
        }

        // Prefill all prompts at once.
        var hidden = promptEmbeddings.withUnsafeBufferPointer {
            forward(inputs: $0.baseAddress!, lengths: lengths, dropout: false, seed: 0, forBackward: false, cache: cache, slots: Array(prompts.indices))
        }
        var ends: [Int] = []
        var row = 0
        for p in prompts { row += p.count; ends.append(row - 1) }
        choose(hidden, rows: ends)

        while true {
            var stillActive: [Int] = [], tokens: [Int] = []
            for (k, s) in active.enumerated() {
                let done = options.stopTokens.contains(next[k]) || outputs[s].count >= options.maxNewTokens
                    || cache.lengths[s] >= cache.maxLength
                if !done { stillActive.append(s); tokens.append(next[k]) }
            }
            active = stillActive
            if active.isEmpty || options.isCancelled?() == true { break }
            inputs.withUnsafeMutableBufferPointer { embedTokens(tokens, into: $0.baseAddress!) }
            hidden = inputs.withUnsafeBufferPointer {
                forward(inputs: $0.baseAddress!, lengths: Array(repeating: 1, count: active.count), dropout: false, seed: 0, forBackward: false, cache: cache, slots: active)
            }
            choose(hidden, rows: Array(0..<active.count))
        }
        return outputs
    }
}

extension LanguageBackbone {
    /// Mean next-token cross-entropy of `tokens` the way decoding sees them: one token per step
    /// through a KV cache, each step's logits from `logits(hidden:)` (so a backbone that keeps
    /// quantized weights for decoding is measured on those). Every token but the first is predicted.
    public func decodingLoss(_ tokens: [Int]) -> (loss: Double, count: Int) {
        precondition(tokens.count <= contextLength, "\(tokens.count) tokens exceed the context of \(contextLength)")
        guard tokens.count >= 2 else { return (0, 0) }
        let c = width, v = vocabSize
        let cache = makeCache(slots: 1, maxLength: tokens.count)
        var input = [Float](repeating: 0, count: c), logits = [Float](repeating: 0, count: v)
        var total = 0.0
        for i in 0..<(tokens.count - 1) {
            input.withUnsafeMutableBufferPointer { embedTokens([tokens[i]], into: $0.baseAddress!) }
            let hidden = input.withUnsafeBufferPointer {
                forward(inputs: $0.baseAddress!, lengths: [1], dropout: false, seed: 0, forBackward: false, cache: cache, slots: [0])
            }
            logits.withUnsafeMutableBufferPointer { self.logits(hidden: hidden, rows: 1, into: $0.baseAddress!) }
            let top = logits.max()!
            var z = 0.0
            for x in logits { z += Double(expf(x - top)) }
            total += Double(top) + log(z) - Double(logits[tokens[i + 1]])
        }
        return (total / Double(tokens.count - 1), tokens.count - 1)
    }

    /// Mean next-token cross-entropy of a long text in windows of `window` tokens (at most the
    /// context), each window read on its own as llama.cpp's perplexity does: by one forward pass per
    /// window, or token by token through a KV cache (`decoding`, see `decodingLoss`). A last window
    /// of one token predicts nothing and is left out. Also the number of tokens predicted.
    public func windowedLoss(_ tokens: [Int], window: Int, decoding: Bool) -> (loss: Double, count: Int) {
        let w = min(window, contextLength)
        precondition(w >= 2, "a window of \(w) tokens predicts nothing")
        var total = 0.0, count = 0
        for start in stride(from: 0, to: tokens.count, by: w) {
            let piece = Array(tokens[start..<min(tokens.count, start + w)])
            guard piece.count >= 2 else { continue }
            let (loss, n) = decoding ? decodingLoss(piece) : {
                let r = nextTokenLoss([piece], dropout: false, seed: 0, gradient: false)
                return (r.loss, r.count)
            }()
            total += loss * Double(n)
            count += n
        }
        return (count > 0 ? total / Double(count) : 0, count)
    }
}
