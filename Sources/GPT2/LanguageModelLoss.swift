import Tensor

/// Next-token prediction with the vocabulary head tied to `wte`.
extension GPT2Model {
    /// Mean cross-entropy of predicting each token of each sequence from the ones before it (as
    /// `GPT2LMHeadModel(labels=input_ids)`), and with `gradient`, d(mean loss)/d(input embeddings)
    /// [N, C] for the packed sequences; the tensors chosen in `weightGradients` get their
    /// gradients added (`wte` through both the tied head and the token lookup).
    public func nextTokenLoss(_ sequences: [[Int]], dropout: Bool = false, seed: UInt64 = 0, gradient: Bool = false)
        -> (loss: Double, count: Int, inputGradient: [Float]?)
    {
        let c = width
        let ids = sequences.flatMap { $0 }
        let n = ids.count
        // Rows that predict something: every row but the last of each sequence.
        var rows: [Int] = [], targets: [Int32] = []
        var start = 0
        for s in sequences {
            for i in 0..<max(0, s.count - 1) { rows.append(start + i); targets.append(Int32(s[i + 1])) }
            start += s.count
        }
        let m = rows.count
        // Buffers reused across calls (grown, never shrunk): no page faults per step.
        let inputs = lossBuffer(0, n * c), gathered = lossBuffer(1, m * c)
        let dGathered = lossBuffer(2, gradient ? m * c : 0), dHidden = lossBuffer(3, gradient ? n * c : 0)
        embed(ids, into: inputs)
        let hidden = forward(inputs: inputs, lengths: sequences.map(\.count), dropout: dropout, seed: seed, forBackward: gradient)
        guard m > 0 else { return (0, 0, gradient ? [Float](repeating: 0, count: n * c) : nil) }
        for (k, r) in rows.enumerated() { (gathered + k * c).update(from: hidden + r * c, count: c) }
        let total = targets.withUnsafeBufferPointer { t in
            ChunkedCrossEntropy.lossAndGradient(hidden: gathered, rows: m, width: c, head: params.tensor(.wte).baseAddress!,
                                                vocab: config.vocabSize, targets: t.baseAddress!, gradScale: 1 / Float(m),
                                                dHidden: gradient ? dGathered : nil,
                                                dHead: gradient ? weightGradients?.gradient(.wte) : nil, scratch: headScratch(rows: m))
        }
        guard gradient else { return (total / Double(m), m, nil) }
        dHidden.update(repeating: 0, count: n * c)  // rows that predict nothing get no gradient
        for (k, r) in rows.enumerated() { (dHidden + r * c).update(from: dGathered + k * c, count: c) }
        let dIn = backward(dHidden: dHidden)
        if let dwte = weightGradients?.gradient(.wte) {
            // The lookup half of the tied wte's gradient (the head half came with the loss).
            for (r, id) in ids.enumerated() { axpy(1, dIn + r * c, dwte + id * c, c) }
        }
        return (total / Double(m), m, Array(UnsafeBufferPointer(start: dIn, count: n * c)))
    }

    /// Loss scratch `k` (inputs, gathered rows, their gradient, hidden-state gradient), at least
    /// `count` floats.
    func lossBuffer(_ k: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        if lossBuffers[k].count < max(count, 1) { lossBuffers[k] = FloatBuffer(count: max(count, 1) + count / 4) }
        return lossBuffers[k].pointer.baseAddress!
    }

    /// Scratch for chunked logits: one chunk of rows (`ChunkedCrossEntropy.defaultChunkRows`) over the vocabulary.
    func headScratch(rows: Int) -> UnsafeMutableBufferPointer<Float> {
        let need = min(max(rows, 1), ChunkedCrossEntropy.defaultChunkRows) * config.vocabSize
        if headBuffer.count < need { headBuffer = FloatBuffer(count: need) }
        return headBuffer.pointer
    }
}
