import Backbone
import Llama
import RecData
import Tensor
import XCTest

@testable import CLLM4Rec

/// A tiny random Llama (vocabulary 1000 for `tinyTokenizer`, width 32, grouped-query attention)
/// with fresh embeddings for `tinySetup`'s dataset.
func tinyLlamaRecModel(_ d: PreparedDataset, _ c: Corpora) -> RecModel {
    let config = LlamaConfig(vocabSize: 1000, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4,
                             numKeyValueHeads: 2, maxPositionEmbeddings: 128, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: false)
    let params = LlamaParameters(config: config)
    var g = SplitMix64(seed: 21)
    params.initializeRandomly(using: &g)
    let (e, _) = initialEmbeddings(users: d.users.count, items: d.items.count, width: 32, seed: 1, corpora: c)
    return RecModel(backbone: LlamaModel(params: params), embeddings: e)
}

/// Every trainer test again on a Llama backbone (untied head): resume equals an uninterrupted run,
/// training lowers the losses, the masking statistics.
final class LlamaTrainerTests: TrainerTests {
    override func freshModel(_ d: PreparedDataset, _ c: Corpora) throws -> RecModel { tinyLlamaRecModel(d, c) }

    /// The gradient the steps give the ID embeddings through the Llama backbone equals a centred
    /// finite difference of the same loss (Double accumulation, a tiny model, a few coordinates).
    func testIDGradientsMatchFiniteDifferences() throws {
        let (d, c, t) = try tinySetup()
        let model = tinyLlamaRecModel(d, c)
        let user = t.userToken(1), item = t.itemToken(2)
        let doc = Document(tokens: [user, item] + t.base.encode(" is a fine film"), promptLength: 2)
        for head in [Head.items, .vocabulary] {
            let docs = head == .items ? [Document(tokens: [user, item, t.itemToken(5), t.itemToken(3)], promptLength: 1)] : [doc]
            func loss() -> Double {
                let r = model.languageModelStep(docs, head: head, copy: .collaborative, other: nil, lambda: 0, mrWholeDocument: true,
                                                dropout: false, seed: 0, grads: nil)
                return r.lossSum / Double(r.predictions)
            }
            let grads = IDGradients(model: model)
            grads.zero()
            _ = model.languageModelStep(docs, head: head, copy: .collaborative, other: nil, lambda: 0, mrWholeDocument: true,
                                        dropout: false, seed: 0, grads: grads)
            assertGradientMatchesFiniteDifferences(row: model.idRow(user, .collaborative), gradient: grads.row(user), smallest: 0.01,
                                                   loss: loss, "\(head)")
        }
    }
}

/// The gradient `gradient` of `loss` with respect to `row` against centred finite differences at a
/// few coordinates (steps of 1e-2: larger ones leave the linear range, the rows being small and
/// RMSNorm rescaling them), and at least one of them as large as `smallest`, so that the check means something.
func assertGradientMatchesFiniteDifferences(row: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, smallest: Double,
                                            loss: () -> Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    var largest = 0.0
    for k in [0, 3, 7, 12, 19, 24, 28, 31] {
        let saved = row[k], step: Float = 1e-2
        row[k] = saved + step; let up = loss()
        row[k] = saved - step; let down = loss()
        row[k] = saved
        let numeric = (up - down) / Double(2 * step)
        largest = max(largest, abs(numeric))
        XCTAssertEqual(Double(gradient[k]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), "\(what) coordinate \(k)", file: file, line: line)
    }
    XCTAssertGreaterThan(largest, smallest, "\(what): gradients large enough for the check to mean something", file: file, line: line)
}
