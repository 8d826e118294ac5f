import Backbone
import Foundation
import Tensor
import WeightIO
import XCTest

@testable import Llama

/// Decoding from the GGUF file's own blocks (`LlamaQuantizedWeights`) against the F32 weights those
/// blocks dequantize to (the kernels themselves: TensorTests' QuantizedMatrixTests), on the tiny Q8_0 fixtures of both families (llama: q/k rows permuted by
/// llama.cpp; qwen2: q/k/v biases).
final class QuantizedDecodingTests: XCTestCase {
    func models(_ kind: String) throws -> (f32: LlamaModel, quantized: LlamaModel) {
        let path = llamaFixtures + "/tiny-\(kind)/model-q8_0.gguf"
        let params = try LlamaCheckpoint.load(path: path).0
        let q = LlamaModel(params: params)
        q.quantized = try LlamaQuantizedWeights(path: path, params: params)
        return (LlamaModel(params: params), q)
    }

    /// Step by step through a KV cache: every step's logits within the vector quantization's error of
    /// the F32 path, and greedy generation picks the same tokens.
    func testDecodingStepsMatchTheF32Weights() throws {
        for kind in ["llama", "qwen2"] {
            let (f32, quantized) = try models(kind)
            XCTAssertEqual(quantized.quantized?.formats["Q8_0"], expectedProjectionWeights(quantized.config), kind)
            let prompt = try LlamaReference(kind).sequences()[0]
            var options = SamplingOptions()
            options.temperature = 0; options.maxNewTokens = 12
            let a = f32.generate(prompts: [prompt], options: options), b = quantized.generate(prompts: [prompt], options: options)
            XCTAssertEqual(a, b, "\(kind): greedy tokens")
            // Logits of each decoding step (one row through the cache).
            let c = f32.width, v = f32.vocabSize
            let caches = (f32.makeCache(slots: 1, maxLength: 64), quantized.makeCache(slots: 1, maxLength: 64))
            var worst: Float = 0, scale: Float = 0
            for token in prompt + a[0] {
                var x = [Float](repeating: 0, count: c)
                x.withUnsafeMutableBufferPointer { f32.embedTokens([token], into: $0.baseAddress!) }
                var la = [Float](repeating: 0, count: v), lb = la
                x.withUnsafeBufferPointer { xp in
                    let ha = f32.forward(inputs: xp.baseAddress!, lengths: [1], dropout: false, seed: 0, forBackward: false, cache: caches.0, slots: [0])
                    la.withUnsafeMutableBufferPointer { f32.logits(hidden: ha, rows: 1, into: $0.baseAddress!) }
                    let hb = quantized.forward(inputs: xp.baseAddress!, lengths: [1], dropout: false, seed: 0, forBackward: false, cache: caches.1, slots: [0])
                    lb.withUnsafeMutableBufferPointer { quantized.logits(hidden: hb, rows: 1, into: $0.baseAddress!) }
                }
                for j in 0..<v { worst = max(worst, abs(la[j] - lb[j])); scale = max(scale, abs(la[j])) }
            }
            // The vector is quantized to 8 bits per block before each product (as llama.cpp): about
            // 0.7% of the largest logit here; q/k rows left in llama.cpp's order would give 4%.
            XCTAssertLessThan(worst, 2e-2 * max(scale, 1), "\(kind): max |logit difference| over \(prompt.count + a[0].count) steps")
        }
    }

    /// `decodingLoss` (`perplexity --decode`) on the quantized blocks is near the F32 weights' loss,
    /// not equal to it: the blocks are used (BackboneTests holds it to `nextTokenLoss` on F32 weights).
    func testDecodingLossUsesTheBlocks() throws {
        for kind in ["llama", "qwen2"] {
            let (f32, quantized) = try models(kind)
            let tokens = try LlamaReference(kind).sequences()[0]
            let stepped = f32.decodingLoss(tokens), blocks = quantized.decodingLoss(tokens)
            XCTAssertEqual(blocks.count, tokens.count - 1)
            XCTAssertEqual(blocks.loss, stepped.loss, accuracy: 1e-2 * stepped.loss, kind)
            XCTAssertNotEqual(blocks.loss, stepped.loss, kind)
        }
    }

    /// Projections, heads: every tensor the fixture quantized (all but norms).
    func expectedProjectionWeights(_ c: LlamaConfig) -> Int {
        let C = c.hiddenSize, F = c.intermediateSize, Q = c.queryWidth, K = c.keyValueWidth
        return c.numHiddenLayers * (C * Q + 2 * C * K + Q * C + 3 * C * F) + c.vocabSize * C
    }

    /// A sidecar whose blocks are not the folder's weights is refused with the tensor named.
    func testAStaleFileIsRefused() throws {
        let path = llamaFixtures + "/tiny-llama/model-q8_0.gguf"
        let params = try LlamaCheckpoint.load(path: path).0
        params.tensor(.down, layer: 1)[3] += 0.5
        XCTAssertThrowsError(try LlamaQuantizedWeights(path: path, params: params)) { error in
            XCTAssertTrue("\(error)".contains("blk.1.ffn_down.weight is not the tensor this folder's model.safetensors holds"), "\(error)")
        }
    }
}
