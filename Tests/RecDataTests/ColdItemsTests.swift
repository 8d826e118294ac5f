import Foundation
import Tokenizer
import WeightIO
import XCTest

@testable import RecData

/// The item-cold-start split: cold items leave every training signal and keep their text.
final class ColdItemsTests: XCTestCase {
    /// 30 users with 5 to 13 interactions over 20 items, with review text, and a text per item.
    func raw() -> RawDataset {
        var raw = RawDataset(name: "toy", format: "recbole")
        var t = 0.0
        for u in 0..<30 {
            for k in 0..<(5 + u % 9) {
                t += 1
                let item = "i\((u * 7 + k * 3) % 20)"
                raw.interactions.append(RawInteraction(user: "u\(u)", item: item, rating: 5, timestamp: t, text: "u\(u) on \(item)"))
            }
        }
        for j in 0..<20 { raw.itemText[ExactString("i\(j)")] = "Item \(j) text." }
        return raw
    }

    func prepared(_ fraction: Double = 0.3, seed: UInt64 = 5) throws -> (PreparedDataset, PreparedDataset) {
        let all = try PreparedDataset(raw(), options: PrepareOptions(minRating: nil, kcore: 0, seed: 4))
        return (all, try all.holdingOutColdItems(fraction: fraction, seed: seed))
    }

    /// No cold item is in any training, validation or test list, any review, or any collaborative
    /// document; each keeps its item-text document.
    func testNoColdItemReachesTraining() throws {
        let (_, d) = try prepared()
        let cold = try XCTUnwrap(d.cold)
        let coldSet = cold.allItems
        XCTAssertEqual(coldSet.count, 6)
        XCTAssertEqual(cold.validationItems.count, 3)
        XCTAssertEqual(cold.testItems.count, 3)
        XCTAssertTrue(Set(cold.validationItems).isDisjoint(with: cold.testItems))
        for u in 0..<d.users.count {
            XCTAssertTrue(coldSet.isDisjoint(with: d.train[u] + d.validation[u] + d.test[u]), "user \(u)")
            XCTAssertTrue(Set(cold.validation[u]).isSubset(of: cold.validationItems))
            XCTAssertTrue(Set(cold.test[u]).isSubset(of: cold.testItems))
        }
        XCTAssertFalse(d.reviews.contains { coldSet.contains($0.item) })
        let t = IDTokenizer(base: gpt2, users: d.users.count, items: d.items.count)
        let c = Corpora.build(d, tokenizer: t, contextLength: 1024)
        let coldTokens = Set(coldSet.map { t.itemToken($0) })
        for corpus in [c.collaborative, c.reviews] {
            XCTAssertTrue(coldTokens.isDisjoint(with: corpus.promptTokens.map(Int.init) + corpus.mainTokens.map(Int.init)), corpus.name)
        }
        let described = Set(c.itemText.items.map(Int.init))
        XCTAssertTrue(coldSet.isSubset(of: described), "a cold item lost its text")
        XCTAssertEqual(d.itemText, try prepared().0.itemText)
    }

    /// Every interaction is kept somewhere: what left the three parts is in the cold halves, and the
    /// warm interactions are where they were.
    func testCountsAndWarmPartsUnchanged() throws {
        let (all, d) = try prepared()
        let cold = try XCTUnwrap(d.cold)
        let coldSet = cold.allItems
        XCTAssertEqual(cold.usersWithoutWarmHistory, 0)
        for u in 0..<all.users.count {
            XCTAssertEqual(d.train[u], all.train[u].filter { !coldSet.contains($0) })
            XCTAssertEqual(d.validation[u], all.validation[u].filter { !coldSet.contains($0) })
            XCTAssertEqual(d.test[u], all.test[u].filter { !coldSet.contains($0) })
            XCTAssertEqual(Set(cold.validation[u] + cold.test[u]), Set(all.seen(user: u)).intersection(coldSet))
            XCTAssertEqual(d.seen(user: u), all.seen(user: u))
        }
        let s = d.statistics
        XCTAssertEqual(s.train + s.validation + s.test + (s.coldInteractions ?? -1),
                       all.statistics.train + all.statistics.validation + all.statistics.test)
        XCTAssertEqual(s.coldItems, 6)
        XCTAssertEqual(d.options.coldItems, 0.3)
        XCTAssertGreaterThan(s.coldInteractions ?? 0, 0)
        // Seeded: the same seed draws the same items, another seed others.
        XCTAssertEqual(try prepared(0.3, seed: 5).1.cold, cold)
        XCTAssertNotEqual(try prepared(0.3, seed: 6).1.cold?.testItems, cold.testItems)
    }

    /// A user whose every interaction is on a cold item keeps nothing, is counted, and has nothing
    /// to be evaluated on.
    func testAUserWithOnlyColdItemsIsCounted() throws {
        var r = RawDataset(name: "few", format: "recbole")
        for (u, items) in [("a", ["x", "y", "z"]), ("b", ["x", "y"]), ("c", ["w"])] {
            for i in items { r.interactions.append(RawInteraction(user: u, item: i)) }
        }
        let all = try PreparedDataset(r, options: PrepareOptions(minRating: nil, kcore: 0, seed: 1))
        // Find a seed that makes "w" cold (3 of 4 items cold makes it likely; the test checks, not assumes).
        let w = try XCTUnwrap(all.items.firstIndex(of: "w")), c = try XCTUnwrap(all.users.firstIndex(of: "c"))
        var found: PreparedDataset? = nil
        for seed in 0..<64 where found == nil {
            let x = try all.holdingOutColdItems(fraction: 0.5, seed: UInt64(seed))
            if x.cold!.allItems.contains(w) { found = x }
        }
        let d = try XCTUnwrap(found)
        XCTAssertEqual(d.train[c], [])
        XCTAssertEqual(d.cold!.validation[c] + d.cold!.test[c], [])
        XCTAssertGreaterThanOrEqual(d.cold!.usersWithoutWarmHistory, 1)
    }

    func testFractionOutOfRangeIsRefused() throws {
        let all = try PreparedDataset(raw(), options: PrepareOptions(minRating: nil, kcore: 0, seed: 4))
        for f: Double in [0, 1, -0.1, 0.999, .nan] {
            XCTAssertThrowsError(try all.holdingOutColdItems(fraction: f, seed: 1), "\(f)")
        }
    }

    /// The cold halves travel with the split: written as NAME.cold-valid.inter and NAME.cold-test.inter
    /// and read back as the same cold items and pairs; splits.json keeps them too.
    func testColdItemsTravelWithTheSplitFiles() throws {
        let (_, d) = try prepared()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cold-\(UUID())").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        try d.exportSplit(to: dir, raw: raw())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
                       ["toy.cold-test.inter", "toy.cold-valid.inter", "toy.test.inter", "toy.train.inter", "toy.valid.inter"])
        let back = try PreparedDataset(raw: raw(), splitFrom: dir, options: PrepareOptions(seed: 4))
        func pairs(_ x: PreparedDataset, _ lists: [[Int]]) -> Set<String> {
            Set(lists.enumerated().flatMap { u, l in l.map { x.users[u] + "|" + x.items[$0] } })
        }
        let cold = try XCTUnwrap(back.cold)
        XCTAssertEqual(Set(cold.testItems.map { back.items[$0] }), Set(d.cold!.testItems.map { d.items[$0] }))
        XCTAssertEqual(Set(cold.validationItems.map { back.items[$0] }), Set(d.cold!.validationItems.map { d.items[$0] }))
        XCTAssertEqual(pairs(back, cold.test), pairs(d, d.cold!.test))
        XCTAssertEqual(pairs(back, cold.validation), pairs(d, d.cold!.validation))
        XCTAssertEqual(pairs(back, back.train), pairs(d, d.train))

        let t = IDTokenizer(base: gpt2, users: d.users.count, items: d.items.count)
        let folderPath = dir + "-rec"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folderPath) }
        let folder = try StagedFolder(folderPath)
        try d.write(to: folder, raw: raw(), corpora: Corpora.build(d, tokenizer: t, contextLength: 256))
        try folder.commit()
        XCTAssertEqual(try PreparedDataset.load(from: folderPath).0.cold, d.cold)
    }
}
