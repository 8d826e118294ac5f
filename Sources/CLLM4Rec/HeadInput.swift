import Tensor

/// What the item head of the recommendation copy sees: scores = f(h) · V_recᵀ, with h the final
/// hidden state at the prompt's last token.
///
/// - raw: f(h) = h, the paper.
/// - standardized: f(h) = (h − mean) / scale per channel, with the mean and scale of h over the
///   training prompts, measured once at the start of finetuning and fixed for the run.
///
/// Why standardize: a pretrained LLM's final hidden state is dominated by a direction every prompt
/// shares and by a few outlier channels (SmolLM2-135M: |h| ≈ 46, about 86% of |h|² common to all
/// users, two channels with means 28.6 and −20.9 against a median |channel| of 0.47). Adam moves
/// every coordinate of an item row by about the learning rate per step, so raw item rows learn
/// mostly along that shared direction: every user gets nearly the same, popularity-like ranking.
/// Standardized, every channel that varies between users counts equally.
///
/// Why fixed, not refreshed each epoch or kept as a running estimate: the item rows are learned in
/// the standardized coordinates; moving the coordinates under them would change every score between
/// epochs without any gradient asking for it, and a finished model would depend on when it stopped.
public enum HeadInputKind: String, Codable, Sendable, CaseIterable { case raw, standardized }

/// The per-channel mean and scale of a standardized head input (`head_input.mean`,
/// `head_input.scale` in `embeddings.safetensors`, shape [width]).
public struct HeadInputStandardization: Sendable, Equatable {
    public var mean: [Float]
    public var scale: [Float]

    public init(mean: [Float], scale: [Float]) {
        precondition(mean.count == scale.count, "mean and scale must have the same width")
        self.mean = mean; self.scale = scale
    }

    /// Why a stored pair of tensors gives no standardization (the caller names the file).
    struct StoredPairError: Error, CustomStringConvertible { var description: String }

    /// The standardization of a file's `head_input.mean` and `head_input.scale` (`embeddings.safetensors`,
    /// a checkpoint): nil when neither is there; an error when one is missing or a value is unusable.
    static func stored(mean: [Float]?, scale: [Float]?) throws(StoredPairError) -> HeadInputStandardization? {
        let names = (IDEmbeddings.headInputMeanName, IDEmbeddings.headInputScaleName)
        switch (mean, scale) {
        case (nil, nil): return nil
        case let (mean?, scale?):
            guard scale.allSatisfy({ $0 > 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
                throw StoredPairError(description: "tensor \"\(names.1)\" or \"\(names.0)\" holds a non-finite or non-positive scale")
            }
            return HeadInputStandardization(mean: mean, scale: scale)
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

    /// f(h) in place on rows [count, width].
    public func apply(_ rows: UnsafeMutablePointer<Float>, count: Int) {
        let c = mean.count
        mean.withUnsafeBufferPointer { m in
            scale.withUnsafeBufferPointer { s in
                for r in 0..<count {
                    let row = rows + r * c
                    for k in 0..<c { row[k] = (row[k] - m[k]) / s[k] }
                }
            }
        }
    }

    /// d(loss)/dh from d(loss)/df(h), in place: divided by the scale, channel by channel.
    public func backward(_ dRows: UnsafeMutablePointer<Float>, count: Int) {
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
    /// The recommendation head's input conditioning (nil: raw).
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
}
