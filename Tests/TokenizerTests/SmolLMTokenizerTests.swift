import Foundation
import WeightIO
import XCTest

@testable import Tokenizer

let smollmFixtures = repoRoot + "/Tests/TokenizerTests/Fixtures/smollm-style"

/// The SmolLM-style tokenizer of Tools/fixtures/smollm_tokenizer.py, read from its
/// tokenizer.json and from its GGUF form, against Hugging Face's encodings.
final class SmolLMTokenizerTests: XCTestCase {
    func cases() throws -> [(text: String, ids: [Int], ggufIds: [Int])] {
        let text = try String(contentsOfFile: smollmFixtures + "/goldens.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (String(decoding: hexBytes(obj["hex"] as! String), as: UTF8.self), obj["ids"] as! [Int], obj["gguf_ids"] as! [Int])
        }
    }

    func testTokenizerJSONMatchesHuggingFace() throws {
        let tok = try BPETokenizer.load(tokenizerJSON: smollmFixtures + "/tokenizer.json")
        XCTAssertEqual(tok.preTokenization, .smollm)
        XCTAssertEqual(tok.count, 1200)
        XCTAssertEqual(tok.endOfTextId, 0)
        XCTAssertEqual(tok.specialTokens, ["<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2])
        let all = try cases()
        XCTAssertEqual(all.count, 381)
        for c in all {
            XCTAssertEqual(tok.encode(c.text), c.ids, c.text.debugDescription)
            XCTAssertEqual(try tok.decode(c.ids), c.text)
        }
    }

    /// The GGUF form encodes as the tokenizer.json (llama.cpp's `smollm`: digits apart). Where
    /// transformers' GGUF loader differs (it has no `smollm` and keeps GPT-2's regex: a digit after
    /// two or more spaces), the difference is exactly that one.
    func testGGUFTokenizerFollowsSmolLMPipeline() throws {
        let tok = try BPETokenizer(gguf: try GGUFFile(path: smollmFixtures + "/tokenizer.gguf"))
        let json = try BPETokenizer.load(tokenizerJSON: smollmFixtures + "/tokenizer.json")
        XCTAssertEqual(tok.tokenBytes, json.tokenBytes)
        XCTAssertEqual(tok.specialTokens, json.specialTokens)
        // The same vocabulary and merges with GPT-2's pre-tokenizer alone reproduce transformers'
        // GGUF encodings, every one of them.
        let base = try String(contentsOfFile: smollmFixtures + "/tokenizer.json", encoding: .utf8)
        let path = NSTemporaryDirectory() + "/cllm4rec-gpt2style-\(UUID()).json"
        try gpt2StyleTokenizerJSON(base).write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let gpt2Style = try BPETokenizer.load(tokenizerJSON: path)
        XCTAssertEqual(gpt2Style.preTokenization, .gpt2)
        var differing = 0
        for c in try cases() {
            XCTAssertEqual(tok.encode(c.text), c.ids, c.text.debugDescription)
            XCTAssertEqual(gpt2Style.encode(c.text), c.ggufIds, c.text.debugDescription)
            if c.ids != c.ggufIds {
                differing += 1
                XCTAssertTrue(c.text.unicodeScalars.contains { $0.properties.numericType != nil }, "differs without a number: \(c.text.debugDescription)")
            }
        }
        XCTAssertEqual(differing, 85)
    }

    /// A GGUF tokenizer written as tokenizer.json (what `import-model` does) reads back to the same
    /// encodings; so does GPT-2's vocab.json + merges.txt.
    func testTokenizerJSONRoundTrip() throws {
        let fromGGUF = try BPETokenizer(gguf: try GGUFFile(path: smollmFixtures + "/tokenizer.gguf"))
        let path = NSTemporaryDirectory() + "/cllm4rec-roundtrip-\(UUID()).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        FileManager.default.createFile(atPath: path, contents: Data(fromGGUF.tokenizerJSON()))
        let back = try BPETokenizer.load(tokenizerJSON: path)
        XCTAssertEqual(back.tokenBytes, fromGGUF.tokenBytes)
        XCTAssertEqual(back.specialTokens, fromGGUF.specialTokens)
        XCTAssertEqual(back.preTokenization, .smollm)
        for c in try cases() { XCTAssertEqual(back.encode(c.text), c.ids, c.text.debugDescription) }

        FileManager.default.createFile(atPath: path, contents: Data(sharedTokenizer.tokenizerJSON()))
        let gpt2 = try BPETokenizer.load(tokenizerJSON: path)
        XCTAssertEqual(gpt2.preTokenization, .gpt2)
        XCTAssertEqual(gpt2.endOfTextId, 50256)
        let text = try String(contentsOfFile: repoRoot + "/Tests/TokenizerTests/Fixtures/goldens.jsonl", encoding: .utf8)
        for line in text.split(separator: "\n") {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            guard let ids = obj["ids"] as? [Int] else { continue }
            XCTAssertEqual(gpt2.encode(String(decoding: hexBytes(obj["hex"] as! String), as: UTF8.self)), ids)
        }
    }

    func testDigitsApartPreTokenization() {
        XCTAssertEqual(PreTokenizer.pieces("a  12", digitsApart: true), ["a", "  ", "1", "2"])
        XCTAssertEqual(PreTokenizer.pieces("a  12"), ["a", " ", " 12"])
        XCTAssertEqual(PreTokenizer.pieces("x٣٤ y", digitsApart: true), ["x", "٣", "٤", " y"])
    }

    func testSpecialTokensAreMatchedLongestFirst() throws {
        let tok = try BPETokenizer.load(tokenizerJSON: smollmFixtures + "/tokenizer.json")
        XCTAssertEqual(tok.encode("<|im_start|><|im_end|>"), [1, 2])
        XCTAssertNotEqual(tok.encode("<|im_").first, 1)
    }

    func testUnsupportedTokenizerJSONsAreRefusedByName() throws {
        let base = try String(contentsOfFile: smollmFixtures + "/tokenizer.json", encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("\"type\": \"BPE\"", "\"type\": \"Unigram\"", "model type \"Unigram\" is not supported"),
            ("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFKC\"}", "normalizer NFKC is not supported"),
            ("\"individual_digits\": true", "\"individual_digits\": false", "pre_tokenizer Sequence is not supported"),
        ]
        for (from, to, message) in cases {
            XCTAssertTrue(base.contains(from), from)
            let path = NSTemporaryDirectory() + "/cllm4rec-tok-\(UUID()).json"
            try base.replacingOccurrences(of: from, with: to).write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            XCTAssertThrowsError(try BPETokenizer.load(tokenizerJSON: path)) {
                XCTAssertTrue("\($0)".contains(message) && "\($0)".contains(path), "\($0)")
            }
        }
    }
}

/// tokenizer.json text with the pre-tokenizer replaced by GPT-2's ByteLevel alone.
func gpt2StyleTokenizerJSON(_ text: String) throws -> String {
    var obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
    obj["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
    return String(decoding: try JSONSerialization.data(withJSONObject: obj), as: UTF8.self)
}
