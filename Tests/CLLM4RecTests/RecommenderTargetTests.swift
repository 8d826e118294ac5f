import XCTest
@testable import CLLM4Rec

/// `extend-vocab` writes only where nothing a user keeps can be lost.
final class RecommenderTargetTests: XCTestCase {
    func testOnlyEmptyFoldersOrRecommendersWithReplacing() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("target-\(UUID())").path
        try fm.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/notes", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/rec", withIntermediateDirectories: true)
        try "x".write(toFile: dir + "/notes/todo.txt", atomically: true, encoding: .utf8)
        try "{}".write(toFile: dir + "/rec/recommender.json", atomically: true, encoding: .utf8)
        try "x".write(toFile: dir + "/file", atomically: true, encoding: .utf8)
        defer { try? fm.removeItem(atPath: dir) }

        XCTAssertNoThrow(try RecommenderFolder.checkTarget(dir + "/missing", replacing: false))
        XCTAssertNoThrow(try RecommenderFolder.checkTarget(dir + "/empty", replacing: false))
        XCTAssertNoThrow(try RecommenderFolder.checkTarget(dir + "/rec", replacing: true))
        func refusal(_ path: String, _ replacing: Bool) -> String {
            do { try RecommenderFolder.checkTarget(path, replacing: replacing); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(refusal(dir + "/file", true), "\(dir)/file is a file, not a folder")
        XCTAssertTrue(refusal(dir + "/notes", true).hasSuffix("is not empty and holds no recommender: choose another --output (nothing is overwritten)"))
        XCTAssertTrue(refusal(dir + "/rec", false).contains("already holds a recommender: pass --force"))
    }
}
