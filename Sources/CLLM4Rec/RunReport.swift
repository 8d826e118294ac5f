import Foundation
import RecData

/// What a recommender folder says about its training: every stage's loss per epoch, the validation
/// metrics and collapse diagnostic per validated epoch, the baselines on the validation split, and
/// the evaluations written by `evaluate`. The input of `ReportPage`.
public struct RunReport {
    /// One epoch line of `metrics.jsonl`.
    public struct Epoch {
        public var stage: String, kind: String
        /// The epoch in the stage's schedule (metrics.jsonl's `epoch`), and among the stage's epochs of this kind.
        public var epoch: Int, epochOfKind: Int
        public var loss: Double
        /// The validation metrics and diagnostic of this epoch ("recall@20", "popularity_overlap@20", ...), if validated.
        public var validation: [String: Double]
    }

    /// One model's line of an `evaluation-<split>.json`.
    public struct Evaluated {
        public var split: String, name: String
        public var metrics: [String: Double]
    }

    public var folder: String
    public var title: String
    /// The last run of each stage, in file order (a stage run again replaces the earlier run's lines).
    public var epochs: [Epoch]
    /// Baselines on the validation split (name, metrics), as `evaluate --split val` scores them.
    public var validationBaselines: [(name: String, metrics: [String: Double])]
    public var evaluations: [Evaluated]
    /// `recommender.json` and the finetuning options, as key/value lines for the page.
    public var settings: [(String, String)]

    /// Reads the folder; baselines are computed when `baselines` (popularity, and EASE with
    /// `easeLambda`).
    public init(folder path: String, baselines: Bool = true, easeLambda: Double = 200) throws {
        let f = RecommenderFolder(path)
        folder = path
        let manifest = try f.manifest()
        title = (path as NSString).lastPathComponent
        let metricsPath = f.file("metrics.jsonl")
        guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else {
            throw CLLM4RecError.invalidFile(metricsPath, "missing: train the folder first (pretrain, finetune)")
        }
        epochs = try RunReport.parseMetrics(text, path: metricsPath)
        settings = [("backbone", manifest.backbone + (manifest.architecture.map { " (\($0))" } ?? "")),
                    ("users, items", "\(manifest.users), \(manifest.items)"), ("width", "\(manifest.width)"),
                    ("init", manifest.initialization), ("id rows", (manifest.idRows ?? .normal).rawValue)]
        for stage in ["pretrain", "finetune"] {
            guard let data = FileManager.default.contents(atPath: f.file("training-\(stage).json")),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let options = json["options"] as? [String: Any] else { continue }
            let keys = stage == "pretrain" ? ["warmupEpochs", "rounds", "contentEvery", "learningRate", "lambda"]
                                           : ["epochs", "learningRate", "lambda", "headInputChoice", "loraRank", "target"]
            settings.append((stage, keys.compactMap { k in options[k].map { "\(k == "headInputChoice" ? "headInput" : k) \($0)" } }.joined(separator: ", ")))
        }
        evaluations = []
        for split in [EvaluationSplit.val, .test, .heldoutUsers, .coldItemsVal, .coldItems] {
            let file = f.file(EvaluationOutcome.fileName(split))
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let results = json["results"] as? [[String: Any]] else {
                throw CLLM4RecError.invalidFile(file, "not an evaluation written by `cllm4rec evaluate`")
            }
            for r in results {
                let metrics = (r["metrics"] as? [String: Any] ?? [:]).compactMapValues { RunReport.number($0) }
                evaluations.append(Evaluated(split: split.rawValue, name: r["name"] as? String ?? "?", metrics: metrics))
            }
        }
        validationBaselines = []
        if baselines && epochs.contains(where: { !$0.validation.isEmpty }) {
            let (d, _, _) = try PreparedDataset.load(from: path)
            let e = Evaluator()
            validationBaselines.append(("most popular", e.popularity(train: d.train, itemIds: d.items, histories: d.train, relevant: d.validation).values))
            let ease = try EASE(train: d.train, items: d.items.count, lambda: easeLambda)
            validationBaselines.append(("EASE (λ \(easeLambda == easeLambda.rounded() ? String(Int(easeLambda)) : String(easeLambda)))",
                                        e.ease(ease, histories: d.train, relevant: d.validation).values))
        }
    }

    /// A JSON number as a Double (JSONSerialization gives NSNumber, integral or not).
    static func number(_ v: Any?) -> Double? { (v as? NSNumber)?.doubleValue }

    /// The epoch lines of `metrics.jsonl`; when a stage's epoch number does not grow, a new run of
    /// that stage began and the earlier run's lines of it are dropped.
    static func parseMetrics(_ text: String, path: String) throws -> [Epoch] {
        var out: [Epoch] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            guard let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let stage = json["stage"] as? String, let kind = json["kind"] as? String,
                  let epoch = number(json["epoch"]).map({ Int($0) }), let loss = number(json["loss"]) else {
                throw CLLM4RecError.invalidFile(path, "line \(n + 1) is not an epoch line (stage, kind, epoch, loss)")
            }
            if let last = out.last(where: { $0.stage == stage }), epoch <= last.epoch { out.removeAll { $0.stage == stage } }
            // An epoch without a prediction (a content epoch of a folder without texts) has no loss to draw.
            if number(json["predictions"]) == 0 { continue }
            let ofKind = out.filter { $0.stage == stage && $0.kind == kind }.count + 1
            var validation: [String: Double] = [:]
            for (k, v) in json where k.hasPrefix("val_") { if let d = number(v) { validation[String(k.dropFirst(4))] = d } }
            out.append(Epoch(stage: stage, kind: kind, epoch: epoch, epochOfKind: ofKind, loss: loss, validation: validation))
        }
        return out
    }
}
