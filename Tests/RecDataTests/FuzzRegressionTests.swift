import Foundation
import XCTest

@testable import RecData

/// Inputs found by the libFuzzer harnesses (Fuzz/, Tools/fuzz.sh), kept with their exact bytes: each
/// must end in a typed error (or a result), never a trap.
final class FuzzRegressionTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz").path

    /// The two files of one harness input (FuzzSupport cuts at 00 FF 00).
    func parts(_ name: String) throws -> (Data, Data) {
        let b = try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + name))
        guard let r = b.range(of: Data([0x00, 0xFF, 0x00])) else { return (b, Data()) }
        return (b[..<r.lowerBound], b[r.upperBound...])
    }

    func write(_ d: Data, _ name: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("fuzzreg-\(UUID())-\(name)").path
        FileManager.default.createFile(atPath: p, contents: d)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return p
    }

    /// FuzzAmazon: a metadata line whose "\ud8xx" escape is followed by a "\u" escape that is no low
    /// surrogate overflowed UInt32 in the Python-literal parser (a trap with checks on).
    func testAmazonMetadataWithUnpairedSurrogate() throws {
        let (reviews, meta) = try parts("amazon-surrogate-overflow")
        XCTAssertThrowsError(try RawDataset.amazon(reviews: write(reviews, "reviews.json"), metadata: write(meta, "meta.json"))) { e in
            XCTAssertTrue(e is RecDataError, "\(e)")
            XCTAssertTrue("\(e)".contains("surrogate"), "\(e)")
        }
    }

    func testPythonLiteralSurrogates() throws {
        XCTAssertEqual(try PythonLiteral.parse("u'\\ud83d\\ude00'").get(), .string("😀"))
        guard case .failure = PythonLiteral.parse("u'\\ud800\\u0041'") else { return XCTFail("an unpaired high surrogate was accepted") }
    }
}
