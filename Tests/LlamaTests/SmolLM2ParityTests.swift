import Backbone
import Foundation
import Tokenizer
import WeightIO
import XCTest

@testable import Llama

/// The real SmolLM2-135M-Instruct (imported from its GGUF) against transformers loading the same
/// GGUF (Tools/fixtures/parity_smollm2.py). Needs the weights, so it runs only where they are:
///
///     CLLM4REC_SMOLLM2=Models/smollm2-135m CLLM4REC_SMOLLM2_REFERENCE=/tmp/smolref swift test --filter SmolLM2Parity
final class SmolLM2ParityTests: XCTestCase {
    func load() throws -> (LlamaModel, BPETokenizer, SafeTensorsFile, [String: Any]) {
        let env = ProcessInfo.processInfo.environment
        guard let model = env["CLLM4REC_SMOLLM2"], let ref = env["CLLM4REC_SMOLLM2_REFERENCE"] else {
            throw XCTSkip("set CLLM4REC_SMOLLM2 (an imported model folder) and CLLM4REC_SMOLLM2_REFERENCE (Tools/fixtures/parity_smollm2.py's output)")
        }
        let m = LlamaModel(params: try LlamaCheckpoint.load(path: model).0)
        let tok = try BPETokenizer.load(folder: model)
        let texts = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ref + "/texts.json"))) as! [String: Any]
        return (m, tok, try SafeTensorsFile(path: ref + "/reference.safetensors"), texts)
    }

    /// transformers' GGUF tokenizer ignores `tokenizer.ggml.pre = smollm` (GPT-2's regex alone);
    /// the model's own pipeline (and llama.cpp) first splits digits apart. The same vocabulary with
    /// GPT-2's pre-tokenization must reproduce transformers' ids exactly; the digits-apart encoding
    /// (what this tool uses) differs only where a digit follows several spaces.
    func gpt2Style(_ tok: BPETokenizer) throws -> BPETokenizer {
        var text = String(decoding: tok.tokenizerJSON(), as: UTF8.self)
        let seq = #"{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, "#
        guard let r = text.range(of: seq) else { return tok }
        text.removeSubrange(r)
        text = text.replacingOccurrences(of: #""use_regex": true}]}"#, with: #""use_regex": true}"#)
        let path = NSTemporaryDirectory() + "/cllm4rec-smollm2-gpt2style-\(UUID()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try BPETokenizer.load(tokenizerJSON: path)
    }

    func testLogitsLossGenerationAndTokenizerMatchTransformers() throws {
        let (model, tok, ref, texts) = try load()
        let gpt2 = try gpt2Style(tok)
        XCTAssertEqual(gpt2.preTokenization, .gpt2)
        let v = model.vocabSize
        for (i, text) in (texts["texts"] as! [String]).enumerated() {
            let ids = try ref.floats("ids_\(i)").values.map { Int($0) }
            XCTAssertEqual(gpt2.encode(text), ids, "tokens of text \(i)")
            XCTAssertEqual(tok.encode(text), ids, "tokens of text \(i) (no digit after spaces)")
            let want = try ref.floats("logits_\(i)").values
            let got = packedLogits(model, [ids])
            var diff: Float = 0, top: Float = 0
            for k in 0..<(ids.count * v) { diff = max(diff, abs(got[k] - want[k])); top = max(top, abs(want[k])) }
            print(String(format: "SmolLM2 text %d (%d tokens): logits max |diff| %.3g, max |logit| %.3g, ratio %.3g", i, ids.count, diff, top, diff / top))
            XCTAssertLessThan(diff / top, 1e-4, "text \(i)")
        }
        let longIds = try ref.floats("long_ids").values.map { Int($0) }
        let long = texts["long_text"] as! String
        XCTAssertTrue(gpt2.encode(long) == longIds, "tokens of the 20 KB text")
        let own = tok.encode(long)
        print("SmolLM2 20 KB text: \(longIds.count) tokens from transformers' GGUF tokenizer, equal with GPT-2's pre-tokenization; "
              + "\(own.count) with SmolLM2's digits-apart pre-tokenization")
        let (loss, count, _) = model.nextTokenLoss([longIds])
        let want = Double(try ref.floats("long_loss").values[0])
        print(String(format: "SmolLM2 20 KB text (%d predictions): loss %.6f, transformers %.6f, relative difference %.3g", count, loss, want, abs(loss - want) / want))
        XCTAssertLessThan(abs(loss - want) / want, 1e-5)
        for (i, prompt) in (texts["prompts"] as! [String]).enumerated() {
            let out = model.generate(prompts: [tok.encode(prompt)], options: SamplingOptions(temperature: 0, maxNewTokens: 64))[0]
            let want = try ref.floats("greedy_\(i)").values.map { Int($0) }
            let same = zip(out, want).prefix { $0 == $1 }.count
            print("SmolLM2 greedy prompt \(i): \(same) of 64 tokens equal")
            let text = try tok.decode(out)
            XCTAssertEqual(out, want, "prompt \(i): \(text.debugDescription)")
        }
    }
}
