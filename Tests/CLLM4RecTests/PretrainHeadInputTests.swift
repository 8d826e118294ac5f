import Backbone
import Foundation
import Tensor
import XCTest

@testable import CLLM4Rec

/// `pretrain --head-input standardized`: the collaborative item head sees (h − mean) / scale, with
/// the statistics of h at every row it predicts from, measured at the start of the run and kept by
/// finetuning (the recommendation copy starts as the collaborative one).
final class PretrainHeadInputTests: XCTestCase {
    func tempFolder() -> RecommenderFolder {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("pretrain-head-\(UUID())").path
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return RecommenderFolder(p)
    }

    func options() -> TrainingOptions {
        var o = tinyTrainingOptions()
        o.warmupEpochs = 0; o.rounds = 2; o.contentEvery = 0; o.headInput = .standardized
        return o
    }

    /// The measured statistics are those of h at each predicted row, computed here another way:
    /// one forward per prefix (causal attention: h at a prefix's last token is h at that row).
    func testStatisticsAreThoseOfTheRowsTheHeadPredictsFrom() throws {
        let (d, c, _) = try tinySetup()
        let model = tinyLlamaRecModel(d, c)
        let t = try Trainer(stage: .pretrain, options: options(), model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        t.log = { _ in }
        t.stopAfterSteps = 0
        XCTAssertEqual(try t.run(), .interrupted)  // prepared, nothing trained
        let measured = try XCTUnwrap(model.headInput)
        XCTAssertEqual(measured.kind, .standardized)

        var docs: [Document] = []
        for case let .lm(batch, _) in t.plan(.collaborative, seed: options().seed ^ 0x4845_4144) { docs += batch }
        docs = Array(docs.prefix(TrainingOptions.headInputDocuments))
        var prefixes: [[Int]] = []
        for doc in docs {
            for p in (doc.promptLength - 1)..<(doc.tokens.count - 1) { prefixes.append(Array(doc.tokens[0...p])) }
        }
        let h = model.lastHiddenStates(prompts: prefixes, copy: .collaborative)
        let w = model.width, n = Double(prefixes.count)
        XCTAssertGreaterThanOrEqual(prefixes.count, 10)  // the tiny dataset: 12 rows
        for k in 0..<w {
            let column = (0..<prefixes.count).map { Double(h[$0 * w + k]) }
            let mean = column.reduce(0, +) / n
            // The population variance plus the floor that keeps a constant channel finite.
            let sd = (column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n + Double(HeadInputStandardization.varianceFloor)).squareRoot()
            XCTAssertEqual(Double(measured.mean[k]), mean, accuracy: 1e-4 * max(1, abs(mean)), "channel \(k) mean")
            XCTAssertEqual(Double(measured.scale[k]), sd, accuracy: 1e-3 * sd + 1e-6, "channel \(k) scale")
        }
    }

    /// Through the standardization, the gradients of the collaborative step (the prompt's ID rows and
    /// the tied item head's rows) equal centred finite differences of its loss.
    func testConditionedStepGradientsMatchFiniteDifferences() throws {
        let (d, c, tok) = try tinySetup()
        let model = tinyLlamaRecModel(d, c)
        // A standardization far from the identity, so that leaving it out of the backward would show.
        var g = SplitMix64(seed: 4)
        let w = model.width
        let f = HeadInputStandardization(mean: (0..<w).map { _ in Float.random(in: -0.5...0.5, using: &g) },
                                         scale: (0..<w).map { _ in Float.random(in: 0.05...0.3, using: &g) })
        let docs = [Document(tokens: [tok.userToken(1), tok.itemToken(2), tok.itemToken(5), tok.itemToken(3)], promptLength: 1)]
        func loss() -> Double {
            let r = model.languageModelStep(docs, head: .items, copy: .collaborative, other: nil, lambda: 0, mrWholeDocument: true,
                                            headInput: f, dropout: false, seed: 0, grads: nil)
            return r.lossSum / Double(r.predictions)
        }
        let grads = IDGradients(model: model)
        grads.zero()
        _ = model.languageModelStep(docs, head: .items, copy: .collaborative, other: nil, lambda: 0, mrWholeDocument: true,
                                    headInput: f, dropout: false, seed: 0, grads: grads)
        for token in [tok.userToken(1), tok.itemToken(5), tok.itemToken(7)] {  // an input row, a target (and input), a head row only
            assertGradientMatchesFiniteDifferences(row: model.idRow(token, .collaborative), gradient: grads.row(token), smallest: 1e-3,
                                                   loss: loss, "token \(token)")
        }
    }

    /// The standardization goes into the folder with the rows, a resumed run keeps it (ending where
    /// an uninterrupted run ends), and finetuning takes it over instead of measuring its own.
    func testStoredResumedAndKeptByFinetuning() throws {
        let (d, c, _) = try tinySetup()
        let straight = tinyLlamaRecModel(d, c)
        let t1 = try Trainer(stage: .pretrain, options: options(), model: straight, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        t1.log = { _ in }
        XCTAssertEqual(try t1.run(), .finished)

        let folder = tempFolder()
        var model = tinyLlamaRecModel(d, c)
        let t2 = try Trainer(stage: .pretrain, options: options(), model: model, corpora: c, dataset: d, folder: folder, resume: false)
        t2.log = { _ in }
        t2.stopAfterSteps = 3
        XCTAssertEqual(try t2.run(), .interrupted)
        model = tinyLlamaRecModel(d, c)
        let t3 = try Trainer(stage: .pretrain, options: options(), model: model, corpora: c, dataset: d, folder: folder, resume: true)
        t3.log = { _ in }
        XCTAssertEqual(try t3.run(), .finished)
        XCTAssertEqual(model.headInput, straight.headInput)
        let count = model.items * model.width
        XCTAssertEqual(Array(UnsafeBufferPointer(start: model.embeddings.item(.collaborative), count: count)),
                       Array(UnsafeBufferPointer(start: straight.embeddings.item(.collaborative), count: count)))

        let stored = try IDEmbeddings.load(path: folder.file("embeddings.safetensors"), users: model.users, items: model.items, width: model.width)
        XCTAssertEqual(stored.headInput, straight.headInput)

        var finetune = tinyTrainingOptions()
        finetune.headInput = .standardized; finetune.epochs = 1
        let pretrained = straight.headInput
        let t4 = try Trainer(stage: .finetune, options: finetune, model: straight, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        t4.log = { _ in }
        XCTAssertEqual(try t4.run(), .finished)
        XCTAssertEqual(straight.headInput?.mean, pretrained?.mean)
        XCTAssertEqual(straight.headInput?.scale, pretrained?.scale)
    }

    /// A raw pretraining leaves a folder's head input (a finetuned recommendation copy's) alone and
    /// does not apply it; whitened and learned are finetuning's only.
    func testRawPretrainingLeavesTheHeadInputAndOthersAreRefused() throws {
        let (d, c, _) = try tinySetup()
        let model = tinyLlamaRecModel(d, c)
        let kept = HeadInputStandardization(mean: [Float](repeating: 0.25, count: model.width), scale: [Float](repeating: 2, count: model.width))
        model.embeddings.headInput = kept
        var raw = options()
        raw.headInput = .raw
        let t = try Trainer(stage: .pretrain, options: raw, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        t.log = { _ in }
        XCTAssertEqual(try t.run(), .finished)
        XCTAssertEqual(model.headInput, kept)
        for kind in [HeadInputKind.whitened, .learned] {
            var o = options()
            o.headInput = kind
            let other = tinyLlamaRecModel(d, c)
            let refused = try Trainer(stage: .pretrain, options: o, model: other, corpora: c, dataset: d, folder: tempFolder(), resume: false)
            refused.log = { _ in }
            XCTAssertThrowsError(try refused.run()) { XCTAssertTrue("\($0)".contains("raw or standardized"), "\($0)") }
        }
    }
}
