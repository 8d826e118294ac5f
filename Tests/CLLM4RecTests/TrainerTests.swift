import Foundation
import Backbone
import GPT2
import RecData
import Tensor
import Tokenizer
import TestSupport
import XCTest

@testable import CLLM4Rec

/// A byte-level tokenizer with exactly 1000 ids (the tiny GPT-2's vocabulary): the 256 byte
/// tokens, filler tokens, and <|endoftext|> = 999. No merges: text becomes one token per byte.
func tinyTokenizer() throws -> BPETokenizer { try BPETokenizer(vocab: tinyVocabulary(), merges: "") }

/// `tinyTokenizer`'s vocabulary (token → id), as GPT-2's vocab.json holds it.
func tinyVocabulary() -> [String: Int] {
    var vocab: [String: Int] = [:]
    for b in 0..<256 { vocab[String(byteToUnicode[b])] = b }
    var k = 256
    outer: for a in byteToUnicode { for b in byteToUnicode { if k == 999 { break outer }; vocab[String(a) + String(b)] = k; k += 1 } }
    vocab["<|endoftext|>"] = 999
    return vocab
}

/// 6 users, 8 items, 5 interactions each, with item and user texts; no filtering.
func tinySetup(width: Int = 32) throws -> (PreparedDataset, Corpora, IDTokenizer) {
    let raw = tinyRawDataset()
    let d = try PreparedDataset(raw, options: PrepareOptions(minRating: nil, kcore: 0, seed: 5))
    let t = IDTokenizer(base: try tinyTokenizer(), users: d.users.count, items: d.items.count)
    return (d, Corpora.build(d, tokenizer: t, contextLength: 64), t)
}

/// `tinySetup`'s interactions and texts, before preparation.
func tinyRawDataset() -> RawDataset {
    var raw = RawDataset(name: "tiny", format: "test")
    for u in 0..<6 {
        for k in 0..<5 { raw.interactions.append(RawInteraction(user: "u\(u)", item: "i\((u + 2 * k) % 8)", timestamp: Double(k))) }
        raw.userText["u\(u)"] = "user \(u)"
    }
    for i in 0..<8 { raw.itemText["i\(i)"] = "item \(i) text" }
    return raw
}

/// The tiny GPT-2 fixture with fresh embeddings (width 32) for `tinySetup`'s dataset.
func tinyRecModel(_ d: PreparedDataset, _ c: Corpora) throws -> RecModel {
    let backbone = GPT2Model(params: try GPT2Checkpoint.load(path: TestFixtures.tinyGPT2).0)
    let (e, _) = initialEmbeddings(users: d.users.count, items: d.items.count, width: 32, seed: 1, corpora: c)
    return RecModel(backbone: backbone, embeddings: e)
}

/// A short schedule over `tinySetup`'s dataset: batches of 3, accumulation 2, 1 + 2 pretraining
/// epochs, 2 finetuning epochs.
func tinyTrainingOptions() -> TrainingOptions {
    var o = TrainingOptions()
    o.batch = 3; o.accumulate = 2; o.warmupEpochs = 1; o.rounds = 2; o.epochs = 2; o.learningRate = 1e-2; o.seed = 11
    return o
}

class TrainerTests: XCTestCase {
    func freshModel(_ d: PreparedDataset, _ c: Corpora) throws -> RecModel { try tinyRecModel(d, c) }

    func options() -> TrainingOptions { tinyTrainingOptions() }

    func tempFolder() -> RecommenderFolder {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("rec-\(UUID())").path
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return RecommenderFolder(p)
    }

    func table(_ m: RecModel, _ c: IDEmbeddings.Copy) -> [Float] {
        Array(UnsafeBufferPointer(start: m.embeddings.user(c), count: m.users * 32)) + Array(UnsafeBufferPointer(start: m.embeddings.item(c), count: m.items * 32))
    }

    /// A run stopped mid-epoch (as by Ctrl-C) and resumed ends bit for bit where an uninterrupted
    /// run with the same seed ends, in both stages.
    func testResumeEqualsUninterruptedRun() throws {
        let (d, c, _) = try tinySetup()
        for stage in [Stage.pretrain, .finetune] {
            let straight = try freshModel(d, c)
            let f1 = tempFolder()
            let t1 = try Trainer(stage: stage, options: options(), model: straight, corpora: c, dataset: d, folder: f1, resume: false)
            t1.log = { _ in }
            XCTAssertEqual(try t1.run(), .finished)

            let f2 = tempFolder()
            var model = try freshModel(d, c)
            let t2 = try Trainer(stage: stage, options: options(), model: model, corpora: c, dataset: d, folder: f2, resume: false)
            t2.stopAfterSteps = 5  // inside the second epoch, between two Adam updates
            XCTAssertEqual(try t2.run(), .interrupted)
            var stops = 0
            var outcome = TrainingOutcome.interrupted
            while outcome == .interrupted {
                model = try freshModel(d, c)  // a new process: everything comes from the checkpoint
                let t3 = try Trainer(stage: stage, options: options(), model: model, corpora: c, dataset: d, folder: f2, resume: true)
                t3.stopAfterSteps = 4
                outcome = try t3.run()
                stops += 1
            }
            XCTAssertGreaterThan(stops, 1)
            for copy in IDEmbeddings.Copy.allCases where straight.embeddings.has(copy) {
                XCTAssertEqual(table(model, copy), table(straight, copy), "\(stage) \(copy)")
            }
            let a = try IDEmbeddings.load(path: f1.file("embeddings.safetensors"), users: d.users.count, items: d.items.count, width: 32)
            let b = try IDEmbeddings.load(path: f2.file("embeddings.safetensors"), users: d.users.count, items: d.items.count, width: 32)
            for copy in IDEmbeddings.Copy.allCases where a.has(copy) {
                XCTAssertTrue(UnsafeBufferPointer(start: a.user(copy), count: d.users.count * 32).elementsEqual(UnsafeBufferPointer(start: b.user(copy), count: d.users.count * 32)))
            }
            let lines = try String(contentsOfFile: f2.file("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(lines.count, stage == .pretrain ? 5 : 4)
        }
    }

    /// A finetuning run straight through, and the same run stopped after 5 micro-batches and resumed
    /// in a new model from its checkpoint: both trainers, both models and the resumed run's folder.
    func straightAndResumed(_ o: TrainingOptions) throws -> (straight: (Trainer, RecModel), resumed: (Trainer, RecModel, RecommenderFolder)) {
        let (d, c, _) = try tinySetup()
        let straight = try freshModel(d, c)
        let t1 = try Trainer(stage: .finetune, options: o, model: straight, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        t1.log = { _ in }
        XCTAssertEqual(try t1.run(), .finished)
        let f2 = tempFolder()
        let t2 = try Trainer(stage: .finetune, options: o, model: try freshModel(d, c), corpora: c, dataset: d, folder: f2, resume: false)
        t2.log = { _ in }
        t2.stopAfterSteps = 5
        XCTAssertEqual(try t2.run(), .interrupted)
        let model = try freshModel(d, c)
        let t3 = try Trainer(stage: .finetune, options: o, model: model, corpora: c, dataset: d, folder: f2, resume: true)
        t3.log = { _ in }
        XCTAssertEqual(try t3.run(), .finished)
        XCTAssertEqual(model.embeddings.headInput, straight.embeddings.headInput)
        XCTAssertEqual(table(model, .recommendation), table(straight, .recommendation))
        return ((t1, straight), (t3, model, f2))
    }

    /// A whitened finetuning run measures W once, keeps it through a checkpoint (a resumed run ends
    /// bit for bit where the straight one does) and stores it with the embeddings; finetuning that
    /// copy again with another conditioning is refused, with the flag named.
    func testWhitenedHeadInputSurvivesResume() throws {
        var o = options()
        o.headInput = .whitened
        let ((_, straight), (_, model, folder)) = try straightAndResumed(o)
        let w = try XCTUnwrap(straight.embeddings.headInput?.whitening)
        XCTAssertEqual(w.count, 32 * 32)
        XCTAssertFalse(w.allSatisfy { $0 == 0 })
        let stored = try IDEmbeddings.load(path: folder.file("embeddings.safetensors"), users: model.users, items: model.items, width: 32)
        XCTAssertEqual(stored.headInput, straight.embeddings.headInput)

        let (d, c, _) = try tinySetup()
        var other = o
        other.headInput = .standardized
        let t4 = try Trainer(stage: .finetune, options: other, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        t4.log = { _ in }
        XCTAssertThrowsError(try t4.run()) { XCTAssertTrue("\($0)".contains("--head-input standardized"), "\($0)") }
    }

    /// A learned head input trains its projection with the rows (U leaves zero), through a
    /// checkpoint bit for bit (weights, gradients, Adam state), and the folder keeps the best epoch's;
    /// fold-in leaves the served projection alone.
    func testLearnedHeadInputTrainsAndSurvivesResume() throws {
        var o = options()
        o.headInput = .learned
        let ((t1, straight), (t3, model, folder)) = try straightAndResumed(o)
        XCTAssertEqual(t3.bestHeadProjection, t1.bestHeadProjection)
        let p = try XCTUnwrap(straight.embeddings.headInput?.projection)
        XCTAssertEqual(p.rank, HeadInputProjection.defaultRank)
        XCTAssertFalse(p.upValues.allSatisfy { $0 == 0 }, "U trained")
        let stored = try IDEmbeddings.load(path: folder.file("embeddings.safetensors"), users: model.users, items: model.items, width: 32)
        XCTAssertEqual(stored.headInput?.projection?.weights.pointer.elementsEqual(try XCTUnwrap(t1.bestHeadProjection)), true)
        // Fold-in backpropagates through the projection of its own copy, never the served one's.
        let (_, c, _) = try tinySetup()
        let gradientsBefore = Array(p.gradients.pointer), weightsBefore = Array(p.weights.pointer)
        _ = straight.foldIn(history: [0, 1, 2], corpora: c, options: FoldInOptions(), seed: 3)
        XCTAssertEqual(Array(p.gradients.pointer), gradientsBefore)
        XCTAssertEqual(Array(p.weights.pointer), weightsBefore)
        XCTAssertTrue(p.keptInput.isEmpty)
    }

    /// `contentEvery` in pretraining: a content epoch closes every k-th round (1: every round, the
    /// reference; 0: none), and with none the content rows stay as they started.
    func testPretrainingRoundsTakeAContentEpochEveryKth() throws {
        var o = TrainingOptions()
        o.warmupEpochs = 1; o.rounds = 4
        let (content, collaborative) = (PhaseKind.content, PhaseKind.collaborative)
        o.contentEvery = 1
        XCTAssertEqual(Trainer.pretrainSchedule(o), [content, collaborative, content, collaborative, content, collaborative, content, collaborative, content])
        o.contentEvery = 2
        XCTAssertEqual(Trainer.pretrainSchedule(o), [content, collaborative, collaborative, content, collaborative, collaborative, content])
        o.contentEvery = 3
        XCTAssertEqual(Trainer.pretrainSchedule(o), [content, collaborative, collaborative, collaborative, content, collaborative])
        o.contentEvery = 0
        XCTAssertEqual(Trainer.pretrainSchedule(o), [content, collaborative, collaborative, collaborative, collaborative])

        let (d, c, _) = try tinySetup()
        let model = try freshModel(d, c)
        var run = options()
        run.warmupEpochs = 0; run.rounds = 2; run.contentEvery = 0
        let contentBefore = table(model, .content), collaborativeBefore = table(model, .collaborative)
        let t = try Trainer(stage: .pretrain, options: run, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        t.log = { _ in }
        XCTAssertEqual(try t.run(), .finished)
        XCTAssertEqual(table(model, .content), contentBefore)
        XCTAssertNotEqual(table(model, .collaborative), collaborativeBefore)
    }

    func testTrainingLowersTheLosses() throws {
        let (d, c, _) = try tinySetup()
        let model = try freshModel(d, c)
        var o = options()
        o.rounds = 6
        let t = try Trainer(stage: .pretrain, options: o, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        let first = t.plan(.collaborative, seed: 3)
        func collabLoss() -> Double {
            var r = StepResult()
            for case let .lm(docs, head) in first { r = r + model.languageModelStep(docs, head: head, copy: .collaborative, other: nil, lambda: 0, mrWholeDocument: true, dropout: false, seed: 0, grads: nil) }
            return r.lossSum / Double(r.predictions)
        }
        let before = collabLoss()
        XCTAssertEqual(before, log(8.0), accuracy: 0.5)  // near ln J at initialisation
        _ = try t.run()
        XCTAssertLessThan(collabLoss(), before - 0.3)
    }

    /// Masking: k = max(1, floor(0.2 n)) items hidden per user per epoch, visible + hidden = the
    /// training items, targets = hidden (or all); over many epochs every item is hidden equally often.
    func testMaskingAndReorderingStatistics() throws {
        let (d, c, _) = try tinySetup()
        let model = try freshModel(d, c)
        var o = options()
        let t = try Trainer(stage: .finetune, options: o, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        var hiddenCount: [Int: Int] = [:]
        let epochs = 600
        for e in 0..<epochs {
            for case let .rec(prompts, targets) in t.plan(.recommendation, seed: UInt64(e)) {
                for (p, tg) in zip(prompts, targets) {
                    let u = p[0] - model.firstUser
                    let items = d.train[u]
                    XCTAssertEqual(tg.count, max(1, Int(Double(items.count) * 0.2)))
                    let visible = p.filter { $0 >= model.firstItem }.map { $0 - model.firstItem }
                    XCTAssertEqual(Set(visible + tg), Set(items))
                    XCTAssertTrue(Set(visible).isDisjoint(with: tg))
                    if u == 0 { for i in tg { hiddenCount[i, default: 0] += 1 } }
                }
            }
        }
        // user 0's n training items, k hidden per epoch: each hidden about epochs * k / n times.
        let n0 = d.train[0].count, k0 = max(1, Int(Double(n0) * 0.2))
        XCTAssertGreaterThan(n0, 1)
        for i in d.train[0] { XCTAssertEqual(Double(hiddenCount[i] ?? 0), Double(epochs * k0) / Double(n0), accuracy: Double(epochs) * 0.06) }
        o.target = .all
        let tAll = try Trainer(stage: .finetune, options: o, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        for case let .rec(prompts, targets) in tAll.plan(.recommendation, seed: 1) {
            for (p, tg) in zip(prompts, targets) { XCTAssertEqual(tg.sorted(), d.train[p[0] - model.firstUser].sorted()) }
        }
        // Reordering: shuffled item order differs between epochs; "fixed" is ascending item id.
        func orders(_ tr: Trainer, _ seed: UInt64) -> [[Int]] {
            tr.plan(.collaborative, seed: seed).flatMap { mb -> [[Int]] in
                guard case let .lm(docs, _) = mb else { return [] }
                return docs.map { Array($0.tokens[$0.promptLength...]) }
            }.sorted { $0.first! < $1.first! }
        }
        var firstPositions: [Int: Int] = [:]
        let mine = Set(d.train[0].map { model.firstItem + $0 })
        for s in 0..<300 { for doc in orders(t, UInt64(s)) where Set(doc) == mine { firstPositions[doc[0], default: 0] += 1 } }
        XCTAssertEqual(firstPositions.count, n0)
        for (_, n) in firstPositions { XCTAssertEqual(Double(n), 300 / Double(n0), accuracy: 30) }
        o.itemOrder = .fixed
        let tFixed = try Trainer(stage: .pretrain, options: o, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
        for doc in orders(tFixed, 4) { XCTAssertEqual(doc, doc.sorted()) }
    }
}
