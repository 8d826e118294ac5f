import Foundation
import Tensor
import WeightIO
import XCTest

import Backbone
@testable import GPT2

/// Inputs and Hugging Face outputs recorded by Tools/make_gpt2_fixtures.py.
struct Reference {
    let file: SafeTensorsFile
    init() throws { file = try SafeTensorsFile(path: tinyGPT2 + "/reference.safetensors") }
    func t(_ name: String) throws -> FloatTensor { try file.floats(name) }
    /// The two reference sequences, unpadded.
    func sequences() throws -> [[Int]] {
        let ids = try t("input_ids"), lengths = try t("lengths").values.map { Int($0) }
        let width = ids.shape[1]
        return lengths.enumerated().map { s, len in (0..<len).map { Int(ids.values[s * width + $0]) } }
    }
}

func tinyModel() throws -> GPT2Model {
    GPT2Model(params: try GPT2Checkpoint.load(path: tinyGPT2 + "/hf").0)
}

final class ForwardBackwardParityTests: XCTestCase {
    func testLogitsMatchHuggingFace() throws {
        let ref = try Reference(), model = try tinyModel()
        let seqs = try ref.sequences()
        let hfLogits = try ref.t("logits")  // [2, 12, V], padded
        let v = model.config.vocabSize, c = model.width, padded = hfLogits.shape[1]
        let ids = seqs.flatMap { $0 }
        var inputs = [Float](repeating: 0, count: ids.count * c)
        inputs.withUnsafeMutableBufferPointer { model.embed(ids, into: $0.baseAddress!) }
        let hidden = model.forward(inputs: inputs, lengths: seqs.map(\.count))
        var logits = [Float](repeating: 0, count: ids.count * v)
        model.logits(hidden: hidden, rows: ids.count, into: &logits)
        var worst: Float = 0, row = 0
        for (s, seq) in seqs.enumerated() {
            for i in 0..<seq.count {
                for j in 0..<v { worst = max(worst, abs(logits[(row + i) * v + j] - hfLogits.values[(s * padded + i) * v + j])) }
            }
            row += seq.count
        }
        XCTAssertLessThan(worst, 1e-4, "max |logit difference|")
        print("tiny logits: max abs difference to Hugging Face \(worst)")
    }

    func testLossAndInputGradientMatchPyTorchAutograd() throws {
        let ref = try Reference(), model = try tinyModel()
        let seqs = try ref.sequences()
        let (loss, count, grad) = model.nextTokenLoss(seqs, gradient: true)
        XCTAssertEqual(count, 17)
        XCTAssertEqual(loss, Double(try ref.t("loss").values[0]), accuracy: 1e-5 * loss)
        let hfGrad = try ref.t("input_embeds_grad")  // [2, 12, C]
        let c = model.width, padded = hfGrad.shape[1]
        var num: Float = 0, den: Float = 0, row = 0
        for (s, seq) in seqs.enumerated() {
            for i in 0..<seq.count {
                for j in 0..<c {
                    let a = grad![(row + i) * c + j], b = hfGrad.values[(s * padded + i) * c + j]
                    num = max(num, abs(a - b)); den = max(den, abs(b))
                }
            }
            row += seq.count
        }
        XCTAssertLessThan(num / den, 1e-3, "relative gradient error")
        print("tiny loss \(loss) (HF \(try ref.t("loss").values[0])), input-gradient max error / max value \(num / den)")
        // Padding rows in the reference get no gradient: nothing there to compare, but check it.
        XCTAssertEqual(hfGrad.values[(1 * padded + 8) * c], 0)
    }

    /// d loss / d input embedding by central differences at a few coordinates, in a model with
    /// dropout off and LoRA on (so the adapter's path is checked too).
    func testInputGradientByFiniteDifferences() throws {
        let model = try tinyModel()
        let lora = LoRA(config: model.config, rank: 2, alpha: 4, targets: [.attn, .attnProj, .fc, .fcProj])
        var g = SplitMix64(seed: 3)
        lora.initialize(using: &g)
        for k in 0..<lora.weights.count { lora.weights[k] += Float.random(in: -0.1...0.1, using: &g) }  // make B non-zero
        model.lora = lora
        let seqs = [[3, 14, 15, 92, 65], [35, 89, 79]]
        let ids = seqs.flatMap { $0 }, c = model.width
        var inputs = [Float](repeating: 0, count: ids.count * c)
        inputs.withUnsafeMutableBufferPointer { model.embed(ids, into: $0.baseAddress!) }
        let (loss, grad) = try lossWithInputs(model, inputs, seqs)
        XCTAssertGreaterThan(loss, 0)
        for (r, j) in [(0, 0), (1, 5), (3, 31), (5, 7), (6, 17)] {
            let h: Float = 1e-2
            var plus = inputs, minus = inputs
            plus[r * c + j] += h; minus[r * c + j] -= h
            let numeric = (try lossWithInputs(model, plus, seqs).0 - (try lossWithInputs(model, minus, seqs).0)) / Double(2 * h)
            XCTAssertEqual(Double(grad[r * c + j]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), "row \(r) col \(j)")
        }
        // LoRA weight gradient, one coordinate of B in layer 1's c_fc.
        lora.zeroGradients()
        _ = try lossWithInputs(model, inputs, seqs)
        let b = lora.b(.fc, 1), gb = lora.b(.fc, 1, grad: true)[3]
        let h: Float = 1e-2
        b[3] += h
        let lp = try lossWithInputs(model, inputs, seqs).0
        b[3] -= 2 * h
        let lm = try lossWithInputs(model, inputs, seqs).0
        b[3] += h
        XCTAssertEqual(Double(gb), (lp - lm) / Double(2 * h), accuracy: 2e-3 + 2e-2 * abs(Double(gb)))
    }

    /// Mean next-token loss of packed sequences given their input embeddings, and its gradient.
    func lossWithInputs(_ model: GPT2Model, _ inputs: [Float], _ seqs: [[Int]]) throws -> (Double, [Float]) {
        let c = model.width
        let hidden = model.forward(inputs: inputs, lengths: seqs.map(\.count), forBackward: true)
        var rows: [Int] = [], targets: [Int32] = []
        var start = 0
        for s in seqs {
            for i in 0..<(s.count - 1) { rows.append(start + i); targets.append(Int32(s[i + 1])) }
            start += s.count
        }
        var gathered = [Float](), dG = [Float](repeating: 0, count: rows.count * c)
        for r in rows { gathered += UnsafeBufferPointer(start: hidden + r * c, count: c) }
        var scratch = [Float](repeating: 0, count: 4 * model.config.vocabSize)
        let total = scratch.withUnsafeMutableBufferPointer { sc in
            ChunkedCrossEntropy.lossAndGradient(hidden: gathered, rows: rows.count, width: c, head: model.params.tensor(.wte).baseAddress!,
                                                vocab: model.config.vocabSize, targets: targets, gradScale: 1 / Float(rows.count),
                                                dHidden: &dG, scratch: sc, chunkRows: 4)
        }
        var dHidden = [Float](repeating: 0, count: inputs.count)
        for (k, r) in rows.enumerated() { for j in 0..<c { dHidden[r * c + j] = dG[k * c + j] } }
        let dIn = model.backward(dHidden: dHidden)
        return (total / Double(rows.count), Array(UnsafeBufferPointer(start: dIn, count: inputs.count)))
    }
}
