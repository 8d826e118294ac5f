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
    ///
    /// - headInput: the item head's input conditioning (`head` .items only): the collaborative head
    ///   sees f(h) instead of h, as the recommendation head does (`HeadInputStandardization`).
    public func languageModelStep(_ docs: [Document], head: Head, copy: IDEmbeddings.Copy, other: IDEmbeddings.Copy?,
                                  lambda: Float, mrWholeDocument: Bool, predictFirstMain: Bool = true,
                                  headInput: HeadInputStandardization? = nil,
                                  dropout: Bool, seed: UInt64, grads: IDGradients?) -> StepResult {
        precondition(headInput == nil || head == .items, "a head input conditions the item head only")
        let (inputs, rows, targets) = languageModelRows(docs, head: head, predictFirstMain: predictFirstMain)
        let lengths = inputs.map(\.count)
        let n = embedPrompts(inputs, copy: copy)
        var result = StepResult(tokens: n)
        let m = rows.count
        let training = grads != nil
        let headWeights: UnsafePointer<Float>, v: Int
        switch head {
        case .items: headWeights = UnsafePointer(embeddings.item(copy)); v = items
        case .vocabulary: headWeights = backbone.outputHead; v = backbone.vocabSize
        }
        let ce = backbone.crossEntropyHead(weights: headWeights, vocab: v, targets: targets, gradScale: 1 / Float(max(m, 1)),
                                           dWeights: training && head == .items ? grads!.items.pointer.baseAddress! : nil)
        let conditioned: RowHead = headInput.map { f in
            { h, count, dRows in
                f.apply(h, count: count, keepForBackward: dRows != nil)  // h is the gathered rows' scratch: f(h) in place
                let loss = ce(h, count, dRows)
                if let dRows { f.backward(dRows, count: count) }
                return loss
            }
        } ?? ce
        // Documents without a main text predict nothing: no loss, no gradient.
        let (loss, dIn) = backbone.lossOnRows(lengths: lengths, rows: rows, dropout: dropout, seed: seed, gradient: training, head: conditioned)
        result.lossSum = loss
        result.predictions = m
        if let dIn { addIDGradients(dIn, sequences: inputs, grads: grads!) }
        if let other, lambda > 0 {
            for d in docs {
                for t in (mrWholeDocument ? d.tokens : Array(d.tokens.prefix(d.promptLength))) where isID(t) {
                    result.regularization += mutualRegularization(t, copy: copy, other: other, lambda: lambda, grads: grads)
                }
            }
        }
        return result
    }

    /// A language-model micro-batch's inputs (each document without its last token, which is only
    /// ever a target), the packed rows whose next token is predicted, and those tokens (item
    /// indices for the item head, words for the vocabulary head).
    func languageModelRows(_ docs: [Document], head: Head, predictFirstMain: Bool) -> (inputs: [[Int]], rows: [Int], targets: [Int32]) {
        let inputs = docs.map { Array($0.tokens.dropLast()) }
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
        return (inputs, rows, targets)
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
        let n = embedPrompts(prompts, copy: copy)
        var result = StepResult(predictions: b, tokens: n)
        let v = embeddings.item(copy)
        let conditioning = copy == .recommendation ? headInput : nil
        let head: RowHead = { h, _, dRows in
            conditioning?.apply(h, count: b, keepForBackward: dRows != nil)  // h is the gathered rows' scratch: f(h) in place
            let s = self.backbone.rowLossBuffers.logits(b * j).baseAddress!  // [b, J]
            BLAS.gemm(transB: true, m: b, n: j, k: c, a: h, lda: c, b: v, ldb: c, c: s, ldc: j)
            var total = 0.0
            for k in 0..<b {
                let row = s + k * j
                let targetScores = targets[k].map { row[$0] }
                let mx = maximum(row, j)
                let z = expShiftSum(row, j, shift: mx)  // row now holds exp(score - max)
                let lse = mx + logf(z)
                total += targetScores.reduce(0.0) { $0 + Double(lse - $1) }
                if dRows != nil {
                    // d/dscores = (Σ t) softmax − t, over b prompts
                    scale(row, j, by: Float(targets[k].count) / z / Float(b))
                    for t in targets[k] { row[t] -= 1 / Float(b) }
                }
            }
            if let dRows {
                BLAS.gemm(transA: true, m: j, n: c, k: b, a: s, lda: j, b: h, ldb: c, beta: 1, c: grads!.items.pointer.baseAddress!, ldc: c)
                BLAS.gemm(m: b, n: c, k: j, a: s, lda: j, b: v, ldb: c, c: dRows, ldc: c)
                conditioning?.backward(dRows, count: b)
            }
            return total
        }
        let (loss, dIn) = backbone.lossOnRows(lengths: prompts.map(\.count), rows: lastRows(prompts), dropout: dropout, seed: seed,
                                              gradient: training, head: head)
        result.lossSum = loss
        if let dIn { addIDGradients(dIn, sequences: prompts, grads: grads!) }
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
        scoresAndHeadInputs(prompts: prompts, copy: copy).scores
    }

    /// Scores [prompts.count, J] and the head's inputs f(h) [prompts.count, width] they came from
    /// (what the collapse diagnostic measures).
    public func scoresAndHeadInputs(prompts: [[Int]], copy: IDEmbeddings.Copy) -> (scores: [Float], headInputs: [Float]) {
        let c = width, b = prompts.count, j = items
        _ = embedPrompts(prompts, copy: copy)
        var out = [Float](repeating: 0, count: b * j), inputs = [Float](repeating: 0, count: b * c)
        let v = embeddings.item(copy)
        let conditioning = copy == .recommendation ? headInput : nil
        out.withUnsafeMutableBufferPointer { o in
            inputs.withUnsafeMutableBufferPointer { x in
                _ = backbone.lossOnRows(lengths: prompts.map(\.count), rows: lastRows(prompts), dropout: false, seed: 0, gradient: false) { h, _, _ in
                    conditioning?.apply(h, count: b)
                    x.baseAddress!.update(from: h, count: b * c)
                    BLAS.gemm(transB: true, m: b, n: j, k: c, a: h, lda: c, b: v, ldb: c, c: o.baseAddress!, ldc: j)
                    return 0
                }
            }
        }
        return (out, inputs)
    }
}

extension RecModel {
    /// Embeds packed sequences (prompts, or documents without their last token) into the backbone's
    /// input buffer; returns the number of tokens.
    func embedPrompts(_ prompts: [[Int]], copy: IDEmbeddings.Copy) -> Int {
        let c = width, n = prompts.reduce(0) { $0 + $1.count }
        let x = backbone.rowLossBuffers.inputs(n * c)
        var r = 0
        for p in prompts { embed(p, copy: copy, into: x + r * c); r += p.count }
        return n
    }

    /// The packed row of each prompt's last token.
    func lastRows(_ prompts: [[Int]]) -> [Int] {
        var r = 0
        return prompts.map { r += $0.count; return r - 1 }
    }

    /// Adds the input-embedding gradients of every user/item token to `grads`.
    func addIDGradients(_ dIn: UnsafePointer<Float>, sequences: [[Int]], grads: IDGradients) {
        let c = width
        var r = 0
        for seq in sequences {
            for (i, t) in seq.enumerated() where isID(t) { axpy(1, dIn + (r + i) * c, grads.row(t), c) }
            r += seq.count
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
