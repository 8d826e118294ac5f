import Backbone
import Tensor

/// A training document: prompt followed by main text, as token ids of the extended vocabulary.
public struct Document: Sendable {
    public var tokens: [Int]
    public var promptLength: Int
    public init(tokens: [Int], promptLength: Int) { self.tokens = tokens; self.promptLength = promptLength }
}

/// What one micro-batch contributed.
public struct StepResult: Sendable {
    public var lossSum = 0.0
    public var predictions = 0
    public var regularization = 0.0
    public var tokens = 0
    public static func + (a: StepResult, b: StepResult) -> StepResult {
        StepResult(lossSum: a.lossSum + b.lossSum, predictions: a.predictions + b.predictions,
                   regularization: a.regularization + b.regularization, tokens: a.tokens + b.tokens)
    }
}

/// The output head of a language-model step.
public enum Head: Sendable {
    /// Softmax over the J items, weights tied to the item table of the copy being trained.
    case items
    /// Softmax over the language model's vocabulary through its frozen output head.
    case vocabulary
}

extension RecModel {
    /// One micro-batch of language modelling on the main texts (docs/CLLM4REC.md §4): the mean
    /// cross-entropy of each main token given everything before it, plus the mutual regularization
    /// λ Σ ||z − stopgrad(z_other)||² over the ID tokens of the whole documents (`mrWholeDocument`)
    /// or of their prompts. Gradients of that sum are added to `grads` (the `copy` tables).
    ///
    /// - predictFirstMain: the paper predicts the first main token from the prompt; the reference
    ///   code does not (false).
    public func languageModelStep(_ docs: [Document], head: Head, copy: IDEmbeddings.Copy, other: IDEmbeddings.Copy?,
                                  lambda: Float, mrWholeDocument: Bool, predictFirstMain: Bool = true,
                                  dropout: Bool, seed: UInt64, grads: IDGradients?) -> StepResult {
        let c = width
        // Inputs: each document without its last token (it is only ever a target).
        let inputs = docs.map { Array($0.tokens.dropLast()) }
        let lengths = inputs.map(\.count)
        let n = lengths.reduce(0, +)
        var rows: [Int] = [], targets: [Int32] = []
        var start = 0
        for d in docs {
            let first = max(0, predictFirstMain ? d.promptLength - 1 : d.promptLength)
            for p in first..<(d.tokens.count - 1) {
                rows.append(start + p)
                let t = d.tokens[p + 1]
                switch head {
                case .items:
                    precondition(t >= firstItem && t < firstItem + items, "main token \(t) of a collaborative document is not an item")
                    targets.append(Int32(t - firstItem))
                case .vocabulary:
                    precondition(t < firstUser, "main token \(t) of a content document is not a word")
                    targets.append(Int32(t))
                }
            }
            start += d.tokens.count - 1
        }
        var result = StepResult(tokens: n)
        let m = rows.count
        ensureScratch(inputs: n * c, rows: m * c, head: head)
        let x = scratch.inputs.pointer.baseAddress!
        var r = 0
        for seq in inputs { embed(seq, copy: copy, into: x + r * c); r += seq.count }
        let training = grads != nil
        let hidden = backbone.forward(inputs: x, lengths: lengths, dropout: dropout, seed: seed, forBackward: training)
        if m > 0 {
            let g = scratch.gathered.pointer.baseAddress!, dg = scratch.dGathered.pointer.baseAddress!
            for (k, row) in rows.enumerated() { (g + k * c).update(from: hidden + row * c, count: c) }
            let headWeights: UnsafePointer<Float>, v: Int
            switch head {
            case .items: headWeights = UnsafePointer(embeddings.item(copy)); v = items
            case .vocabulary: headWeights = backbone.outputHead; v = backbone.vocabSize
            }
            result.lossSum = targets.withUnsafeBufferPointer { t in
                ChunkedCrossEntropy.lossAndGradient(hidden: g, rows: m, width: c, head: headWeights, vocab: v, targets: t.baseAddress!,
                                                    gradScale: 1 / Float(m), dHidden: training ? dg : nil,
                                                    dHead: training && head == .items ? grads!.items.pointer.baseAddress! : nil,
                                                    scratch: scratch.logits.pointer)
            }
            result.predictions = m
            if training { backpropagate(rows: rows, dRows: dg, sequences: inputs, grads: grads!) }
        }  // nothing to predict (documents without a main text): no gradient
        if let other, lambda > 0 {
            for d in docs {
                for t in (mrWholeDocument ? d.tokens : Array(d.tokens.prefix(d.promptLength))) where isID(t) {
                    result.regularization += mutualRegularization(t, copy: copy, other: other, lambda: lambda, grads: grads)
                }
            }
        }
        return result
    }

    /// λ ||z − stopgrad(z_other)||² for one occurrence of ID token t; adds its gradient 2λ(z − z_other).
    func mutualRegularization(_ t: Int, copy: IDEmbeddings.Copy, other: IDEmbeddings.Copy, lambda: Float, grads: IDGradients?) -> Double {
        let z = idRow(t, copy), o = idRow(t, other)
        var s: Float = 0
        for k in 0..<width { let d = z[k] - o[k]; s += d * d }
        if let grads {
            let g = grads.row(t)
            for k in 0..<width { g[k] += 2 * lambda * (z[k] - o[k]) }
        }
        return Double(lambda * s)
    }

    /// One micro-batch of recommendation finetuning: for each prompt, scores = h_last · V_recᵀ over all
    /// items, loss = −Σ_j target_j log softmax(scores)_j (summed over targets, not normalised by
    /// their number), averaged over prompts; plus λ Σ ||z_rec − stopgrad(z_other)||² over the ID
    /// tokens of the prompts and the target items.
    public func recommendationStep(prompts: [[Int]], targets: [[Int]], copy: IDEmbeddings.Copy, other: IDEmbeddings.Copy?,
                                   lambda: Float, dropout: Bool, seed: UInt64, grads: IDGradients?) -> StepResult {
        let c = width, b = prompts.count, j = items
        let training = grads != nil
        let (h, last, n) = lastHiddenStates(prompts, copy: copy, dropout: dropout, seed: seed, forBackward: training)
        let s = scratch.logits.pointer.baseAddress!  // [b, J]
        let v = embeddings.item(copy)
        BLAS.gemm(transB: true, m: b, n: j, k: c, a: h, lda: c, b: v, ldb: c, c: s, ldc: j)
        var result = StepResult(predictions: b, tokens: n)
        for k in 0..<b {
            let row = s + k * j
            let targetScores = targets[k].map { row[$0] }
            let mx = maximum(row, j)
            let z = expShiftSum(row, j, shift: mx)  // row now holds exp(score - max)
            let lse = mx + logf(z)
            let mass = Float(targets[k].count)
            let loss = targetScores.reduce(0.0) { $0 + Double(lse - $1) }
            result.lossSum += loss
            if training {
                // d/dscores = (Σ t) softmax − t, over b prompts
                scale(row, j, by: mass / z / Float(b))
                for t in targets[k] { row[t] -= 1 / Float(b) }
            }
        }
        if training {
            let dg = scratch.dGathered.pointer.baseAddress!
            BLAS.gemm(transA: true, m: j, n: c, k: b, a: s, lda: j, b: h, ldb: c, beta: 1, c: grads!.items.pointer.baseAddress!, ldc: c)
            BLAS.gemm(m: b, n: c, k: j, a: s, lda: j, b: v, ldb: c, c: dg, ldc: c)
            backpropagate(rows: last, dRows: dg, sequences: prompts, grads: grads!)
        }
        if let other, lambda > 0 {
            for (k, p) in prompts.enumerated() {
                for t in p where isID(t) { result.regularization += mutualRegularization(t, copy: copy, other: other, lambda: lambda, grads: grads) }
                for t in targets[k] { result.regularization += mutualRegularization(firstItem + t, copy: copy, other: other, lambda: lambda, grads: grads) }
            }
        }
        return result
    }

    /// Scores [prompts.count, J] of every item after each prompt (evaluation, no gradient).
    public func scores(prompts: [[Int]], copy: IDEmbeddings.Copy) -> [Float] {
        let c = width, b = prompts.count, j = items
        let (h, _, _) = lastHiddenStates(prompts, copy: copy, dropout: false, seed: 0, forBackward: false)
        var out = [Float](repeating: 0, count: b * j)
        BLAS.gemm(transB: true, m: b, n: j, k: c, a: h, lda: c, b: embeddings.item(copy), ldb: c, c: &out, ldc: j)
        return out
    }
}

extension RecModel {
    /// Embeds and runs packed prompts; returns the final hidden state of each prompt's last token
    /// [prompts.count, C] (in scratch), the rows they came from, and the number of tokens.
    func lastHiddenStates(_ prompts: [[Int]], copy: IDEmbeddings.Copy, dropout: Bool, seed: UInt64, forBackward: Bool)
        -> (UnsafeMutablePointer<Float>, [Int], Int)
    {
        let c = width
        let n = prompts.reduce(0) { $0 + $1.count }
        ensureScratch(inputs: n * c, rows: prompts.count * c, head: .items)
        let x = scratch.inputs.pointer.baseAddress!
        var r = 0
        var last: [Int] = []
        for p in prompts { embed(p, copy: copy, into: x + r * c); r += p.count; last.append(r - 1) }
        let hidden = backbone.forward(inputs: x, lengths: prompts.map(\.count), dropout: dropout, seed: seed, forBackward: forBackward)
        let h = scratch.gathered.pointer.baseAddress!
        for (k, row) in last.enumerated() { (h + k * c).update(from: hidden + row * c, count: c) }
        return (h, last, n)
    }

    /// Backpropagates gradients given at some rows of the final hidden states through the backbone,
    /// and adds the input gradients of every user/item token to `grads`.
    func backpropagate(rows: [Int], dRows: UnsafePointer<Float>, sequences: [[Int]], grads: IDGradients) {
        let c = width
        let n = sequences.reduce(0) { $0 + $1.count }
        let dh = scratch.dHidden.pointer.baseAddress!
        dh.update(repeating: 0, count: n * c)
        for (k, row) in rows.enumerated() { (dh + row * c).update(from: dRows + k * c, count: c) }
        let dIn = backbone.backward(dHidden: dh)
        var r = 0
        for seq in sequences {
            for (i, t) in seq.enumerated() where isID(t) { axpy(1, dIn + (r + i) * c, grads.row(t), c) }
            r += seq.count
        }
    }
}

/// Reusable buffers of the steps (grown, never shrunk).
final class StepScratch {
    var inputs = FloatBuffer(count: 0), gathered = FloatBuffer(count: 0), dGathered = FloatBuffer(count: 0)
    var dHidden = FloatBuffer(count: 0), logits = FloatBuffer(count: 0)
}

extension RecModel {
    func ensureScratch(inputs n: Int, rows m: Int, head: Head) {
        func grow(_ b: inout FloatBuffer, _ k: Int) { if b.count < k { b = FloatBuffer(count: k + k / 4) } }
        grow(&scratch.inputs, n); grow(&scratch.dHidden, n)
        grow(&scratch.gathered, m); grow(&scratch.dGathered, m)
        let v = head == .items ? items : backbone.vocabSize
        grow(&scratch.logits, max(min(max(m / width, 1), ChunkedCrossEntropy.defaultChunkRows) * v, (m / width) * items))
    }
}

#if canImport(Glibc)
import Glibc
#endif
