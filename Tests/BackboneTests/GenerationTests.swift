import Backbone
import Tensor
import TestSupport
import XCTest

/// What every backbone does through the `LanguageBackbone` seam, on the tiny fixture of each family:
/// batched generation, the KV cache, the decoding-path loss; and the sampling rules.
final class GenerationTests: XCTestCase {
    func testBatchedPromptsMatchOneByOne() throws {
        for (name, model) in try TestFixtures.tinyBackbones() {
            let prompts = [[5, 17, 250, 42], [7], [100, 200, 290, 40, 50, 60, 70]]  // ids below the smallest vocabulary (300)
            let options = SamplingOptions(temperature: 0.8, topK: 50, seed: 11, maxNewTokens: 12)
            let batched = model.generate(prompts: prompts, options: SamplingOptions(temperature: 0, maxNewTokens: 12))
            for (k, p) in prompts.enumerated() {
                XCTAssertEqual(model.generate(prompts: [p], options: SamplingOptions(temperature: 0, maxNewTokens: 12))[0], batched[k], name)
            }
            // Same seed, same samples; another seed, other samples.
            XCTAssertEqual(model.generate(prompts: prompts, options: options), model.generate(prompts: prompts, options: options), name)
            var other = options
            other.seed = 12
            XCTAssertNotEqual(model.generate(prompts: prompts, options: options), model.generate(prompts: prompts, options: other), name)
        }
    }

    /// The last hidden state after feeding tokens one at a time through the cache equals a fresh
    /// forward over the whole sequence.
    func testKVCacheStepsEqualFullRecomputation() throws {
        for (name, model) in try TestFixtures.tinyBackbones() {
            let seq = [9, 8, 7, 6, 5, 4, 3]
            let c = model.width
            let cache = model.makeCache(slots: 1, maxLength: 16)
            var x = [Float](repeating: 0, count: c)
            var stepped: [Float] = []
            for t in seq {
                x.withUnsafeMutableBufferPointer { model.embedTokens([t], into: $0.baseAddress!) }
                let h = x.withUnsafeBufferPointer {
                    model.forward(inputs: $0.baseAddress!, lengths: [1], dropout: false, seed: 0, forBackward: false, cache: cache, slots: [0])
                }
                stepped = Array(UnsafeBufferPointer(start: h, count: c))
            }
            var all = [Float](repeating: 0, count: seq.count * c)
            all.withUnsafeMutableBufferPointer { model.embedTokens(seq, into: $0.baseAddress!) }
            let h = all.withUnsafeBufferPointer {
                model.forward(inputs: $0.baseAddress!, lengths: [seq.count], dropout: false, seed: 0, forBackward: false, cache: nil, slots: nil)
            }
            let full = Array(UnsafeBufferPointer(start: h + (seq.count - 1) * c, count: c))
            for j in 0..<c { XCTAssertEqual(stepped[j], full[j], accuracy: 1e-5, "\(name) channel \(j)") }
        }
    }

    /// `decodingLoss` (one token per step through the cache, `perplexity --decode`) is the packed
    /// forward's `nextTokenLoss` on F32 weights.
    func testDecodingLossIsTheNextTokenLoss() throws {
        for (name, model) in try TestFixtures.tinyBackbones() {
            let tokens = [3, 141, 59, 26, 235, 89, 79, 223, 84, 62, 64, 33]
            let packed = model.nextTokenLoss([tokens]), stepped = model.decodingLoss(tokens)
            XCTAssertEqual(stepped.count, tokens.count - 1, name)
            XCTAssertEqual(packed.count, stepped.count, name)
            XCTAssertEqual(stepped.loss, packed.loss, accuracy: 1e-5 * packed.loss, name)
            XCTAssertEqual(model.decodingLoss([7]).count, 0, name)
        }
    }

    /// `windowedLoss` weighs each window's mean by the tokens it predicts, leaves out a last window
    /// of one token, and reads windows independently (the same as each window's own loss).
    func testWindowedLossIsTheWindowsWeightedMean() throws {
        for (name, model) in try TestFixtures.tinyBackbones() {
            let tokens = [3, 141, 59, 26, 235, 89, 79, 223, 84, 62, 64, 33, 5]  // 13: windows of 5, 5, 3
            let a = model.nextTokenLoss([Array(tokens[0..<5])]), b = model.nextTokenLoss([Array(tokens[5..<10])])
            let c = model.nextTokenLoss([Array(tokens[10..<13])])
            let expected = (a.loss * 4 + b.loss * 4 + c.loss * 2) / 10
            let whole = model.windowedLoss(tokens, window: 5, decoding: false)
            XCTAssertEqual(whole.count, 10, name)
            XCTAssertEqual(whole.loss, expected, accuracy: 1e-6 * expected, name)
            let stepped = model.windowedLoss(tokens, window: 5, decoding: true)
            XCTAssertEqual(stepped.count, 10, name)
            XCTAssertEqual(stepped.loss, expected, accuracy: 1e-5 * expected, name)
            // 11 tokens in windows of 5: the last window holds one token and predicts nothing.
            XCTAssertEqual(model.windowedLoss(Array(tokens[0..<11]), window: 5, decoding: false).count, 8, name)
        }
    }

    func testSamplingRules() {
        var g = SplitMix64(seed: 1)
        var l: [Float] = [0.1, 2.0, 2.0, -1]
        XCTAssertEqual(l.withUnsafeMutableBufferPointer { sampleToken(logits: $0, seen: [], options: SamplingOptions(temperature: 0), using: &g) }, 1)
        // A penalty of 2 halves a seen positive logit: token 1 drops below token 2.
        l = [0.1, 2.0, 1.5, -1]
        XCTAssertEqual(l.withUnsafeMutableBufferPointer { sampleToken(logits: $0, seen: [1], options: SamplingOptions(temperature: 0, repetitionPenalty: 2), using: &g) }, 2)
        // top-k 1 and top-p tiny are greedy whatever the temperature.
        for _ in 0..<50 {
            l = [0.5, 0.2, 3.0, 1.0]
            XCTAssertEqual(l.withUnsafeMutableBufferPointer { sampleToken(logits: $0, seen: [], options: SamplingOptions(temperature: 5, topK: 1), using: &g) }, 2)
            l = [0.5, 0.2, 3.0, 1.0]
            XCTAssertEqual(l.withUnsafeMutableBufferPointer { sampleToken(logits: $0, seen: [], options: SamplingOptions(temperature: 1, topP: 0.01), using: &g) }, 2)
        }
        // Frequencies follow the softmax: p = [0.5, 0.5, 0, 0] (log 0 = -inf) over 4000 draws.
        var counts = [0, 0, 0, 0]
        for _ in 0..<4000 {
            l = [0, 0, -.infinity, -.infinity]
            counts[l.withUnsafeMutableBufferPointer { sampleToken(logits: $0, seen: [], options: SamplingOptions(), using: &g) }] += 1
        }
        XCTAssertEqual(counts[2] + counts[3], 0)
        XCTAssertEqual(Double(counts[0]) / 4000, 0.5, accuracy: 0.04)
    }
}
