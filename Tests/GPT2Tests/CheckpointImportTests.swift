import Foundation
import Tensor
import WeightIO
import XCTest

import Backbone
@testable import GPT2

/// The fixtures folder next to this file (made by Tools/fixtures/gpt2.py).
let tinyGPT2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tiny-gpt2").path

final class CheckpointImportTests: XCTestCase {
    func load(_ name: String) throws -> (GPT2Parameters, GPT2ImportReport) {
        // Bare weights files take the fixture's config: 4 heads of 8 cannot be inferred from shapes.
        try GPT2Checkpoint.load(path: tinyGPT2 + "/" + name, configPath: name == "hf" ? nil : tinyGPT2 + "/hf/config.json")
    }

    func testThreeFormatsImportToIdenticalTensors() throws {
        let (st, r1) = try load("hf")
        let (zip, r2) = try load("pytorch_model_zip.bin")
        let (legacy, r3) = try load("pytorch_model_legacy.bin")
        let (big, r4) = try load("pytorch_model_bigendian.bin")
        XCTAssertEqual(r1.sourceFormat, "safetensors")
        XCTAssertEqual(r1.configSource, "config.json")
        XCTAssertEqual(r2.sourceFormat, "pytorch-zip")
        XCTAssertEqual(r3.sourceFormat, "pytorch-legacy")
        XCTAssertEqual(r4.sourceFormat, "pytorch-zip")
        XCTAssertTrue(r2.hadTiedHead)
        XCTAssertFalse(r1.hadTiedHead)
        XCTAssertEqual(r3.droppedBuffers.count, 4)
        XCTAssertEqual(zip.config.nHead, 4)
        XCTAssertEqual(zip.config.nEmbd, 32)
        XCTAssertEqual(zip.config.nLayer, 2)
        XCTAssertEqual(zip.config.vocabSize, 1000)
        XCTAssertEqual(zip.config.nPositions, 64)
        XCTAssertGreaterThan(st.count, 40_000)
        for other in [zip, legacy, big] {
            XCTAssertEqual(other.count, st.count)
            XCTAssertTrue(st.buffer.pointer.elementsEqual(other.buffer.pointer), "tensors differ")
        }
        // Spot value written by PyTorch (wte[0, 0..<3] printed by the fixture script's torch.load).
        XCTAssertEqual(st.tensor(.wte)[0], 0.0053, accuracy: 1e-4)
        XCTAssertEqual(st.tensor(.wte)[1], 0.1119, accuracy: 1e-4)
    }

    func testHalfPrecisionFilesConvert() throws {
        let (st, _) = try load("hf")
        for (file, tol) in [("model_f16.safetensors", Float(1e-3)), ("model_bf16.safetensors", Float(8e-3))] {
            let (h, report) = try load(file)
            XCTAssertEqual(report.sourceDTypes, [file.contains("bf16") ? "BF16" : "F16"])
            var worst: Float = 0
            for i in 0..<st.count {
                let a = st.buffer[i], b = h.buffer[i]
                worst = max(worst, abs(a - b) / max(1, abs(a)))
            }
            XCTAssertLessThan(worst, tol, file)
        }
    }

    func testSaveThenLoadRoundTrips() throws {
        let (st, _) = try load("hf")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cllm4rec-save-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vocab = dir + "-vocab.json", merges = dir + "-merges.txt"
        _ = FileManager.default.createFile(atPath: vocab, contents: Data("{}".utf8))
        _ = FileManager.default.createFile(atPath: merges, contents: Data("#version: 0.2\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: vocab); try? FileManager.default.removeItem(atPath: merges) }
        var config = st.config
        config.nHead = 4
        try GPT2Checkpoint.save(st, to: dir, vocabPath: vocab, mergesPath: merges)
        let (again, report) = try GPT2Checkpoint.load(path: dir)
        XCTAssertEqual(report.configSource, "config.json")
        XCTAssertEqual(again.config, st.config)
        XCTAssertTrue(st.buffer.pointer.elementsEqual(again.buffer.pointer))
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(names, ["config.json", "merges.txt", "model.safetensors", "vocab.json"])
        let file = try SafeTensorsFile(path: dir + "/model.safetensors")
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertTrue(file.tensors.allSatisfy { $0.name.hasPrefix("transformer.") })
    }

    /// Writes a safetensors file from the fixture with one change, and checks the import error.
    func importError(_ edit: (inout [(name: String, tensor: FloatTensor)]) -> Void) throws -> Error? {
        let src = try SafeTensorsSource(path: tinyGPT2 + "/hf/model.safetensors")
        var tensors = try src.tensorHeaders.map { (name: $0.name, tensor: try src.floats($0.name)) }
        edit(&tensors)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(tensors, to: path)
        do {
            _ = try GPT2Checkpoint.load(path: path, configPath: tinyGPT2 + "/hf/config.json")
            return nil
        } catch let e as GPT2Error { return e } catch let e as WeightIOError { return e }
    }

    func testMissingTensorIsNamed() throws {
        let e = try importError { $0.removeAll { $0.name == "transformer.h.1.mlp.c_fc.bias" } }
        XCTAssertTrue("\(e!)".hasSuffix(": tensor \"transformer.h.1.mlp.c_fc.bias\" with shape [128] is missing"), "\(e!)")
    }

    func testUnusedTensorIsNamed() throws {
        let e = try importError { $0.append((name: "transformer.h.0.attn.extra", tensor: FloatTensor(shape: [2], values: [1, 2]))) }
        XCTAssertTrue("\(e!)".contains("\"transformer.h.0.attn.extra\" (shape [2]) is not part of GPT-2"), "\(e!)")
    }

    func testMisShapedTensorIsNamed() throws {
        let e = try importError {
            let k = $0.firstIndex { $0.name == "transformer.h.0.attn.c_proj.weight" }!
            $0[k].tensor = FloatTensor(shape: [16, 64], values: $0[k].tensor.values)
        }
        XCTAssertTrue("\(e!)".contains("\"transformer.h.0.attn.c_proj.weight\" has shape [16, 64], expected [32, 32]"), "\(e!)")
    }

    func testUntiedHeadIsRefused() throws {
        let e = try importError { $0.append((name: "lm_head.weight", tensor: FloatTensor(shape: [1000, 32], values: Array(repeating: 0.5, count: 32000)))) }
        XCTAssertEqual(e.map { if case GPT2Error.untiedHead? = $0 as? GPT2Error { return true } else { return false } }, true)
    }

    func testDuplicatePrefixedAndPlainNameIsRefused() throws {
        let e = try importError {
            let t = $0.first { $0.name == "transformer.ln_f.bias" }!.tensor
            $0.append((name: "ln_f.bias", tensor: t))
        }
        XCTAssertTrue("\(e!)".contains("\"ln_f.bias\" appears twice"), "\(e!)")
    }

    func testTinyModelWithoutConfigAsksForOne() throws {
        XCTAssertThrowsError(try GPT2Checkpoint.load(path: tinyGPT2 + "/pytorch_model_zip.bin")) {
            XCTAssertTrue("\($0)".contains("n_embd 32 is not a multiple of 64; pass a config.json"), "\($0)")
        }
    }

    func testInferredConfigForPublishedSizes() throws {
        // A 64-wide-head model of 3 layers: n_head is recovered from n_embd / 64.
        let c = GPT2Config(vocabSize: 50, nPositions: 16, nEmbd: 128, nLayer: 3, nHead: 2)
        let p = GPT2Parameters(config: c)
        var g = SplitMix64(seed: 1)
        p.initializeRandomly(using: &g)
        let tensors = p.namedTensors.map { (name: $0.name, tensor: FloatTensor(shape: $0.shape, values: Array($0.values))) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("infer-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensorsWriter.write(tensors, to: path)
        let (q, r) = try GPT2Checkpoint.load(path: path)
        XCTAssertEqual(q.config.nHead, 2)
        XCTAssertEqual(q.config.nLayer, 3)
        XCTAssertEqual(r.configSource, "inferred from tensor shapes")
        XCTAssertTrue(p.buffer.pointer.elementsEqual(q.buffer.pointer))
    }
}
