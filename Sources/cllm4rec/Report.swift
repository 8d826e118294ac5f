import ArgumentParser
import CLLM4Rec
import Foundation
import WeightIO

/// `cllm4rec report`: one HTML page with a recommender folder's learning curves.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML page with a trained folder's curves.",
        discussion: """
            From metrics.jsonl, training-*.json and evaluation-*.json: every stage's training loss per \
            epoch, validation Recall@20/40 and NDCG@100 per validated epoch with the most-popular and \
            EASE baselines on the same validation split as horizontal lines, the collapse diagnostic \
            (overlap with the most-popular top 20, effective rank of the head's inputs), and the \
            evaluations as tables. Inline SVG, no script, nothing fetched: it opens offline.
            """)

    @Argument(help: "Recommender folder (trained: it needs metrics.jsonl).")
    var recommender: String

    @Option(help: "The page to write (default: RECDIR/report.html).")
    var output: String?

    @Option(help: "EASE's λ (> 0) for the baseline lines.")
    var easeLambda: Double = 200

    @Flag(help: "Leave the baselines out (they need the folder's dataset; EASE takes a few seconds on 1,000 items).")
    var noBaselines = false

    func validate() throws { try FlagRules.positive(easeLambda, "--ease-lambda") }

    func run() throws {
        let report = try RunReport(folder: recommender, baselines: !noBaselines, easeLambda: easeLambda)
        let path = output ?? RecommenderFolder(recommender).file("report.html")
        try AtomicFile.write(path: path, bytes: Array(ReportPage.html(report).utf8))
        let validated = report.epochs.filter { !$0.validation.isEmpty }.count
        print("wrote \(path): \(report.epochs.count) epochs, \(validated) validated, \(report.evaluations.count) evaluation rows")
    }
}
