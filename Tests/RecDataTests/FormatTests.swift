import Foundation
import XCTest

@testable import RecData

let recFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

func fixture(_ name: String) -> String { recFixtures + "/" + name }

/// The message of the error `body` throws.
func errorMessage(_ body: () throws -> Any) -> String {
    do { _ = try body(); return "no error" } catch { return "\(error)" }
}

final class RecBoleFormatTests: XCTestCase {
    func testAtomicFilesWithCRLF() throws {
        let d = try RawDataset.recBole(path: fixture("tiny.inter"))
        XCTAssertEqual(d.name, "tiny")
        XCTAssertEqual(d.interactions.count, 5)
        XCTAssertEqual(d.interactions[1], RawInteraction(user: "u1", item: "i2", rating: 4, timestamp: 90))
        XCTAssertEqual(d.itemText["i2"], "Amélie (2001). Genres: Comedy, Romance.")
        XCTAssertEqual(d.userText["u1"], "An 18-year-old female student.")
        XCTAssertEqual(d.userText["u2"], "A 45-year-old male engineer.")
        XCTAssertEqual(d.sources.count, 3)
    }

    func testShortRow() {
        XCTAssertEqual(errorMessage { try RawDataset.recBole(path: fixture("short_row.inter")) },
                       fixture("short_row.inter") + ":3: has 2 tab-separated fields, the header has 3")
    }

    func testNonNumericRating() {
        XCTAssertEqual(errorMessage { try RawDataset.recBole(path: fixture("bad_rating.inter")) },
                       fixture("bad_rating.inter") + ":3: field \"rating\": \"five\" is not a number")
    }

    func testBadHeader() {
        XCTAssertTrue(errorMessage { try RawDataset.recBole(path: fixture("bad_header.inter")) }
            .hasSuffix("bad_header.inter:1: header entry \"user_id\" is not name:type with type token, token_seq, float or float_seq"))
    }

    func testPreprocessingOnTinyFile() throws {
        // u1 rates i1 twice (the later duplicate is dropped); u2's 2-star rating is filtered out.
        let d = try PreparedDataset(try RawDataset.recBole(path: fixture("tiny.inter")), options: PrepareOptions(minRating: 3, kcore: 0, seed: 1))
        XCTAssertEqual(d.statistics.duplicatesDropped, 1)
        XCTAssertEqual(d.statistics.droppedByRating, 1)
        XCTAssertEqual(d.statistics.train + d.statistics.validation + d.statistics.test, 3)
        // Fewer than 3 interactions: everything stays in training, oldest first.
        let u1 = d.users.firstIndex(of: "u1")!
        XCTAssertEqual(d.train[u1].map { d.items[$0] }, ["i2", "i1"])
        XCTAssertEqual(d.itemText[d.items.firstIndex(of: "i3")!], "Up (2009). Genres: Animation.")
    }

    /// Ids that differ in bytes but are canonically equivalent ("Jos\u{E9}", "Jose\u{301}") are
    /// different users and items, as in the files and in pandas; Swift's String == would merge them.
    func testCanonicallyEquivalentIdsStayDistinct() throws {
        var raw = RawDataset(name: "t", format: "test")
        let nfc = "Jos\u{E9}", nfd = "Jose\u{301}", ohm = "\u{2126}", omega = "\u{3A9}"  // Ω sign and Ω letter
        for (u, i) in [(nfc, ohm), (nfd, ohm), (nfc, omega), (nfd, "x"), (nfc, ohm)] { raw.interactions.append(RawInteraction(user: u, item: i)) }
        raw.itemText[ExactString(ohm)] = "ohm sign"
        raw.itemText[ExactString(omega)] = "omega"
        let d = try PreparedDataset(raw, options: PrepareOptions(minRating: nil, kcore: 0, seed: 1))
        XCTAssertEqual(d.statistics.duplicatesDropped, 1)  // only the exact repeat (nfc, ohm)
        XCTAssertEqual(d.users.count, 2)
        XCTAssertEqual(d.items.count, 3)
        XCTAssertEqual(Set(d.users.map { Array($0.utf8) }), [Array(nfc.utf8), Array(nfd.utf8)])
        let j = try XCTUnwrap(d.items.firstIndex(exactly: omega))
        XCTAssertEqual(d.itemText[j], "omega")
        XCTAssertEqual(d.itemText[try XCTUnwrap(d.items.firstIndex(exactly: ohm))], "ohm sign")
        XCTAssertNotEqual(d.items.firstIndex(exactly: ohm), j)
    }

    func testKCoreRemovesEverythingReportsIt() {
        XCTAssertTrue(errorMessage { try PreparedDataset(try RawDataset.recBole(path: fixture("tiny.inter")), options: PrepareOptions()) }
            .hasPrefix("no interaction is left after filtering"))
    }
}

final class AmazonFormatTests: XCTestCase {
    func testReviewsAndPythonLiteralMetadata() throws {
        let d = try RawDataset.amazon(reviews: fixture("reviews_2014.json"), metadata: fixture("meta_2014.json"))
        XCTAssertEqual(d.name, "reviews_2014")
        XCTAssertEqual(d.interactions.count, 3)
        XCTAssertEqual(d.interactions[0].text, "Great \"tutu\", my daughter loves it.")
        XCTAssertEqual(d.interactions[1].text, "Meh")  // no reviewText: the summary
        XCTAssertEqual(d.interactions[2].text, "Nice colours été 😀")
        XCTAssertEqual(d.interactions[2].timestamp, 1_350_000_000)
        XCTAssertEqual(d.itemText["B01"], "Girls Ballet Tutu Zebra Hot Pink. Brand: Coxlists. Categories: Sports & Outdoors, Other Sports, Dance.")
        XCTAssertEqual(d.itemText["B02"], "Café set. Categories: Toys, Kitchen. It's a \"classic\".\nWashable.")
    }

    func testGzipIsTheSameAsPlain() throws {
        let a = try RawDataset.amazon(reviews: fixture("reviews_2014.json"), metadata: nil)
        let b = try RawDataset.amazon(reviews: fixture("reviews_2014.json.gz"), metadata: nil)
        XCTAssertEqual(a.interactions, b.interactions)
    }

    func test2018Metadata() throws {
        let d = try RawDataset.amazon(reviews: fixture("reviews_2014.json"), metadata: fixture("meta_2018.json"))
        XCTAssertEqual(d.itemText["B01"], "Tutu. Brand: Coxlists. Categories: Toys, Dance. Pretty. Pink.")
    }

    func testGzipCRCError() {
        let m = errorMessage { try RawDataset.amazon(reviews: fixture("reviews_badcrc.json.gz"), metadata: nil) }
        XCTAssertTrue(m.hasPrefix(fixture("reviews_badcrc.json.gz") + ": "), m)
        XCTAssertTrue(m.contains("incorrect data check"), m)
    }

    func testUnterminatedString() {
        let m = errorMessage { try RawDataset.amazon(reviews: fixture("reviews_unterminated.json"), metadata: nil) }
        XCTAssertEqual(m, fixture("reviews_unterminated.json") + ":2: invalid record at byte 59: unterminated string (JSON)")
    }

    func testMissingField() {
        XCTAssertEqual(errorMessage { try RawDataset.amazon(reviews: fixture("reviews_missing_asin.json"), metadata: nil) },
                       fixture("reviews_missing_asin.json") + ":2: field \"asin\": is missing")
    }

    func testPythonLiteralParser() {
        guard case let .success(v) = PythonLiteral.parse(#"{'a': (1, -2.5), "b": [True, None, 'x\'y'], 3: u'\u00e9\U0001F600'}"#) else { return XCTFail() }
        XCTAssertEqual(v["a"], .array([.number("1"), .number("-2.5")]))
        XCTAssertEqual(v["b"], .array([.bool(true), .null, .string("x'y")]))
        XCTAssertEqual(v["3"], .string("é😀"))
        guard case let .failure(e) = PythonLiteral.parse("{'a': [1, 2}") else { return XCTFail() }
        XCTAssertEqual(e.offset, 11)
    }
}

final class CSVFormatTests: XCTestCase {
    let columns = CSVColumns(user: "user", item: "item", rating: "stars", timestamp: "when", text: "comment")

    func testQuotedFieldsWithCommasNewlinesAndQuotes() throws {
        let d = try RawDataset.csv(path: fixture("interactions.csv"), columns: columns)
        XCTAssertEqual(d.interactions.count, 3)
        XCTAssertEqual(d.interactions[0], RawInteraction(user: "u1", item: "i1", rating: 5, timestamp: 10, text: "Loved it, really"))
        XCTAssertEqual(d.interactions[1].text, "Line one\nline two")
        XCTAssertEqual(d.interactions[2].text, "He said \"wow\"")
    }

    func testTSVByExtension() throws {
        let d = try RawDataset.csv(path: fixture("interactions.tsv"), columns: CSVColumns())
        XCTAssertEqual(d.interactions.map(\.user), ["tom", "ann"])
        XCTAssertNil(d.interactions[0].timestamp)
    }

    func testErrorsNameLineAndField() {
        let c = CSVColumns(user: "user", item: "item", rating: "stars", timestamp: nil)
        XCTAssertEqual(errorMessage { try RawDataset.csv(path: fixture("short.csv"), columns: c) }, fixture("short.csv") + ":3: has 2 fields, the header has 3")
        XCTAssertEqual(errorMessage { try RawDataset.csv(path: fixture("bad_stars.csv"), columns: c) },
                       fixture("bad_stars.csv") + ":3: field \"stars\": \"lots\" is not a number")
        XCTAssertEqual(errorMessage { try RawDataset.csv(path: fixture("open_quote.csv"), columns: CSVColumns(user: "user", item: "item", rating: nil, timestamp: nil)) },
                       fixture("open_quote.csv") + ":2: quoted field is never closed")
        XCTAssertTrue(errorMessage { try RawDataset.csv(path: fixture("interactions.tsv"), columns: CSVColumns(user: "uid")) }
            .hasSuffix(":1: header has no column \"uid\" (columns: user_id, item_id, rating)"))
    }
}
