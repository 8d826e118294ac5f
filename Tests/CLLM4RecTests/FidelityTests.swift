import Foundation
import Backbone
import GPT2
import RecData
import Tensor
import WeightIO
import XCTest

@testable import CLLM4Rec

/// The review findings of docs/CLLM4REC.md §5 against the trainer: each test fails on the code
/// before its fix.
final class FidelityTests: XCTestCase {
    /// The model and options of `TrainerTests`.
    struct Helper {
        func freshModel(_ d: PreparedDataset, _ c: Corpora) throws -> RecModel { try tinyRecModel(d, c) }
        func options() -> TrainingOptions { tinyTrainingOptions() }
    }
    let helper = Helper()

    func setUpRun(_ stage: Stage, _ o: TrainingOptions, folder: RecommenderFolder? = nil) throws -> (Trainer, RecModel, PreparedDataset, RecommenderFolder) {
        let (d, c, _) = try tinySetup()
        let model = try helper.freshModel(d, c)
        let f = folder ?? tempFolder()
        let t = try Trainer(stage: stage, options: o, model: model, corpora: c, dataset: d, folder: f, resume: false)
        t.log = { _ in }
        return (t, model, d, f)
    }

    func tempFolder() -> RecommenderFolder {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("fid-\(UUID())").path
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return RecommenderFolder(p)
    }

    func metrics(_ f: RecommenderFolder) throws -> [[String: Any]] {
        try String(contentsOfFile: f.file("metrics.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    func values(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n)) }

    /// Warm-up epochs are content-only: no MR term, so λ changes nothing there.
    func testWarmupHasNoMutualRegularization() throws {
        var o = helper.options()
        o.warmupEpochs = 2; o.rounds = 0; o.lambda = 5
        let (t1, m1, d, f1) = try setUpRun(.pretrain, o)
        XCTAssertEqual(try t1.run(), .finished)
        for line in try metrics(f1) { XCTAssertEqual(line["mr"] as? Double, 0, "warm-up epoch \(line["epoch"]!)") }
        o.lambda = 0
        let (t2, m2, _, _) = try setUpRun(.pretrain, o)
        XCTAssertEqual(try t2.run(), .finished)
        XCTAssertEqual(values(m1.embeddings.user(.content), d.users.count * 32), values(m2.embeddings.user(.content), d.users.count * 32))
        // The rounds after it do regularize.
        o.lambda = 5; o.rounds = 1
        let (t3, _, _, f3) = try setUpRun(.pretrain, o)
        XCTAssertEqual(try t3.run(), .finished)
        XCTAssertGreaterThan(try metrics(f3).last!["mr"] as! Double, 0)
    }

    /// Each pretraining copy is kept at the epoch of its own lowest objective (loss + MR per
    /// micro-batch), the warm-up counting for the content copy.
    func testEachCopyKeptAtItsOwnBestEpoch() throws {
        var o = helper.options()
        o.warmupEpochs = 2; o.rounds = 4; o.lambda = 0.5; o.learningRate = 0.05
        let (t, _, d, f) = try setUpRun(.pretrain, o)
        XCTAssertEqual(try t.run(), .finished)
        let lines = try metrics(f)
        var bestEpoch: [String: (Int, Double)] = [:]
        for l in lines {
            let kind = l["kind"] as! String, objective = l["objective"] as! Double
            let loss = l["loss"] as! Double, mr = l["mr"] as! Double
            XCTAssertGreaterThanOrEqual(objective, loss)
            if mr == 0 { XCTAssertEqual(objective, loss, accuracy: 1e-12) }
            if bestEpoch[kind].map({ objective < $0.1 }) ?? true { bestEpoch[kind] = (l["epoch"] as! Int, objective) }
        }
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.file("training-pretrain.json")))) as! [String: Any]
        XCTAssertEqual(summary["best_collaborative_epoch"] as? Int, bestEpoch["collaborative"]!.0)
        XCTAssertEqual(summary["best_content_epoch"] as? Int, bestEpoch["content"]!.0)
        XCTAssertEqual(summary["best_content_objective"] as! Double, bestEpoch["content"]!.1, accuracy: 1e-12)
        XCTAssertGreaterThan(d.users.count, 0)
    }

    /// Finetuning keeps the content copy of the best validation epoch, not the last one: with one
    /// epoch, that is the content copy before the epoch's content phase changed it.
    func testFinetuneKeepsContentOfBestEpoch() throws {
        var o = helper.options()
        o.epochs = 1; o.contentEvery = 1
        let (t, m, d, f) = try setUpRun(.finetune, o)
        let before = values(m.embeddings.item(.content), d.items.count * 32)
        XCTAssertEqual(try t.run(), .finished)
        let after = values(m.embeddings.item(.content), d.items.count * 32)
        XCTAssertNotEqual(after, before, "the content epoch trained the content copy")
        let saved = try IDEmbeddings.load(path: f.file("embeddings.safetensors"), users: d.users.count, items: d.items.count, width: 32)
        XCTAssertEqual(values(saved.item(.content), d.items.count * 32), before)
    }

    /// Validation uses one prompt order for the whole run: a model that does not change scores the
    /// same every epoch.
    func testValidationOrderIsFixedPerRun() throws {
        var o = helper.options()
        o.epochs = 4; o.contentEvery = 0; o.learningRate = 0
        let (t, _, _, f) = try setUpRun(.finetune, o)
        XCTAssertEqual(try t.run(), .finished)
        let scores = try metrics(f).map { l in ["val_recall@20", "val_recall@40", "val_ndcg@100"].map { l[$0] as! Double } }
        XCTAssertEqual(scores.count, 4)
        for s in scores { XCTAssertEqual(s, scores[0]) }
    }

    /// A rank-4 adapter on c_attn set on `model`'s backbone, initialised (seed 1) with a non-zero B,
    /// so that it changes the forward pass.
    func withNonZeroAdapter(_ model: RecModel) throws -> LowRankAdapter {
        let lora = try model.backbone.makeAdapter(rank: 4, alpha: 8, dropout: 0, targets: ["c_attn"])
        var g = SplitMix64(seed: 1)
        lora.initialize(using: &g)
        for k in 0..<lora.weights.count { lora.weights[k] += 0.01 }
        model.backbone.adapter = lora
        return lora
    }

    /// A loaded adapter without `loraRank` is applied but neither trained nor written back.
    func testLoadedAdapterStaysFrozenWithoutRank() throws {
        var o = helper.options()
        o.epochs = 1
        let (d, c, _) = try tinySetup()
        let f = tempFolder()
        for rank in [0, 4] {
            let model = try helper.freshModel(d, c)
            let lora = try withNonZeroAdapter(model)
            let initial = Array(lora.weights.pointer)
            o.loraRank = rank
            let t = try Trainer(stage: .finetune, options: o, model: model, corpora: c, dataset: d, folder: f, resume: false)
            t.log = { _ in }
            XCTAssertEqual(try t.run(), .finished)
            if rank == 0 {
                XCTAssertEqual(Array(lora.weights.pointer), initial, "a frozen adapter moved")
                XCTAssertFalse(FileManager.default.fileExists(atPath: f.file("adapter/adapter_model.safetensors")), "a frozen adapter was written")
            } else {
                XCTAssertNotEqual(Array(lora.weights.pointer), initial, "--lora-rank trains the adapter")
                XCTAssertTrue(FileManager.default.fileExists(atPath: f.file("adapter/adapter_model.safetensors")))
            }
        }
    }

    /// `adapterLearningRate` moves the adapter at its own rate: equal to `learningRate` it is the
    /// one-rate run to the bit; near zero the adapter stays where it started while the rows train.
    func testAdapterLearningRate() throws {
        var o = helper.options()
        o.epochs = 2  // two Adam steps: a first step moves each coordinate by lr times its gradient's sign alone
        o.loraRank = 4
        let (d, c, _) = try tinySetup()
        func run(_ adapterRate: Float?) throws -> (adapter: [Float], start: [Float], rows: [Float]) {
            let model = try helper.freshModel(d, c)
            let lora = try withNonZeroAdapter(model)
            let start = Array(lora.weights.pointer)
            var options = o
            options.adapterLearningRate = adapterRate
            let t = try Trainer(stage: .finetune, options: options, model: model, corpora: c, dataset: d, folder: tempFolder(), resume: false)
            t.log = { _ in }
            XCTAssertEqual(try t.run(), .finished)
            return (Array(lora.weights.pointer), start, Array(UnsafeBufferPointer(start: model.embeddings.item(.recommendation), count: model.items * model.width)))
        }
        let one = try run(nil), same = try run(o.learningRate), still = try run(1e-30)
        XCTAssertEqual(same.adapter, one.adapter)
        XCTAssertEqual(same.rows, one.rows)
        XCTAssertNotEqual(one.adapter, one.start)
        for (a, b) in zip(still.adapter, still.start) { XCTAssertEqual(a, b, accuracy: 1e-20) }
        XCTAssertNotEqual(still.rows, one.rows, "the rows trained against another adapter")
    }

    /// With a trained adapter the folder keeps the adapter of the best validated epoch next to that
    /// epoch's rows (rows learned against one adapter are not the model with another): written by
    /// `writeResults`, carried through a checkpoint, and the live weights left as trained.
    func testTheBestEpochKeepsItsAdapter() throws {
        var o = helper.options()
        o.epochs = 2; o.validateEvery = 1; o.contentEvery = 0; o.loraRank = 4
        let (d, c, _) = try tinySetup()
        let f = tempFolder()
        let model = try helper.freshModel(d, c)
        let lora = try withNonZeroAdapter(model)
        let t = try Trainer(stage: .finetune, options: o, model: model, corpora: c, dataset: d, folder: f, resume: false)
        t.log = { _ in }
        XCTAssertEqual(try t.run(), .finished)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: f.file("training-finetune.json")))) as! [String: Any]
        let bestEpoch = try XCTUnwrap(summary["best_epoch"] as? Int)
        let kept = try XCTUnwrap(t.bestAdapter)
        if bestEpoch == 2 { XCTAssertEqual(kept, Array(lora.weights.pointer)) }
        // The loaded adapter owns the buffer the pointer points into: keep it alive while copying.
        func written() throws -> [Float] {
            let loaded = try model.backbone.loadAdapter(path: f.file("adapter"))
            return withExtendedLifetime(loaded) { Array(loaded.weights.pointer) }
        }
        XCTAssertEqual(try written(), kept)

        // A best epoch before the last: its adapter is written, the live one is untouched.
        let live = Array(lora.weights.pointer)
        let earlier = live.map { $0 + 0.25 }
        t.bestAdapter = earlier
        try t.writeResults()
        XCTAssertEqual(try written(), earlier)
        XCTAssertEqual(Array(lora.weights.pointer), live)
        // Through a checkpoint: a resumed run still knows it.
        try t.saveCheckpoint()
        let again = try helper.freshModel(d, c)
        _ = try withNonZeroAdapter(again)
        let resumed = try Trainer(stage: .finetune, options: o, model: again, corpora: c, dataset: d, folder: f, resume: true)
        XCTAssertEqual(resumed.bestAdapter, earlier)
    }

    // MARK: corrupt checkpoints

    /// Writes a checkpoint of a stopped run, lets `edit` change its tensors, and resumes from it.
    func resumeError(_ edit: (inout [(name: String, tensor: FloatTensor)]) -> Void) throws -> String {
        let o = helper.options()
        let (t, _, d, f) = try setUpRun(.pretrain, o)
        t.stopAfterSteps = 3
        XCTAssertEqual(try t.run(), .interrupted)
        let path = f.file("checkpoint-pretrain/checkpoint.safetensors")
        let file = try SafeTensorsFile(path: path)
        var tensors = try file.tensors.map { (name: $0.name, tensor: try file.floats($0.name)) }
        edit(&tensors)
        try SafeTensorsWriter.write(tensors, metadata: file.metadata ?? [:], to: path)
        let (_, c, _) = try tinySetup()
        do {
            _ = try Trainer(stage: .pretrain, options: o, model: try helper.freshModel(d, c), corpora: c, dataset: d, folder: f, resume: true)
        } catch let e as CLLM4RecError {
            return e.description
        }
        XCTFail("a corrupt checkpoint was accepted")
        return ""
    }

    func testCheckpointTensorsAreCheckedAgainstLiveSizes() throws {
        // An Adam moment with more values than the table it belongs to: a write out of bounds before.
        var message = try resumeError { ts in
            let k = ts.firstIndex { $0.name.hasPrefix("adam.m.") }!
            ts[k].tensor = FloatTensor(shape: [ts[k].tensor.values.count * 4], values: [Float](repeating: 0, count: ts[k].tensor.values.count * 4))
        }
        XCTAssertTrue(message.contains("adam.m.") && message.contains("this run's tensor has"), message)
        message = try resumeError { $0.append((name: "adam", tensor: FloatTensor(shape: [1], values: [0]))) }
        XCTAssertTrue(message.contains("\"adam\" is not part of a cllm4rec checkpoint"), message)
        message = try resumeError { $0.append((name: "lora", tensor: FloatTensor(shape: [1], values: [0]))) }
        XCTAssertTrue(message.contains("\"lora\" is not part of a cllm4rec checkpoint"), message)
        message = try resumeError { $0.append((name: "lora.weights", tensor: FloatTensor(shape: [1], values: [0]))) }
        XCTAssertTrue(message.contains("this run trains no adapter"), message)
        message = try resumeError { ts in ts.removeAll { $0.name.hasPrefix("adam.v.") } }
        XCTAssertTrue(message.contains("is missing"), message)
        message = try resumeError { ts in
            let k = ts.firstIndex { $0.name == "emb.user.content" }!
            ts[k].tensor = FloatTensor(shape: [2], values: [0, 0])
        }
        XCTAssertTrue(message.contains("emb.user.content"), message)
    }

    // MARK: fold-in

    /// A one-item history is fitted like any other (before: no step at all), deterministically.
    func testFoldInOfOneItem() throws {
        let (d, c, _) = try tinySetup()
        let model = try helper.freshModel(d, c)
        model.embeddings.copy(.collaborative, to: .recommendation)
        let mean = model.foldIn(history: [3], corpora: c, options: FoldInOptions(steps: 0), seed: 1)
        var expected = [Float](repeating: 0, count: 32)
        for u in 0..<d.users.count { for k in 0..<32 { expected[k] += model.embeddings.user(.recommendation)[u * 32 + k] / Float(d.users.count) } }
        for k in 0..<32 { XCTAssertEqual(mean[k], expected[k], accuracy: 1e-6) }
        let fitted = model.foldIn(history: [3], corpora: c, options: FoldInOptions(steps: 5, learningRate: 0.1), seed: 1)
        XCTAssertNotEqual(fitted, mean)
        XCTAssertEqual(model.foldIn(history: [3], corpora: c, options: FoldInOptions(steps: 5, learningRate: 0.1), seed: 1), fitted)
        // The fitted user scores its item higher than the mean user does.
        let s = model.scores(newUsers: [mean, fitted], histories: [[], []], corpora: c, seed: 0)
        XCTAssertGreaterThan(s[model.items + 3] - s[model.items...].max()!, s[3] - s[..<model.items].max()!)
    }

    /// New users folded in together fit the rows each gets alone (the gradient of each row scaled
    /// back to a batch of one; only float rounding differs), and a batch answers each request as
    /// it is answered alone.
    func testBatchedFoldInAndRecommendationsEqualSingleOnes() throws {
        let (d, c, _) = try tinySetup()
        let model = try helper.freshModel(d, c)
        model.embeddings.copy(.collaborative, to: .recommendation)
        let options = FoldInOptions(steps: 4, learningRate: 0.05)
        let histories = [[3], [1, 4, 2], [0, 5]]
        let together = model.foldIn(histories: histories, corpora: c, options: options, seed: 7)
        for (h, row) in zip(histories, together) {
            let alone = model.foldIn(history: h, corpora: c, options: options, seed: 7)
            let mean = model.foldIn(history: h, corpora: c, options: FoldInOptions(steps: 0), seed: 7)
            let moved = zip(alone, mean).map { abs($0 - $1) }.max()!
            XCTAssertGreaterThan(moved, 1e-3, "the fit moved the row")
            XCTAssertLessThan(zip(alone, row).map { abs($0 - $1) }.max()!, 1e-4 * moved, "history \(h)")
        }
        let requests = [
            RecommendationRequest(who: .known(user: 2), history: d.train[2], k: 3, exclude: Set(d.train[2]), seed: 0),
            RecommendationRequest(who: .new(row: together[1]), history: histories[1], k: 4, exclude: Set(histories[1]), seed: 0),
            RecommendationRequest(who: .known(user: 0), history: d.train[0], k: 2, exclude: [], seed: 5),
        ]
        let batched = model.recommend(requests, corpora: c)
        for (r, answer) in zip(requests, batched) {
            let alone = model.recommend([r], corpora: c)[0]
            XCTAssertEqual(answer.map(\.item), alone.map(\.item))
            XCTAssertFalse(answer.isEmpty)
            for (a, b) in zip(answer, alone) { XCTAssertEqual(a.score, b.score, accuracy: 1e-5) }
        }
    }
}

/// How a step's micro-batches are shared out over processes.
final class MicroBatchOwnerTests: XCTestCase {
    func testLongestFirstToTheLeastLoadedWithinEachStep() {
        XCTAssertEqual(Trainer.owners(tokens: [9, 1, 1, 7], group: 4, processes: 2), [0, 1, 1, 1])
        // Steps are separate: the second step's assignment starts from empty loads; a short last step too.
        XCTAssertEqual(Trainer.owners(tokens: [5, 5, 3, 8, 2], group: 2, processes: 2), [0, 1, 1, 0, 0])
        XCTAssertEqual(Trainer.owners(tokens: [4, 4, 4], group: 3, processes: 1), [0, 0, 0])
        // Every micro-batch has exactly one owner in range, and loads differ by at most the largest item.
        let tokens = (0..<64).map { ($0 * 37) % 23 + 1 }
        let owners = Trainer.owners(tokens: tokens, group: 16, processes: 4)
        for s in stride(from: 0, to: 64, by: 16) {
            var load = [0, 0, 0, 0]
            for i in s..<(s + 16) { load[owners[i]] += tokens[i] }
            XCTAssertLessThanOrEqual(load.max()! - load.min()!, tokens[s..<(s + 16)].max()!)
        }
    }
}
