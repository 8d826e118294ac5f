import Tensor

/// The buffers of every loss computed on selected hidden rows of one backbone: input embeddings,
/// the gathered rows and their gradient, the hidden-state gradient, and the head's chunk of logits.
/// One owner (the backbone), grown to the largest batch seen and then reused, so a training loop
/// allocates nothing per step.
public final class RowLossBuffers: @unchecked Sendable {
    var inputs = FloatBuffer(count: 0), gathered = FloatBuffer(count: 0), dGathered = FloatBuffer(count: 0)
    var dHidden = FloatBuffer(count: 0), logits = FloatBuffer(count: 0)

    public init() {}

    /// Room for the input embeddings of `count` floats (the caller fills it, then calls `lossOnRows`).
    public func inputs(_ count: Int) -> UnsafeMutablePointer<Float> { FloatBuffer.ensure(&inputs, holds: count) }

    /// Scratch of at least `count` floats for a head's logits (a chunk of rows over the vocabulary).
    public func logits(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        _ = FloatBuffer.ensure(&logits, holds: count)
        return logits.pointer
    }
}

/// A head on gathered hidden rows [m, C]: returns the summed loss and, when `dRows` is given,
/// writes d(loss)/d(rows) there [m, C] (the head's own weight gradients are its business).
public typealias RowHead = (_ rows: UnsafeMutablePointer<Float>, _ count: Int, _ dRows: UnsafeMutablePointer<Float>?) -> Double

extension LanguageBackbone {
    /// The one "loss on selected hidden rows" of the engine: runs the packed sequences whose input
    /// embeddings are in `rowLossBuffers.inputs` (`lengths`), gathers the final hidden states at
    /// `rows` (indices into the packed rows), applies `head`, and with `gradient` backpropagates its
    /// row gradients through the backbone. Returns the head's loss and, with `gradient`, the
    /// gradient at the input embeddings [N, C] (valid until the next call).
    public func lossOnRows(lengths: [Int], rows: [Int], dropout: Bool, seed: UInt64, gradient: Bool,
                           head: RowHead) -> (loss: Double, inputGradient: UnsafeMutablePointer<Float>?) {
        let b = rowLossBuffers, c = width
        let n = lengths.reduce(0, +), m = rows.count
        let x = FloatBuffer.ensure(&b.inputs, holds: n * c)
        let hidden = forward(inputs: x, lengths: lengths, dropout: dropout, seed: seed, forBackward: gradient, cache: nil, slots: nil)
        let g = FloatBuffer.ensure(&b.gathered, holds: m * c)
        for (k, r) in rows.enumerated() { (g + k * c).update(from: hidden + r * c, count: c) }
        let dg = gradient ? FloatBuffer.ensure(&b.dGathered, holds: m * c) : nil
        let loss = m > 0 ? head(g, m, dg) : 0
        guard gradient, m > 0, let dg else { return (loss, nil) }
        let dh = FloatBuffer.ensure(&b.dHidden, holds: n * c)
        dh.update(repeating: 0, count: n * c)  // rows that predict nothing get no gradient
        for (k, r) in rows.enumerated() { (dh + r * c).update(from: dg + k * c, count: c) }
        return (loss, backward(dHidden: dh))
    }

    /// A softmax cross-entropy head over `vocab` rows of `weights` [vocab, C] (chunked, the logits
    /// never whole): summed loss; gradients scaled by `gradScale`, `dWeights` accumulated when given.
    public func crossEntropyHead(weights: UnsafePointer<Float>, vocab: Int, targets: [Int32], gradScale: Float,
                                 dWeights: UnsafeMutablePointer<Float>? = nil) -> RowHead {
        { rows, m, dRows in
            let scratch = self.rowLossBuffers.logits(min(max(m, 1), ChunkedCrossEntropy.defaultChunkRows) * vocab)
            return targets.withUnsafeBufferPointer { t in
                ChunkedCrossEntropy.lossAndGradient(hidden: rows, rows: m, width: self.width, head: weights, vocab: vocab,
                                                    targets: t.baseAddress!, gradScale: gradScale, dHidden: dRows,
                                                    dHead: dRows == nil ? nil : dWeights, scratch: scratch)
            }
        }
    }

    /// Mean cross-entropy of predicting each token of each sequence from the ones before it (as the
    /// Hugging Face model with `labels=input_ids`), and with `gradient`, d(mean loss)/d(input
    /// embeddings) [N, C]; the token table and the head get their weight gradients when the backbone
    /// trains them (`tokenEmbeddingGradient`, `outputHeadGradient`).
    public func nextTokenLoss(_ sequences: [[Int]], dropout: Bool = false, seed: UInt64 = 0, gradient: Bool = false)
        -> (loss: Double, count: Int, inputGradient: [Float]?)
    {
        let c = width
        let ids = sequences.flatMap { $0 }
        var rows: [Int] = [], targets: [Int32] = []
        var start = 0
        for s in sequences {
            for i in 0..<max(0, s.count - 1) { rows.append(start + i); targets.append(Int32(s[i + 1])) }
            start += s.count
        }
        let m = rows.count
        embedTokens(ids, into: rowLossBuffers.inputs(ids.count * c))
        let head = crossEntropyHead(weights: outputHead, vocab: vocabSize, targets: targets, gradScale: 1 / Float(max(m, 1)),
                                    dWeights: gradient ? outputHeadGradient : nil)
        let (total, dIn) = lossOnRows(lengths: sequences.map(\.count), rows: rows, dropout: dropout, seed: seed, gradient: gradient, head: head)
        guard m > 0 else { return (0, 0, gradient ? [Float](repeating: 0, count: ids.count * c) : nil) }
        guard let dIn else { return (total / Double(m), m, nil) }
        if let dTable = tokenEmbeddingGradient {
            // The lookup half of the token table's gradient (a tied head's half came with the loss).
            for (r, id) in ids.enumerated() { axpy(1, dIn + r * c, dTable + id * c, c) }
        }
        return (total / Double(m), m, Array(UnsafeBufferPointer(start: dIn, count: ids.count * c)))
    }
}
