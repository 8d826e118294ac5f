import Backbone
import Foundation
import RecData
import Tensor

/// How the recommendation rows of items without a training interaction (cold items) are set before
/// they are scored. The head's rows of warm items were learned from interactions; a cold item's row
/// only ever received the softmax's push away from every prompt, so it needs a rule.
public enum ColdRowRule: String, CaseIterable, Codable, Sendable {
    /// The rows as training left them (mutual regularization pulled the collaborative copy toward
    /// the content copy; finetuning's softmax pushed the recommendation row down).
    case trained
    /// The item's content row (trained on its text) copied in: the method's tie between the copies,
    /// taken literally.
    case content
    /// A ridge regression from content rows to recommendation rows, fitted on the warm items.
    case contentMap = "content-map"
    /// A ridge regression from the backbone's reading of the item's text (the mean of its final
    /// hidden states over the text, `ItemTextEmbeddings`) to recommendation rows, fitted on the warm items.
    case textMap = "text-map"
    /// The mean of the recommendation rows of the 20 warm items whose texts the backbone reads most
    /// alike (cosine of the centred text embeddings), weighted by that cosine (negative ones left out).
    case textKNN = "text-knn"

    /// Whether the rule reads the items' text embeddings.
    public var needsTextEmbeddings: Bool { self == .textMap || self == .textKNN }
    /// Whether the rule has a ridge penalty.
    public var hasRidge: Bool { self == .textMap || self == .contentMap }
}

/// Dense per-item feature rows [items, width].
public struct ItemFeatures: Sendable {
    public var items: Int, width: Int
    public var values: [Float]
    public init(items: Int, width: Int, values: [Float]) {
        precondition(values.count == items * width)
        self.items = items; self.width = width; self.values = values
    }

    /// Rows centred on the mean of `over` (all rows when nil) and scaled to unit length (a zero row
    /// stays zero): cosine similarity becomes a dot product, and a direction every item shares (the
    /// pretrained backbone's outlier channels) no longer dominates it.
    public func centredUnitRows(over rows: [Int]? = nil) -> ItemFeatures {
        let w = width
        var mean = [Double](repeating: 0, count: w)
        let from = rows ?? Array(0..<items)
        for i in from { for c in 0..<w { mean[c] += Double(values[i * w + c]) } }
        for c in 0..<w { mean[c] /= Double(max(1, from.count)) }
        var out = values
        for i in 0..<items {
            var norm = 0.0
            for c in 0..<w { let v = Double(values[i * w + c]) - mean[c]; out[i * w + c] = Float(v); norm += v * v }
            let scale = norm > 0 ? Float(1 / norm.squareRoot()) : 0
            for c in 0..<w { out[i * w + c] *= scale }
        }
        return ItemFeatures(items: items, width: w, values: out)
    }
}

/// What a pretrained language model says about each item without any interaction: the mean of the
/// backbone's final hidden states (after the last norm) over the tokens of the item's text.
public enum ItemTextEmbeddings {
    /// Each item's text tokens as the item-text corpus holds them (its `<|endoftext|>` dropped;
    /// empty for an item without text).
    public static func tokens(corpora: Corpora, items: Int) -> [[Int]] {
        var out = [[Int]](repeating: [], count: items)
        let corpus = corpora.itemText
        for k in 0..<corpus.count where corpus.items[k] >= 0 && Int(corpus.items[k]) < items {
            out[Int(corpus.items[k])] = corpus.main(k).dropLast().map(Int.init)
        }
        return out
    }

    /// The embeddings of `model`'s backbone as loaded, without its LoRA adapter (what anyone with
    /// the LLM but without this method would compute).
    public static func compute(model: RecModel, corpora: Corpora) -> ItemFeatures {
        let adapter = model.backbone.adapter
        model.backbone.adapter = nil
        defer { model.backbone.adapter = adapter }
        return compute(backbone: model.backbone, tokens: tokens(corpora: corpora, items: model.items))
    }

    /// `tokens[j]` are item j's text tokens (empty: a zero row). Runs the backbone in packs of about
    /// `packTokens` tokens; a text longer than the context is cut at its end.
    public static func compute(backbone: any LanguageBackbone, tokens: [[Int]], packTokens: Int = 2048) -> ItemFeatures {
        let c = backbone.width
        var out = [Float](repeating: 0, count: tokens.count * c)
        let texts = tokens.map { Array($0.prefix(backbone.contextLength)) }
        var j = 0
        while j < texts.count {
            var pack: [Int] = [], total = 0
            while j < texts.count, pack.isEmpty || total + texts[j].count <= packTokens {
                if !texts[j].isEmpty { pack.append(j); total += texts[j].count }
                j += 1
            }
            guard !pack.isEmpty else { continue }
            var inputs = [Float](repeating: 0, count: total * c)
            var r = 0
            inputs.withUnsafeMutableBufferPointer { x in
                for i in pack { backbone.embedTokens(texts[i], into: x.baseAddress! + r * c); r += texts[i].count }
            }
            let h = inputs.withUnsafeBufferPointer { backbone.forward(inputs: $0.baseAddress!, lengths: pack.map { texts[$0].count }) }
            r = 0
            for i in pack {
                let n = texts[i].count
                for t in 0..<n { for k in 0..<c { out[i * c + k] += h[(r + t) * c + k] } }
                for k in 0..<c { out[i * c + k] /= Float(n) }
                r += n
            }
        }
        return ItemFeatures(items: tokens.count, width: c, values: out)
    }
}

/// TF-IDF vectors of item texts: lower-cased runs of letters and digits as terms, raw term counts,
/// idf = ln((1 + N) / (1 + df)) + 1 over the N items that have a text (scikit-learn's smoothed idf),
/// each vector scaled to unit length. Sparse: (term, weight) pairs, terms ascending.
public enum TFIDF {
    public static func terms(_ text: String) -> [String] {
        var out: [String] = [], current = ""
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber { current.append(ch) } else if !current.isEmpty { out.append(current); current = "" }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    public static func vectors(_ texts: [String?]) -> [[(term: Int, weight: Float)]] {
        var vocabulary: [String: Int] = [:]
        var counts: [[Int: Int]] = []
        var df: [Int] = []
        var documents = 0
        for text in texts {
            var c: [Int: Int] = [:]
            if let text {
                for t in terms(text) {
                    let id: Int
                    if let k = vocabulary[t] { id = k } else { id = vocabulary.count; vocabulary[t] = id; df.append(0) }
                    c[id, default: 0] += 1
                }
                if !c.isEmpty { documents += 1 }
            }
            for id in c.keys { df[id] += 1 }
            counts.append(c)
        }
        return counts.map { c in
            var v = c.map { (term: $0.key, weight: Double($0.value) * (log(Double(1 + documents) / Double(1 + df[$0.key])) + 1)) }
            let norm = v.reduce(0) { $0 + $1.weight * $1.weight }.squareRoot()
            v.sort { $0.term < $1.term }
            return v.map { (term: $0.term, weight: Float(norm > 0 ? $0.weight / norm : 0)) }
        }
    }
}

/// Content kNN baselines of the cold-start evaluation: a user's score for an item is the mean
/// cosine similarity between that item and the items of the user's history.
public enum ContentKNN {
    /// With sparse unit vectors (TF-IDF).
    public static func scores(sparse v: [[(term: Int, weight: Float)]], history: [Int], into out: UnsafeMutableBufferPointer<Float>) {
        var profile: [Int: Float] = [:]
        for i in history { for (t, w) in v[i] { profile[t, default: 0] += w } }
        let n = Float(max(1, history.count))
        for j in 0..<v.count { out[j] = v[j].reduce(0) { $0 + (profile[$1.term] ?? 0) * $1.weight } / n }
    }

    /// With dense unit rows (`ItemFeatures.centredUnitRows`).
    public static func scores(dense f: ItemFeatures, history: [Int], into out: UnsafeMutableBufferPointer<Float>) {
        let w = f.width
        var profile = [Float](repeating: 0, count: w)
        for i in history { for c in 0..<w { profile[c] += f.values[i * w + c] } }
        let n = Float(max(1, history.count))
        for j in 0..<f.items {
            var s: Float = 0
            for c in 0..<w { s += f.values[j * w + c] * profile[c] }
            out[j] = s / n
        }
    }
}

/// A ridge regression Y ≈ X W + b fitted on some rows (the warm items), applied to others.
public struct RidgeMap: Sendable {
    public let inputWidth: Int, outputWidth: Int
    /// W [inputWidth, outputWidth] and b [outputWidth].
    public let weights: [Double], bias: [Double]

    /// Fits on `rows` of `x` [n, dx] and `y` [n, dy]. The penalty is `ridge` times the mean of
    /// diag(XᵀX) of the centred inputs, so that one value means the same whatever the features' scale.
    public init(x: [Float], inputWidth dx: Int, y: [Float], outputWidth dy: Int, rows: [Int], ridge: Double) throws {
        precondition(!rows.isEmpty && ridge > 0)
        var mx = [Double](repeating: 0, count: dx), my = [Double](repeating: 0, count: dy)
        for r in rows {
            for a in 0..<dx { mx[a] += Double(x[r * dx + a]) }
            for b in 0..<dy { my[b] += Double(y[r * dy + b]) }
        }
        let n = Double(rows.count)
        for a in 0..<dx { mx[a] /= n }
        for b in 0..<dy { my[b] /= n }
        var xtx = [Double](repeating: 0, count: dx * dx), xty = [Double](repeating: 0, count: dx * dy)
        var xc = [Double](repeating: 0, count: dx), yc = [Double](repeating: 0, count: dy)
        for r in rows {
            for a in 0..<dx { xc[a] = Double(x[r * dx + a]) - mx[a] }
            for b in 0..<dy { yc[b] = Double(y[r * dy + b]) - my[b] }
            for a in 0..<dx where xc[a] != 0 {
                let va = xc[a]
                for a2 in 0..<dx { xtx[a * dx + a2] += va * xc[a2] }
                for b in 0..<dy { xty[a * dy + b] += va * yc[b] }
            }
        }
        var trace = 0.0
        for a in 0..<dx { trace += xtx[a * dx + a] }
        let penalty = ridge * max(trace / Double(dx), 1e-12)
        for a in 0..<dx { xtx[a * dx + a] += penalty }
        try LAPACK.invertSPD(&xtx, n: dx)
        var w = [Double](repeating: 0, count: dx * dy)
        for a in 0..<dx { for k in 0..<dx where xtx[a * dx + k] != 0 { let v = xtx[a * dx + k]; for b in 0..<dy { w[a * dy + b] += v * xty[k * dy + b] } } }
        var bias = my
        for a in 0..<dx { for b in 0..<dy { bias[b] -= mx[a] * w[a * dy + b] } }
        inputWidth = dx; outputWidth = dy; weights = w; self.bias = bias
    }

    /// X W + b for row `r` of `x` [*, inputWidth], into `out` [outputWidth].
    public func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        for b in 0..<outputWidth {
            var s = bias[b]
            for a in 0..<inputWidth { s += Double(x[a]) * weights[a * outputWidth + b] }
            out[b] = Float(s)
        }
    }
}

extension RecModel {
    /// Sets the rows of `coldItems` in the scored `copy` (recommendation, or collaborative before
    /// finetuning) by `rule` (see `ColdRowRule`), fitting a map on `warmItems` when the rule has
    /// one. `textFeatures` are needed by `.textMap` only.
    public func setColdRows(_ coldItems: [Int], warmItems: [Int], rule: ColdRowRule, copy: IDEmbeddings.Copy = .recommendation,
                            ridge: Double = 1, textFeatures: ItemFeatures? = nil) throws {
        let c = width, rec = embeddings.item(copy)
        switch rule {
        case .trained: return
        case .content:
            let content = embeddings.item(.content)
            for j in coldItems { (rec + j * c).update(from: content + j * c, count: c) }
        case .textKNN:
            guard let f = textFeatures?.centredUnitRows(over: warmItems) else {
                throw CLLM4RecError.invalidArgument("the text-knn rule needs the items' text embeddings")
            }
            let w = f.width, k = min(20, warmItems.count)
            for j in coldItems {
                var similar: [(Float, Int)] = warmItems.map { i in
                    var s: Float = 0
                    for a in 0..<w { s += f.values[j * w + a] * f.values[i * w + a] }
                    return (s, i)
                }
                similar.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                let kept = similar.prefix(k).filter { $0.0 > 0 }
                let total = kept.reduce(0) { $0 + $1.0 }
                let row = rec + j * c
                row.update(repeating: 0, count: c)
                for (s, i) in kept { for a in 0..<c { row[a] += s / total * rec[i * c + a] } }
            }
        case .contentMap, .textMap:
            let x: [Float], dx: Int
            if rule == .contentMap {
                x = Array(UnsafeBufferPointer(start: embeddings.item(.content), count: items * c)); dx = c
            } else {
                guard let f = textFeatures else { throw CLLM4RecError.invalidArgument("the text-map rule needs the items' text embeddings") }
                x = f.values; dx = f.width
            }
            let y = Array(UnsafeBufferPointer(start: rec, count: items * c))
            let map = try RidgeMap(x: x, inputWidth: dx, y: y, outputWidth: c, rows: warmItems, ridge: ridge)
            x.withUnsafeBufferPointer { xp in
                for j in coldItems { map.apply(xp.baseAddress! + j * dx, into: rec + j * c) }
            }
        }
    }
}
