import CLLM4Rec
import Foundation
import TestSupport
import WeightIO
import XCTest

/// `finetune --head-input`, the collapse diagnostic in `evaluate` and `metrics.jsonl`, and `report`
/// (its page rendered by headless Chromium where Debian's `chromium` is installed), as a user runs
/// them on a tiny dataset and a tiny random backbone.
final class HeadInputAndReportTests: XCTestCase {
    var work = ""

    @discardableResult
    func cli(_ args: String..., expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try CLI.run(args, in: work)
        XCTAssertEqual(r.status, status, "cllm4rec \(args.joined(separator: " ")):\n\(r.all)", file: file, line: line)
        return r
    }

    override func setUp() { work = temporaryFolder(self, "head-input") }

    /// A tiny folder finetuned with --head-input standardized, made once for the tests of this
    /// class (each works on its own copy in `work`: model/, data/, rec/).
    static let trained: String = {
        let dir = temporaryFolderPath("head-input-trained")
        func cli(_ args: String...) -> CLI.Result {
            let r = try! CLI.run(args, in: dir)
            precondition(r.status == 0, "cllm4rec \(args.joined(separator: " ")) failed:\n\(r.all)")
            return r
        }
        _ = cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try! writeTinyDataset(to: dir + "/data")
        _ = cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0")
        _ = cli("pretrain", "rec", "--warmup-epochs", "1", "--rounds", "1", "--batch", "4", "--accumulate", "1", "--threads", "1", "--lambda", "0.1")
        let r = cli("finetune", "rec", "--epochs", "3", "--batch", "4", "--accumulate", "1", "--lr", "1e-2", "--threads", "1", "--head-input", "standardized")
        precondition(r.out.contains("head input: standardized with the statistics of h over"), r.out)
        return dir
    }()

    func trainedFolder() throws {
        for name in ["model", "data", "rec"] {
            try FileManager.default.copyItem(atPath: Self.trained + "/" + name, toPath: work + "/" + name)
        }
    }

    func testStandardizedHeadInputAndDiagnostic() throws {
        try trainedFolder()
        // The standardization is stored with the embeddings and named in the training summary.
        let header = try headerNames(work + "/rec/embeddings.safetensors")
        XCTAssertTrue(header.contains("head_input.mean") && header.contains("head_input.scale"), "\(header)")
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/rec/training-finetune.json"))) as! [String: Any]
        XCTAssertEqual((summary["options"] as! [String: Any])["headInputChoice"] as? String, "standardized")
        // Every validation line carries the diagnostic; standardized inputs share no energy.
        let lines = try String(contentsOfFile: work + "/rec/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let validated = lines.map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.filter { $0["val_recall@20"] != nil }
        XCTAssertEqual(validated.count, 3)
        for v in validated {
            let overlap = try XCTUnwrap(v["val_popularity_overlap@20"] as? Double), rank = try XCTUnwrap(v["val_head_input_rank"] as? Double)
            XCTAssertTrue((0...1).contains(overlap), "\(overlap)")
            XCTAssertTrue(rank >= 1 && rank <= 64, "\(rank)")
        }
        let e = try cli("evaluate", "rec", "--split", "test", "--threads", "1")
        XCTAssertTrue(e.out.contains("collapse diagnostic: "), e.out)
        XCTAssertTrue(e.out.contains(" of 64 channels, "), e.out)
        // A second finetune keeps the standardization its recommendation copy was trained with; raw drops it.
        let again = try cli("finetune", "rec", "--epochs", "1", "--batch", "4", "--accumulate", "1", "--threads", "1", "--head-input", "standardized")
        XCTAssertTrue(again.out.contains("the one this folder's item rows were trained with"), again.out)
        // Another conditioning on the same recommendation copy is refused before any training: its rows belong to the first.
        let before = try snapshot(work + "/rec")
        let mismatch = try cli("finetune", "rec", "--epochs", "1", "--batch", "4", "--accumulate", "1", "--threads", "1", "--head-input", "whitened", expect: 1)
        XCTAssertTrue(mismatch.err.contains("--head-input whitened") && mismatch.err.contains("standardized head input"), mismatch.err)
        XCTAssertEqual(try snapshot(work + "/rec"), before)
        try cli("finetune", "rec", "--epochs", "1", "--batch", "4", "--accumulate", "1", "--threads", "1", "--head-input", "raw")
        XCTAssertFalse(try headerNames(work + "/rec/embeddings.safetensors").contains("head_input.mean"))
        let bad = try cli("finetune", "rec", "--epochs", "1", "--head-input", "rotated", expect: 64)
        XCTAssertTrue(bad.err.contains("--head-input"), bad.err)
    }

    /// `evaluate --dump` on a warm split writes what the head scored: the recall computed here from
    /// head_inputs · item_tableᵀ (training items left out) is the evaluation's.
    func testDumpReproducesTheEvaluation() throws {
        try trainedFolder()
        try cli("evaluate", "rec", "--split", "val", "--k", "5", "--ndcg-k", "10", "--baseline", "popularity", "--dump", "dump.safetensors", "--threads", "1")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/rec/evaluation-val.json"))) as! [String: Any]
        let model = (json["results"] as! [[String: Any]])[0]
        let reported = try XCTUnwrap((model["metrics"] as! [String: Any])["recall@5"] as? Double)
        let dump = try SafeTensorsFile(path: work + "/dump.safetensors")
        let users = try dump.floats("users").values.map { Int($0) }
        let h = try dump.floats("head_inputs"), table = try dump.floats("item_table")
        let (c, j) = (h.shape[1], table.shape[0])
        XCTAssertEqual(try dump.floats("item_text").shape[0], j)
        let rec = try LoadedRecommender(path: work + "/rec", applyAdapter: false)
        XCTAssertEqual(Set(users), Set((0..<rec.dataset.users.count).filter { !rec.dataset.validation[$0].isEmpty }))
        var total = 0.0
        for (r, u) in users.enumerated() {
            let seen = Set(rec.dataset.train[u])
            let scores = (0..<j).map { i in (0..<c).reduce(Float(0)) { $0 + h.values[r * c + $1] * table.values[i * c + $1] } }
            let top = (0..<j).filter { !seen.contains($0) }.sorted { scores[$0] > scores[$1] }.prefix(5)
            let relevant = Set(rec.dataset.validation[u])
            total += Double(top.filter(relevant.contains).count) / Double(min(5, relevant.count))
        }
        XCTAssertEqual(total / Double(users.count), reported, accuracy: 1e-6)
    }

    func testReportPage() throws {
        try trainedFolder()
        try cli("evaluate", "rec", "--split", "test", "--baseline", "popularity,ease", "--threads", "1")
        let r = try cli("report", "rec")
        XCTAssertTrue(r.out.contains("wrote rec/report.html: 9 epochs, 3 validated, 3 evaluation rows"), r.out)
        let page = try String(contentsOfFile: work + "/rec/report.html", encoding: .utf8)
        // Charts: pretraining loss, finetuning loss, validation metrics, the two diagnostics.
        XCTAssertEqual(page.components(separatedBy: "<svg").count - 1, 5, page)
        XCTAssertTrue(page.contains("most popular recall@20") && page.contains("EASE (λ 200) ndcg@100"), "baselines drawn")
        XCTAssertFalse(page.contains("<script") || page.contains("http://") && !page.contains("xmlns=\"http://www.w3.org/2000/svg\""))
        XCTAssertFalse(page.contains("https://"), "nothing fetched")
        // An untrained folder: an error naming the file, nothing written.
        try cli("extend-vocab", "data", "--model", "model", "--output", "fresh", "--kcore", "0")
        let untrained = try cli("report", "fresh", expect: 1)
        XCTAssertTrue(untrained.err.contains("fresh/metrics.jsonl: missing"), untrained.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/fresh/report.html"))
        try cli("report", "rec", "--ease-lambda", "0", expect: 64)

        // The page as a person sees it (skipped without Chromium, which CI installs).
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no chromium: `apt-get install chromium` renders the report in this test")
        }
        let shot = work + "/report.png"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                       "--user-data-dir=\(work)/chromium-profile", "--window-size=1000,2600", "--screenshot=\(shot)",
                       "file://\(work)/rec/report.html"]
        let log = work + "/chromium.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning { p.terminate(); XCTFail("chromium did not finish in 60 s") }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertFalse(output.contains(":CONSOLE("), "console messages:\n\(output)")
        let image = try PNGImage(path: shot)
        XCTAssertEqual(image.width, 1000)
        let total = image.width * image.height
        let white = image.count(near: (255, 255, 255), tolerance: 8)
        XCTAssertLessThan(white, total * 98 / 100, "the screenshot is (nearly) blank")
        // The charts' own colours: recall@20 blue, recall@40 / overlap red, ndcg@100 / rank green.
        for (name, color) in [("blue", (0x1f, 0x77, 0xb4)), ("red", (0xd6, 0x27, 0x28)), ("green", (0x2c, 0xa0, 0x2c))] {
            XCTAssertGreaterThan(image.count(near: color), 200, "\(name) chart lines")
        }
    }

    /// Tensor names in a safetensors file's header.
    func headerNames(_ path: String) throws -> String {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        let n = d.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return String(decoding: d[8..<(8 + n)], as: UTF8.self)
    }
}
