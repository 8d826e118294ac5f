import Foundation
import RecData
import Tensor
import WeightIO

/// The splits an evaluation scores.
public enum EvaluationSplit: String, CaseIterable, Sendable {
    case test, val
    case heldoutUsers = "heldout-users"
    case coldItems = "cold-items"
    case coldItemsVal = "cold-items-val"

    public var isCold: Bool { self == .coldItems || self == .coldItemsVal }
}

/// The baselines an evaluation can score next to the model.
public enum EvaluationBaseline: String, CaseIterable, Sendable {
    case popularity, ease, random, none
    case tfidfKNN = "tfidf-knn"
    case llmKNN = "llm-knn"

    /// Baselines that only make sense on the cold splits.
    public static let coldOnly: Set<EvaluationBaseline> = [.random, .tfidfKNN, .llmKNN]
    /// What a split reports when none is named.
    public static func defaults(for split: EvaluationSplit) -> [EvaluationBaseline] {
        split.isCold ? [.random, .tfidfKNN, .llmKNN] : [.popularity]
    }
}

/// What `evaluate` is asked: the split, the cut-offs, the copy scored, the baselines, and the
/// fold-in (held-out users) and cold-row (cold items) settings.
public struct EvaluationRequest: Sendable {
    public var split: EvaluationSplit = .test
    public var recallAt = [20, 40]
    public var ndcgAt = [100]
    /// Users scored per forward pass.
    public var batch = 32
    /// The embeddings scored; nil: the recommendation copy when the folder was finetuned, else the
    /// collaborative one (said in a note).
    public var copy: IDEmbeddings.Copy? = nil
    public var baselines: [EvaluationBaseline] = [.popularity]
    public var easeLambda: Double = 200
    /// Seed of the prompts' item order, of fold-in and of the random baseline.
    public var seed: UInt64 = 98765
    /// heldout-users: one row per number of fold-in steps.
    public var foldInSteps = [0, FoldInOptions().steps]
    public var foldInLearningRate = FoldInOptions().learningRate
    /// Cold splits: one row per (rule, ridge), all from one forward pass.
    public var coldRules: [ColdRowRule] = [.textTFIDFMap]
    public var coldRidges: [Double] = [1]
    /// Test, val and cold splits: the users, head inputs, item text embeddings and scored item table
    /// written here (safetensors), for offline analysis.
    public var dump: String? = nil

    public init() {}

    /// A request the evaluation would refuse, said before any work.
    public func problem() -> String? {
        if !split.isCold, let b = baselines.first(where: { EvaluationBaseline.coldOnly.contains($0) }) {
            return "--baseline \(b.rawValue) is a cold-start baseline: use it with --split cold-items or cold-items-val"
        }
        if dump != nil && split == .heldoutUsers { return "--dump is for --split test, val, cold-items or cold-items-val (held-out users are folded in, not prompted)" }
        return nil
    }
}

/// One row of an evaluation: the model (one per fold-in step count or cold rule) or a baseline.
public struct EvaluationRow: @unchecked Sendable {
    public var name: String
    public var report: MetricReport
    /// Settings and timings written next to the metrics (`fold_in_steps`, `cold_rows`, `lambda`, ...).
    public var extra: [String: Any]
}

/// An evaluation's result, as `evaluate` prints it and writes `evaluation-<split>.json`.
public struct EvaluationOutcome: @unchecked Sendable {
    public var split: EvaluationSplit
    public var copy: IDEmbeddings.Copy
    public var rows: [EvaluationRow]
    /// Users with held-out items (the first row's), and items ranked per user.
    public var users: Int
    public var itemsRanked: Int
    /// Seconds spent scoring the model (baselines excluded).
    public var seconds: Double
    public var processes: Int
    /// Things the reader should know (a copy chosen for them, baselines that do not apply, files written).
    public var notes: [String]

    /// `evaluation-<split>.json`.
    public func json() throws -> [UInt8] {
        var json: [String: Any] = ["split": split.rawValue, "users": users, "seconds": seconds, "copy": copy.rawValue]
        if processes > 1 { json["processes"] = processes }
        json["results"] = rows.map { row -> [String: Any] in
            var entry = row.extra
            entry["name"] = row.name
            entry["metrics"] = row.report.values
            return entry
        }
        return Array(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])) + [0x0A]
    }

    public static func fileName(_ split: EvaluationSplit) -> String { "evaluation-\(split.rawValue).json" }
}

extension LoadedRecommender {
    /// The evaluation of this folder (docs/CLLM4REC.md §7; cold splits: docs/cold-start.md). Under
    /// mpirun the known users are dealt out over the processes; held-out users and the baselines are
    /// computed by every process alike. `progress(message, fraction, force)` reports as it goes.
    public func evaluate(_ request: EvaluationRequest, collective: any Collective = SingleProcess(),
                         progress: ((String, Double, Bool) -> Void)? = nil) throws -> EvaluationOutcome {
        if let problem = request.problem() { throw RecommenderError(problem) }
        let d = dataset, path = folder.path, split = request.split
        var notes: [String] = []
        let scored = request.copy ?? (model.embeddings.has(.recommendation) ? .recommendation : .collaborative)
        guard model.embeddings.has(scored) else { throw RecommenderError("\(path) has no \(scored.rawValue) embeddings; run finetune first") }
        if request.copy == nil && scored == .collaborative { notes.append("\(path) is not finetuned; scoring with the collaborative embeddings") }
        let histories: [[Int]], relevant: [[Int]]
        switch split {
        case .test: (histories, relevant) = (d.train, d.test)
        case .val: (histories, relevant) = (d.train, d.validation)
        case .heldoutUsers:
            guard !d.heldout.users.isEmpty else {
                throw RecommenderError("\(path) has no held-out users: make the folder with `extend-vocab --heldout-users N`")
            }
            (histories, relevant) = (d.heldout.foldIn, d.heldout.test)
        case .coldItems, .coldItemsVal:
            guard let cold = d.cold else {
                throw RecommenderError("\(path) has no cold items: make the folder with `extend-vocab --cold-items F`")
            }
            (histories, relevant) = (d.train, split == .coldItems ? cold.test : cold.validation)
        }
        let baselines = Set(request.baselines)
        var evaluator = Evaluator(recallAt: request.recallAt, ndcgAt: request.ndcgAt, batch: request.batch)
        func counting(_ what: String) -> (Int, Int) -> Void {
            { done, total in progress?("\(what) \(done)/\(total) users", Double(done) / Double(max(total, 1)), done == total) }
        }

        var textFeatures: ItemFeatures? = nil
        // The cold splits: one item table per (rule, ridge), all scored from the same forward pass.
        var coldVariants: [(name: String, table: [Float], extra: [String: Any])] = []
        if split.isCold, let cold = d.cold {
            evaluator.rankOnly(split == .coldItems ? cold.testItems : cold.validationItems, of: d.items.count)
            var textSeconds = 0.0
            if request.coldRules.contains(where: \.needsTextEmbeddings) || baselines.contains(.llmKNN) {
                let t0 = Date()
                textFeatures = ItemTextEmbeddings.compute(model: model, corpora: corpora)
                textSeconds = Date().timeIntervalSince(t0)
            }
            let coldList = cold.allItems.sorted(), warm = d.itemsWithTrainingInteractions()
            let table = model.embeddings.item(scored), count = d.items.count * model.width
            let original = Array(UnsafeBufferPointer(start: table, count: count))
            for rule in request.coldRules {
                for ridge in rule.hasRidge ? request.coldRidges : [0] {
                    try model.setColdRows(coldList, warmItems: warm, rule: rule, copy: scored, ridge: ridge, textFeatures: textFeatures,
                                          itemTexts: d.itemText)
                    var extra: [String: Any] = ["cold_rows": rule.rawValue]
                    if ridge > 0 { extra["cold_ridge"] = ridge }
                    if rule.needsTextEmbeddings { extra["text_embedding_seconds"] = textSeconds }
                    coldVariants.append(("cllm4rec (\(scored.rawValue), \(rule.rawValue)" + (ridge > 0 ? ", ridge \(shortNumber(ridge))" : "") + ")",
                                         Array(UnsafeBufferPointer(start: table, count: count)), extra))
                    table.update(from: original, count: count)
                }
            }
        }

        var rows: [EvaluationRow] = []
        let started = Date()
        if split == .heldoutUsers {
            // Fold-in fits the recommendation table: score the named copy through it
            // (raw: a standardization belongs to the recommendation copy's item rows, not to the copy scored here).
            if scored != .recommendation { model.embeddings.copy(scored, to: .recommendation); model.embeddings.headInput = nil }
            for steps in request.foldInSteps {
                let options = FoldInOptions(steps: steps, learningRate: request.foldInLearningRate)
                let (report, perUser) = evaluator.evaluateNewUsers(model: model, corpora: corpora, histories: histories, relevant: relevant,
                                                                   foldIn: options, seed: request.seed, progress: counting("fold-in (\(steps) steps)"))
                rows.append(EvaluationRow(name: "cllm4rec, fold-in \(steps) steps", report: report,
                                          extra: ["fold_in_steps": steps, "fold_in_lr": Double(request.foldInLearningRate), "fold_in_ms_per_user": perUser * 1000]))
            }
        } else if split.isCold {
            var inputs: [(user: Int, h: [Float])] = []
            let reports = evaluator.evaluate(model: model, corpora: corpora, dataset: d, relevant: relevant, copy: scored,
                                             itemTables: coldVariants.map(\.table), seed: request.seed, collective: collective,
                                             headInputs: request.dump == nil ? nil : { inputs.append(($0, Array($1))) },
                                             progress: counting("evaluating"))
            for (v, report) in zip(coldVariants, reports) { rows.append(EvaluationRow(name: v.name, report: report, extra: v.extra)) }
            if let dump = request.dump {
                try writeDump(dump, inputs: inputs, copy: scored, textFeatures: textFeatures)
                notes.append("wrote \(dump)")
            }
        } else {
            var inputs: [(user: Int, h: [Float])] = []
            let report = evaluator.evaluate(model: model, corpora: corpora, dataset: d, relevant: relevant, copy: scored,
                                            itemTables: [nil], seed: request.seed, collective: collective,
                                            headInputs: request.dump == nil ? nil : { inputs.append(($0, Array($1))) },
                                            progress: counting("evaluating"))[0]
            rows.append(EvaluationRow(name: "cllm4rec (\(scored.rawValue))", report: report, extra: [:]))
            if let dump = request.dump {
                try writeDump(dump, inputs: inputs, copy: scored, textFeatures: ItemTextEmbeddings.compute(model: model, corpora: corpora))
                notes.append("wrote \(dump)")
            }
        }
        let modelSeconds = Date().timeIntervalSince(started)

        if split.isCold {
            if baselines.contains(.random) {
                var rng = SplitMix64(seed: request.seed)
                rows.append(EvaluationRow(name: "random (seed \(request.seed))", report: evaluator.evaluate(items: d.items.count, histories: histories, relevant: relevant) { _, out in
                    for j in 0..<out.count { out[j] = Float(rng.next() >> 40) }
                }, extra: ["seed": Int(request.seed)]))
            }
            if baselines.contains(.tfidfKNN) {
                let v = TFIDF.vectors(d.itemText)
                rows.append(EvaluationRow(name: "tfidf-knn", report: evaluator.evaluate(items: d.items.count, histories: histories, relevant: relevant) { h, out in
                    ContentKNN.scores(sparse: v, history: h, into: out)
                }, extra: [:]))
            }
            if baselines.contains(.llmKNN), let f = textFeatures?.centredUnitRows() {
                rows.append(EvaluationRow(name: "llm-knn", report: evaluator.evaluate(items: d.items.count, histories: histories, relevant: relevant) { h, out in
                    ContentKNN.scores(dense: f, history: h, into: out)
                }, extra: [:]))
            }
            if baselines.contains(.popularity) || baselines.contains(.ease) {
                notes.append("popularity and EASE do not apply to cold items (no interactions: every cold item scores the same); see random")
            }
        } else {
            if baselines.contains(.popularity) {
                rows.append(EvaluationRow(name: "popularity", report: evaluator.popularity(train: d.train, itemIds: d.items, histories: histories, relevant: relevant), extra: [:]))
            }
            if baselines.contains(.ease) {
                let t0 = Date()
                let ease = try EASE(train: d.train, items: d.items.count, lambda: request.easeLambda)
                let fit = Date().timeIntervalSince(t0)
                rows.append(EvaluationRow(name: "ease (λ = \(shortNumber(request.easeLambda)))", report: evaluator.ease(ease, histories: histories, relevant: relevant),
                                          extra: ["lambda": request.easeLambda, "fit_seconds": fit]))
            }
        }
        return EvaluationOutcome(split: split, copy: scored, rows: rows, users: rows[0].report.users,
                                 itemsRanked: d.items.count - evaluator.neverRankedCount, seconds: modelSeconds,
                                 processes: collective.size, notes: notes)
    }
}

/// 200.0 → "200", 0.5 → "0.5": numbers in row names as a person writes them.
public func shortNumber(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v) }

extension LoadedRecommender {
    /// `--dump`: the evaluated users, their head inputs (what the head scores: scores = head_inputs ·
    /// item_tableᵀ), the scored item table and the backbone's reading of each item's text.
    func writeDump(_ path: String, inputs: [(user: Int, h: [Float])], copy: IDEmbeddings.Copy, textFeatures: ItemFeatures?) throws {
        let w = model.width, j = dataset.items.count
        var tensors: [(name: String, tensor: FloatTensor)] = [
            ("users", FloatTensor(shape: [inputs.count], values: inputs.map { Float($0.user) })),
            ("head_inputs", FloatTensor(shape: [inputs.count, w], values: inputs.flatMap(\.h))),
            ("item_table", FloatTensor(shape: [j, w], values: Array(UnsafeBufferPointer(start: model.embeddings.item(copy), count: j * w)))),
        ]
        if let f = textFeatures { tensors.append(("item_text", FloatTensor(shape: [j, f.width], values: f.values))) }
        try SafeTensorsWriter.write(tensors, to: path)
    }
}
