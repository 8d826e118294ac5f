import Foundation
import Tensor
import WeightIO
import XCTest

@testable import CLLM4Rec

/// The standardized head input against PyTorch (head-input.safetensors, written by
/// Tools/fixtures/cllm4rec.py), its storage, and the collapse diagnostic against values
/// worked out by hand.
final class HeadInputTests: XCTestCase {
    func standardization(_ ref: SafeTensorsFile, _ prefix: String = "") throws -> HeadInputStandardization {
        HeadInputStandardization(mean: try ref.floats(prefix + "mean").values, scale: try ref.floats(prefix + "scale").values)
    }

    func assertClose(_ got: [Float], _ want: [Float], _ tolerance: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        var worst: Float = 0, scaleMax: Float = 0
        for i in 0..<min(got.count, want.count) { worst = max(worst, abs(got[i] - want[i])); scaleMax = max(scaleMax, abs(want[i])) }
        XCTAssertLessThan(worst / scaleMax, tolerance, "\(what): max error \(worst) of max \(scaleMax)", file: file, line: line)
    }

    /// One recommendation step (λ 0.5 toward the content copy) of the head fixture with the head
    /// input `condition` makes from `fixture`: its loss, row gradients and scores against PyTorch's
    /// (`loss`, `grad.user`, `grad.item`, `scores`). Returns what the caller checks further.
    func assertStepMatchesTorch(_ fixture: String, lossTolerance: Double = 1e-4,
                                _ condition: (SafeTensorsFile) throws -> HeadInputStandardization,
                                file: StaticString = #filePath, line: UInt = #line)
        throws -> (model: RecModel, heads: SafeTensorsFile, ref: SafeTensorsFile, prompts: [[[Int]]], step: StepResult)
    {
        let (model, heads) = try headFixture()
        let ref = try SafeTensorsFile(path: testsRoot + "/CLLM4RecTests/Fixtures/" + fixture)
        model.embeddings.headInput = try condition(ref)
        let raw = try JSONSerialization.jsonObject(with: Data(heads.metadata!["recommendation"]!.utf8)) as! [[[Int]]]
        let g = IDGradients(model: model)
        let r = model.recommendationStep(prompts: raw.map { $0[0] }, targets: raw.map { $0[1] }, copy: .recommendation, other: .content,
                                         lambda: 0.5, dropout: false, seed: 0, grads: g)
        XCTAssertEqual(r.lossSum / Double(r.predictions), Double(try ref.floats("loss").values[0]), accuracy: lossTolerance, file: file, line: line)
        XCTAssertEqual(r.regularization, Double(try ref.floats("mr").values[0]), accuracy: 1e-4, file: file, line: line)
        assertClose(Array(g.users.pointer), try ref.floats("grad.user").values, 1e-4, "user gradient", file: file, line: line)
        assertClose(Array(g.items.pointer), try ref.floats("grad.item").values, 1e-4, "item gradient", file: file, line: line)
        assertClose(model.scores(prompts: raw.map { $0[0] }, copy: .recommendation), try ref.floats("scores").values, 1e-5, "scores", file: file, line: line)
        return (model, heads, ref, raw, r)
    }

    /// Scores f(h) · V_recᵀ, the loss, and the user and item gradients (through f's division by the
    /// scale into the backbone, and the head's own) equal PyTorch autograd's for the same formula.
    func testStandardizedHeadMatchesTorch() throws {
        let (model, heads, _, raw, r) = try assertStepMatchesTorch("head-input.safetensors", lossTolerance: 1e-5) { try standardization($0) }
        // The raw head differs: the fixture's mean and scale are far from the identity.
        let rawLoss = Double(try heads.floats("recommendation.loss").values[0])
        XCTAssertGreaterThan(abs(r.lossSum / Double(r.predictions) - rawLoss), 0.1)
        // Other copies never see the conditioning (it belongs to the recommendation head).
        model.embeddings.copy(.recommendation, to: .collaborative)
        let plain = model.scores(prompts: raw.map { $0[0] }, copy: .collaborative)
        assertClose(plain, try heads.floats("recommendation.scores").values, 1e-5, "collaborative scores stay raw")
    }

    /// The mean and scale measured on prompts are PyTorch's mean and sqrt(population variance + 1e-5).
    func testMeasuredStatisticsMatchTorch() throws {
        let (model, heads) = try headFixture()
        let ref = try SafeTensorsFile(path: testsRoot + "/CLLM4RecTests/Fixtures/head-input.safetensors")
        let raw = try JSONSerialization.jsonObject(with: Data(heads.metadata!["recommendation"]!.utf8)) as! [[[Int]]]
        let m = model.measureHeadInput(prompts: raw.map { $0[0] }, copy: .recommendation)
        let want = try standardization(ref, "measured.")
        assertClose(m.mean, want.mean, 1e-5, "mean")
        assertClose(m.scale, want.scale, 1e-4, "scale")
        // A channel that never varies is centred and divided by sqrt(1e-5), not by zero.
        let constant = HeadInputStandardization.measured([2, 5, 2, 7], rows: 2, width: 2)
        XCTAssertEqual(constant.mean, [2, 6])
        XCTAssertEqual(constant.scale[0], Float(1e-5).squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(constant.scale[1], Float(1 + 1e-5).squareRoot(), accuracy: 1e-6)
    }

    /// The whitened head, f(h) = ((h − mean) / scale) W with W symmetric: scores, loss and gradients
    /// (through W and the scale into the backbone) equal PyTorch autograd's
    /// (head-input-whitened.safetensors).
    func testWhitenedHeadMatchesTorch() throws {
        let (model, _, ref, raw, _) = try assertStepMatchesTorch("head-input-whitened.safetensors") {
            HeadInputStandardization(mean: try $0.floats("mean").values, scale: try $0.floats("scale").values, whitening: try $0.floats("whitening").values)
        }
        XCTAssertEqual(model.embeddings.headInput?.kind, .whitened)
        // Without W (the same mean and scale, standardized only) the loss is another.
        model.embeddings.headInput?.whitening = nil
        let plain = model.recommendationStep(prompts: raw.map { $0[0] }, targets: raw.map { $0[1] }, copy: .recommendation, other: nil,
                                             lambda: 0, dropout: false, seed: 0, grads: nil)
        XCTAssertGreaterThan(abs(plain.lossSum / Double(plain.predictions) - Double(try ref.floats("loss").values[0])), 0.1)
    }

    /// The learned head, f(h) = z + (z Dᵀ) Uᵀ on the standardized z: scores, loss, and the gradients of
    /// the rows, of D and of U equal PyTorch autograd's (head-input-learned.safetensors).
    func testLearnedHeadMatchesTorch() throws {
        var projection: HeadInputProjection! = nil
        let (model, _, ref, _, _) = try assertStepMatchesTorch("head-input-learned.safetensors") {
            projection = HeadInputProjection(down: try $0.floats("down").values, up: try $0.floats("up").values, rank: 4, width: 32)
            return HeadInputStandardization(mean: try $0.floats("mean").values, scale: try $0.floats("scale").values, projection: projection)
        }
        XCTAssertEqual(model.embeddings.headInput?.kind, .learned)
        assertClose(Array(projection.gradients.pointer[0..<(4 * 32)]), try ref.floats("grad.down").values, 1e-4, "D gradient")
        assertClose(Array(projection.gradients.pointer[(4 * 32)...]), try ref.floats("grad.up").values, 1e-4, "U gradient")
        // Scoring neither keeps nor adds gradients; a snapshot is a copy, not the trained weights.
        XCTAssertTrue(projection.keptInput.isEmpty)
        let copy = model.embeddings.headInput!.snapshot()
        XCTAssertEqual(copy, model.embeddings.headInput)
        projection.weights[0] += 1
        XCTAssertNotEqual(copy, model.embeddings.headInput)
    }

    /// The measured whitening of 40 correlated rows is torch's float64 (0.9 R + 0.1 I)^(−1/2) (eigh),
    /// and it whitens: the shrunk correlation of the output is the identity.
    func testMeasuredWhiteningMatchesTorch() throws {
        let ref = try SafeTensorsFile(path: testsRoot + "/CLLM4RecTests/Fixtures/head-input-whitened.safetensors")
        let x = try ref.floats("measured.x")
        let (rows, c) = (x.shape[0], x.shape[1])
        let m = try x.values.withUnsafeBufferPointer { (p) throws(BLASError) in
            try HeadInputStandardization.measuredWhitened(p.baseAddress!, rows: rows, width: c)
        }
        assertClose(m.mean, try ref.floats("measured.mean").values, 1e-5, "mean")
        assertClose(m.scale, try ref.floats("measured.scale").values, 1e-4, "scale")
        assertClose(m.whitening!, try ref.floats("measured.whitening").values, 1e-4, "whitening")
        // W R_α W = I for R_α the shrunk correlation of the standardized rows.
        var z = x.values
        z.withUnsafeMutableBufferPointer { HeadInputStandardization(mean: m.mean, scale: m.scale).apply($0.baseAddress!, count: rows) }
        var y = x.values
        y.withUnsafeMutableBufferPointer { m.apply($0.baseAddress!, count: rows) }
        for (a, b) in [(0, 0), (0, 1), (3, 7), (c - 1, c - 1)] {
            // (W R_α W)[a, b] = 0.9 yᵀy / n + 0.1 (W W)[a, b]
            var yy = 0.0, ww = 0.0
            for r in 0..<rows { yy += Double(y[r * c + a]) * Double(y[r * c + b]) }
            for k in 0..<c { ww += Double(m.whitening![a * c + k]) * Double(m.whitening![k * c + b]) }
            XCTAssertEqual(0.9 * yy / Double(rows) + 0.1 * ww, a == b ? 1 : 0, accuracy: 1e-3, "[\(a), \(b)]")
        }
    }

    /// `embeddings.safetensors` carries the standardization with the tables; a file with one of the
    /// pair, a wrong shape or a zero scale is refused with the tensor named.
    func testStoredWithTheEmbeddings() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("head-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = IDEmbeddings(users: 2, items: 3, width: 4, copies: [.recommendation])
        e.headInput = HeadInputStandardization(mean: [1, -2, 3, 0.5], scale: [0.5, 1, 2, 4])
        let path = dir + "/embeddings.safetensors"
        try e.save(to: path)
        XCTAssertEqual(try IDEmbeddings.load(path: path, users: 2, items: 3, width: 4).headInput, e.headInput)
        e.headInput = nil
        try e.save(to: path)
        XCTAssertNil(try IDEmbeddings.load(path: path, users: 2, items: 3, width: 4).headInput)

        let tables: [(String, FloatTensor)] = [("user.recommendation", FloatTensor(shape: [2, 4], values: .init(repeating: 0, count: 8))),
                                                ("item.recommendation", FloatTensor(shape: [3, 4], values: .init(repeating: 0, count: 12)))]
        func refused(_ extra: [(String, FloatTensor)], _ message: String) throws {
            try SafeTensorsWriter.write(tables + extra, to: path)
            XCTAssertThrowsError(try IDEmbeddings.load(path: path, users: 2, items: 3, width: 4)) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
                XCTAssertTrue("\($0)".contains(path), "\($0)")
            }
        }
        try refused([("head_input.mean", FloatTensor(shape: [4], values: [0, 0, 0, 0]))], "go together")
        try refused([("head_input.mean", FloatTensor(shape: [3], values: [0, 0, 0])), ("head_input.scale", FloatTensor(shape: [4], values: [1, 1, 1, 1]))],
                    "expected [4]")
        try refused([("head_input.mean", FloatTensor(shape: [4], values: [0, 0, 0, 0])), ("head_input.scale", FloatTensor(shape: [4], values: [1, 0, 1, 1]))],
                    "non-positive")
        // The whitening matrix: kept with the pair; refused alone, of a wrong shape or asymmetric.
        let pair: [(String, FloatTensor)] = [("head_input.mean", FloatTensor(shape: [4], values: [0, 0, 0, 0])),
                                             ("head_input.scale", FloatTensor(shape: [4], values: [1, 1, 1, 1]))]
        var w = [Float](repeating: 0, count: 16)
        for k in 0..<4 { w[k * 5] = 2 }
        w[1] = 0.5; w[4] = 0.5
        e.headInput = HeadInputStandardization(mean: [1, -2, 3, 0.5], scale: [0.5, 1, 2, 4], whitening: w)
        try e.save(to: path)
        XCTAssertEqual(try IDEmbeddings.load(path: path, users: 2, items: 3, width: 4).headInput, e.headInput)
        XCTAssertEqual(try IDEmbeddings.load(path: path, users: 2, items: 3, width: 4).headInput?.kind, .whitened)
        try refused([("head_input.whitening", FloatTensor(shape: [4, 4], values: w))], "both are missing")
        try refused(pair + [("head_input.whitening", FloatTensor(shape: [16], values: w))], "expected [4, 4]")
        var asymmetric = w
        asymmetric[1] = 0.25
        try refused(pair + [("head_input.whitening", FloatTensor(shape: [4, 4], values: asymmetric))], "not symmetric (element [0, 1])")
        // A learned projection: kept with the pair; refused alone, one of two, of a wrong width or rank.
        let p = HeadInputProjection(down: (0..<8).map { Float($0) / 8 }, up: (0..<8).map { -Float($0) / 4 }, rank: 2, width: 4)
        e.headInput = HeadInputStandardization(mean: [1, -2, 3, 0.5], scale: [0.5, 1, 2, 4], projection: p)
        try e.save(to: path)
        let loaded = try IDEmbeddings.load(path: path, users: 2, items: 3, width: 4).headInput
        XCTAssertEqual(loaded, e.headInput)
        XCTAssertEqual(loaded?.kind, .learned)
        XCTAssertEqual(loaded?.projection?.rank, 2)
        let down = ("head_input.down", FloatTensor(shape: [2, 4], values: p.downValues)), up = ("head_input.up", FloatTensor(shape: [4, 2], values: p.upValues))
        try refused([down, up], "both are missing")
        try refused(pair + [down], "go together")
        try refused(pair + [down, ("head_input.up", FloatTensor(shape: [2, 4], values: p.upValues))], "expected [4, rank]")
        try refused(pair + [down, ("head_input.up", FloatTensor(shape: [4, 1], values: [0, 0, 0, 0]))], "differ in rank")
    }

    /// Overlap with the most-popular top of the unseen items, by hand.
    func testPopularityOverlap() {
        // Unseen by popularity: 1, 5, 7 (2 is in the history); the user's top: 5, 1, 9 -> 2 of 3.
        XCTAssertEqual(CollapseDiagnostic.overlap([5, 1, 9], popularityOrder: [1, 2, 5, 7, 9], history: [2], depth: 3), 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(CollapseDiagnostic.overlap([1, 5, 7], popularityOrder: [1, 2, 5, 7, 9], history: [2], depth: 3), 1)
        XCTAssertEqual(CollapseDiagnostic.overlap([9, 2, 0], popularityOrder: [1, 2, 5, 7, 9], history: [2], depth: 3), 0)
    }

    /// Rows μ ± e1, μ ± e2 with μ = 3 e3: the covariance is diag(1/2, 1/2, 0, ...) (participation
    /// ratio 2) and the mean carries |μ|² / (|μ|² + 1) = 0.9 of the energy; rows along one direction
    /// only have rank 1; with several processes the moments are summed first.
    func testEffectiveRankAndSharedShare() {
        let c = 5
        func row(_ k: Int, _ sign: Float) -> [Float] { var r = [Float](repeating: 0, count: c); r[2] = 3; r[k] += sign; return r }
        let x = row(0, 1) + row(0, -1) + row(1, 1) + row(1, -1)
        var m = HeadInputMoments(width: c)
        x.withUnsafeBufferPointer { m.add($0.baseAddress!, rows: 2) }
        x.withUnsafeBufferPointer { m.add($0.baseAddress! + 2 * c, rows: 2) }
        let d = m.diagnostic()!
        XCTAssertEqual(d.effectiveRank, 2, accuracy: 1e-6)
        XCTAssertEqual(d.sharedShare, 0.9, accuracy: 1e-6)
        var line = HeadInputMoments(width: c)
        let y = row(0, 1) + row(0, -3) + row(0, 2)
        y.withUnsafeBufferPointer { line.add($0.baseAddress!, rows: 3) }
        XCTAssertEqual(line.diagnostic()!.effectiveRank, 1, accuracy: 1e-6)
        XCTAssertNil(HeadInputMoments(width: c).diagnostic())
    }

    /// A checkpoint written before the option existed holds options without it: they still decode,
    /// as the raw head those runs trained.
    func testOptionsOfOlderCheckpointsDecodeAsRaw() throws {
        var o = TrainingOptions()
        o.headInput = .standardized
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(o)) as! [String: Any]
        XCTAssertEqual(json["headInputChoice"] as? String, "standardized")
        json["headInputChoice"] = nil
        // Everything else is a key the options had before (maxMainTokens is nil here, so absent).
        let before: Set<String> = ["learningRate", "batch", "accumulate", "lambda", "seed", "maxMainTokens", "itemOrder", "predictFirstMain",
                                   "dropout", "warmupEpochs", "rounds", "epochs", "target", "maskFraction", "evaluationBatch", "contentEvery",
                                   "validateEvery", "loraRank", "loraAlpha", "loraDropout", "loraTargets"]
        XCTAssertTrue(Set(json.keys).isSubset(of: before), "new keys: \(Set(json.keys).subtracting(before))")
        let old = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: json))
        XCTAssertEqual(old.headInput, .raw)
    }
}
