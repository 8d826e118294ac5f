import XCTest

@testable import Tokenizer

final class IDTokenTests: XCTestCase {
    let t = IDTokenizer(base: sharedTokenizer, users: 10, items: 5)

    /// The example of docs/CLLM4REC.md §2 (I = 10).
    func testSpecExample() {
        XCTAssertEqual(t.encode("Hello, user_1! Have you seen item_2?"), [15496, 11, 50258, 0, 8192, 345, 1775, 50269, 30])
    }

    func testIdRanges() {
        XCTAssertEqual(t.userToken(0), 50257)
        XCTAssertEqual(t.itemToken(0), 50267)
        XCTAssertEqual(t.itemToken(4), 50271)
        XCTAssertEqual(t.count, 50272)
    }

    func testPromptsAbsorbSpacesBeforeIds() {
        // "user_3 has interacted with item_0 item_4" : each space before an id token disappears,
        // the space after one stays with the next word.
        XCTAssertEqual(t.encode("user_3 has interacted with item_0 item_4"),
                       [50260] + sharedTokenizer.encode(" has interacted with") + [50267, 50271])
    }

    func testUnknownOrNonCanonicalIdsAreText() {
        // user_10 does not exist (I = 10), item_01 is not canonical: both go through BPE.
        XCTAssertEqual(t.encode("user_10"), sharedTokenizer.encode("user_10"))
        XCTAssertEqual(t.encode("item_01"), sharedTokenizer.encode("item_01"))
        XCTAssertEqual(t.encode("user_ x"), sharedTokenizer.encode("user_ x"))
    }

    func testMatchesInsideWords() {
        // re.split finds matches anywhere: "xuser_2y" is "x", user_2, "y".
        XCTAssertEqual(t.encode("xuser_2y"), sharedTokenizer.encode("x") + [50259] + sharedTokenizer.encode("y"))
    }

    func testDecodeRoundTrip() throws {
        XCTAssertEqual(try t.decode([50260] + sharedTokenizer.encode(" has interacted with") + [50267, 50271]),
                       "user_3 has interacted with item_0 item_4")
    }
}
