import Foundation
import TestSupport
import XCTest

/// The whole tool, run as a user runs it, on a tiny dataset and a tiny random backbone, from a
/// working directory outside the repository.
final class PipelineTests: XCTestCase {
    var work = ""

    func cli(_ args: String..., expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try CLI.run(args, in: work)
        XCTAssertEqual(r.status, status, "cllm4rec \(args.joined(separator: " ")):\n\(r.all)", file: file, line: line)
        return r
    }

    @discardableResult
    func cli(_ args: [String], expect status: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let r = try CLI.run(args, in: work)
        XCTAssertEqual(r.status, status, "cllm4rec \(args.joined(separator: " ")):\n\(r.all)", file: file, line: line)
        return r
    }

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/" + path))) as! [String: Any]
    }

    /// metrics of the first result row of an evaluation JSON.
    func modelMetrics(_ path: String) throws -> [String: Double] {
        ((try json(path)["results"] as! [[String: Any]])[0]["metrics"] as! [String: Double])
    }

    override func setUp() {
        work = temporaryFolder(self, "pipeline")
    }

    /// extend-vocab -> pretrain -> finetune -> evaluate -> generate, from a temporary directory: the
    /// tokenizer files are found next to the executable.
    func testEndToEnd() throws {
        // Works from any directory: the default tokenizer folder is found next to the executable.
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/model/vocab.json"))
        try writeTinyDataset(to: work + "/data")
        let ev = try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0")
        XCTAssertTrue(ev.out.contains("users 12, items 10"), ev.out)

        // A folder never trained: the untrained model next to the baselines.
        let untrained = try cli("evaluate", "rec", "--baseline", "popularity,ease", "--threads", "1")
        XCTAssertTrue(untrained.out.contains("not finetuned; scoring with the collaborative embeddings"), untrained.out)
        XCTAssertTrue(untrained.out.contains("popularity") && untrained.out.contains("ease (λ = 200)"), untrained.out)

        try cli("pretrain", "rec", "--warmup-epochs", "1", "--rounds", "1", "--batch", "4", "--accumulate", "1", "--threads", "1", "--lambda", "0.1")
        try cli("evaluate", "rec", "--threads", "1")
        let afterPretrain = try modelMetrics("rec/evaluation-test.json")
        let pretrained = try json("rec/training-pretrain.json")
        XCTAssertNotNil(pretrained["best_content_epoch"])

        try cli("finetune", "rec", "--epochs", "2", "--batch", "4", "--accumulate", "1", "--lr", "1e-2", "--threads", "1")
        try cli("evaluate", "rec", "--threads", "1")
        let finetuned = try modelMetrics("rec/evaluation-test.json")
        // --copy collaborative scores the collaborative tables (finetuning never changes them), not the
        // recommendation ones whatever the label says.
        let collab = try cli("evaluate", "rec", "--copy", "collaborative", "--threads", "1")
        XCTAssertTrue(collab.out.contains("cllm4rec (collaborative)"), collab.out)
        XCTAssertEqual(try modelMetrics("rec/evaluation-test.json"), afterPretrain)
        XCTAssertEqual(try json("rec/evaluation-test.json")["copy"] as? String, "collaborative")
        XCTAssertNotEqual(finetuned, afterPretrain)

        let top = try cli("generate", "rec", "--user", "100", "--top-k", "3", "--threads", "1")
        let listed = top.out.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.contains("(score") }
        XCTAssertEqual(listed.count, 3, top.out)
        let one = try cli("generate", "rec", "--history", "203", "--top-k", "2", "--threads", "1")
        XCTAssertTrue(one.out.contains("new user with 1 items"), one.out)
        XCTAssertFalse(one.out.contains(" 203 "), "the history's own item is left out:\n\(one.out)")
        let review = try cli("generate", "rec", "--review", "--user", "100", "--item", "203", "--max-new-tokens", "4", "--seed", "3", "--threads", "1")
        XCTAssertTrue(review.out.hasPrefix("review by user 100 of item 203"), review.out)

        // A folder that holds a recommender is not overwritten without --force, and --force replaces it whole.
        let again = try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0", expect: 1)
        XCTAssertTrue(again.err.contains("already holds a recommender: pass --force"), again.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: work + "/rec/checkpoint-finetune/checkpoint.safetensors"))
        try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0", "--force")
        let left = try FileManager.default.contentsOfDirectory(atPath: work + "/rec").sorted()
        XCTAssertEqual(left, ["corpora.bin", "dataset.json", "embeddings.safetensors", "ids.json", "recommender.json", "splits.json"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work).filter { $0.hasPrefix(".") }, [], "staging folders left behind")

        // A non-empty folder that is not a recommender is never replaced.
        let other = try cli("extend-vocab", "data", "--model", "model", "--output", "data", "--force", expect: 1)
        XCTAssertTrue(other.err.contains("holds no recommender"), other.err)
    }

    /// Held-out users, and a split written for other tools and read back.
    func testHeldoutUsersAndSharedSplits() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        let ev = try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0", "--heldout-users", "3",
                         "--export-split", "split")
        XCTAssertTrue(ev.out.contains("held out of training: 3 users"), ev.out)
        XCTAssertTrue(ev.out.contains("users 9, items 10"), ev.out)
        let files = try FileManager.default.contentsOfDirectory(atPath: work + "/split").sorted()
        XCTAssertEqual(files, ["tiny.heldout-foldin.inter", "tiny.heldout-test.inter", "tiny.test.inter", "tiny.train.inter", "tiny.valid.inter"])
        let held = try cli("evaluate", "rec", "--split", "heldout-users", "--fold-in-steps", "0,3", "--baseline", "popularity,ease", "--threads", "1")
        XCTAssertTrue(held.out.contains("split heldout-users: 3 users"), held.out)
        XCTAssertTrue(held.out.contains("cllm4rec, fold-in 0 steps") && held.out.contains("cllm4rec, fold-in 3 steps"), held.out)
        let results = try json("rec/evaluation-heldout-users.json")["results"] as! [[String: Any]]
        XCTAssertEqual(results.map { $0["name"] as! String }, ["cllm4rec, fold-in 0 steps", "cllm4rec, fold-in 3 steps", "popularity", "ease (λ = 200)"])
        XCTAssertNotNil(results[1]["fold_in_ms_per_user"] as? Double)
        // The exported split, read back: the same baselines to the last digit (their ranking does not
        // depend on how the tool numbers users and items).
        try cli("extend-vocab", "data", "--model", "model", "--output", "rec2", "--split-from", "split")
        try cli("evaluate", "rec", "--baseline", "popularity,ease", "--threads", "1")
        try cli("evaluate", "rec2", "--baseline", "popularity,ease", "--threads", "1")
        let a = try json("rec/evaluation-test.json")["results"] as! [[String: Any]]
        let b = try json("rec2/evaluation-test.json")["results"] as! [[String: Any]]
        XCTAssertEqual(a[1]["metrics"] as! [String: Double], b[1]["metrics"] as! [String: Double])
        XCTAssertEqual(a[2]["metrics"] as! [String: Double], b[2]["metrics"] as! [String: Double])
        let noHeld = try cli("evaluate", "rec2", "--split", "heldout-users", "--threads", "1", expect: 1)
        XCTAssertTrue(noHeld.err.contains("has no held-out users"), noHeld.err)
        let ds = try json("rec2/dataset.json")
        XCTAssertNotNil((ds["options"] as! [String: Any])["splitFrom"])
    }

    /// Cold items: made by extend-vocab, carried by the split files, ranked alone by evaluate with
    /// every rule in one pass and the three baselines; a folder without them is refused.
    func testColdItemsEvaluation() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        let ev = try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0", "--cold-items", "0.4",
                         "--export-split", "split")
        XCTAssertTrue(ev.out.contains("cold items: 2 for cold-items-val and 2 for cold-items"), ev.out)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work + "/split").sorted(),
                       ["tiny.cold-test.inter", "tiny.cold-valid.inter", "tiny.test.inter", "tiny.train.inter", "tiny.valid.inter"])
        let rules = ["trained", "content", "content-map", "text-map", "text-knn", "tfidf-map", "text-tfidf-map"]
        let cold = try cli("evaluate", "rec", "--split", "cold-items", "--k", "1", "--ndcg-k", "2", "--cold-rows", rules.joined(separator: ","),
                           "--cold-ridge", "0.5,2", "--threads", "1")
        XCTAssertTrue(cold.out.contains("2 items ranked"), cold.out)
        let results = try json("rec/evaluation-cold-items.json")["results"] as! [[String: Any]]
        XCTAssertEqual(results.map { $0["name"] as! String }, [
            "cllm4rec (collaborative, trained)", "cllm4rec (collaborative, content)",
            "cllm4rec (collaborative, content-map, ridge 0.5)", "cllm4rec (collaborative, content-map, ridge 2)",
            "cllm4rec (collaborative, text-map, ridge 0.5)", "cllm4rec (collaborative, text-map, ridge 2)",
            "cllm4rec (collaborative, text-knn)",
            "cllm4rec (collaborative, tfidf-map, ridge 0.5)", "cllm4rec (collaborative, tfidf-map, ridge 2)",
            "cllm4rec (collaborative, text-tfidf-map, ridge 0.5)", "cllm4rec (collaborative, text-tfidf-map, ridge 2)",
            "random (seed 98765)", "tfidf-knn", "llm-knn"])
        for r in results {
            let recall = (r["metrics"] as! [String: Double])["recall@1"]!
            XCTAssertTrue((0...1).contains(recall), "\(r)")
        }
        // The split read back from its files: the same cold items, so the same content baselines
        // to the last digit (they do not depend on how the tool numbers users and items).
        try cli("extend-vocab", "data", "--model", "model", "--output", "rec2", "--split-from", "split")
        try cli("evaluate", "rec2", "--split", "cold-items", "--k", "1", "--ndcg-k", "2", "--cold-rows", "trained", "--baseline", "tfidf-knn,llm-knn", "--threads", "1")
        let back = try json("rec2/evaluation-cold-items.json")["results"] as! [[String: Any]]
        XCTAssertEqual(back[1]["metrics"] as! [String: Double], results[12]["metrics"] as! [String: Double])
        XCTAssertEqual(back[2]["metrics"] as! [String: Double], results[13]["metrics"] as! [String: Double])
        // A split with cold items takes no second --cold-items; a folder without cold items cannot be asked about them.
        let twice = try cli("extend-vocab", "data", "--model", "model", "--output", "rec3", "--split-from", "split", "--cold-items", "0.2", expect: 1)
        XCTAssertTrue(twice.err.contains("already holds cold items"), twice.err)
        try cli("extend-vocab", "data", "--model", "model", "--output", "warm", "--kcore", "0")
        let none = try cli("evaluate", "warm", "--split", "cold-items-val", "--threads", "1", expect: 1)
        XCTAssertTrue(none.err.contains("has no cold items: make the folder with `extend-vocab --cold-items F`"), none.err)
    }

    /// An adapter made with --lora-rank goes on training only with the same rank; without the flag it
    /// is applied frozen and left as it was.
    func testAdapterIsTrainedOnlyWithLoRARank() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0")
        try cli("pretrain", "rec", "--warmup-epochs", "1", "--rounds", "0", "--batch", "8", "--accumulate", "1", "--lora-rank", "2", "--threads", "1")
        let adapter = work + "/rec/adapter/adapter_model.safetensors"
        let trained = try Data(contentsOf: URL(fileURLWithPath: adapter))
        let wrongRank = try cli("finetune", "rec", "--epochs", "1", "--batch", "8", "--lora-rank", "4", "--threads", "1", expect: 1)
        XCTAssertTrue(wrongRank.err.contains("has rank 2, not the --lora-rank 4 given"), wrongRank.err)
        let frozen = try cli("finetune", "rec", "--epochs", "1", "--batch", "8", "--threads", "1")
        XCTAssertTrue(frozen.out.contains("adapter/: rank 2, applied frozen"), frozen.out)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: adapter)), trained)
        let continued = try cli("finetune", "rec", "--epochs", "1", "--batch", "8", "--lora-rank", "2", "--threads", "1")
        XCTAssertTrue(continued.out.contains("adapter/: rank 2, continued"), continued.out)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: adapter)), trained)
        // The adapter, the embeddings and the summary are one commit: the same id in the adapter's
        // config, the summary and the folder's `.generation`, and nothing staged left behind.
        func json(_ file: String) throws -> [String: Any] {
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/rec/" + file))) as! [String: Any]
        }
        let generation = try String(contentsOfFile: work + "/rec/.generation", encoding: .utf8)
        XCTAssertEqual(try json("adapter/adapter_config.json")["cllm4rec_commit"] as? String, generation)
        XCTAssertEqual(try json("training-finetune.json")["commit"] as? String, generation)
        let left = try FileManager.default.contentsOfDirectory(atPath: work + "/rec").filter { $0.contains("staging") || $0.contains(".tmp-") || $0.contains("journal") }
        XCTAssertEqual(left, [])
    }

    /// A finished finetune continued with `--resume --extend-to 3` equals a 3-epoch run from the
    /// start (same seeds, same schedule), to the bit on one thread.
    func testExtendingAFinishedRunEqualsTheLongerRun() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0")
        try cli("pretrain", "rec", "--warmup-epochs", "0", "--rounds", "1", "--batch", "4", "--accumulate", "1", "--threads", "1")
        try FileManager.default.copyItem(atPath: work + "/rec", toPath: work + "/long")
        let common = ["--batch", "4", "--accumulate", "1", "--lr", "1e-2", "--lora-rank", "2", "--head-input", "standardized", "--content-every", "0", "--threads", "1"]
        try cli(["finetune", "long", "--epochs", "3"] + common)
        try cli(["finetune", "rec", "--epochs", "2"] + common)
        let short = try Data(contentsOf: URL(fileURLWithPath: work + "/rec/embeddings.safetensors"))
        let tooShort = try cli(["finetune", "rec", "--resume", "--extend-to", "1"] + common, expect: 1)
        XCTAssertTrue(tooShort.err.contains("has 2 epochs already"), tooShort.err)
        let noResume = try cli(["finetune", "rec", "--extend-to", "3"] + common, expect: 64)
        XCTAssertTrue(noResume.err.contains("give --resume too"), noResume.err)
        try cli(["finetune", "rec", "--resume", "--extend-to", "3"] + common)
        for file in ["embeddings.safetensors", "adapter/adapter_model.safetensors"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: work + "/rec/" + file)), try Data(contentsOf: URL(fileURLWithPath: work + "/long/" + file)), file)
        }
        _ = short
        // It trained on: the third epoch's validation is there, equal to the long run's.
        let extended = try json("rec/training-finetune.json"), long = try json("long/training-finetune.json")
        XCTAssertEqual(extended["epochs"] as? Int, long["epochs"] as? Int)
        XCTAssertEqual((extended["options"] as? [String: Any])?["epochs"] as? Int, 3)
        XCTAssertEqual(extended["last_validation"] as? [String: Double], long["last_validation"] as? [String: Double])
        XCTAssertNotNil(extended["last_validation"])
        let validated = try String(contentsOfFile: work + "/rec/metrics.jsonl", encoding: .utf8).split(separator: "\n").filter { $0.contains("\"stage\":\"finetune\"") && $0.contains("recall") }
        XCTAssertEqual(validated.count, 3, "validations of epochs 1, 2 and 3")
        XCTAssertEqual(extended["epochs"] as? Int, 3)
    }

    /// The split of ../shared/data/ml-100k-split gives its README's baseline figures (skipped
    /// without the data, which may not be committed).
    func testSharedMovieLensSplitFigures() throws {
        let shared = URL(fileURLWithPath: CLI.repo).deletingLastPathComponent().appendingPathComponent("shared/data").path
        guard FileManager.default.fileExists(atPath: shared + "/ml-100k-split/ml-100k.train.inter"),
              FileManager.default.fileExists(atPath: shared + "/ml-100k/ml-100k.inter") else { throw XCTSkip("shared MovieLens split not found") }
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try cli("extend-vocab", shared + "/ml-100k", "--model", "model", "--output", "rec", "--split-from", shared + "/ml-100k-split")
        let r = try cli("evaluate", "rec", "--baseline", "popularity,ease", "--batch", "256", "--threads", "2")
        let lines = r.out.split(separator: "\n")
        XCTAssertTrue(lines.contains { $0.hasPrefix("popularity ") && $0.hasSuffix("0.1953     0.2822     0.2009") }, r.out)
        XCTAssertTrue(lines.contains { $0.hasPrefix("ease (λ = 200) ") && $0.hasSuffix("0.3850     0.5210     0.3457") }, r.out)
    }
}
