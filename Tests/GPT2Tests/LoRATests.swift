import Foundation
import Tensor
import WeightIO
import XCTest

import Backbone
@testable import GPT2

final class LoRATests: XCTestCase {
    func hiddenStates(_ model: GPT2Model, _ ids: [Int]) -> [Float] {
        var x = [Float](repeating: 0, count: ids.count * model.width)
        x.withUnsafeMutableBufferPointer { model.embed(ids, into: $0.baseAddress!) }
        let h = model.forward(inputs: x, lengths: [ids.count])
        return Array(UnsafeBufferPointer(start: h, count: ids.count * model.width))
    }

    func testFreshAdapterChangesNothing() throws {
        let model = try tinyModel()
        let ids = [1, 2, 3, 4, 5]
        let base = hiddenStates(model, ids)
        let lora = LoRA(config: model.config, rank: 4, alpha: 8, targets: LoRATarget.allCases)
        var g = SplitMix64(seed: 1)
        lora.initialize(using: &g)
        let bound = 1 / Float(model.config.nEmbd).squareRoot()
        XCTAssertTrue(UnsafeBufferPointer(start: lora.a(.attn, 0), count: 4 * 32).allSatisfy { abs($0) <= bound })
        XCTAssertTrue(UnsafeBufferPointer(start: lora.a(.attn, 0), count: 4 * 32).contains { $0 != 0 })
        model.lora = lora
        XCTAssertEqual(hiddenStates(model, ids), base)
    }

    func testSaveLoadAndMergeGiveTheSameModel() throws {
        let model = try tinyModel()
        let lora = LoRA(config: model.config, rank: 3, alpha: 6, dropout: 0.1, targets: [.attn, .fcProj])
        var g = SplitMix64(seed: 2)
        lora.initialize(using: &g)
        for k in 0..<lora.weights.count { lora.weights[k] += Float.random(in: -0.2...0.2, using: &g) }
        model.lora = lora
        let ids = [7, 8, 9, 10, 11, 12]
        let adapted = hiddenStates(model, ids)
        XCTAssertNotEqual(adapted, { model.lora = nil; defer { model.lora = lora }; return hiddenStates(model, ids) }())

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try lora.save(to: dir)
        let file = try SafeTensorsFile(path: dir + "/adapter_model.safetensors")
        XCTAssertEqual(try file.info("base_model.model.transformer.h.1.attn.c_attn.lora_A.weight").shape, [3, 32])
        XCTAssertEqual(try file.info("base_model.model.transformer.h.0.mlp.c_proj.lora_B.weight").shape, [32, 3])
        XCTAssertEqual(file.tensors.count, 2 * 2 * 2)

        let reloaded = try LoRA.load(path: dir, config: model.config)
        XCTAssertEqual(reloaded.targets, [.attn, .fcProj])
        XCTAssertEqual(reloaded.rank, 3)
        XCTAssertEqual(reloaded.alpha, 6)
        XCTAssertTrue(reloaded.weights.pointer.elementsEqual(lora.weights.pointer))

        let merged = try tinyModel()
        reloaded.merge(into: merged.params)
        let m = hiddenStates(merged, ids)
        for i in 0..<m.count { XCTAssertEqual(m[i], adapted[i], accuracy: 1e-4) }
    }

    func testAdapterWithAStrayTensorIsRefused() throws {
        let config = try tinyModel().config
        let lora = LoRA(config: config, rank: 2, alpha: 2)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lora-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try lora.save(to: dir)
        let src = try SafeTensorsSource(path: dir + "/adapter_model.safetensors")
        var tensors = try src.tensorHeaders.map { (name: $0.name, tensor: try src.floats($0.name)) }
        tensors.append((name: "base_model.model.lm_head.weight", tensor: FloatTensor(shape: [1], values: [0])))
        try SafeTensorsWriter.write(tensors, to: dir + "/adapter_model.safetensors")
        XCTAssertThrowsError(try LoRA.load(path: dir, config: config)) {
            XCTAssertTrue("\($0)".contains("base_model.model.lm_head.weight") && "\($0)".contains("is not a LoRA tensor of this architecture's modules"), "\($0)")
        }
    }
}
