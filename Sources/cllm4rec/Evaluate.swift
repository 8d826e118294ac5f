import ArgumentParser
import CLLM4Rec
import Foundation
import Tensor
import WeightIO

extension EvaluationSplit: ExpressibleByArgument {}
extension ColdRowRule: ExpressibleByArgument {}

/// The embeddings `evaluate` scores with.
enum ScoredCopy: String, ExpressibleByArgument, CaseIterable {
    case recommendation, collaborative
    var copy: IDEmbeddings.Copy { self == .recommendation ? .recommendation : .collaborative }
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
            cold-items / cold-items-val (folders made with `extend-vocab --cold-items F`): items no \
            training document ever showed; each user's interactions with the cold items of that half are \
            to be found among those items only (the item-cold-start protocol); the cold items' rows are \
            set by --cold-rows first, and the baselines are random, tfidf-knn (TF-IDF of the item texts, \
            a user's score = mean cosine to their training items) and llm-knn (the same with the \
            backbone's mean final hidden state over each item text, centred; no adapter). EASE and \
            popularity do not apply to items without interactions. Works on a folder that was never trained (the collaborative embeddings are then scored). \
            Written to evaluation-<split>.json.
            """)

    @Argument(help: "Recommender folder.")
    var recommender: String

    @Option(help: "test, val, or heldout-users.")
    var split: EvaluationSplit = .test

    @Option(help: "Baselines to report alongside, comma-separated: popularity (most popular in training), ease (EASE, --ease-lambda), random, tfidf-knn, llm-knn, or none (default: popularity; on the cold splits random,tfidf-knn,llm-knn).")
    var baseline: String?

    @Option(help: "cold-items splits: how the cold items' rows are set before scoring, comma-separated to compare several in one pass: trained (as training left them), content (their content rows), content-map or text-map (a ridge map fitted on the warm items from their content rows, or from the backbone's reading of their text), text-knn (the similarity-weighted mean row of the 20 warm items whose texts the backbone reads most alike), tfidf-map (a ridge map from the texts' TF-IDF: words, no LLM), text-tfidf-map (from both; the default, chosen on MovieLens cold-validation with the pretrained SmolLM2; with a random backbone tfidf-map scored higher, docs/cold-start.md).")
    var coldRows: String = ColdRowRule.textTFIDFMap.rawValue

    @Option(help: "The ridge penalty of the content-map and text-map rules, relative to the features' mean variance (> 0), comma-separated to compare several.")
    var coldRidge: String = "1"

    @Option(name: [.customLong("dump"), .customLong("dump-cold")],
            help: "test, val and cold-items splits: also write the evaluated users (users), their head inputs (head_inputs), the scored item table (item_table) and the backbone's reading of each item's text (item_text) to this safetensors file, for offline analysis (scores = head_inputs · item_tableᵀ; the users' prompts are the evaluation's).")
    var dump: String?

    func coldRules() throws -> [ColdRowRule] {
        try coldRows.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let r = ColdRowRule(rawValue: $0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--cold-rows takes \(ColdRowRule.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated (got \"\(coldRows)\")")
            }
            return r
        }
    }

    func coldRidges() throws -> [Double] {
        try coldRidge.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let v = Double($0.trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0 else {
                throw ValidationError("--cold-ridge takes positive numbers, comma-separated (got \"\(coldRidge)\")")
            }
            return v
        }
    }

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

    func baselines() throws -> [EvaluationBaseline] {
        let baseline = self.baseline ?? EvaluationBaseline.defaults(for: split).map(\.rawValue).joined(separator: ",")
        let chosen = try baseline.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let b = EvaluationBaseline(rawValue: $0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--baseline takes \(EvaluationBaseline.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated (got \"\(baseline)\")")
            }
            return b
        }
        return chosen
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
        _ = try coldRules()
        _ = try coldRidges()
        try FlagRules.inRange(1...100_000, batch, "--batch")
        try FlagRules.writableFile(dump, "--dump")
        if let problem = try request().problem() { throw ValidationError(problem) }
    }

    func request() throws -> EvaluationRequest {
        var r = EvaluationRequest()
        r.split = split
        r.recallAt = try FlagRules.cutoffs(k, "--k"); r.ndcgAt = try FlagRules.cutoffs(ndcgK, "--ndcg-k")
        r.batch = batch; r.copy = copy?.copy; r.baselines = try baselines(); r.easeLambda = easeLambda; r.seed = seed
        r.foldInSteps = try stepsList(); r.foldInLearningRate = foldIn.foldInLr
        r.coldRules = try coldRules(); r.coldRidges = try coldRidges(); r.dump = dump
        return r
    }

    func run() throws {
        try engine.apply()
        try Processes.run { try evaluate(processes: $0) }
    }

    /// The evaluation (the library's `LoadedRecommender.evaluate`), printed as a table and written
    /// to evaluation-<split>.json by the first process.
    func evaluate(processes: any Collective) throws {
        let rec = try LoadedRecommender(path: recommender)
        let request = try request()
        let progress = ProgressReporter(interval: 10)
        let outcome = try rec.evaluate(request, collective: processes) { message, fraction, force in
            progress.update(message, fraction: fraction, force: force)
        }
        for note in outcome.notes { print("note: \(note)") }
        let rows = outcome.rows
        let columns = request.recallAt.map { "recall@\($0)" } + request.ndcgAt.map { "ndcg@\($0)" }
        print("split \(split.rawValue): \(outcome.users) users with held-out items, \(outcome.itemsRanked) items ranked (model \(String(format: "%.1f", outcome.seconds)) s)")
        let width = max(28, rows.map(\.name.count).max()! + 2)
        print("model".padding(toLength: width, withPad: " ", startingAt: 0) + columns.map { $0.leftPad(11) }.joined()
              + (split == .heldoutUsers ? "  fold-in ms/user".leftPad(18) : ""))
        for row in rows {
            var line = row.name.padding(toLength: width, withPad: " ", startingAt: 0) + columns.map { String(format: "%.4f", row.report.values[$0] ?? 0).leftPad(11) }.joined()
            if let ms = row.extra["fold_in_ms_per_user"] as? Double { line += String(format: "%.1f", ms).leftPad(18) }
            print(line)
        }
        let v = rows[0].report.values
        if !split.isCold, let overlap = v[CollapseDiagnostic.overlapKey], let rank = v[CollapseDiagnostic.rankKey] {
            print(String(format: "collapse diagnostic: %.2f of each top 20 is in the most-popular top 20 (most popular itself: 1); head input: effective rank %.1f of %d channels, %.0f%% of its energy shared by all users",
                         overlap, rank, rec.model.width, 100 * (v[CollapseDiagnostic.sharedKey] ?? 0)))
        }
        guard processes.isRoot else { return }
        let out = rec.folder.file(EvaluationOutcome.fileName(split))
        try AtomicFile.write(path: out, bytes: try outcome.json())
        print("wrote \(out)")
    }
}


/// The fold-in learning rate, shared by `evaluate` and `generate`.
struct FoldInRate: ParsableArguments {
    @Option(help: "Adam learning rate of fold-in (> 0).")
    var foldInLr: Float = FoldInOptions().learningRate

    func validate() throws { try FlagRules.positive(foldInLr, "--fold-in-lr") }
}
