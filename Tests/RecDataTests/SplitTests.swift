import Foundation
import Tokenizer
import WeightIO
import XCTest

@testable import RecData

/// Held-out users and splits shared with other tools through RecBole benchmark files.
final class SplitTests: XCTestCase {
    /// 20 users with 4 to 12 interactions over 15 items, ratings 1-5, timestamps.
    func raw() -> RawDataset {
        var raw = RawDataset(name: "toy", format: "recbole")
        var t = 0.0
        for u in 0..<20 {
            for k in 0..<(4 + u % 9) {
                t += 1
                raw.interactions.append(RawInteraction(user: "u\(u)", item: "i\((u * 7 + k * 3) % 15)", rating: Double(1 + (u + k) % 5), timestamp: 1000 - t))
            }
        }
        return raw
    }

    func tempDir() -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("split-\(UUID())").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
        return p
    }

    /// user id -> (train, validation, test) as sets of item ids.
    func sets(_ d: PreparedDataset) -> [String: [Set<String>]] {
        var out: [String: [Set<String>]] = [:]
        for (u, id) in d.users.enumerated() {
            out[id] = [d.train[u], d.validation[u], d.test[u]].map { Set($0.map { d.items[$0] }) }
        }
        return out
    }

    /// Holding users out leaves every other user's split as it was, and keeps every interaction of
    /// the held-out ones, 80/20 between fold-in and test.
    func testHeldoutUsersLeaveOtherSplitsUnchanged() throws {
        let options = PrepareOptions(minRating: nil, kcore: 0, seed: 4)
        let all = try PreparedDataset(raw(), options: options)
        var o = options
        o.heldoutUsers = 5
        let held = try PreparedDataset(raw(), options: o)
        XCTAssertEqual(held.users.count, 15)
        XCTAssertEqual(held.heldout.users.count, 5)
        XCTAssertTrue(Set(held.users).isDisjoint(with: held.heldout.users))
        let before = sets(all), after = sets(held)
        for id in held.users { XCTAssertEqual(after[id], before[id], id) }
        var perUser: [String: Set<String>] = [:]
        for x in raw().interactions { perUser[x.user, default: []].insert(x.item) }
        for (k, id) in held.heldout.users.enumerated() {
            let fold = held.heldout.foldIn[k].map { held.items[$0] }, test = held.heldout.test[k].map { held.items[$0] }
            XCTAssertEqual(Set(fold + test), perUser[id]!)
            XCTAssertEqual(fold.count + test.count, perUser[id]!.count)
            XCTAssertEqual(test.count, max(1, perUser[id]!.count / 5))
        }
        XCTAssertEqual(held.statistics.heldoutUsers, 5)
        // No corpus document mentions a held-out user: they are not users of the model at all.
        XCTAssertEqual(held.train.count, 15)
        XCTAssertThrowsError(try PreparedDataset(raw(), options: PrepareOptions(minRating: nil, kcore: 0, seed: 4, heldoutUsers: 20)))
    }

    /// Our split written as RecBole benchmark files and read back is the same split.
    func testExportedSplitReadsBackIdentically() throws {
        var o = PrepareOptions(minRating: 2, kcore: 0, seed: 9)
        o.heldoutUsers = 2
        let d = try PreparedDataset(raw(), options: o)
        let dir = tempDir()
        try d.exportSplit(to: dir, raw: raw())
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        XCTAssertEqual(names, ["toy.heldout-foldin.inter", "toy.heldout-test.inter", "toy.test.inter", "toy.train.inter", "toy.valid.inter"])
        let header = try String(contentsOfFile: dir + "/toy.train.inter", encoding: .utf8).split(separator: "\n")[0]
        XCTAssertEqual(header, "user_id:token\titem_id:token\trating:float\ttimestamp:float")
        let back = try PreparedDataset(raw: raw(), splitFrom: dir, options: PrepareOptions(seed: 9))
        XCTAssertEqual(sets(back), sets(d))
        XCTAssertEqual(back.options.minRating, nil)
        XCTAssertEqual(back.options.kcore, 0)
        // Each user's items keep the dataset's time order.
        for (u, id) in back.users.enumerated() {
            let k = d.users.firstIndex(of: id)!
            XCTAssertEqual(back.train[u].map { back.items[$0] }, d.train[k].map { d.items[$0] })
        }
    }

    func testSplitFilesErrors() throws {
        let dir = tempDir()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        XCTAssertThrowsError(try BenchmarkSplit.files(in: dir)) { XCTAssertTrue("\($0)".contains("no NAME.train.inter"), "\($0)") }
        let h = "user_id:token\titem_id:token\n"
        try (h + "1\t10\n1\t11\n").write(toFile: dir + "/x.train.inter", atomically: true, encoding: .utf8)
        try (h + "1\t12\n").write(toFile: dir + "/x.valid.inter", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try BenchmarkSplit.files(in: dir)) { XCTAssertTrue("\($0)".contains("x.test.inter: missing"), "\($0)") }
        try (h + "1\t13\n1\t10\n").write(toFile: dir + "/x.test.inter", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try PreparedDataset(raw: RawDataset(name: "x", format: "recbole"), splitFrom: dir, options: PrepareOptions())) {
            XCTAssertTrue("\($0)".contains("x.test.inter:3: user \"1\" and item \"10\" are already at") && "\($0)".contains("x.train.inter:2"), "\($0)")
        }
        try (h + "1\t13\n").write(toFile: dir + "/x.test.inter", atomically: true, encoding: .utf8)
        let d = try PreparedDataset(raw: RawDataset(name: "x", format: "recbole"), splitFrom: dir, options: PrepareOptions())
        XCTAssertEqual(d.train[0].map { d.items[$0] }, ["10", "11"])
        XCTAssertEqual(d.test[0].map { d.items[$0] }, ["13"])
    }
}
