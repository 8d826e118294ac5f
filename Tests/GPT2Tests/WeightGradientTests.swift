import Foundation
import Tensor
import WeightIO
import XCTest

import Backbone
@testable import GPT2

/// Gradients for trainable backbone tensors: autograd parity, finite differences with dropout on,
/// and the name patterns that choose them.
final class WeightGradientTests: XCTestCase {
    /// Every tensor trainable: each gradient equals PyTorch autograd's on the reference batch
    /// (weight_gradients.safetensors, written by Tools/fixtures/gpt2.py).
    func testEveryTensorGradientMatchesPyTorchAutograd() throws {
        let ref = try Reference(), model = try tinyModel()
        let expected = try SafeTensorsFile(path: tinyGPT2 + "/weight_gradients.safetensors")
        let grads = try WeightGradients(config: model.config, patterns: ["*"])
        model.weightGradients = grads
        XCTAssertEqual(grads.entries.count, 4 + 12 * model.config.nLayer)
        XCTAssertEqual(Set(grads.entries.map(\.name)), Set(expected.tensors.map(\.name)))
        let (loss, count, _) = model.nextTokenLoss(try ref.sequences(), gradient: true)
        XCTAssertEqual(count, 17)
        XCTAssertEqual(loss, Double(try ref.t("loss").values[0]), accuracy: 1e-5 * loss)
        var worstName = "", worst: Float = 0
        for e in grads.entries {
            let hf = try expected.floats(e.name)
            XCTAssertEqual(hf.shape, e.shape, e.name)
            var num: Float = 0, den: Float = 0
            for (a, b) in zip(e.buffer.pointer, hf.values) { num = max(num, abs(a - b)); den = max(den, abs(b)) }
            XCTAssertGreaterThan(den, 0, "\(e.name): autograd gradient is all zero, nothing is checked")
            XCTAssertLessThan(num / den, 1e-3, "\(e.name): max error / max value")
            if num / den > worst { worst = num / den; worstName = e.name }
        }
        print("weight gradients vs autograd: worst max error / max value \(worst) (\(worstName))")
    }

    /// A subset trainable gets the same gradients as when everything is, and the input gradient
    /// does not change with what is trainable.
    func testSubsetGetsTheSameGradientsAndLeavesTheRestAlone() throws {
        let seqs = [[3, 14, 15, 92, 65], [35, 89, 79]]
        let model = try tinyModel()
        let all = try WeightGradients(config: model.config, patterns: ["*"])
        model.weightGradients = all
        let (_, _, inputAll) = model.nextTokenLoss(seqs, gradient: true)
        let some = try WeightGradients(config: model.config, patterns: ["transformer.h.1.mlp.c_fc.*", "ln_f.weight"])
        XCTAssertEqual(some.entries.map(\.name), ["h.1.mlp.c_fc.weight", "h.1.mlp.c_fc.bias", "ln_f.weight"])
        model.weightGradients = some
        let (_, _, inputSome) = model.nextTokenLoss(seqs, gradient: true)
        XCTAssertEqual(inputAll!, inputSome!)
        for e in some.entries { XCTAssertEqual(Array(e.buffer.pointer), Array(all.gradient(named: e.name)!), e.name) }
        XCTAssertNil(some.gradient(.wte))
        // Gradients accumulate until zeroed.
        let before = Array(some.entries[2].buffer.pointer)
        _ = model.nextTokenLoss(seqs, gradient: true)
        for (a, b) in zip(some.entries[2].buffer.pointer, before) { XCTAssertEqual(a, 2 * b, accuracy: 1e-6 + 1e-5 * abs(b)) }
        some.zero()
        XCTAssertTrue(some.entries.allSatisfy { $0.buffer.pointer.allSatisfy { $0 == 0 } })
    }

    /// Central differences of the loss with dropout on (same seed, so the same masks) at one
    /// coordinate of several tensors: wte (tied head + lookup), wpe, LayerNorm, qkv, projections.
    func testWeightGradientsByFiniteDifferencesWithDropout() throws {
        let tiny = try tinyModel()
        var config = tiny.config
        config.residPdrop = 0.1; config.embdPdrop = 0.1; config.attnPdrop = 0.1
        let params = GPT2Parameters(config: config)
        params.buffer.pointer.update(fromContentsOf: tiny.params.buffer.pointer)
        let model = GPT2Model(params: params)
        let grads = try WeightGradients(config: config, patterns: ["*"])
        model.weightGradients = grads
        let seqs = [[3, 14, 15, 92, 65, 14], [35, 89, 79]]
        func loss() -> Double { model.nextTokenLoss(seqs, dropout: true, seed: 11).loss }
        _ = model.nextTokenLoss(seqs, dropout: true, seed: 11, gradient: true)
        let probes: [(GPT2Tensor, Int, Int)] = [
            (.wte, 0, 14 * 32 + 5), (.wte, 0, 92 * 32 + 1), (.wpe, 0, 2 * 32 + 7), (.ln1w, 0, 3), (.ln2b, 1, 9),
            (.qkvw, 1, 5 * 96 + 40), (.qkvb, 0, 70), (.attprojw, 0, 17 * 32 + 2), (.fcw, 1, 4 * 128 + 100),
            (.fcprojb, 1, 30), (.fcprojw, 0, 77 * 32 + 8), (.lnfw, 0, 12), (.lnfb, 0, 0),
        ]
        for (t, l, i) in probes {
            let w = params.tensor(t, layer: l)
            let h: Float = 1e-2
            w[i] += h
            let lp = loss()
            w[i] -= 2 * h
            let lm = loss()
            w[i] += h
            let numeric = (lp - lm) / Double(2 * h)
            let analytic = Double(grads.gradient(t, layer: l)![i])
            XCTAssertEqual(analytic, numeric, accuracy: 2e-3 + 2e-2 * abs(numeric), "\(t.hfName(layer: l))[\(i)]")
        }
    }

    func testPatternsAreShellPatternsOverHuggingFaceNames() throws {
        XCTAssertTrue(WeightGradients.matches("h.*.ln_1.weight", "h.3.ln_1.weight"))
        XCTAssertTrue(WeightGradients.matches("transformer.ln_f.bias", "ln_f.bias"))
        XCTAssertTrue(WeightGradients.matches("h.?.attn.c_?ttn.*", "h.7.attn.c_attn.bias"))
        XCTAssertFalse(WeightGradients.matches("h.1.*", "h.11.mlp.c_fc.weight"))
        XCTAssertFalse(WeightGradients.matches("ln_f", "ln_f.weight"))
        var config = try tinyModel().config
        config.nLayer = 12
        let g = try WeightGradients(config: config, patterns: ["h.1.*"])
        XCTAssertEqual(g.entries.count, 12)
        XCTAssertTrue(g.entries.allSatisfy { $0.layer == 1 })
        XCTAssertThrowsError(try WeightGradients(config: config, patterns: ["ln_f.weight", "h.12.ln_1.weight"])) { error in
            XCTAssertTrue("\(error)".contains("\"h.12.ln_1.weight\" matches no tensor of this 12-layer GPT-2"), "\(error)")
        }
    }
}
