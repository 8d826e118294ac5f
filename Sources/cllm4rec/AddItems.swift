import ArgumentParser
import CLLM4Rec
import Foundation
import RecData

extension NewItemsFormat: ExpressibleByArgument {}

/// `cllm4rec add-items`: new items into a trained recommender, without retraining.
struct AddItems: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-items",
        abstract: "Add new items (an id and a text each) to a recommender folder without retraining.",
        discussion: """
            Each item of FILE gets a token after the existing ones (no existing token, row or score \
            changes), its item-text document ("item_j is described as: ..."), a content row fitted on \
            its text by language modelling with everything else frozen (--content-epochs), and \
            collaborative and recommendation rows by --rule: text-tfidf-map (default) maps the backbone's \
            reading of the text and the text's TF-IDF to those rows with a ridge regression fitted on \
            the items that have interactions, as `evaluate --split cold-items` measures it. The folder is committed as a \
            whole, or not at all: an id the folder has, a duplicate id, an empty text or a malformed \
            line stops the command with the file and line, before anything is written. A running \
            `serve` picks the items up on SIGHUP. Checkpoints keep the old catalog: `--resume` of an \
            earlier training is refused after items were added.
            """)

    @Argument(help: "Recommender folder.")
    var recommender: String

    @Argument(help: "The new items: a CSV/TSV with --item-column and --text-column, a RecBole .item file, or Amazon metadata lines.")
    var file: String

    @Option(help: "csv, recbole or amazon (default: from the file name: .item is recbole, .json[l][.gz] amazon, else csv).")
    var format: NewItemsFormat?

    @Option(help: "CSV: the id column.") var itemColumn: String = "item_id"
    @Option(help: "CSV: the text column.") var textColumn: String = "text"
    @Option(help: "CSV: delimiter (default: tab for .tsv, comma otherwise).") var delimiter: String?

    @Option(help: "How the new items' collaborative and recommendation rows are made: text-tfidf-map, text-map, tfidf-map, text-knn, content-map, content, or trained (left as initialised); see `evaluate --cold-rows`.")
    var rule: ColdRowRule = AddItemsOptions().rule

    @Option(help: "The ridge penalty of the map rules, relative to the features' mean variance (> 0).")
    var ridge: Double = AddItemsOptions().ridge

    @Option(help: "Passes of language modelling over the new texts that fit the content rows (0: left as initialised).")
    var contentEpochs: Int = AddItemsOptions().contentEpochs

    @Option(help: "Adam learning rate of the content rows (> 0).")
    var contentLr: Float = AddItemsOptions().contentLearningRate

    @Option(help: "Seed of the new rows' initialisation and of the document order.")
    var seed: UInt64 = AddItemsOptions().seed

    @OptionGroup var engine: EngineOptions

    func validate() throws {
        try FlagRules.positive(ridge, "--ridge")
        try FlagRules.positive(contentLr, "--content-lr")
        try FlagRules.inRange(0...1000, contentEpochs, "--content-epochs")
        if let delimiter, delimiter.count != 1 { throw ValidationError("--delimiter must be one character (got \"\(delimiter)\")") }
    }

    func detectedFormat() -> NewItemsFormat {
        if let format { return format }
        let p = file.lowercased()
        if p.hasSuffix(".item") { return .recbole }
        if p.hasSuffix(".json") || p.hasSuffix(".json.gz") || p.hasSuffix(".jsonl") || p.hasSuffix(".jsonl.gz") { return .amazon }
        return .csv
    }

    func run() throws {
        try engine.apply()
        let items = try NewItem.read(path: file, format: detectedFormat(), idColumn: itemColumn, textColumn: textColumn, delimiter: delimiter?.first)
        let rec = try LoadedRecommender(path: recommender)
        var options = AddItemsOptions()
        options.rule = rule; options.ridge = ridge; options.contentEpochs = contentEpochs; options.contentLearningRate = contentLr; options.seed = seed
        let r = try rec.addItems(items, file: file, options: options) { print("  " + $0) }
        print("added \(r.added) items to \(recommender) (\(r.itemsBefore) -> \(r.itemsBefore + r.added)) in \(String(format: "%.1f", r.seconds)) s")
        if contentEpochs > 0 {
            print(String(format: "  content rows: %d epochs, loss %.4f -> %.4f per token (%.1f s)", contentEpochs, r.firstContentLoss, r.lastContentLoss, r.contentSeconds))
        }
        print("  collaborative and recommendation rows: \(rule.rawValue)" + (rule.hasRidge || rule == .textKNN ? " from \(r.warmItems) items with interactions" : "") + (rule.hasRidge ? " (ridge \(ridge))" : "")
              + (rule.needsTextEmbeddings ? String(format: ", item texts read in %.1f s", r.textSeconds) : ""))
    }
}
