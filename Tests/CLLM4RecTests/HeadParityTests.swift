import Foundation
import Backbone
import GPT2
import Tensor
import WeightIO
import TestSupport
import XCTest

@testable import CLLM4Rec

let testsRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

/// The tiny GPT-2 with I = 3 users and J = 5 items whose tables come from heads.safetensors
/// (written by Tools/fixtures/cllm4rec.py).
func headFixture() throws -> (RecModel, SafeTensorsFile) {
    let file = try SafeTensorsFile(path: testsRoot + "/CLLM4RecTests/Fixtures/heads.safetensors")
    let backbone = GPT2Model(params: try GPT2Checkpoint.load(path: TestFixtures.tinyGPT2).0)
    let e = IDEmbeddings(users: 3, items: 5, width: 32, copies: IDEmbeddings.Copy.allCases)
    for c in IDEmbeddings.Copy.allCases {
        try file.withFloats("user.\(c.rawValue)") { e.user(c).update(from: $0.baseAddress!, count: 3 * 32) }
        try file.withFloats("item.\(c.rawValue)") { e.item(c).update(from: $0.baseAddress!, count: 5 * 32) }
    }
    return (RecModel(backbone: backbone, embeddings: e), file)
}

func documents(_ json: String) throws -> [Document] {
    let raw = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [[[Int]]]
    return raw.map { Document(tokens: $0[0] + $0[1], promptLength: $0[0].count) }
}

final class HeadParityTests: XCTestCase {
    func assertClose(_ got: UnsafeMutableBufferPointer<Float>, _ want: FloatTensor, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        var worst: Float = 0, scaleMax: Float = 0
        for i in 0..<want.values.count { worst = max(worst, abs(got[i] - want.values[i])); scaleMax = max(scaleMax, abs(want.values[i])) }
        XCTAssertLessThan(worst / scaleMax, 1e-4, "\(what): max error \(worst) of max \(scaleMax)", file: file, line: line)
    }

    func testCollaborativeHeadLossAndGradients() throws {
        let (model, ref) = try headFixture()
        let g = IDGradients(model: model)
        let r = model.languageModelStep(try documents(ref.metadata!["collaborative"]!), head: .items, copy: .collaborative, other: .content,
                                        lambda: 0.5, mrWholeDocument: true, dropout: false, seed: 0, grads: g)
        XCTAssertEqual(r.lossSum / Double(r.predictions), Double(try ref.floats("collaborative.loss").values[0]), accuracy: 1e-5)
        XCTAssertEqual(r.regularization, Double(try ref.floats("collaborative.mr").values[0]), accuracy: 1e-4)
        XCTAssertEqual(r.predictions, 5)
        assertClose(g.users.pointer, try ref.floats("collaborative.grad.user"), "user gradient")
        assertClose(g.items.pointer, try ref.floats("collaborative.grad.item"), "item gradient (input + head + MR)")
    }

    func testContentHeadLossAndGradients() throws {
        let (model, ref) = try headFixture()
        let g = IDGradients(model: model)
        let r = model.languageModelStep(try documents(ref.metadata!["content"]!), head: .vocabulary, copy: .content, other: .collaborative,
                                        lambda: 0.5, mrWholeDocument: false, dropout: false, seed: 0, grads: g)
        XCTAssertEqual(r.lossSum / Double(r.predictions), Double(try ref.floats("content.loss").values[0]), accuracy: 1e-5)
        XCTAssertEqual(r.regularization, Double(try ref.floats("content.mr").values[0]), accuracy: 1e-4)
        assertClose(g.users.pointer, try ref.floats("content.grad.user"), "user gradient")
        assertClose(g.items.pointer, try ref.floats("content.grad.item"), "item gradient")
    }

    func testRecommendationHeadLossAndGradients() throws {
        let (model, ref) = try headFixture()
        let raw = try JSONSerialization.jsonObject(with: Data(ref.metadata!["recommendation"]!.utf8)) as! [[[Int]]]
        let g = IDGradients(model: model)
        let r = model.recommendationStep(prompts: raw.map { $0[0] }, targets: raw.map { $0[1] }, copy: .recommendation, other: .content,
                                         lambda: 0.5, dropout: false, seed: 0, grads: g)
        XCTAssertEqual(r.lossSum / Double(r.predictions), Double(try ref.floats("recommendation.loss").values[0]), accuracy: 1e-5)
        XCTAssertEqual(r.regularization, Double(try ref.floats("recommendation.mr").values[0]), accuracy: 1e-4)
        assertClose(g.users.pointer, try ref.floats("recommendation.grad.user"), "user gradient")
        assertClose(g.items.pointer, try ref.floats("recommendation.grad.item"), "item gradient (input + head + MR)")
        // Scores used for ranking equal PyTorch's h_last · V_recᵀ for the same prompts.
        var s = model.scores(prompts: raw.map { $0[0] }, copy: .recommendation)
        let want = try ref.floats("recommendation.scores")
        XCTAssertEqual(want.shape, [2, 5])
        s.withUnsafeMutableBufferPointer { assertClose($0, want, "ranking scores") }
    }

    /// `Adam` takes the same steps as `torch.optim.Adam` (lr 1e-2, β 0.9/0.999, ε 1e-8), with
    /// gradients of very different sizes and an all-zero coordinate; `gradScale` scales the gradient.
    func testAdamMatchesTorch() throws {
        let ref = try SafeTensorsFile(path: testsRoot + "/CLLM4RecTests/Fixtures/adam.safetensors")
        let initial = try ref.floats("initial").values, grads = try ref.floats("grads").values, after = try ref.floats("after").values
        for scale: Float in [1, 0.5] {
            let adam = Adam(count: 13)
            var p = initial
            for step in 0..<5 {
                // With gradScale 0.5 the stored gradient is given doubled.
                let g = (0..<13).map { grads[step * 13 + $0] / scale }
                p.withUnsafeMutableBufferPointer { adam.update($0.baseAddress!, grad: g, lr: 1e-2, gradScale: scale) }
                for i in 0..<13 {
                    XCTAssertEqual(p[i], after[step * 13 + i], accuracy: 2e-6 * max(1, abs(after[step * 13 + i])), "step \(step + 1), parameter \(i), scale \(scale)")
                }
            }
        }
    }
}
