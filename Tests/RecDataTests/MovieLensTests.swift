import Foundation
import XCTest

@testable import RecData

/// MovieLens-100K in RecBole format: $CLLM4REC_ML100K, or ../shared/data/ml-100k next to the
/// repository. It may not be redistributed, so it is never committed; without it these tests skip.
func movieLensFolder() -> String? {
    if let p = ProcessInfo.processInfo.environment["CLLM4REC_ML100K"], FileManager.default.fileExists(atPath: p) { return p }
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let shared = repo.deletingLastPathComponent().appendingPathComponent("shared/data/ml-100k").path
    return FileManager.default.fileExists(atPath: shared + "/ml-100k.inter") ? shared : nil
}

final class MovieLensTests: XCTestCase {
    func testReferenceProtocolCounts() throws {
        guard let folder = movieLensFolder() else { throw XCTSkip("MovieLens-100K not found (set CLLM4REC_ML100K)") }
        let raw = try RawDataset.recBole(path: folder)
        XCTAssertEqual(raw.interactions.count, 100_000)
        XCTAssertEqual(raw.itemText.count, 1682)
        XCTAssertEqual(raw.userText.count, 943)
        let d = try PreparedDataset(raw, options: PrepareOptions())
        XCTAssertEqual(d.users.count, 938)
        XCTAssertEqual(d.items.count, 1008)
        XCTAssertEqual(d.statistics.train, 44_287)
        XCTAssertEqual(d.statistics.validation, 5_063)
        XCTAssertEqual(d.statistics.test, 5_063)
        XCTAssertEqual(raw.itemText["1"], "Toy Story (1995). Genres: Animation, Children's, Comedy.")
        XCTAssertEqual(raw.userText["1"], "A 24-year-old male technician.")
        // Same seed, same split; another seed, another.
        let again = try PreparedDataset(raw, options: PrepareOptions())
        XCTAssertEqual(again.users, d.users)
        XCTAssertEqual(again.test, d.test)
        let other = try PreparedDataset(raw, options: PrepareOptions(seed: 1))
        XCTAssertNotEqual(other.users, d.users)
        XCTAssertEqual(other.statistics.test, 5_063)
    }
}
