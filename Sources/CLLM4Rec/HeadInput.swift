import Tensor

/// What the item head of the recommendation copy sees: scores = f(h) · V_recᵀ, with h the final
/// hidden state at the prompt's last token.
///
/// - raw: f(h) = h, the paper.
/// - standardized: f(h) = (h − mean) / scale per channel, with the mean and scale of h over the
///   training prompts, measured once at the start of finetuning and fixed for the run.
/// - whitened: f(h) = W (h − mean) / scale, W = ((1 − α) R + α I)^(−1/2) with R the channels'
///   correlation matrix over the training prompts (α = `whiteningShrinkage`), measured and fixed
///   like the standardization. Every direction in which users differ gets unit variance, not only
///   every channel.
/// - learned: f(h) = z + U (D z) with z the standardized h and a rank-32 correction trained with the
///   item head (`HeadInputProjection`), starting at zero.
///
/// Why standardize: a pretrained LLM's final hidden state is dominated by a direction every prompt
/// shares and by a few outlier channels (SmolLM2-135M: |h| ≈ 46, about 86% of |h|² common to all
/// users, two channels with means 28.6 and −20.9 against a median |channel| of 0.47). Adam moves
/// every coordinate of an item row by about the learning rate per step, so raw item rows learn
/// mostly along that shared direction: every user gets nearly the same, popularity-like ranking.
/// Standardized, every channel that varies between users counts equally. But the users' variation
/// in a pretrained model's h is also concentrated in a few *directions* across channels (effective
/// rank 5-17 of 576 for SmolLM2 during finetuning, 16-33 for a random backbone): whitening gives
/// those directions the same weight as the rest. The shrinkage toward the identity bounds how much a
/// direction with little variation is amplified (at most 1/√α) and keeps W defined when there are
/// fewer prompts than channels.
///
/// Why fixed, not refreshed each epoch or kept as a running estimate: the item rows are learned in
/// the standardized coordinates; moving the coordinates under them would change every score between
/// epochs without any gradient asking for it, and a finished model would depend on when it stopped.
public enum HeadInputKind: String, Codable, Sendable, CaseIterable { case raw, standardized, whitened, learned }

/// The per-channel mean and scale of a standardized head input (`head_input.mean`,
/// `head_input.scale` in `embeddings.safetensors`, shape [width]), and for a whitened one the
/// symmetric matrix applied after them (`head_input.whitening`, [width, width]).
public struct HeadInputStandardization: Sendable, Equatable {
    public var mean: [Float]
    public var scale: [Float]
    /// W, row-major and symmetric, applied to the standardized h; nil: standardized only.
    public var whitening: [Float]?
    /// The learned correction applied last (a `learned` head input); trained, so a reference: copy
    /// it (`snapshot`) to keep an epoch's values.
    public var projection: HeadInputProjection?

    public init(mean: [Float], scale: [Float], whitening: [Float]? = nil, projection: HeadInputProjection? = nil) {
        precondition(mean.count == scale.count, "mean and scale must have the same width")
        precondition(whitening.map { $0.count == mean.count * mean.count } ?? true, "whitening must be [width, width]")
        precondition(projection.map { $0.width == mean.count } ?? true, "projection must have the head input's width")
        self.mean = mean; self.scale = scale; self.whitening = whitening; self.projection = projection
    }

    public var kind: HeadInputKind { projection != nil ? .learned : whitening == nil ? .standardized : .whitened }

    /// The same conditioning with its own copy of the learned weights.
    public func snapshot() -> HeadInputStandardization {
        HeadInputStandardization(mean: mean, scale: scale, whitening: whitening, projection: projection?.copy())
    }

    /// Why a stored pair of tensors gives no standardization (the caller names the file).
    struct StoredPairError: Error, CustomStringConvertible { var description: String }

    /// The standardization of a file's `head_input.mean` and `head_input.scale` (`embeddings.safetensors`,
    /// a checkpoint): nil when neither is there; an error when one is missing or a value is unusable.
    static func stored(mean: [Float]?, scale: [Float]?, whitening: [Float]? = nil,
                       projection: (down: [Float]?, up: [Float]?, rank: Int) = (nil, nil, 0)) throws(StoredPairError) -> HeadInputStandardization? {
        let names = (IDEmbeddings.headInputMeanName, IDEmbeddings.headInputScaleName)
        let (downName, upName) = (IDEmbeddings.headInputDownName, IDEmbeddings.headInputUpName)
        var learned: HeadInputProjection? = nil
        switch (projection.down, projection.up) {
        case (nil, nil): break
        case let (down?, up?):
            guard down.allSatisfy(\.isFinite), up.allSatisfy(\.isFinite) else {
                throw StoredPairError(description: "tensor \"\(downName)\" or \"\(upName)\" holds a non-finite value")
            }
            learned = HeadInputProjection(down: down, up: up, rank: projection.rank, width: down.count / max(projection.rank, 1))
        default:
            throw StoredPairError(description: "tensors \"\(downName)\" and \"\(upName)\" go together; one is missing")
        }
        switch (mean, scale) {
        case (nil, nil):
            if whitening != nil || learned != nil {
                throw StoredPairError(description: "tensor \"\(whitening != nil ? IDEmbeddings.headInputWhiteningName : downName)\" needs \"\(names.0)\" and \"\(names.1)\"; both are missing")
            }
            return nil
        case let (mean?, scale?):
            guard scale.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
                throw StoredPairError(description: "tensor \"\(names.1)\" or \"\(names.0)\" holds a non-finite or non-positive scale")
            }
            if let whitening {
                guard whitening.allSatisfy(\.isFinite) else {
                    throw StoredPairError(description: "tensor \"\(IDEmbeddings.headInputWhiteningName)\" holds a non-finite value")
                }
                let n = mean.count
                for r in 0..<n { for c in (r + 1)..<max(r + 1, n) where whitening[r * n + c] != whitening[c * n + r] {
                    throw StoredPairError(description: "tensor \"\(IDEmbeddings.headInputWhiteningName)\" is not symmetric (element [\(r), \(c)])")
                } }
            }
            return HeadInputStandardization(mean: mean, scale: scale, whitening: whitening, projection: learned)
        default:
            throw StoredPairError(description: "tensors \"\(names.0)\" and \"\(names.1)\" go together; one is missing")
        }
    }

    /// Added to each channel's variance before the square root: a channel that never varies is
    /// centred, not blown up.
    public static let varianceFloor: Float = 1e-5

    /// The mean and scale of the rows of `h` [rows, width] (sums in Double).
    public static func measured(_ h: UnsafePointer<Float>, rows: Int, width: Int) -> HeadInputStandardization {
        precondition(rows > 0, "no rows to measure")
        var sum = [Double](repeating: 0, count: width), sq = [Double](repeating: 0, count: width)
        for r in 0..<rows {
            let row = h + r * width
            for c in 0..<width { let v = Double(row[c]); sum[c] += v; sq[c] += v * v }
        }
        var mean = [Float](repeating: 0, count: width), scale = [Float](repeating: 1, count: width)
        for c in 0..<width {
            let m = sum[c] / Double(rows)
            let variance = max(0, sq[c] / Double(rows) - m * m)
            mean[c] = Float(m)
            scale[c] = Float((variance + Double(varianceFloor)).squareRoot())
        }
        return HeadInputStandardization(mean: mean, scale: scale)
    }

    /// How much of the correlation matrix is replaced by the identity before W = R_α^(−1/2): a
    /// direction with variance λ is scaled by 1/√((1 − α) λ + α), so none is amplified more than
    /// 1/√α ≈ 3.2 and the dominant ones are divided by about √λ. Chosen, not tuned.
    public static let whiteningShrinkage = 0.1

    /// The mean and scale of the rows of `h` [rows, width], and W from their correlation matrix.
    public static func measuredWhitened(_ h: UnsafePointer<Float>, rows: Int, width: Int,
                                        shrinkage: Double = whiteningShrinkage) throws(BLASError) -> HeadInputStandardization {
        let s = measured(h, rows: rows, width: width)
        var z = [Double](repeating: 0, count: rows * width)
        for r in 0..<rows { for c in 0..<width { z[r * width + c] = (Double(h[r * width + c]) - Double(s.mean[c])) / Double(s.scale[c]) } }
        var rMatrix = [Double](repeating: 0, count: width * width)
        z.withUnsafeBufferPointer { zp in
            rMatrix.withUnsafeMutableBufferPointer { rp in
                for r in 0..<rows {
                    let row = zp.baseAddress! + r * width
                    for a in 0..<width where row[a] != 0 {
                        let va = row[a], out = rp.baseAddress! + a * width
                        for b in a..<width { out[b] += va * row[b] }
                    }
                }
            }
        }
        for a in 0..<width {
            for b in a..<width {
                let v = (1 - shrinkage) * rMatrix[a * width + b] / Double(rows) + (a == b ? shrinkage : 0)
                rMatrix[a * width + b] = v; rMatrix[b * width + a] = v
            }
        }
        let values = try LAPACK.symmetricEigen(&rMatrix, n: width)  // rMatrix: eigenvectors, one per row
        var w = [Double](repeating: 0, count: width * width)
        for j in 0..<width {
            let f = 1 / max(values[j], shrinkage).squareRoot()  // ≥ α in exact arithmetic
            let v = Array(rMatrix[(j * width)..<((j + 1) * width)])
            for a in 0..<width where v[a] != 0 {
                let va = f * v[a]
                for b in a..<width { w[a * width + b] += va * v[b] }
            }
        }
        var wf = [Float](repeating: 0, count: width * width)
        for a in 0..<width { for b in a..<width { wf[a * width + b] = Float(w[a * width + b]); wf[b * width + a] = wf[a * width + b] } }
        return HeadInputStandardization(mean: s.mean, scale: s.scale, whitening: wf)
    }

    /// f(h) in place on rows [count, width]; `keepForBackward` when `backward` follows (training).
    public func apply(_ rows: UnsafeMutablePointer<Float>, count: Int, keepForBackward: Bool = false) {
        let c = mean.count
        mean.withUnsafeBufferPointer { m in
            scale.withUnsafeBufferPointer { s in
                for r in 0..<count {
                    let row = rows + r * c
                    for k in 0..<c { row[k] = (row[k] - m[k]) / s[k] }
                }
            }
        }
        multiplyByWhitening(rows, count: count)
        projection?.forward(rows, count: count, keep: keepForBackward)
    }

    /// rows ← rows · W (= W · row for each row: W is symmetric); nothing when standardized only.
    func multiplyByWhitening(_ rows: UnsafeMutablePointer<Float>, count: Int) {
        guard let whitening, count > 0 else { return }
        let c = mean.count
        let copy = [Float](UnsafeBufferPointer(start: rows, count: count * c))
        copy.withUnsafeBufferPointer { x in
            whitening.withUnsafeBufferPointer { w in
                BLAS.gemm(m: count, n: c, k: c, a: x.baseAddress!, lda: c, b: w.baseAddress!, ldb: c, c: rows, ldc: c)
            }
        }
    }

    /// d(loss)/dh from d(loss)/df(h), in place: through the learned correction (adding to its
    /// gradients), through W (its own transpose), then divided by the scale, channel by channel.
    public func backward(_ dRows: UnsafeMutablePointer<Float>, count: Int) {
        projection?.backward(dRows, count: count)
        multiplyByWhitening(dRows, count: count)
        let c = scale.count
        scale.withUnsafeBufferPointer { s in
            for r in 0..<count {
                let row = dRows + r * c
                for k in 0..<c { row[k] /= s[k] }
            }
        }
    }
}

extension RecModel {
    /// The item head's input conditioning (nil: raw): the recommendation head's, and in a pretraining
    /// run that asked for it the collaborative head's.
    public var headInput: HeadInputStandardization? { embeddings.headInput }

    /// The final hidden states at the last token of each prompt [prompts.count, width], raw (before
    /// any conditioning), with the recommendation copy's embeddings, no dropout, no gradient.
    public func lastHiddenStates(prompts: [[Int]], copy: IDEmbeddings.Copy, batch: Int = 32) -> [Float] {
        let c = width
        var out = [Float](repeating: 0, count: prompts.count * c)
        var start = 0
        while start < prompts.count {
            let chunk = Array(prompts[start..<min(prompts.count, start + batch)])
            _ = embedPrompts(chunk, copy: copy)
            out.withUnsafeMutableBufferPointer { o in
                let dst = o.baseAddress! + start * c
                _ = backbone.lossOnRows(lengths: chunk.map(\.count), rows: lastRows(chunk), dropout: false, seed: 0, gradient: false) { h, m, _ in
                    dst.update(from: h, count: m * c)
                    return 0
                }
            }
            start += chunk.count
        }
        return out
    }

    /// Measures the standardization of the recommendation head's input on these prompts.
    public func measureHeadInput(prompts: [[Int]], copy: IDEmbeddings.Copy) -> HeadInputStandardization {
        let h = lastHiddenStates(prompts: prompts, copy: copy)
        return h.withUnsafeBufferPointer { HeadInputStandardization.measured($0.baseAddress!, rows: prompts.count, width: width) }
    }

    /// Measures the standardization of the collaborative item head's input: h at every row whose
    /// next item the head predicts in these documents, with `copy`'s embeddings, no dropout, no gradient.
    public func measureItemHeadInput(documents: [Document], copy: IDEmbeddings.Copy, predictFirstMain: Bool,
                                     batch: Int = 16) -> HeadInputStandardization {
        let c = width
        var hidden: [Float] = []
        var start = 0
        while start < documents.count {
            let chunk = Array(documents[start..<min(documents.count, start + batch)])
            let (inputs, rows, _) = languageModelRows(chunk, head: .items, predictFirstMain: predictFirstMain)
            _ = embedPrompts(inputs, copy: copy)
            _ = backbone.lossOnRows(lengths: inputs.map(\.count), rows: rows, dropout: false, seed: 0, gradient: false) { h, m, _ in
                hidden.append(contentsOf: UnsafeBufferPointer(start: h, count: m * c))
                return 0
            }
            start += chunk.count
        }
        return hidden.withUnsafeBufferPointer { HeadInputStandardization.measured($0.baseAddress!, rows: hidden.count / c, width: c) }
    }

    /// Measures the whitening of the recommendation head's input on these prompts.
    public func measureWhitenedHeadInput(prompts: [[Int]], copy: IDEmbeddings.Copy) throws(BLASError) -> HeadInputStandardization {
        let h = lastHiddenStates(prompts: prompts, copy: copy)
        return try h.withUnsafeBufferPointer { (p) throws(BLASError) in
            try HeadInputStandardization.measuredWhitened(p.baseAddress!, rows: prompts.count, width: width)
        }
    }
}
