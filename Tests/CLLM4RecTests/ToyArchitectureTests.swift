import Architectures
import Backbone
import Foundation
import RecData
import Tensor
import Tokenizer
import XCTest

@testable import CLLM4Rec

/// The proof of docs/adding-a-backbone.md: an architecture defined here, in this file alone, and
/// registered with one line, runs the method's pipeline (extend-vocab's folder, pretraining,
/// finetuning, evaluation) with no other file knowing it.
///
/// The toy is a causal bag of words: the hidden state at position t is the mean of the input rows
/// 0...t of its sequence; the output head is the token table (tied).
final class ToyMeanModel: LanguageBackbone {
    let shape: BackboneShape
    let layerCount = 1
    let table: FloatBuffer
    var hidden = FloatBuffer(count: 0), dInputs = FloatBuffer(count: 0)
    var lastLengths: [Int] = []
    let memory = ForwardMemory()
    var adapter: LowRankAdapter? = nil

    init(width: Int, vocabSize: Int, seed: UInt64) {
        shape = BackboneShape(architecture: "toy-mean", width: width, vocabSize: vocabSize, contextLength: 512)
        table = FloatBuffer(count: vocabSize * width)
        var g = SplitMix64(seed: seed)
        fillNormal(table.pointer, std: 0.02, using: &g)
    }

    var tokenTables: TokenTables {
        TokenTables(embeddings: table.pointer.baseAddress!, head: UnsafePointer(table.pointer.baseAddress!), embeddingGradient: nil, headGradient: nil)
    }
    var adapterModules: [AdapterModule] { [] }
    var defaultAdapterTargets: [String] { [] }

    func makeAdapter(rank: Int, alpha: Float, dropout: Float, targets: [String]) throws -> LowRankAdapter {
        throw BackboneError.unknownAdapterTarget(name: targets.first ?? "", architecture: architecture, available: [])
    }
    func loadAdapter(path: String) throws -> LowRankAdapter {
        throw BackboneError.unknownAdapterTarget(name: path, architecture: architecture, available: [])
    }
    func makeCache(slots: Int, maxLength: Int) -> KVCache { KVCache(layers: 1, width: width, slots: slots, maxLength: maxLength) }
    func forwardFLOPs(sequenceLength t: Int, head: Bool) -> Double { head ? 2 * Double(width * vocabSize) : 0 }

    func forward(inputs: UnsafePointer<Float>, lengths: [Int], dropout: Bool, seed: UInt64,
                 forBackward: Bool, cache: KVCache?, slots: [Int]?) -> UnsafeMutablePointer<Float> {
        precondition(cache == nil, "the toy keeps no KV cache (it never generates)")
        let n = lengths.reduce(0, +), c = width
        if hidden.count < n * c { hidden = FloatBuffer(count: n * c) }
        let h = hidden.pointer.baseAddress!
        var sum = [Float](repeating: 0, count: c), row = 0
        for length in lengths {
            for k in 0..<c { sum[k] = 0 }
            for t in 0..<length {
                for k in 0..<c {
                    sum[k] += inputs[(row + t) * c + k]
                    h[(row + t) * c + k] = sum[k] / Float(t + 1)
                }
            }
            row += length
        }
        lastLengths = lengths
        return h
    }

    /// dx_s = Σ_{t ≥ s} dh_t / (t + 1), within each sequence.
    func backward(dHidden: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        let n = lastLengths.reduce(0, +), c = width
        if dInputs.count < n * c { dInputs = FloatBuffer(count: n * c) }
        let dx = dInputs.pointer.baseAddress!
        var acc = [Float](repeating: 0, count: c), row = 0
        for length in lastLengths {
            for k in 0..<c { acc[k] = 0 }
            for t in stride(from: length - 1, through: 0, by: -1) {
                for k in 0..<c {
                    acc[k] += dHidden[(row + t) * c + k] / Float(t + 1)
                    dx[(row + t) * c + k] = acc[k]
                }
            }
            row += length
        }
        return dx
    }

    /// Its registry entry: config.json {"model_type": "toy-mean", "hidden_size", "vocab_size"} and
    /// GPT-2-style tokenizer files.
    static let registryEntry = Architecture(
        modelType: "toy-mean",
        shape: { path in
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
            return BackboneShape(architecture: "toy-mean", width: json["hidden_size"] as! Int, vocabSize: json["vocab_size"] as! Int, contextLength: 512)
        },
        load: { folder in
            let shape = try ArchitectureRegistry.shape(folder: folder)
            return (ToyMeanModel(width: shape.width, vocabSize: shape.vocabSize, seed: 3), try BPETokenizer.load(folder: folder))
        })
}

final class ToyArchitectureTests: XCTestCase {
    /// The toy's backward against central differences of Σ w·h (a fixed random w).
    func testToyBackwardMatchesFiniteDifferences() {
        let m = ToyMeanModel(width: 3, vocabSize: 10, seed: 1)
        let lengths = [3, 2], n = 5, c = 3
        var g = SplitMix64(seed: 7)
        var x = (0..<(n * c)).map { _ in Float.random(in: -1...1, using: &g) }
        let w = (0..<(n * c)).map { _ in Float.random(in: -1...1, using: &g) }
        func objective(_ x: [Float]) -> Double {
            let h = m.forward(inputs: x, lengths: lengths)
            return (0..<(n * c)).reduce(0.0) { $0 + Double(w[$1] * h[$1]) }
        }
        _ = m.forward(inputs: x, lengths: lengths, forBackward: true)
        let dx = Array(UnsafeBufferPointer(start: m.backward(dHidden: w), count: n * c))
        for i in 0..<(n * c) {
            let e: Float = 1e-2, saved = x[i]
            x[i] = saved + e; let plus = objective(x)
            x[i] = saved - e; let minus = objective(x)
            x[i] = saved
            XCTAssertEqual(Double(dx[i]), (plus - minus) / Double(2 * e), accuracy: 1e-4, "input \(i)")
        }
    }

    func testARegisteredToyArchitectureRunsTheWholeMethod() throws {
        ArchitectureRegistry.register(ToyMeanModel.registryEntry)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("toy-\(UUID())").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: work) }
        let model = work + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try #"{"model_type": "toy-mean", "hidden_size": 16, "vocab_size": 1000}"#.write(toFile: model + "/config.json", atomically: true, encoding: .utf8)
        // The tests' byte-level tokenizer (1000 ids, no merges) as GPT-2-style files.
        try JSONSerialization.data(withJSONObject: tinyVocabulary()).write(to: URL(fileURLWithPath: model + "/vocab.json"))
        try "#version: 0.2\n".write(toFile: model + "/merges.txt", atomically: true, encoding: .utf8)

        let raw = tinyRawDataset()
        let d = try PreparedDataset(raw, options: PrepareOptions(minRating: nil, kcore: 0, seed: 5))
        let made = try RecommenderFolder.create(at: work + "/rec", dataset: d, raw: raw, model: model, textMean: true, seed: 1)
        XCTAssertEqual(made.shape, BackboneShape(architecture: "toy-mean", width: 16, vocabSize: 1000, contextLength: 512))
        XCTAssertEqual(made.vocabulary, 1000 + 6 + 8)
        XCTAssertEqual(made.textInitialised.items, 8, "text-mean read the toy's token table")

        let rec = try LoadedRecommender(path: work + "/rec", applyAdapter: false)
        XCTAssertEqual(rec.manifest.architecture, "toy-mean")
        XCTAssertTrue(rec.model.backbone is ToyMeanModel)
        var options = tinyTrainingOptions()
        options.learningRate = 3e-2; options.epochs = 4
        // The toy's hidden states are means of 0.02-scale rows: standardized, the head sees them.
        options.headInput = .standardized
        for stage in [Stage.pretrain, .finetune] {
            let trainer = try Trainer(stage: stage, options: options, model: rec.model, corpora: rec.corpora, dataset: rec.dataset, folder: rec.folder, resume: false)
            trainer.log = { _ in }
            XCTAssertEqual(try trainer.run(), .finished, "\(stage)")
        }
        // Training moved the losses down: the collaborative loss of pretraining's last epoch below
        // its first, and finetuning's recommendation loss likewise.
        let lines = try String(contentsOfFile: work + "/rec/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        for (stage, kind) in [("pretrain", "collaborative"), ("finetune", "recommendation")] {
            let losses = lines.filter { $0["stage"] as? String == stage && $0["kind"] as? String == kind }.map { $0["loss"] as! Double }
            XCTAssertGreaterThanOrEqual(losses.count, 2, "\(stage) \(kind)")
            XCTAssertLessThan(losses.last!, losses.first!, "\(stage) \(kind): \(losses)")
        }
        // Evaluated like any backbone: every user has a test item, Recall@2 a fraction.
        let report = Evaluator(recallAt: [2], ndcgAt: [8], batch: 4).evaluate(
            model: rec.model, corpora: rec.corpora, dataset: rec.dataset, relevant: rec.dataset.test, copy: .recommendation, seed: 1)
        XCTAssertEqual(report.users, rec.dataset.test.filter { !$0.isEmpty }.count)
        let recall = try XCTUnwrap(report.values["recall@2"])
        XCTAssertTrue((0...1).contains(recall), "\(recall)")
    }
}
