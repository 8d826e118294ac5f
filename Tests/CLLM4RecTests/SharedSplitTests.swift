import Foundation
import RecData
import XCTest

@testable import CLLM4Rec

/// The split that a numpy implementation of the reference protocol made (../shared/data/ml-100k-split,
/// never committed), read as RecBole benchmark files: popularity and EASE must give the figures its
/// README measured. Skipped where the data is absent.
final class SharedSplitTests: XCTestCase {
    func testBaselinesOnTheSharedSplit() throws {
        let shared = URL(fileURLWithPath: testsRoot).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data")
        let data = ProcessInfo.processInfo.environment["CLLM4REC_ML100K"] ?? shared.appendingPathComponent("ml-100k").path
        let split = shared.appendingPathComponent("ml-100k-split").path
        guard FileManager.default.fileExists(atPath: split + "/ml-100k.train.inter"), FileManager.default.fileExists(atPath: data + "/ml-100k.inter") else {
            throw XCTSkip("MovieLens-100K or its shared split not found")
        }
        let d = try PreparedDataset(raw: try RawDataset.recBole(path: data), splitFrom: split, options: PrepareOptions())
        XCTAssertEqual([d.users.count, d.items.count, d.statistics.train, d.statistics.validation, d.statistics.test], [938, 1008, 44_287, 5_063, 5_063])
        let e = Evaluator()
        let pop = e.popularity(train: d.train, itemIds: d.items, histories: d.train, relevant: d.test)
        // README of the split: popularity 0.1953 / 0.2822 / 0.2009; EASE λ = 200 0.3850 / 0.5210 / 0.3457;
        // λ = 500 0.3808 / 0.5226 / 0.3423 (4 decimals, so ±0.00005).
        for (k, v) in [("recall@20", 0.1953), ("recall@40", 0.2822), ("ndcg@100", 0.2009)] { XCTAssertEqual(pop.values[k]!, v, accuracy: 5e-5, k) }
        for (lambda, want) in [(200.0, [0.3850, 0.5210, 0.3457]), (500.0, [0.3808, 0.5226, 0.3423])] {
            let ease = e.ease(try EASE(train: d.train, items: d.items.count, lambda: lambda), histories: d.train, relevant: d.test)
            for (k, v) in zip(["recall@20", "recall@40", "ndcg@100"], want) { XCTAssertEqual(ease.values[k]!, v, accuracy: 5e-5, "EASE λ \(lambda) \(k)") }
        }
    }
}
