import Foundation
import XCTest

@testable import Tokenizer

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let sharedTokenizer = try! BPETokenizer(vocabPath: repoRoot + "/Models/gpt2/vocab.json", mergesPath: repoRoot + "/Models/gpt2/merges.txt")

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.utf8.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16)!) }
    return out
}

final class GoldenTests: XCTestCase {
    /// Every case of goldens.jsonl (made by Tools/fixtures/tokenizer_goldens.py with Hugging Face).
    func testMatchesHuggingFaceOnCommittedCorpus() throws {
        let text = try String(contentsOfFile: repoRoot + "/Tests/TokenizerTests/Fixtures/goldens.jsonl", encoding: .utf8)
        var encodes = 0, decodes = 0
        for line in text.split(separator: "\n") {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let raw = hexBytes(obj["hex"] as! String)
            if let ids = obj["ids"] as? [Int] {
                let input = String(decoding: raw, as: UTF8.self)  // U+FFFD for invalid bytes, as Python's errors="replace"
                XCTAssertEqual(sharedTokenizer.encode(input), ids, "encode \(input.debugDescription)")
                XCTAssertEqual(try sharedTokenizer.decode(ids), input)
                encodes += 1
            } else {
                let ids = obj["decode"] as! [Int]
                XCTAssertEqual(Array(try sharedTokenizer.decode(ids).utf8), raw, "decode \(ids)")
                decodes += 1
            }
        }
        XCTAssertEqual(encodes, 470)
        XCTAssertEqual(decodes, 7)
    }

    /// Canonically equivalent pieces are different text: each keeps its own bytes and ids even
    /// when its twin was encoded (and cached) first. Ids from Hugging Face `tokenizers`.
    func testCanonicallyEquivalentPiecesKeepTheirOwnIds() throws {
        let tok = try BPETokenizer(vocabPath: repoRoot + "/Models/gpt2/vocab.json", mergesPath: repoRoot + "/Models/gpt2/merges.txt")
        let cases: [(String, [Int])] = [
            ("a ;; b", [64, 36792, 275]), ("a \u{37E}\u{37E} b", [64, 220, 137, 122, 137, 122, 275]),  // U+037E ≡ ";"
            ("x\u{300}y", [87, 136, 222, 88]), ("x\u{340}y", [87, 137, 222, 88]),                     // U+0340 ≡ U+0300
            ("\u{9F9C}\u{9F9C}", [11737, 250, 11737, 250]), ("\u{F908}\u{F908}", [171, 97, 230, 171, 97, 230]),
            ("Ab\u{2001}\u{2001}c", [4826, 447, 223, 447, 223, 66]), ("Ab\u{2003}\u{2003}c", [4826, 447, 225, 447, 225, 66]),
        ]
        for order in [cases, cases.reversed()] {
            for (text, ids) in order {
                XCTAssertEqual(tok.encode(text), ids, text.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " "))
                XCTAssertTrue(try tok.decode(tok.encode(text)).utf8.elementsEqual(text.utf8))
            }
        }
    }

    func testKnownIds() throws {
        XCTAssertEqual(sharedTokenizer.encode("Hello world"), [15496, 995])
        XCTAssertEqual(sharedTokenizer.endOfTextId, 50256)
        XCTAssertEqual(sharedTokenizer.count, 50257)
        XCTAssertEqual(try sharedTokenizer.decodeBytes([50256]), Array("<|endoftext|>".utf8))
        XCTAssertThrowsError(try sharedTokenizer.decode([50257])) { XCTAssertEqual($0 as? TokenizerError, .invalidTokenId(50257)) }
    }

    func testPreTokenizerPieces() {
        XCTAssertEqual(PreTokenizer.pieces("Hello  world's\n\n"), ["Hello", " ", " world", "'s", "\n\n"])
        XCTAssertEqual(PreTokenizer.pieces("\n\nHi"), ["\n", "\n", "Hi"])
        XCTAssertEqual(PreTokenizer.pieces("a\t b"), ["a", "\t", " b"])
        XCTAssertEqual(PreTokenizer.pieces("?'s 42x"), ["?'", "s", " 42", "x"])
    }

    func testByteMap() {
        XCTAssertEqual(byteToUnicode[0x20], "Ġ")
        XCTAssertEqual(byteToUnicode[0x0A], "Ċ")
        XCTAssertEqual(byteToUnicode[0x41], "A")
        XCTAssertEqual(Set(byteToUnicode).count, 256)
    }

    func testMalformedMergesNameTheLine() {
        let vocab = Dictionary(uniqueKeysWithValues: byteToUnicode.enumerated().map { (String($1), $0) } + [("<|endoftext|>", 256)])
        XCTAssertThrowsError(try BPETokenizer(vocab: vocab, merges: "#version: 0.2\na b\nc d e\n", mergesPath: "m.txt")) {
            XCTAssertEqual("\($0)", "m.txt:2: \"a b\" uses or makes a token missing from the vocabulary")
        }
        XCTAssertThrowsError(try BPETokenizer(vocab: vocab.filter { $0.key != "<|endoftext|>" }, merges: "")) {
            XCTAssertTrue("\($0)".contains("has no <|endoftext|>"))
        }
    }
}
