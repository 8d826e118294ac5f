import Tensor
import XCTest

import Backbone
@testable import GPT2

/// Greedy generation against Hugging Face's `generate` on the tiny GPT-2 (the family-independent
/// generation tests are in BackboneTests).
final class GPT2GenerationTests: XCTestCase {
    func testGreedyEqualsHuggingFaceGenerate() throws {
        let ref = try Reference(), model = try tinyModel()
        let prompt = try ref.t("greedy_prompt").values.map { Int($0) }
        let expected = try ref.t("greedy_ids").values.map { Int($0) }
        var streamed: [Int] = []
        let out = model.generate(prompts: [prompt], options: SamplingOptions(temperature: 0, maxNewTokens: 20, stopTokens: [999])) { _, t in streamed.append(t) }
        XCTAssertEqual(prompt + out[0], expected)
        XCTAssertEqual(streamed, out[0])
    }
}
