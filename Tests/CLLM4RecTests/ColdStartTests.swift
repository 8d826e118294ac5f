import Foundation
import Backbone
import GPT2
import RecData
import Tensor
import TestSupport
import XCTest

@testable import CLLM4Rec

/// The cold-start evaluation's pieces against independent references: numpy
/// (`Tools/fixtures/reference_cold_start.py`) for TF-IDF kNN and the ridge map, transformers for the text
/// embeddings.
final class ColdStartTests: XCTestCase {
    let texts: [String?] = ["Toy Story (1995). Genres: Animation, Children's, Comedy.",
                            "GoldenEye (1995). Genres: Action, Adventure, Thriller.",
                            "Four Rooms (1995). Genres: Thriller.",
                            nil,
                            "Get Shorty (1995). Genres: Action, Comedy, Drama.",
                            "Copycat (1995). Genres: Crime, Drama, Thriller."]

    func testTFIDFKNNMatchesNumpy() {
        let v = TFIDF.vectors(texts)
        let want: [[Int]: [Float]] = [
            [0, 4]: [0.60652111, 0.18836880, 0.11742371, 0, 0.60652111, 0.18836880],
            [1]: [0.09749689, 1, 0.28104923, 0, 0.27924071, 0.25400791],
            [2, 5, 4]: [0.13947179, 0.27143262, 0.46934013, 0, 0.46873729, 0.52009665],
        ]
        for (history, expected) in want {
            var got = [Float](repeating: -1, count: texts.count)
            got.withUnsafeMutableBufferPointer { ContentKNN.scores(sparse: v, history: history, into: $0) }
            for j in 0..<texts.count { XCTAssertEqual(got[j], expected[j], accuracy: 1e-6, "history \(history), item \(j)") }
        }
        XCTAssertEqual(TFIDF.terms("Children's (1995), sci-fi"), ["children", "s", "1995", "sci", "fi"])
    }

    /// Dense kNN on centred unit rows is the mean cosine of the centred rows.
    func testDenseKNNIsTheMeanCosineOfCentredRows() {
        let raw: [Float] = [1, 0, 2, 3, 1, 1, -1, 2, 0, 0, 0, 5]
        let f = ItemFeatures(items: 4, width: 3, values: raw).centredUnitRows()
        var mean = [Float](repeating: 0, count: 3)
        for i in 0..<4 { for c in 0..<3 { mean[c] += raw[i * 3 + c] / 4 } }
        func centred(_ i: Int) -> [Float] { (0..<3).map { raw[i * 3 + $0] - mean[$0] } }
        func dot(_ a: [Float], _ b: [Float]) -> Float { var s: Float = 0; for k in 0..<a.count { s += a[k] * b[k] }; return s }
        func cosine(_ a: [Float], _ b: [Float]) -> Float { dot(a, b) / (dot(a, a).squareRoot() * dot(b, b).squareRoot()) }
        var got = [Float](repeating: 0, count: 4)
        got.withUnsafeMutableBufferPointer { ContentKNN.scores(dense: f, history: [0, 3], into: $0) }
        for j in 0..<4 { XCTAssertEqual(got[j], (cosine(centred(j), centred(0)) + cosine(centred(j), centred(3))) / 2, accuracy: 1e-6) }
    }

    func testRidgeMapMatchesNumpy() throws {
        let x: [Float] = [0.5, -1.0, 2.0, 1.5, 0.25, -0.5, -0.75, 1.0, 0.0, 2.0, 2.0, 1.0, 0.1, -0.2, 0.3, -1.0, 0.5, 1.5]
        let y: [Float] = [1.0, -2.0, 0.5, 0.5, -1.0, 1.5, 3.0, 0.0, 9.0, 9.0, 0.0, -1.0]
        let map = try RidgeMap(x: x, inputWidth: 3, y: y, outputWidth: 2, rows: [0, 1, 2, 3, 5], ridge: 0.5)
        var out = [Float](repeating: 0, count: 2)
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { map.apply(xp.baseAddress! + 4 * 3, into: $0.baseAddress!) } }
        XCTAssertEqual(out[0], 0.05008078, accuracy: 1e-5)
        XCTAssertEqual(out[1], -0.12252590, accuracy: 1e-5)
    }

    /// Dense TF-IDF keeps the terms of at least two items, most frequent first, with the sparse
    /// vectors' weights; standardizing gives each kept channel mean 0 and variance 1/width.
    func testDenseTFIDFAndStandardizedFeatures() {
        let dense = ItemFeatures.tfidf(texts)
        let sparse = TFIDF.vectors(texts)
        XCTAssertEqual(dense.width, 6)  // 1995, genres (5 items), thriller (3), action, comedy, drama (2)
        // Item 0: 1995, genres, comedy; 1: 1995, genres, action, thriller; 2: 1995, genres, thriller;
        // 3: no text; 4: 1995, genres, action, comedy, drama; 5: 1995, genres, drama, thriller.
        for (j, kept) in [3, 4, 3, 0, 5, 4].enumerated() {
            let row = dense.values[(j * 6)..<((j + 1) * 6)].filter { $0 != 0 }
            XCTAssertEqual(row.count, kept, "item \(j)")
            for v in row { XCTAssertTrue(sparse[j].contains { $0.weight == v }, "item \(j): \(v) is not one of its TF-IDF weights") }
        }
        let z = dense.standardized(over: [0, 1, 2, 4, 5])
        for c in 0..<6 {
            let column = [0, 1, 2, 4, 5].map { Double(z.values[$0 * 6 + c]) }
            let mean = column.reduce(0, +) / 5, variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5
            XCTAssertEqual(mean, 0, accuracy: 1e-6)
            if variance > 0 { XCTAssertEqual(variance, 1.0 / 6, accuracy: 1e-4) }
        }
        let both = z.concatenated(dense, weight: 0.5)
        XCTAssertEqual(both.width, 12)
        XCTAssertEqual(both.values[12 + 6 + 2], 0.5 * dense.values[6 + 2])
    }

    /// Mean final hidden states of packed texts equal transformers' `GPT2Model(ids).last_hidden_state.mean(0)`
    /// for each text alone (tiny GPT-2 fixture; first 4 channels and the norm printed by transformers).
    func testTextEmbeddingsMatchTransformers() throws {
        let backbone = GPT2Model(params: try GPT2Checkpoint.load(path: TestFixtures.tinyGPT2).0)
        let want: [(first: [Float], norm: Float)] = [([1.160756, -1.266384, -0.445791, 1.480441], 4.967897),
                                                    ([0, 0, 0, 0], 0),
                                                    ([0.460227, -0.872705, 0.593076, 1.013932], 5.19394),
                                                    ([0.81602, -1.018494, 0.085243, 1.178223], 5.573587)]
        for pack in [1, 4, 2048] {
            let f = ItemTextEmbeddings.compute(backbone: backbone, tokens: [[5, 17, 300], [], [999, 42], [7]], packTokens: pack)
            for (j, w) in want.enumerated() {
                let row = Array(f.values[(j * f.width)..<((j + 1) * f.width)])
                for c in 0..<4 { XCTAssertEqual(row[c], w.first[c], accuracy: 2e-5, "pack \(pack), item \(j), channel \(c)") }
                XCTAssertEqual(row.map { $0 * $0 }.reduce(0, +).squareRoot(), w.norm, accuracy: 2e-5)
            }
        }
    }

    /// `rankOnly` leaves every other item out of every ranking: a user's relevant cold item is
    /// found at rank 1 among the candidates even when warm items score higher.
    func testRankOnlyRanksTheCandidatesAlone() {
        var e = Evaluator(recallAt: [1, 2], ndcgAt: [2])
        e.rankOnly([3, 4], of: 5)
        let r = e.evaluate(items: 5, histories: [[0], [1]], relevant: [[4], [3]]) { _, out in
            for (j, s) in [9, 8, 7, 1, 2].enumerated() { out[j] = Float(s) }
        }
        XCTAssertEqual(r.users, 2)
        XCTAssertEqual(r.values["recall@1"], 0.5)  // user 0 finds 4 first, user 1 does not find 3 first
        XCTAssertEqual(r.values["recall@2"], 1)
    }

    /// The rules write only the cold rows, and the map rules reproduce a warm row the map was fitted
    /// to exactly when the rows are a linear function of the features.
    func testColdRowRulesTouchOnlyColdRows() throws {
        let (d, c, _) = try tinySetup()
        let model = try tinyRecModel(d, c)
        model.embeddings.add(.recommendation)
        let w = model.width, n = model.items
        let content = model.embeddings.item(.content), rec = model.embeddings.item(.recommendation)
        // content rows in a plane (so that a map fitted on 6 warm items is determined on the cold
        // ones too), recommendation rows = 2 * content rows + 1, for every item
        for j in 0..<n {
            let a = Float(j) * 0.3 - 1, b = Float(j * j) * 0.05
            for i in 0..<w { content[j * w + i] = a * sin(Float(i)) + b * cos(Float(i) * 0.7) }
        }
        for i in 0..<(n * w) { rec[i] = 2 * content[i] + 1 }
        let before = Array(UnsafeBufferPointer(start: rec, count: n * w))
        let cold = [1, 5], warm = (0..<n).filter { !cold.contains($0) }
        for i in 0..<w { rec[1 * w + i] = 0; rec[5 * w + i] = 0 }
        try model.setColdRows(cold, warmItems: warm, rule: .content)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: rec + w, count: w)), Array(UnsafeBufferPointer(start: content + w, count: w)))
        try model.setColdRows(cold, warmItems: warm, rule: .contentMap, ridge: 1e-4)
        // Warm rows untouched to the bit; cold rows close to 2x + 1 (the plane makes the 32-wide
        // system nearly singular, so single-precision products leave a few percent).
        for j in warm { XCTAssertEqual(Array(UnsafeBufferPointer(start: rec + j * w, count: w)), Array(before[(j * w)..<((j + 1) * w)])) }
        for j in cold { for i in 0..<w { XCTAssertEqual(rec[j * w + i], before[j * w + i], accuracy: 0.05, "item \(j)") } }
        XCTAssertThrowsError(try model.setColdRows(cold, warmItems: warm, rule: .textMap))
        XCTAssertThrowsError(try model.setColdRows(cold, warmItems: warm, rule: .textKNN))

        // text-knn: features e_0 ... e_7 (one-hot, centred over the warm items); a cold item's row is
        // the mean of the warm rows weighted by positive cosine. Item 1 reads like item 2 only.
        var f = [Float](repeating: 0, count: n * 8)
        for j in 0..<n { f[j * 8 + j] = 1 }
        f[1 * 8 + 1] = 0; f[1 * 8 + 2] = 1
        try model.setColdRows(cold, warmItems: warm, rule: .textKNN, textFeatures: ItemFeatures(items: n, width: 8, values: f))
        for i in 0..<w { XCTAssertEqual(rec[1 * w + i], before[2 * w + i], accuracy: 1e-5) }
    }
}
