import CLLM4Rec
import Foundation
import TestSupport
import XCTest

/// `cllm4rec add-items`: new items enter a trained folder without changing anything the old items
/// had, a server picks them up on reload, and a bad file leaves the folder as it was.
final class AddItemsTests: XCTestCase {
    func copyOfTinyRecommender() throws -> String {
        let copy = temporaryFolder(self, "add-items") + "/rec"
        try FileManager.default.copyItem(atPath: TinyRecommender.folder, toPath: copy)
        return copy
    }

    func write(_ text: String, _ name: String, in dir: String) throws -> String {
        let path = (dir as NSString).deletingLastPathComponent + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Every old item keeps its score for every known user (so the ranks among old items are the
    /// same); the new items are scored, have text, and a server serves them after a reload.
    func testOldScoresUnchangedAndNewItemsServedAfterReload() async throws {
        let rec = try copyOfTinyRecommender()
        let s = try await ServerHandle(path: rec) { $0.engine.cacheBytes = 0 }
        let before = try LoadedRecommender(path: rec)
        let j0 = before.dataset.items.count
        let prompts = (0..<before.dataset.users.count).map { u in
            before.corpora.finetunePrompt(userToken: before.model.firstUser + u, items: before.dataset.train[u].map { before.model.firstItem + $0 })
        }
        let old = before.model.scores(prompts: prompts, copy: .recommendation)

        let file = try write("item_id,text\nnew-1,\"Space Llamas (2026). Genres: Comedy, Sci-Fi.\"\nnew-2,The Quiet Harbor (2025). Genres: Drama.\n",
                             "new.csv", in: rec)
        let r = try CLI.run(["add-items", rec, file, "--content-epochs", "2", "--threads", "1"], in: (rec as NSString).deletingLastPathComponent)
        XCTAssertEqual(r.status, 0, r.all)
        XCTAssertTrue(r.out.contains("added 2 items to \(rec) (10 -> 12)"), r.out)

        let after = try LoadedRecommender(path: rec)
        XCTAssertEqual(after.dataset.items, before.dataset.items + ["new-1", "new-2"])
        XCTAssertEqual(after.dataset.itemText.suffix(2), ["Space Llamas (2026). Genres: Comedy, Sci-Fi.", "The Quiet Harbor (2025). Genres: Drama."])
        XCTAssertEqual(after.dataset.train, before.dataset.train)
        XCTAssertEqual(after.corpora.itemText.count, before.corpora.itemText.count + 2)
        // Prompts as before: every old token id is unchanged (users first, then the old items).
        XCTAssertEqual(after.model.firstItem, before.model.firstItem)
        let new = after.model.scores(prompts: prompts, copy: .recommendation)
        let j1 = j0 + 2
        for u in 0..<prompts.count {
            for j in 0..<j0 { XCTAssertEqual(new[u * j1 + j], old[u * j0 + j], accuracy: 1e-5 * max(1, abs(old[u * j0 + j])), "user \(u), item \(j)") }
            for j in j0..<j1 { XCTAssertTrue(new[u * j1 + j].isFinite) }
        }
        // Old rows of every copy are the same bits; the new rows are not zeros.
        for copy in IDEmbeddings.Copy.allCases where before.model.embeddings.has(copy) {
            let w = before.model.width
            XCTAssertEqual(Array(UnsafeBufferPointer(start: after.model.embeddings.item(copy), count: j0 * w)),
                           Array(UnsafeBufferPointer(start: before.model.embeddings.item(copy), count: j0 * w)), copy.rawValue)
            XCTAssertTrue(UnsafeBufferPointer(start: after.model.embeddings.item(copy) + j0 * w, count: 2 * w).contains { $0 != 0 }, copy.rawValue)
        }

        // The checkpoints hold the old catalog: resuming them is refused with the reason.
        let resume = try CLI.run(["finetune", rec, "--resume", "--extend-to", "3", "--threads", "1"], in: (rec as NSString).deletingLastPathComponent)
        XCTAssertEqual(resume.status, 1, resume.all)
        XCTAssertTrue(resume.err.contains("was saved with 10 items and the folder now has 12 (added with add-items?): it cannot be resumed"), resume.err)

        // The running server knows the old catalog until it reloads.
        let k = 12
        let beforeReload = try await s.call("GET", "/v1/users/105/recommendations?k=\(k)").items.map(\.0)
        XCTAssertFalse(beforeReload.contains { $0 == "new-1" || $0 == "new-2" })
        try await s.server.engine.reload()
        let reply = try await s.call("GET", "/v1/users/105/recommendations?k=\(k)")
        XCTAssertEqual(reply.status, 200)
        let afterReload = reply.items.map(\.0)
        XCTAssertTrue(afterReload.contains("new-1") && afterReload.contains("new-2"), "\(afterReload)")
        XCTAssertEqual(afterReload.filter { !$0.hasPrefix("new-") }, beforeReload, "old items keep their order")
        await s.stop()
    }

    /// A folder made with `--id-rows vocabulary-mean` gets its new items' rows drawn the same way:
    /// with no content epochs, each new content row is extend-vocab's normal draw plus the backbone's
    /// mean word row.
    func testNewRowsFollowTheFoldersDraw() throws {
        let rec = try copyOfTinyRecommender()
        let manifestPath = rec + "/recommender.json"
        var manifest = try JSONDecoder().decode(RecommenderManifest.self, from: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
        XCTAssertEqual(manifest.idRows, .normal, "extend-vocab records its draw")
        manifest.idRows = .vocabularyMean
        try Data(try manifest.encoded()).write(to: URL(fileURLWithPath: manifestPath))
        let file = try write("item_id,text\nnew-1,Space Llamas (2026).\n", "new.csv", in: rec)
        let r = try CLI.run(["add-items", rec, file, "--content-epochs", "0", "--seed", "11", "--threads", "1"], in: (rec as NSString).deletingLastPathComponent)
        XCTAssertEqual(r.status, 0, r.all)

        let after = try LoadedRecommender(path: rec)
        let (users, j1, w) = (after.dataset.users.count, after.dataset.items.count, after.model.width)
        let (normal, _) = initialEmbeddings(users: users, items: j1, width: w, seed: 11, corpora: after.corpora)
        let words = after.model.backbone.tokenEmbeddings, vocabulary = after.model.backbone.vocabSize
        let row = after.model.embeddings.item(.content) + (j1 - 1) * w, drawn = normal.item(.content) + (j1 - 1) * w
        var shifted = 0
        for c in 0..<w {
            var mean = 0.0
            for v in 0..<vocabulary { mean += Double(words[v * w + c]) }
            mean /= Double(vocabulary)
            XCTAssertEqual(Double(row[c]), Double(drawn[c]) + mean, accuracy: 1e-6, "channel \(c)")
            if abs(mean) > 1e-5 { shifted += 1 }
        }
        XCTAssertGreaterThan(shifted, w / 2, "the tiny backbone's mean word row is not zero, so the shift shows")
    }

    /// An id the folder has, an id twice in the file, an empty text, a line with too many fields,
    /// a missing column: a message naming the file and line (or column), exit 1, nothing written.
    func testABadFileChangesNothing() throws {
        let rec = try copyOfTinyRecommender()
        let work = (rec as NSString).deletingLastPathComponent
        let before = try snapshot(rec)
        let cases: [(String, String, String)] = [
            ("item_id,text\nnew-1,A new film.\n203,An old id.\n", "exists.csv", "exists.csv:3: item \"203\" is already in \(rec); nothing was added"),
            ("item_id,text\nnew-1,A.\nnew-1,B.\n", "twice.csv", "twice.csv:3: field \"item_id\": item \"new-1\" is already on line 2"),
            ("item_id,text\nnew-1,  \n", "empty.csv", "empty.csv:2: field \"text\": item \"new-1\" has no text"),
            ("item_id,text\nnew-1,A,B\n", "fields.csv", "fields.csv:2: has 3 fields, the header has 2"),
            ("id,title\nnew-1,A\n", "columns.csv", "columns.csv:1: header needs the columns \"item_id\" and \"text\""),
            ("item_id,text\n", "none.csv", "none.csv: no item to add"),
        ]
        for (text, name, message) in cases {
            let file = try write(text, name, in: rec)
            let r = try CLI.run(["add-items", rec, file, "--threads", "1"], in: work)
            XCTAssertEqual(r.status, 1, "\(name): \(r.all)")
            XCTAssertTrue(r.err.contains(message), "\(name): \(r.err)")
            XCTAssertFalse(r.all.contains("Fatal error"), r.all)
        }
        let flags = try CLI.run(["add-items", rec, "x.csv", "--ridge", "0"], in: work)
        XCTAssertEqual(flags.status, 64, flags.all)
        XCTAssertEqual(try snapshot(rec), before, "a refused add-items changed the folder")
    }

    /// RecBole `.item` files and Amazon metadata give the text their dataset readers give.
    func testRecBoleAndAmazonFiles() throws {
        let dir = temporaryFolder(self, "new-items")
        let item = dir + "/new.item"
        try "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n300\tSpace Llamas\t2026\tComedy Sci-Fi\n"
            .write(toFile: item, atomically: true, encoding: .utf8)
        XCTAssertEqual(try NewItemsReading.read(item), [("300", "Space Llamas (2026). Genres: Comedy, Sci-Fi.")].map { [$0.0, $0.1] })
        let meta = dir + "/meta.json"
        try "{'asin': 'B00X', 'title': 'A Lamp', 'brand': 'Lumo', 'categories': [['Home', 'Lighting']]}\n".write(toFile: meta, atomically: true, encoding: .utf8)
        let read = try NewItemsReading.read(meta)
        XCTAssertEqual(read.first?.first, "B00X")
        XCTAssertTrue(read.first?.last?.contains("A Lamp") == true, "\(read)")
    }
}

import RecData

/// The reader as the command uses it (format from the file name).
enum NewItemsReading {
    static func read(_ path: String) throws -> [[String]] {
        let format: NewItemsFormat = path.hasSuffix(".item") ? .recbole : path.hasSuffix(".json") ? .amazon : .csv
        return try NewItem.read(path: path, format: format).map { [$0.id, $0.text] }
    }
}
