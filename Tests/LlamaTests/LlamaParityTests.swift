import Backbone
import Foundation
import Tensor
import WeightIO
import XCTest

@testable import Llama

let llamaFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// Inputs and Hugging Face outputs recorded by Tools/fixtures/llama.py for one tiny model.
struct LlamaReference {
    let folder: String
    let file: SafeTensorsFile
    init(_ kind: String) throws {
        folder = llamaFixtures + "/tiny-\(kind)"
        file = try SafeTensorsFile(path: folder + "/reference.safetensors")
    }
    func t(_ name: String) throws -> FloatTensor { try file.floats(name) }
    func sequences() throws -> [[Int]] {
        let ids = try t("input_ids"), lengths = try t("lengths").values.map { Int($0) }
        return lengths.enumerated().map { s, len in (0..<len).map { Int(ids.values[s * ids.shape[1] + $0]) } }
    }
    func model() throws -> LlamaModel { LlamaModel(params: try LlamaCheckpoint.load(path: folder + "/hf").0) }
}

/// Max |a − b| over the rows of packed sequences against a padded [S, T, W] reference.
func maxDifference(_ packed: [Float], _ ref: FloatTensor, lengths: [Int]) -> Float {
    let w = ref.shape[2], padded = ref.shape[1]
    var worst: Float = 0, row = 0
    for (s, len) in lengths.enumerated() {
        for i in 0..<len {
            for j in 0..<w { worst = max(worst, abs(packed[(row + i) * w + j] - ref.values[(s * padded + i) * w + j])) }
        }
        row += len
    }
    return worst
}

func packedLogits(_ model: LlamaModel, _ seqs: [[Int]]) -> [Float] {
    let ids = seqs.flatMap { $0 }, c = model.width, v = model.vocabSize
    var inputs = [Float](repeating: 0, count: ids.count * c)
    inputs.withUnsafeMutableBufferPointer { model.embedTokens(ids, into: $0.baseAddress!) }
    let hidden = inputs.withUnsafeBufferPointer { model.forward(inputs: $0.baseAddress!, lengths: seqs.map(\.count)) }
    var logits = [Float](repeating: 0, count: ids.count * v)
    logits.withUnsafeMutableBufferPointer { model.logits(hidden: hidden, rows: ids.count, into: $0.baseAddress!) }
    return logits
}

final class LlamaParityTests: XCTestCase {
    let kinds = ["llama", "qwen2"]

    func testConfigFromHuggingFaceFolder() throws {
        let llama = try LlamaConfig.load(path: llamaFixtures + "/tiny-llama/hf/config.json")
        XCTAssertEqual(llama.modelType, "llama")
        XCTAssertEqual(llama.ropeTheta, 10000)  // from rope_parameters (transformers 5)
        XCTAssertEqual(llama.headSize, 8)
        XCTAssertTrue(llama.tieWordEmbeddings)
        XCTAssertFalse(llama.hasQKVBias)
        let qwen = try LlamaConfig.load(path: llamaFixtures + "/tiny-qwen2/hf/config.json")
        XCTAssertEqual(qwen.modelType, "qwen2")
        XCTAssertEqual(qwen.ropeTheta, 1_000_000)
        XCTAssertTrue(qwen.hasQKVBias)
        XCTAssertFalse(qwen.hasOutputBias)
        XCTAssertFalse(qwen.tieWordEmbeddings)
    }

    func testLogitsMatchHuggingFace() throws {
        for kind in kinds {
            let ref = try LlamaReference(kind), model = try ref.model()
            let seqs = try ref.sequences()
            let worst = maxDifference(packedLogits(model, seqs), try ref.t("logits"), lengths: seqs.map(\.count))
            XCTAssertLessThan(worst, 1e-5, "\(kind): max |logit difference|")
        }
    }

    func testGGUFImportMatchesTransformersGGUFLoader() throws {
        // F32: the q/k permutation must be undone exactly; Q8_0: dequantized as transformers does.
        for kind in kinds {
            let ref = try LlamaReference(kind)
            let seqs = try ref.sequences()
            for (file, key) in [("model-f32.gguf", "logits_model_f32"), ("model-q8_0.gguf", "logits_model_q8_0")] {
                let (params, report) = try LlamaCheckpoint.load(path: ref.folder + "/" + file)
                XCTAssertEqual(params.config.modelType, kind)
                XCTAssertEqual(report.sourceFormat, "gguf v3")
                let worst = maxDifference(packedLogits(LlamaModel(params: params), seqs), try ref.t(key), lengths: seqs.map(\.count))
                XCTAssertLessThan(worst, 1e-5, "\(kind) \(file): max |logit difference|")
            }
            // The F32 file holds exactly the Hugging Face weights.
            let hf = try LlamaCheckpoint.load(path: ref.folder + "/hf").0, gg = try LlamaCheckpoint.load(path: ref.folder + "/model-f32.gguf").0
            XCTAssertEqual(Array(hf.buffer.pointer), Array(gg.buffer.pointer), kind)
        }
    }

    func testLossAndInputGradientMatchAutograd() throws {
        for kind in kinds {
            let ref = try LlamaReference(kind), model = try ref.model()
            let seqs = try ref.sequences()
            let (loss, count, grad) = model.nextTokenLoss(seqs, gradient: true)
            XCTAssertEqual(count, seqs.reduce(0) { $0 + $1.count - 1 })
            let want = Double(try ref.t("loss").values[0])
            XCTAssertEqual(loss, want, accuracy: 1e-5 * want, kind)
            let g = try ref.t("input_embeds_grad")
            let scale = g.values.map(abs).max()!
            XCTAssertLessThan(maxDifference(grad!, g, lengths: seqs.map(\.count)) / scale, 1e-4, "\(kind): input gradient")
        }
    }

    func testWeightGradientsMatchAutograd() throws {
        for kind in kinds {
            let ref = try LlamaReference(kind), model = try ref.model()
            let grads = try LlamaWeightGradients(config: model.config, patterns: ["*"])
            model.weightGradients = grads
            _ = model.nextTokenLoss(try ref.sequences(), gradient: true)
            let want = try SafeTensorsSource(path: ref.folder + "/weight_gradients.safetensors")
            XCTAssertEqual(Set(grads.entries.map(\.name)), Set(want.tensorHeaders.map(\.name).filter { kind == "qwen2" || $0 != "lm_head.weight" }))
            for e in grads.entries {
                let w = try want.floats(e.name).values
                let scale = max(w.map(abs).max()!, 1e-6)
                let worst = zip(e.buffer.pointer, w).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst / scale, 1e-4, "\(kind) \(e.name)")
            }
        }
    }

    func testLoRAFromPEFTMatchesLogitsLossAndGradients() throws {
        for kind in kinds {
            let ref = try LlamaReference(kind), model = try ref.model()
            let lora = try LowRankAdapter.load(path: ref.folder + "/lora", available: LlamaModel.adapterModules(model.config),
                                               layers: model.config.numHiddenLayers, prefix: LlamaModel.adapterPrefix)
            XCTAssertEqual(lora.modules.count, 7)
            XCTAssertEqual(lora.rank, 4)
            model.lora = lora
            let seqs = try ref.sequences()
            XCTAssertLessThan(maxDifference(packedLogits(model, seqs), try ref.t("lora_logits"), lengths: seqs.map(\.count)), 1e-5, kind)
            lora.zeroGradients()
            let (loss, _, _) = model.nextTokenLoss(seqs, gradient: true)
            let want = Double(try ref.t("lora_loss").values[0])
            XCTAssertEqual(loss, want, accuracy: 1e-5 * want)
            for (module, layer) in [("self_attn.q_proj", 0), ("mlp.down_proj", 1), ("self_attn.k_proj", 1)] {
                let k = lora.index(module)!
                for isA in [true, false] {
                    let name = "lora_grad.model.layers.\(layer).\(module).lora_\(isA ? "A" : "B").weight"
                    let w = try ref.t(name).values
                    let got = UnsafeBufferPointer(start: isA ? lora.a(k, layer, grad: true) : lora.b(k, layer, grad: true), count: w.count)
                    let scale = w.map(abs).max()!
                    let worst = zip(got, w).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst / scale, 1e-4, "\(kind) \(name)")
                }
            }
        }
    }

    /// Merging the PEFT adapter into the weights gives the adapted logits without the adapter.
    func testMergedAdapterEqualsAdapter() throws {
        for kind in kinds {
            let ref = try LlamaReference(kind), model = try ref.model()
            let lora = try model.loadAdapter(path: ref.folder + "/lora")
            model.merge(lora)
            XCTAssertNil(model.adapter)
            let seqs = try ref.sequences()
            XCTAssertLessThan(maxDifference(packedLogits(model, seqs), try ref.t("lora_logits"), lengths: seqs.map(\.count)), 1e-5, kind)
        }
    }

    func testGreedyGenerationMatchesHuggingFace() throws {
        let prompts = [[5, 17, 260, 3], [1, 200, 64, 64, 12, 250]]
        for kind in kinds {
            let ref = try LlamaReference(kind), model = try ref.model()
            // Both prompts at once (packed prefill, then one token per sequence per step).
            let out = model.generate(prompts: prompts, options: SamplingOptions(temperature: 0, maxNewTokens: 12))
            for i in 0..<2 {
                XCTAssertEqual(out[i], try ref.t("greedy_\(i)").values.map { Int($0) }, "\(kind) prompt \(i)")
            }
        }
    }

    func testKVCacheContinuesRotaryPositions() throws {
        // Hidden states of a sequence run whole equal those of its prefix then its rest through a cache.
        let model = try LlamaReference("llama").model()
        let seq = [5, 17, 260, 3, 99, 150, 42], c = model.width
        var x = [Float](repeating: 0, count: seq.count * c)
        x.withUnsafeMutableBufferPointer { model.embedTokens(seq, into: $0.baseAddress!) }
        let whole = Array(UnsafeBufferPointer(start: model.forward(inputs: x, lengths: [seq.count]), count: seq.count * c))
        let cache = model.makeCache(slots: 1, maxLength: 16)
        _ = model.forward(inputs: x, lengths: [4], dropout: false, seed: 0, forBackward: false, cache: cache, slots: [0])
        let rest = x.withUnsafeBufferPointer { p in
            Array(UnsafeBufferPointer(start: model.forward(inputs: p.baseAddress! + 4 * c, lengths: [3], dropout: false, seed: 0,
                                                           forBackward: false, cache: cache, slots: [0]), count: 3 * c))
        }
        let worst = zip(whole[(4 * c)...], rest).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5)
        XCTAssertEqual(cache.lengths, [7])
    }
}

/// A Hugging Face folder whose weights are split over shards listed in model.safetensors.index.json.
final class ShardedCheckpointTests: XCTestCase {
    func folder() throws -> String {
        let dir = NSTemporaryDirectory() + "/cllm4rec-sharded-\(UUID())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testShardsLoadToTheSameWeights() throws {
        let src = llamaFixtures + "/tiny-qwen2/hf"
        let whole = try LlamaCheckpoint.load(path: src).0
        let dir = try folder()
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir + "/config.json")
        let named = whole.namedTensors
        var map: [String: String] = [:]
        for (k, part) in [named.prefix(named.count / 2), named.suffix(from: named.count / 2)].enumerated() {
            let file = "model-0000\(k + 1)-of-00002.safetensors"
            try SafeTensorsWriter.write(part.map { SafeTensorsWriter.Entry(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer($0.values)) },
                                        metadata: ["format": "pt"], to: dir + "/" + file)
            for t in part { map[t.name] = file }
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": whole.count * 4], "weight_map": map])
        FileManager.default.createFile(atPath: dir + "/model.safetensors.index.json", contents: index)
        let (sharded, report) = try LlamaCheckpoint.load(path: dir)
        XCTAssertEqual(report.sourceFormat, "safetensors (2 shards)")
        XCTAssertEqual(Array(sharded.buffer.pointer), Array(whole.buffer.pointer))

        // A shard name that leaves the folder is refused, naming the index.
        map[named[0].name] = "../elsewhere.safetensors"
        FileManager.default.createFile(atPath: dir + "/model.safetensors.index.json",
                                       contents: try JSONSerialization.data(withJSONObject: ["weight_map": map]))
        XCTAssertThrowsError(try LlamaCheckpoint.load(path: dir)) {
            XCTAssertTrue("\($0)".contains("model.safetensors.index.json") && "\($0)".contains("plain file names"), "\($0)")
        }
    }
}

/// Attention runs as (sequence, head) tasks across the cores once there is enough of it: forward,
/// backward, input and weight gradients are then the same bits with one thread or two, with
/// attention dropout on and sequences of unequal length (the parity tests' sequences are too short
/// to leave the serial path).
final class LlamaThreadingTests: XCTestCase {
    func testParallelAttentionGivesTheSerialBits() throws {
        var config = LlamaConfig.preset("tiny-llama")!
        config.attentionDropout = 0.1
        let params = LlamaParameters(config: config)
        var g = SplitMix64(seed: 11)
        params.initializeRandomly(using: &g)
        let seqs = [100, 37, 81].map { n in (0..<n).map { _ in Int.random(in: 0..<config.vocabSize, using: &g) } }
        XCTAssertGreaterThan(seqs.reduce(0) { $0 + $1.count * $1.count } * config.numAttentionHeads, 1 << 15, "long enough for the parallel path")
        func run(threads: Int) throws -> [[Float]] {
            let saved = BLAS.threads
            BLAS.threads = threads
            defer { BLAS.threads = saved }
            let model = LlamaModel(params: params)
            model.weightGradients = try LlamaWeightGradients(config: config, patterns: ["*"])
            let (loss, _, grad) = model.nextTokenLoss(seqs, dropout: true, seed: 5, gradient: true)
            let dq = model.weightGradients!.gradient(named: "model.layers.1.self_attn.q_proj.weight")!
            let dk = model.weightGradients!.gradient(named: "model.layers.0.self_attn.k_proj.weight")!
            return [[Float(loss)], grad!, Array(dq), Array(dk)]
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        // The same bits where the products keep them across thread counts (MKL, OpenBLAS's AVX-512
        // kernels); with OpenBLAS's AVX2 kernels the products themselves differ in their last bits,
        // so there the attention tasks are held to float rounding of the serial result.
        let exact = try ProductLibrary.load().keepsBitsAcrossThreads
        for k in one.indices {
            let differing = zip(one[k], two[k]).filter { $0.bitPattern != $1.bitPattern }.count
            if exact {
                XCTAssertEqual(differing, 0, "output \(k): \(differing) of \(one[k].count) values differ")
            } else {
                let scale = one[k].map { abs($0) }.max() ?? 1
                let worst = zip(one[k], two[k]).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4 * max(scale, 1e-6), "output \(k): \(differing) of \(one[k].count) values differ, by up to \(worst)")
            }
        }
        XCTAssertTrue(one[3].contains { $0 != 0 }, "k_proj has a gradient")
    }
}
