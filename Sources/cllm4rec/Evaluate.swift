import ArgumentParser
import CLLM4Rec
import Foundation
import WeightIO

/// The splits `evaluate` scores.
enum EvaluationSplit: String, ExpressibleByArgument, CaseIterable {
    case test, val
    case heldoutUsers = "heldout-users"
}

/// The embeddings `evaluate` scores with.
enum ScoredCopy: String, ExpressibleByArgument, CaseIterable {
    case recommendation, collaborative
    var copy: IDEmbeddings.Copy { self == .recommendation ? .recommendation : .collaborative }
}

/// The baselines `evaluate` can print next to the model.
enum Baseline: String, CaseIterable {
    case popularity, ease, none
}

/// `cllm4rec evaluate`: full-ranking metrics on a split, next to the popularity baseline.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recall@K and NDCG@K over all items, the user's own items excluded.",
        discussion: """
            test / val: each user with held-out items gets the prompt of all their training items \
            (shuffled), the recommendation head scores every item, training items are excluded, and \
            Recall@K = hits in the top K / min(K, |held out|), NDCG@K with IDCG over min(K, |held out|) \
            positions, averaged over users (docs/CLLM4REC.md §7). heldout-users (folders made with \
            `extend-vocab --heldout-users N`): users the model never saw; 80% of each one's items are \
            folded in (--fold-in-steps, --fold-in-lr; nothing is retrained) and the other 20% are to be \
            found ("strong generalization", Liang et al. 2018); popularity and EASE see the same 80%. \
            Works on a folder that was never trained (the collaborative embeddings are then scored). \
            Written to evaluation-<split>.json.
            """)

    @Argument(help: "Recommender folder.")
    var recommender: String

    @Option(help: "test, val, or heldout-users.")
    var split: EvaluationSplit = .test

    @Option(help: "Baselines to report alongside, comma-separated: popularity (most popular in training), ease (EASE, --ease-lambda), or none.")
    var baseline: String = "popularity"

    @Option(help: "EASE's L2 regularization λ (> 0; 200 in the reference anchors, near 500 is best on MovieLens-1M).")
    var easeLambda: Double = 200

    @Option(help: "Cut-offs for Recall, comma-separated.")
    var k: String = "20,40"

    @Option(help: "Cut-offs for NDCG, comma-separated.")
    var ndcgK: String = "100"

    @Option(help: "Embeddings to score with: recommendation (after finetuning; the default when present) or collaborative.")
    var copy: ScoredCopy?

    @Option(help: "Users scored per forward pass (>= 1).")
    var batch: Int = 32

    @Option(help: "Seed of the prompts' item order (and of fold-in).")
    var seed: UInt64 = 98765

    @Option(help: "heldout-users: Adam steps that fit each new user's embedding, comma-separated for one row each (0: the mean user).")
    var foldInSteps: String = "0,\(FoldInOptions().steps)"

    @OptionGroup var foldIn: FoldInRate

    @OptionGroup var engine: EngineOptions

    func baselines() throws -> [Baseline] {
        try baseline.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let b = Baseline(rawValue: $0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--baseline takes popularity, ease or none, comma-separated (got \"\(baseline)\")")
            }
            return b
        }
    }

    func stepsList() throws -> [Int] {
        try foldInSteps.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let v = Int($0.trimmingCharacters(in: .whitespaces)), (0...10_000).contains(v) else {
                throw ValidationError("--fold-in-steps takes comma-separated integers in 0...10000 (got \"\(foldInSteps)\")")
            }
            return v
        }
    }

    func validate() throws {
        _ = try FlagRules.cutoffs(k, "--k")
        _ = try FlagRules.cutoffs(ndcgK, "--ndcg-k")
        _ = try baselines()
        _ = try stepsList()
        try FlagRules.positive(easeLambda, "--ease-lambda")
        try FlagRules.inRange(1...100_000, batch, "--batch")
    }

    func run() throws {
        try engine.apply()
        try Processes.run { try evaluate(processes: $0) }
    }

    /// The evaluation; under mpirun the model's users are dealt out over the processes (held-out
    /// users and the baselines are computed by every process alike).
    func evaluate(processes: any Collective) throws {
        let recallAt = try FlagRules.cutoffs(k, "--k"), ndcgAt = try FlagRules.cutoffs(ndcgK, "--ndcg-k")
        let baselines = try baselines()
        let rec = try LoadedRecommender(path: recommender)
        let d = rec.dataset
        let scored: IDEmbeddings.Copy = copy?.copy ?? (rec.model.embeddings.has(.recommendation) ? .recommendation : .collaborative)
        guard rec.model.embeddings.has(scored) else { throw CLIError("\(recommender) has no \(scored.rawValue) embeddings; run finetune first") }
        if copy == nil && scored == .collaborative { print("note: \(recommender) is not finetuned; scoring with the collaborative embeddings") }
        let histories: [[Int]], relevant: [[Int]]
        switch split {
        case .test: (histories, relevant) = (d.train, d.test)
        case .val: (histories, relevant) = (d.train, d.validation)
        case .heldoutUsers:
            guard !d.heldout.users.isEmpty else {
                throw CLIError("\(recommender) has no held-out users: make the folder with `extend-vocab --heldout-users N`")
            }
            (histories, relevant) = (d.heldout.foldIn, d.heldout.test)
        }
        let evaluator = Evaluator(recallAt: recallAt, ndcgAt: ndcgAt, batch: batch)
        let progress = ProgressReporter(interval: 10)
        var rows: [(name: String, report: MetricReport, extra: [String: Any])] = []
        let started = Date()
        if split == .heldoutUsers {
            // Fold-in fits the recommendation table: score the named copy through it.
            // (raw: a standardization belongs to the recommendation copy's item rows, not to the copy scored here).
            if scored != .recommendation { rec.model.embeddings.copy(scored, to: .recommendation); rec.model.embeddings.headInput = nil }
            for steps in try stepsList() {
                let options = FoldInOptions(steps: steps, learningRate: foldIn.foldInLr)
                let (report, perUser) = evaluator.evaluateNewUsers(model: rec.model, corpora: rec.corpora, histories: histories, relevant: relevant,
                                                                   foldIn: options, seed: seed) { done, total in
                    progress.update("fold-in (\(steps) steps) \(done)/\(total) users", fraction: Double(done) / Double(max(total, 1)), force: done == total)
                }
                rows.append(("cllm4rec, fold-in \(steps) steps", report,
                             ["fold_in_steps": steps, "fold_in_lr": Double(foldIn.foldInLr), "fold_in_ms_per_user": perUser * 1000]))
            }
        } else {
            let report = evaluator.evaluate(model: rec.model, corpora: rec.corpora, dataset: d, relevant: relevant, copy: scored,
                                            seed: seed, collective: processes) { done, total in
                progress.update("evaluating \(done)/\(total) users", fraction: Double(done) / Double(max(total, 1)), force: done == total)
            }
            rows.append(("cllm4rec (\(scored.rawValue))", report, [:]))
        }
        let modelSeconds = Date().timeIntervalSince(started)
        if baselines.contains(.popularity) {
            rows.append(("popularity", evaluator.popularity(train: d.train, itemIds: d.items, histories: histories, relevant: relevant), [:]))
        }
        if baselines.contains(.ease) {
            let t0 = Date()
            let ease = try EASE(train: d.train, items: d.items.count, lambda: easeLambda)
            let fit = Date().timeIntervalSince(t0)
            rows.append(("ease (λ = \(formatted(easeLambda)))", evaluator.ease(ease, histories: histories, relevant: relevant),
                         ["lambda": easeLambda, "fit_seconds": fit]))
        }
        let users = rows[0].report.users
        let columns = recallAt.map { "recall@\($0)" } + ndcgAt.map { "ndcg@\($0)" }
        print("split \(split.rawValue): \(users) users with held-out items, \(d.items.count) items ranked (model \(String(format: "%.1f", modelSeconds)) s)")
        let width = max(28, rows.map(\.name.count).max()! + 2)
        print("model".padding(toLength: width, withPad: " ", startingAt: 0) + columns.map { $0.leftPad(11) }.joined()
              + (split == .heldoutUsers ? "  fold-in ms/user".leftPad(18) : ""))
        for (name, r, extra) in rows {
            var line = name.padding(toLength: width, withPad: " ", startingAt: 0) + columns.map { String(format: "%.4f", r.values[$0] ?? 0).leftPad(11) }.joined()
            if let ms = extra["fold_in_ms_per_user"] as? Double { line += String(format: "%.1f", ms).leftPad(18) }
            print(line)
        }
        let v = rows[0].report.values
        if let overlap = v[CollapseDiagnostic.overlapKey], let rank = v[CollapseDiagnostic.rankKey] {
            print(String(format: "collapse diagnostic: %.2f of each top 20 is in the most-popular top 20 (most popular itself: 1); head input: effective rank %.1f of %d channels, %.0f%% of its energy shared by all users",
                         overlap, rank, rec.model.width, 100 * (v[CollapseDiagnostic.sharedKey] ?? 0)))
        }
        guard processes.isRoot else { return }
        var json: [String: Any] = ["split": split.rawValue, "users": users, "seconds": modelSeconds, "copy": scored.rawValue]
        if processes.isDistributed { json["processes"] = processes.size }
        var models: [[String: Any]] = []
        for (name, r, extra) in rows {
            var entry = extra
            entry["name"] = name
            entry["metrics"] = r.values
            models.append(entry)
        }
        json["results"] = models
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        let out = rec.folder.file("evaluation-\(split.rawValue).json")
        try AtomicFile.write(path: out, bytes: Array(data) + [0x0A])
        print("wrote \(out)")
    }
}

/// 200.0 -> "200", 0.5 -> "0.5".
func formatted(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }

/// The fold-in learning rate, shared by `evaluate` and `generate`.
struct FoldInRate: ParsableArguments {
    @Option(help: "Adam learning rate of fold-in (> 0).")
    var foldInLr: Float = FoldInOptions().learningRate

    func validate() throws { try FlagRules.positive(foldInLr, "--fold-in-lr") }
}
