import Tensor
import XCTest

import Backbone
@testable import GPT2

final class GenerationTests: XCTestCase {
    func testGreedyEqualsHuggingFaceGenerate() throws {
        let ref = try Reference(), model = try tinyModel()
        let prompt = try ref.t("greedy_prompt").values.map { Int($0) }
        let expected = try ref.t("greedy_ids").values.map { Int($0) }
        var streamed: [Int] = []
        let out = model.generate(prompts: [prompt], options: SamplingOptions(temperature: 0, maxNewTokens: 20, stopTokens: [999])) { _, t in streamed.append(t) }
        XCTAssertEqual(prompt + out[0], expected)
        XCTAssertEqual(streamed, out[0])
    }

    func testBatchedPromptsMatchOneByOne() throws {
        let model = try tinyModel()
        let prompts = [[5, 17, 300, 42], [7], [100, 200, 300, 400, 500, 600, 700]]
        let options = SamplingOptions(temperature: 0.8, topK: 50, seed: 11, maxNewTokens: 12)
        let batched = model.generate(prompts: prompts, options: SamplingOptions(temperature: 0, maxNewTokens: 12))
        for (k, p) in prompts.enumerated() {
            XCTAssertEqual(model.generate(prompts: [p], options: SamplingOptions(temperature: 0, maxNewTokens: 12))[0], batched[k])
        }
        // Same seed, same samples; another seed, other samples.
        XCTAssertEqual(model.generate(prompts: prompts, options: options), model.generate(prompts: prompts, options: options))
        var other = options
        other.seed = 12
        XCTAssertNotEqual(model.generate(prompts: prompts, options: options), model.generate(prompts: prompts, options: other))
    }

    func testKVCacheStepsEqualFullRecomputation() throws {
        // The last hidden state after feeding tokens one at a time through the cache equals a fresh
        // forward over the whole sequence.
        let model = try tinyModel()
        let seq = [9, 8, 7, 6, 5, 4, 3]
        let c = model.width
        let cache = KVCache(config: model.config, slots: 1, maxLength: 16)
        var x = [Float](repeating: 0, count: c)
        var stepped: [Float] = []
        for t in seq {
            x.withUnsafeMutableBufferPointer { model.embed([t], into: $0.baseAddress!) }
            let h = model.forward(inputs: x, lengths: [1], cache: cache, slots: [0])
            stepped = Array(UnsafeBufferPointer(start: h, count: c))
        }
        var all = [Float](repeating: 0, count: seq.count * c)
        all.withUnsafeMutableBufferPointer { model.embed(seq, into: $0.baseAddress!) }
        let h = model.forward(inputs: all, lengths: [seq.count])
        let full = Array(UnsafeBufferPointer(start: h + (seq.count - 1) * c, count: c))
        for j in 0..<c { XCTAssertEqual(stepped[j], full[j], accuracy: 1e-5) }
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
