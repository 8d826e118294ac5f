import XCTest
@testable import RecData

final class DatasetFormatTests: XCTestCase {
    func testTheSuffixSaysTheFormat() {
        XCTAssertEqual(DatasetFormat.detect("reviews_Beauty_5.json.gz"), .amazon)
        XCTAssertEqual(DatasetFormat.detect("a/B.JSONL"), .amazon)
        XCTAssertEqual(DatasetFormat.detect("ratings.csv"), .csv)
        XCTAssertEqual(DatasetFormat.detect("u.data.tsv.gz"), .csv)
        XCTAssertEqual(DatasetFormat.detect("ml-100k"), .recbole)
        XCTAssertEqual(DatasetFormat.detect("ml-100k/ml-100k.inter"), .recbole)
        // A suffix in the middle of a name is not a suffix.
        XCTAssertEqual(DatasetFormat.detect("data.csv.d"), .recbole)
    }

    func testReadGoesToTheFormatsReader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fmt-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = dir + "/r.csv"
        try "user_id,item_id,rating,timestamp\nu1,i1,5,1\nu2,i1,4,2\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let raw = try RawDataset.read(csv, format: .csv)
        XCTAssertEqual(raw.interactions.count, 2)
        // The same bytes read as RecBole are refused, naming the file.
        XCTAssertThrowsError(try RawDataset.read(csv, format: .recbole)) { XCTAssertTrue("\($0)".contains(csv), "\($0)") }
    }
}
