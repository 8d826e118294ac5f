import ArgumentParser
import CLLM4Rec
import Foundation
import WeightIO

/// `cllm4rec evaluate`: full-ranking metrics on a split, next to the popularity baseline.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recall@K and NDCG@K over all items, training items excluded.",
        discussion: """
            Each user with held-out items gets the prompt of all their training items (shuffled), the \
            recommendation head scores every item, training items are excluded, and Recall@K = hits in the \
            top K / min(K, |held out|), NDCG@K with IDCG over min(K, |held out|) positions, averaged over \
            users (docs/CLLM4REC.md §7). Written to evaluation-<split>.json.
            """)

    @Argument(help: "Recommender folder.")
    var recommender: String

    @Option(help: "test or val.")
    var split: String = "test"

    @Option(help: "Baselines to report alongside, comma-separated: popularity (most popular in training), ease (EASE, λ = 200), or none.")
    var baseline: String = "popularity"

    @Option(help: "Cut-offs for Recall, comma-separated.")
    var k: String = "20,40"

    @Option(help: "Cut-offs for NDCG, comma-separated.")
    var ndcgK: String = "100"

    @Option(help: "Embeddings to score with: recommendation (after finetuning) or collaborative.")
    var copy: String?

    @Option(help: "Users scored per forward pass.")
    var batch: Int = 32

    @Option(help: "Seed of the prompts' item order.")
    var seed: UInt64 = 98765

    @OptionGroup var engine: EngineOptions

    /// "20,40" -> [20, 40]; anything but positive integers is refused, naming the flag.
    func cutoffs(_ list: String, flag: String) throws -> [Int] {
        try list.split(separator: ",").map { s -> Int in
            guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v > 0 else { throw ValidationError("\(flag) takes positive integers") }
            return v
        }
    }

    func run() throws {
        try engine.apply()
        let recallAt = try cutoffs(k, flag: "--k"), ndcgAt = try cutoffs(ndcgK, flag: "--ndcg-k")
        guard ["test", "val", "validation"].contains(split) else { throw ValidationError("--split must be test or val") }
        let baselines = baseline.split(separator: ",").map(String.init)
        for b in baselines where !["popularity", "ease", "none"].contains(b) { throw ValidationError("--baseline takes popularity, ease or none") }
        let rec = try LoadedRecommender(path: recommender)
        let embeddingsCopy: IDEmbeddings.Copy
        if let copy {
            guard let c = IDEmbeddings.Copy(rawValue: copy), c != .content else { throw ValidationError("--copy must be recommendation or collaborative") }
            embeddingsCopy = c
        } else {
            embeddingsCopy = rec.model.embeddings.has(.recommendation) ? .recommendation : .collaborative
        }
        if !rec.model.embeddings.has(embeddingsCopy) { throw CLIError("\(recommender) has no \(embeddingsCopy.rawValue) embeddings; run finetune first") }
        if embeddingsCopy == .collaborative && !rec.model.embeddings.has(.recommendation) {
            rec.model.embeddings.copy(.collaborative, to: .recommendation)  // score with the collaborative tables (not finetuned)
        }
        let relevant = split == "test" ? rec.dataset.test : rec.dataset.validation
        let evaluator = Evaluator(recallAt: recallAt, ndcgAt: ndcgAt, batch: batch)
        let progress = ProgressReporter(interval: 10)
        let started = Date()
        let report = evaluator.evaluate(model: rec.model, corpora: rec.corpora, dataset: rec.dataset, relevant: relevant,
                                        copy: .recommendation, seed: seed) { done, total in
            progress.update("evaluating \(done)/\(total) users", fraction: Double(done) / Double(max(total, 1)), force: done == total)
        }
        let seconds = Date().timeIntervalSince(started)
        let columns = recallAt.map { "recall@\($0)" } + ndcgAt.map { "ndcg@\($0)" }
        var rows: [(String, MetricReport)] = [("cllm4rec (\(embeddingsCopy.rawValue))", report)]
        if baselines.contains("popularity") { rows.append(("popularity", evaluator.popularity(dataset: rec.dataset, relevant: relevant))) }
        if baselines.contains("ease") { rows.append(("ease", evaluator.ease(dataset: rec.dataset, relevant: relevant))) }
        print("split \(split): \(report.users) users with held-out items, \(rec.dataset.items.count) items ranked (\(String(format: "%.1f", seconds)) s)")
        print("model".padding(toLength: 28, withPad: " ", startingAt: 0) + columns.map { $0.leftPad(11) }.joined())
        for (name, r) in rows {
            print(name.padding(toLength: 28, withPad: " ", startingAt: 0) + columns.map { String(format: "%.4f", r.values[$0] ?? 0).leftPad(11) }.joined())
        }
        var json: [String: Any] = ["split": split, "users": report.users, "seconds": seconds, "copy": embeddingsCopy.rawValue]
        for (name, r) in rows { json[name.hasPrefix("cllm4rec") ? "cllm4rec" : name] = r.values }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        let out = rec.folder.file("evaluation-\(split == "validation" ? "val" : split).json")
        try AtomicFile.write(path: out, bytes: Array(data) + [0x0A])
        print("wrote \(out)")
    }
}
