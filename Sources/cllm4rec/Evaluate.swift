import ArgumentParser
import CLLM4Rec
import Foundation
import Tensor
import WeightIO

/// The splits `evaluate` scores.
enum EvaluationSplit: String, ExpressibleByArgument, CaseIterable {
    case test, val
    case heldoutUsers = "heldout-users"
    case coldItems = "cold-items"
    case coldItemsVal = "cold-items-val"

    var isCold: Bool { self == .coldItems || self == .coldItemsVal }
}

extension ColdRowRule: ExpressibleByArgument {}

/// The embeddings `evaluate` scores with.
enum ScoredCopy: String, ExpressibleByArgument, CaseIterable {
    case recommendation, collaborative
    var copy: IDEmbeddings.Copy { self == .recommendation ? .recommendation : .collaborative }
}

/// The baselines `evaluate` can print next to the model.
enum Baseline: String, CaseIterable {
    case popularity, ease, random, none
    case tfidfKNN = "tfidf-knn"
    case llmKNN = "llm-knn"
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

    @Option(help: "cold-items splits: also write the evaluated users' head inputs, the item text embeddings and the scored item table to this safetensors file (for analysis of other rules).")
    var dumpCold: String?

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

    func baselines() throws -> [Baseline] {
        let baseline = self.baseline ?? (split.isCold ? "random,tfidf-knn,llm-knn" : "popularity")
        let chosen = try baseline.split(separator: ",", omittingEmptySubsequences: false).map {
            guard let b = Baseline(rawValue: $0.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--baseline takes \(Baseline.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated (got \"\(baseline)\")")
            }
            return b
        }
        let coldOnly: Set<Baseline> = [.random, .tfidfKNN, .llmKNN]
        if !split.isCold, let b = chosen.first(where: { coldOnly.contains($0) }) {
            throw ValidationError("--baseline \(b.rawValue) is a cold-start baseline: use it with --split cold-items or cold-items-val")
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
        if dumpCold != nil && !split.isCold { throw ValidationError("--dump-cold is for --split cold-items or cold-items-val") }
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
        case .coldItems, .coldItemsVal:
            guard let cold = d.cold else {
                throw CLIError("\(recommender) has no cold items: make the folder with `extend-vocab --cold-items F`")
            }
            (histories, relevant) = (d.train, split == .coldItems ? cold.test : cold.validation)
        }
        var evaluator = Evaluator(recallAt: recallAt, ndcgAt: ndcgAt, batch: batch)
        var textFeatures: ItemFeatures? = nil
        // The cold splits: one item table per (rule, ridge), all scored from the same forward pass.
        var coldVariants: [(name: String, table: [Float], extra: [String: Any])] = []
        if split.isCold, let cold = d.cold {
            let candidates = split == .coldItems ? cold.testItems : cold.validationItems
            evaluator.rankOnly(candidates, of: d.items.count)
            let rules = try coldRules()
            var textSeconds = 0.0
            if rules.contains(where: \.needsTextEmbeddings) || baselines.contains(.llmKNN) {
                let t0 = Date()
                textFeatures = ItemTextEmbeddings.compute(model: rec.model, corpora: rec.corpora)
                textSeconds = Date().timeIntervalSince(t0)
            }
            let coldList = cold.allItems.sorted(), warm = d.itemsWithTrainingInteractions()
            let table = rec.model.embeddings.item(scored), count = d.items.count * rec.model.width
            let original = Array(UnsafeBufferPointer(start: table, count: count))
            for rule in rules {
                for ridge in rule.hasRidge ? try coldRidges() : [0] {
                    try rec.model.setColdRows(coldList, warmItems: warm, rule: rule, copy: scored, ridge: ridge, textFeatures: textFeatures,
                                              itemTexts: d.itemText)
                    var extra: [String: Any] = ["cold_rows": rule.rawValue]
                    if ridge > 0 { extra["cold_ridge"] = ridge }
                    if rule.needsTextEmbeddings { extra["text_embedding_seconds"] = textSeconds }
                    coldVariants.append(("cllm4rec (\(scored.rawValue), \(rule.rawValue)" + (ridge > 0 ? ", ridge \(formatted(ridge))" : "") + ")",
                                         Array(UnsafeBufferPointer(start: table, count: count)), extra))
                    table.update(from: original, count: count)
                }
            }
        }
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
        } else if split.isCold {
            var inputs: [(user: Int, h: [Float])] = []
            let reports = evaluator.evaluate(model: rec.model, corpora: rec.corpora, dataset: d, relevant: relevant, copy: scored,
                                             itemTables: coldVariants.map(\.table), seed: seed, collective: processes,
                                             headInputs: dumpCold == nil ? nil : { inputs.append(($0, Array($1))) }) { done, total in
                progress.update("evaluating \(done)/\(total) users", fraction: Double(done) / Double(max(total, 1)), force: done == total)
            }
            for (v, report) in zip(coldVariants, reports) { rows.append((v.name, report, v.extra)) }
            if let dumpCold {
                let w = rec.model.width, j = d.items.count
                var tensors: [(name: String, tensor: FloatTensor)] = [
                    ("users", FloatTensor(shape: [inputs.count], values: inputs.map { Float($0.user) })),
                    ("head_inputs", FloatTensor(shape: [inputs.count, w], values: inputs.flatMap(\.h))),
                    ("item_table", FloatTensor(shape: [j, w], values: Array(UnsafeBufferPointer(start: rec.model.embeddings.item(scored), count: j * w)))),
                ]
                if let f = textFeatures { tensors.append(("item_text", FloatTensor(shape: [j, f.width], values: f.values))) }
                try SafeTensorsWriter.write(tensors, to: dumpCold)
                print("wrote \(dumpCold)")
            }
        } else {
            let report = evaluator.evaluate(model: rec.model, corpora: rec.corpora, dataset: d, relevant: relevant, copy: scored,
                                            seed: seed, collective: processes) { done, total in
                progress.update("evaluating \(done)/\(total) users", fraction: Double(done) / Double(max(total, 1)), force: done == total)
            }
            rows.append(("cllm4rec (\(scored.rawValue))", report, [:]))
        }
        let modelSeconds = Date().timeIntervalSince(started)
        if split.isCold {
            if baselines.contains(.random) {
                var rng = SplitMix64(seed: seed)
                rows.append(("random (seed \(seed))", evaluator.evaluate(items: d.items.count, histories: histories, relevant: relevant) { _, out in
                    for j in 0..<out.count { out[j] = Float(rng.next() >> 40) }
                }, ["seed": Int(seed)]))
            }
            if baselines.contains(.tfidfKNN) {
                let v = TFIDF.vectors(d.itemText)
                rows.append(("tfidf-knn", evaluator.evaluate(items: d.items.count, histories: histories, relevant: relevant) { h, out in
                    ContentKNN.scores(sparse: v, history: h, into: out)
                }, [:]))
            }
            if baselines.contains(.llmKNN), let f = textFeatures?.centredUnitRows() {
                rows.append(("llm-knn", evaluator.evaluate(items: d.items.count, histories: histories, relevant: relevant) { h, out in
                    ContentKNN.scores(dense: f, history: h, into: out)
                }, [:]))
            }
            if baselines.contains(.popularity) || baselines.contains(.ease) {
                print("note: popularity and EASE do not apply to cold items (no interactions: every cold item scores the same); see random")
            }
        }
        if baselines.contains(.popularity) && !split.isCold {
            rows.append(("popularity", evaluator.popularity(train: d.train, itemIds: d.items, histories: histories, relevant: relevant), [:]))
        }
        if baselines.contains(.ease) && !split.isCold {
            let t0 = Date()
            let ease = try EASE(train: d.train, items: d.items.count, lambda: easeLambda)
            let fit = Date().timeIntervalSince(t0)
            rows.append(("ease (λ = \(formatted(easeLambda)))", evaluator.ease(ease, histories: histories, relevant: relevant),
                         ["lambda": easeLambda, "fit_seconds": fit]))
        }
        let users = rows[0].report.users
        let columns = recallAt.map { "recall@\($0)" } + ndcgAt.map { "ndcg@\($0)" }
        let ranked = d.items.count - evaluator.neverRankedCount
        print("split \(split.rawValue): \(users) users with held-out items, \(ranked) items ranked (model \(String(format: "%.1f", modelSeconds)) s)")
        let width = max(28, rows.map(\.name.count).max()! + 2)
        print("model".padding(toLength: width, withPad: " ", startingAt: 0) + columns.map { $0.leftPad(11) }.joined()
              + (split == .heldoutUsers ? "  fold-in ms/user".leftPad(18) : ""))
        for (name, r, extra) in rows {
            var line = name.padding(toLength: width, withPad: " ", startingAt: 0) + columns.map { String(format: "%.4f", r.values[$0] ?? 0).leftPad(11) }.joined()
            if let ms = extra["fold_in_ms_per_user"] as? Double { line += String(format: "%.1f", ms).leftPad(18) }
            print(line)
        }
        let v = rows[0].report.values
        if !split.isCold, let overlap = v[CollapseDiagnostic.overlapKey], let rank = v[CollapseDiagnostic.rankKey] {
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
