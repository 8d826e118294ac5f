import Foundation
import Tokenizer
import WeightIO
import XCTest

@testable import RecData

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let gpt2 = try! BPETokenizer(vocabPath: repoRoot + "/Models/gpt2/vocab.json", mergesPath: repoRoot + "/Models/gpt2/merges.txt")

final class CorporaTests: XCTestCase {
    func tinyPrepared() throws -> PreparedDataset {
        var raw = RawDataset(name: "t", format: "test")
        for (u, items) in [("a", ["x", "y", "z", "w"]), ("b", ["y", "x"])] {
            for (k, i) in items.enumerated() { raw.interactions.append(RawInteraction(user: u, item: i, timestamp: Double(k), text: "\(u) likes \(i)")) }
        }
        raw.itemText = ["x": "Toy Story (1995). Genres: Animation, Children's, Comedy."]
        raw.userText = ["b": "A 24-year-old male technician."]
        return try PreparedDataset(raw, options: PrepareOptions(minRating: nil, kcore: 0, seed: 3))
    }

    /// Token ids checked against Hugging Face's tokenizer (values printed by transformers'
    /// AutoTokenizer for " has interacted with", " will interact with", " wrote the following
    /// review for", " is described as:" and the Toy Story text).
    func testPromptTokenIds() throws {
        let d = try tinyPrepared()
        let t = IDTokenizer(base: gpt2, users: d.users.count, items: d.items.count)
        let c = Corpora.build(d, tokenizer: t, contextLength: 1024)
        let u = d.users.firstIndex(of: "b")!
        let doc = c.collaborative.users.firstIndex(of: Int32(u))!
        XCTAssertEqual(Array(c.collaborative.prompt(doc)), [Int32(50257 + u), 468, 49236, 351])
        XCTAssertEqual(Array(c.collaborative.main(doc)), d.train[u].map { Int32(50257 + 2 + $0) })
        XCTAssertEqual(c.finetunePrefix, [-1, 468, 49236, 351])
        XCTAssertEqual(c.finetuneSuffix, [11, -1, 481, 9427, 351])
        XCTAssertEqual(c.finetunePrompt(userToken: 50258, items: [50260, 50261]), [50258, 468, 49236, 351, 50260, 50261, 11, 50258, 481, 9427, 351])
        let x = d.items.firstIndex(of: "x")!
        XCTAssertEqual(Array(c.itemText.prompt(0)), [Int32(50259 + x), 318, 3417, 355, 25])
        // Text main texts end with <|endoftext|> (50256), so that generated reviews stop by themselves.
        XCTAssertEqual(Array(c.itemText.main(0)), [10977, 8362, 357, 21908, 737, 5215, 411, 25, 23535, 11, 8990, 338, 11, 22329, 13, 50256])
        for k in 0..<c.reviews.count { XCTAssertEqual(c.reviews.main(k).last, 50256) }
        // Cut to the context, the end-of-text token stays.
        let short = Corpora.build(d, tokenizer: t, contextLength: 9)
        XCTAssertEqual(Array(short.itemText.main(0)), [10977, 8362, 357, 50256])
        // Reviews come from training pairs only.
        XCTAssertEqual(c.reviews.count, d.statistics.train)
        let r = 0
        let (ru, ri) = (Int(c.reviews.users[r]), Int(c.reviews.items[r]))
        XCTAssertEqual(Array(c.reviews.prompt(r)), [Int32(50257 + ru), 2630, 262, 1708, 2423, 329, Int32(50259 + ri), 25])
        XCTAssertTrue(d.train[ru].contains(ri))
    }

    func testLongHistoriesLoseTheirOldestItems() throws {
        XCTAssertEqual(fitHistory([1, 2, 3, 4], room: 2), [3, 4])
        XCTAssertEqual(fitHistory([1, 2], room: 5), [1, 2])
        XCTAssertEqual(fitHistory([1, 2], room: -1), [])
        let d = try tinyPrepared()
        let t = IDTokenizer(base: gpt2, users: d.users.count, items: d.items.count)
        // User a has 4 interactions: 1 test, 1 validation, 2 training. A context of 5 leaves the
        // 4-token prompt room for the most recent training item only.
        let c = Corpora.build(d, tokenizer: t, contextLength: 5)
        let a = d.users.firstIndex(of: "a")!
        XCTAssertEqual(d.train[a].count, 2)
        XCTAssertEqual(Array(c.collaborative.main(c.collaborative.users.firstIndex(of: Int32(a))!)), [Int32(50259 + d.train[a][1])])
        // The finetuning prompt keeps its tail ", user_i will interact with" whatever the history.
        let long = c.finetunePrompt(userToken: 50257, items: Array(50259..<50300))
        XCTAssertEqual(long.count, 9)  // prefix 4 + suffix 5 > 5: no room for any item, the prompt still ends with the suffix
        XCTAssertEqual(Array(long.suffix(5)), [11, 50257, 481, 9427, 351])
    }

    func testCacheRoundTripAndCorruption() throws {
        let d = try tinyPrepared()
        let t = IDTokenizer(base: gpt2, users: d.users.count, items: d.items.count)
        let c = Corpora.build(d, tokenizer: t, contextLength: 1024)
        var bytes = c.encoded()
        XCTAssertEqual(try Corpora(decoding: bytes, file: "c.bin"), c)
        bytes[40] ^= 1
        XCTAssertThrowsError(try Corpora(decoding: bytes, file: "c.bin")) { XCTAssertTrue("\($0)".contains("CRC-32 mismatch"), "\($0)") }
        XCTAssertThrowsError(try Corpora(decoding: Array(bytes.prefix(10)), file: "c.bin"))
    }
}

final class DatasetFilesTests: XCTestCase {
    /// What extend-vocab writes reads back the same: ids, splits, texts, statistics, corpora.
    func testWriteThenLoadRoundTrips() throws {
        var raw = RawDataset(name: "rt", format: "test")
        for (u, items) in [("a", ["x", "y", "z", "w"]), ("b", ["y", "x", "q"])] {
            for (k, i) in items.enumerated() { raw.interactions.append(RawInteraction(user: u, item: i, rating: 5, timestamp: Double(k), text: "\(u) on \(i)")) }
        }
        raw.itemText = ["x": "An item."]
        let d = try PreparedDataset(raw, options: PrepareOptions(minRating: 3, kcore: 0, seed: 2))
        let t = IDTokenizer(base: gpt2, users: d.users.count, items: d.items.count)
        let c = Corpora.build(d, tokenizer: t, contextLength: 1024)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ds-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let folder = try StagedFolder(dir)
        try d.write(to: folder, raw: raw, corpora: c)
        try folder.commit()
        let (back, manifest, corpora) = try PreparedDataset.load(from: dir)
        XCTAssertEqual(back.users, d.users)
        XCTAssertEqual(back.items, d.items)
        XCTAssertEqual(back.train, d.train)
        XCTAssertEqual(back.validation, d.validation)
        XCTAssertEqual(back.test, d.test)
        XCTAssertEqual(back.itemText, d.itemText)
        XCTAssertEqual(back.statistics, d.statistics)
        XCTAssertEqual(corpora, c)
        XCTAssertEqual(manifest.corpora["reviews"]?.documents, d.statistics.train)
        XCTAssertEqual(manifest.options.seed, 2)
    }
}
