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
    /// A ridge regression from the item texts' TF-IDF (their words, no language model) to
    /// recommendation rows: the control for what the LLM's reading adds.
    case tfidfMap = "tfidf-map"
    /// A ridge regression from both: the backbone's reading of the text (standardized per channel)
    /// next to the text's TF-IDF at half weight (`ColdRowRule.tfidfWeight`).
    case textTFIDFMap = "text-tfidf-map"

    /// The TF-IDF block's weight next to the standardized text embedding in `text-tfidf-map`
    /// (chosen on MovieLens-100K's cold-validation items among 0.25, 0.5 and 1; docs/cold-start.md).
    public static let tfidfWeight: Float = 0.5

    /// Whether the rule reads the items' text embeddings.
    public var needsTextEmbeddings: Bool { self == .textMap || self == .textKNN || self == .textTFIDFMap }
    /// Whether the rule has a ridge penalty.
    public var hasRidge: Bool { [.textMap, .contentMap, .tfidfMap, .textTFIDFMap].contains(self) }
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
    public let weights: [Float], bias: [Float]

    /// Fits on `rows` of `x` [n, dx] and `y` [n, dy]. The penalty is `ridge` times the mean of
    /// diag(XᵀX) of the centred inputs, so that one value means the same whatever the features'
    /// scale. The products run in single precision through the product library, the solve in double.
    public init(x: [Float], inputWidth dx: Int, y: [Float], outputWidth dy: Int, rows: [Int], ridge: Double) throws {
        precondition(!rows.isEmpty && ridge > 0)
        let n = rows.count
        var mx = [Double](repeating: 0, count: dx), my = [Double](repeating: 0, count: dy)
        for r in rows {
            for a in 0..<dx { mx[a] += Double(x[r * dx + a]) }
            for b in 0..<dy { my[b] += Double(y[r * dy + b]) }
        }
        for a in 0..<dx { mx[a] /= Double(n) }
        for b in 0..<dy { my[b] /= Double(n) }
        var xc = [Float](repeating: 0, count: n * dx), yc = [Float](repeating: 0, count: n * dy)
        for (k, r) in rows.enumerated() {
            for a in 0..<dx { xc[k * dx + a] = Float(Double(x[r * dx + a]) - mx[a]) }
            for b in 0..<dy { yc[k * dy + b] = Float(Double(y[r * dy + b]) - my[b]) }
        }
        var xtx = [Float](repeating: 0, count: dx * dx), xty = [Float](repeating: 0, count: dx * dy)
        xc.withUnsafeBufferPointer { xp in
            xtx.withUnsafeMutableBufferPointer { BLAS.gemm(transA: true, m: dx, n: dx, k: n, a: xp.baseAddress!, lda: dx, b: xp.baseAddress!, ldb: dx, c: $0.baseAddress!, ldc: dx) }
            yc.withUnsafeBufferPointer { yp in
                xty.withUnsafeMutableBufferPointer { BLAS.gemm(transA: true, m: dx, n: dy, k: n, a: xp.baseAddress!, lda: dx, b: yp.baseAddress!, ldb: dy, c: $0.baseAddress!, ldc: dy) }
            }
        }
        var a = xtx.map(Double.init)
        var trace = 0.0
        for i in 0..<dx { trace += a[i * dx + i] }
        let penalty = ridge * max(trace / Double(dx), 1e-12)
        for i in 0..<dx { a[i * dx + i] += penalty }
        try LAPACK.invertSPD(&a, n: dx)
        let inverse = a.map(Float.init)
        var w = [Float](repeating: 0, count: dx * dy)
        inverse.withUnsafeBufferPointer { ip in
            xty.withUnsafeBufferPointer { tp in
                w.withUnsafeMutableBufferPointer { BLAS.gemm(m: dx, n: dy, k: dx, a: ip.baseAddress!, lda: dx, b: tp.baseAddress!, ldb: dy, c: $0.baseAddress!, ldc: dy) }
            }
        }
        var bias = my
        for i in 0..<dx where mx[i] != 0 { for b in 0..<dy { bias[b] -= mx[i] * Double(w[i * dy + b]) } }
        inputWidth = dx; outputWidth = dy; weights = w; self.bias = bias.map(Float.init)
    }

    /// X W + b for one input row `x` [inputWidth], into `out` [outputWidth].
    public func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        out.update(from: bias, count: outputWidth)
        weights.withUnsafeBufferPointer { BLAS.rowTimesMatrix(k: inputWidth, n: outputWidth, x: x, w: $0.baseAddress!, ldw: outputWidth, beta: 1, y: out) }
    }
}

extension ItemFeatures {
    /// Dense TF-IDF rows (`TFIDF.vectors`, unit length over all their terms) restricted to the
    /// `maxTerms` terms found in the most items among those in at least two (a term of one item
    /// teaches a map nothing about another).
    public static func tfidf(_ texts: [String?], maxTerms: Int = 4096) -> ItemFeatures {
        let v = TFIDF.vectors(texts)
        var df: [Int: Int] = [:]
        for row in v { for (t, _) in row { df[t, default: 0] += 1 } }
        let kept = df.filter { $0.value >= 2 }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(maxTerms).map(\.key)
        let column = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
        let w = max(1, kept.count)
        var values = [Float](repeating: 0, count: texts.count * w)
        for (j, row) in v.enumerated() { for (t, x) in row { if let c = column[t] { values[j * w + c] = x } } }
        return ItemFeatures(items: texts.count, width: w, values: values)
    }

    /// Rows standardized per channel over `rows` (mean 0, standard deviation 1), then scaled by
    /// 1/sqrt(width): unit mean squared norm, whatever the width.
    public func standardized(over rows: [Int]) -> ItemFeatures {
        let w = width
        var mean = [Double](repeating: 0, count: w), sq = [Double](repeating: 0, count: w)
        for i in rows { for c in 0..<w { let v = Double(values[i * w + c]); mean[c] += v; sq[c] += v * v } }
        let n = Double(max(1, rows.count))
        var scale = [Double](repeating: 0, count: w)
        for c in 0..<w { mean[c] /= n; scale[c] = 1 / ((max(sq[c] / n - mean[c] * mean[c], 0)).squareRoot() + 1e-6) / Double(w).squareRoot() }
        var out = values
        for i in 0..<items { for c in 0..<w { out[i * w + c] = Float((Double(values[i * w + c]) - mean[c]) * scale[c]) } }
        return ItemFeatures(items: items, width: w, values: out)
    }

    /// [self | weight × other], row by row.
    public func concatenated(_ other: ItemFeatures, weight: Float) -> ItemFeatures {
        precondition(items == other.items)
        let w = width + other.width
        var out = [Float](repeating: 0, count: items * w)
        for i in 0..<items {
            for c in 0..<width { out[i * w + c] = values[i * width + c] }
            for c in 0..<other.width { out[i * w + width + c] = weight * other.values[i * other.width + c] }
        }
        return ItemFeatures(items: items, width: w, values: out)
    }
}

extension RecModel {
    /// Sets the rows of `coldItems` in the scored `copy` (recommendation, or collaborative before
    /// finetuning) by `rule` (see `ColdRowRule`), fitting a map on `warmItems` when the rule has
    /// one. `textFeatures` are needed by `.textMap` only.
    public func setColdRows(_ coldItems: [Int], warmItems: [Int], rule: ColdRowRule, copy: IDEmbeddings.Copy = .recommendation,
                            ridge: Double = 1, textFeatures: ItemFeatures? = nil, itemTexts: [String?]? = nil) throws {
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
        case .contentMap, .textMap, .tfidfMap, .textTFIDFMap:
            let x: [Float], dx: Int
            switch rule {
            case .contentMap:
                x = Array(UnsafeBufferPointer(start: embeddings.item(.content), count: items * c)); dx = c
            case .textMap:
                guard let f = textFeatures else { throw CLLM4RecError.invalidArgument("the text-map rule needs the items' text embeddings") }
                x = f.values; dx = f.width
            default:
                guard let itemTexts, itemTexts.count == items else { throw CLLM4RecError.invalidArgument("the \(rule.rawValue) rule needs every item's text") }
                var f = ItemFeatures.tfidf(itemTexts)
                if rule == .textTFIDFMap {
                    guard let t = textFeatures else { throw CLLM4RecError.invalidArgument("the text-tfidf-map rule needs the items' text embeddings") }
                    f = t.standardized(over: warmItems).concatenated(f, weight: ColdRowRule.tfidfWeight)
                }
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
