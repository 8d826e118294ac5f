import Foundation
import XCTest

@testable import Tokenizer

/// Inputs found by FuzzTokenizerFiles (Fuzz/, Tools/fuzz.sh) with their exact bytes: vocab.json, then
/// merges.txt after 00 FF 00. Each must end in a typed error, never a trap.
final class TokenizerFuzzRegressionTests: XCTestCase {
    func files(_ name: String) throws -> (vocab: String, merges: String) {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz/" + name).path
        let b = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = b.range(of: Data([0x00, 0xFF, 0x00]))
        let vocab = cut.map { b[..<$0.lowerBound] } ?? b, merges = cut.map { b[$0.upperBound...] } ?? Data()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokfuzz-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/vocab.json", contents: vocab)
        FileManager.default.createFile(atPath: dir + "/merges.txt", contents: merges)
        return (dir + "/vocab.json", dir + "/merges.txt")
    }

    /// `{", $":7777777777777777774}`: one token whose id asked for an array of 7.8e18 entries.
    func testHugeIdIsAnError() throws {
        let (v, m) = try files("vocab-huge-id")
        XCTAssertThrowsError(try BPETokenizer(vocabPath: v, mergesPath: m)) { e in
            XCTAssertEqual("\(e)".contains("is outside 0..<1"), true, "\(e)")
        }
    }
}
