import Foundation
import XCTest
@testable import CLLM4Rec

/// `extend-vocab --id-rows`: where the new user and item rows start.
final class IDRowInitTests: XCTestCase {
    /// A 1000 × 4 word table whose mean row is `base` exactly: rows alternate base + d and base − d.
    private let base: [Float] = [1.5, -2, 0.25, 3]
    private func wordTable() -> [Float] {
        var rows: [Float] = []
        for r in 0..<1000 {
            let sign: Float = r % 2 == 0 ? 1 : -1
            for c in 0..<4 { rows.append(base[c] + sign * Float(r / 2 % 7 + c) * 0.125) }
        }
        return rows
    }

    private func tables(_ e: IDEmbeddings, _ copy: IDEmbeddings.Copy, users: Int, items: Int) -> [Float] {
        Array(UnsafeBufferPointer(start: e.user(copy), count: users * 4)) + Array(UnsafeBufferPointer(start: e.item(copy), count: items * 4))
    }

    func testVocabularyMeanRowsAreTheNormalDrawShiftedByTheMeanWordRow() throws {
        let (d, c, _) = try tinySetup()
        let (users, items) = (d.users.count, d.items.count)
        let words = wordTable()
        let (normal, _) = initialEmbeddings(users: users, items: items, width: 4, seed: 7, corpora: c)
        let (shifted, texts) = words.withUnsafeBufferPointer {
            initialEmbeddings(users: users, items: items, width: 4, seed: 7, rows: .vocabularyMean, wordRows: $0, corpora: c)
        }
        XCTAssertEqual(texts.users + texts.items, 0, "no text-mean asked")
        for copy in [IDEmbeddings.Copy.collaborative, .content] {
            let n = tables(normal, copy, users: users, items: items), s = tables(shifted, copy, users: users, items: items)
            for k in n.indices {
                XCTAssertEqual(s[k], n[k] + base[k % 4], accuracy: 1e-6, "\(copy) value \(k)")
            }
            // The normal part is the reference's draw, 0.02 spread around the origin.
            let spread = (n.map { Double($0 * $0) }.reduce(0, +) / Double(n.count)).squareRoot()
            XCTAssertEqual(spread, 0.02, accuracy: 0.006, "\(copy)")
        }
    }

    func testTextMeanRowsKeepTheirTextMeanWithVocabularyMeanRows() throws {
        let (d, c, _) = try tinySetup()
        let (users, items) = (d.users.count, d.items.count)
        let words = wordTable()
        let (textOnly, counts) = words.withUnsafeBufferPointer {
            initialEmbeddings(users: users, items: items, width: 4, seed: 7, textMean: true, wordRows: $0, corpora: c)
        }
        let (both, _) = words.withUnsafeBufferPointer {
            initialEmbeddings(users: users, items: items, width: 4, seed: 7, rows: .vocabularyMean, textMean: true, wordRows: $0, corpora: c)
        }
        XCTAssertEqual(counts.items, items, "every tiny item has a text")
        // Content rows with text: their text's mean, whatever the draw; collaborative rows: shifted.
        XCTAssertEqual(tables(both, .content, users: users, items: items), tables(textOnly, .content, users: users, items: items))
        let n = tables(textOnly, .collaborative, users: users, items: items), s = tables(both, .collaborative, users: users, items: items)
        for k in n.indices { XCTAssertEqual(s[k], n[k] + base[k % 4], accuracy: 1e-6, "collaborative value \(k)") }
    }

    func testTheManifestRecordsTheDrawAndOlderFoldersReadAsNormal() throws {
        let m = RecommenderManifest(backbone: "m", backboneAbsolute: "/m", architecture: "llama", users: 2, items: 3, width: 4,
                                    initialization: "normal", idRows: .vocabularyMean, seed: 1)
        let json = String(decoding: try m.encoded(), as: UTF8.self)
        XCTAssertTrue(json.contains(#""id_rows" : "vocabulary-mean""#), json)
        let decoded = try JSONDecoder().decode(RecommenderManifest.self, from: Data(try m.encoded()))
        XCTAssertEqual(decoded.idRows, .vocabularyMean)
        let older = #"{"backbone": "m", "backbone_absolute": "/m", "users": 2, "items": 3, "width": 4, "init": "normal", "seed": 1}"#
        XCTAssertNil(try JSONDecoder().decode(RecommenderManifest.self, from: Data(older.utf8)).idRows)
        let unknown = older.replacingOccurrences(of: #""seed": 1"#, with: #""seed": 1, "id_rows": "uniform""#)
        XCTAssertThrowsError(try JSONDecoder().decode(RecommenderManifest.self, from: Data(unknown.utf8)))
    }
}
