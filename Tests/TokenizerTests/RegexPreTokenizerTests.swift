import Foundation
import WeightIO
import XCTest

@testable import Tokenizer

/// Llama 3's and Qwen2's pre-tokenizer regex (Split + ByteLevel, Qwen2 with NFC), on tokenizers
/// trained by Tools/fixtures/regex_tokenizer.py, against Hugging Face's encodings.
final class RegexPreTokenizerTests: XCTestCase {
    func goldens(_ style: String) throws -> [(String, [Int])] {
        let text = try String(contentsOfFile: repoRoot + "/Tests/TokenizerTests/Fixtures/\(style)/goldens.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return (String(decoding: hexBytes(obj["hex"] as! String), as: UTF8.self), obj["ids"] as! [Int])
        }
    }

    func testLlama3AndQwen2TokenizersMatchHuggingFace() throws {
        for (style, pre, nfc) in [("llama3-style", BPETokenizer.PreTokenization.llama3, false), ("qwen2-style", .qwen2, true)] {
            let tok = try BPETokenizer.load(tokenizerJSON: repoRoot + "/Tests/TokenizerTests/Fixtures/\(style)/tokenizer.json")
            XCTAssertEqual(tok.preTokenization, pre)
            XCTAssertEqual(tok.normalizesNFC, nfc)
            let cases = try goldens(style)
            XCTAssertEqual(cases.count, 387)
            for (text, ids) in cases { XCTAssertEqual(tok.encode(text), ids, "\(style): \(text.debugDescription)") }
            // Written back as tokenizer.json, read again: the same encodings.
            let path = NSTemporaryDirectory() + "/cllm4rec-\(style)-\(UUID()).json"
            defer { try? FileManager.default.removeItem(atPath: path) }
            FileManager.default.createFile(atPath: path, contents: Data(tok.tokenizerJSON()))
            let back = try BPETokenizer.load(tokenizerJSON: path)
            XCTAssertEqual(back.preTokenization, pre)
            for (text, ids) in cases.prefix(120) { XCTAssertEqual(back.encode(text), ids, "\(style) round trip: \(text.debugDescription)") }
        }
        // The GGUF form (tokenizer.ggml.pre llama-bpe), which transformers' GGUF loader encodes as the tokenizer.json.
        let gguf = try BPETokenizer(gguf: try GGUFFile(path: repoRoot + "/Tests/TokenizerTests/Fixtures/llama3-style/tokenizer.gguf"))
        XCTAssertEqual(gguf.preTokenization, .llama3)
        for (text, ids) in try goldens("llama3-style") { XCTAssertEqual(gguf.encode(text), ids, text.debugDescription) }
    }

    func testLlama3Pieces() {
        XCTAssertEqual(Llama3PreTokenizer.pieces("Hello!world  12345\n\n x", maxDigits: 3), ["Hello", "!world", " ", " ", "123", "45", "\n\n", " x"])
        XCTAssertEqual(Llama3PreTokenizer.pieces("12345", maxDigits: 1), ["1", "2", "3", "4", "5"])
        XCTAssertEqual(Llama3PreTokenizer.pieces("HE'S ok", maxDigits: 3), ["HE", "'S", " ok"])
        XCTAssertEqual(Llama3PreTokenizer.pieces(" \n \n", maxDigits: 3), [" \n \n"])
        XCTAssertEqual(Llama3PreTokenizer.pieces("foo   \nbar", maxDigits: 3), ["foo", "   \n", "bar"])
    }
}
