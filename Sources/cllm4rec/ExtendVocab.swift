import ArgumentParser
import CLLM4Rec
import Foundation
import Architectures
import Backbone
import RecData
import Tokenizer
import WeightIO

/// `cllm4rec extend-vocab`: prepare a dataset and add one token per user and per item.
struct ExtendVocab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extend-vocab",
        abstract: "Prepare a dataset and extend a model's vocabulary with its users and items.",
        discussion: """
            Reads DATASET (RecBole atomic files: a folder or NAME.inter; Amazon reviews .json[.gz] with \
            --meta; or a CSV/TSV with --user-column etc.), applies the reference protocol (ratings above \
            --min-rating, --kcore filtering until stable, a seeded per-user split with \
            n_val = n_test = max(1, floor(0.1 n))), numbers users (shuffled) and items (first seen), and \
            writes a recommender folder: recommender.json (the backbone), embeddings.safetensors \
            (collaborative and content copies of one embedding per user and item), ids.json, \
            splits.json, corpora.bin (the tokenized documents) and dataset.json (statistics and a \
            fingerprint of the source files). Nothing is written unless everything succeeded. An OUTPUT \
            that already holds a recommender is refused; --force replaces it whole (checkpoints, adapter \
            and results of the old one included). --split-from uses a split made by another tool \
            instead (RecBole benchmark files; the filters then do not apply); --export-split writes this \
            split for other tools; --heldout-users keeps users out of training for `evaluate --split \
            heldout-users`; --cold-items keeps items out of training for `evaluate --split cold-items` \
            (a split folder with NAME.cold-valid.inter and NAME.cold-test.inter, as --export-split writes \
            them, brings its cold items along).
            """)

    @Argument(help: "Dataset: a RecBole folder or .inter file, an Amazon reviews .json[.gz], or a .csv/.tsv.")
    var dataset: String

    @Option(help: "Backbone model folder.")
    var model: String = "Models/gpt2"

    @Option(help: "Output recommender folder.")
    var output: String

    @Option(help: "recbole, amazon or csv (default: from the path).")
    var format: DatasetFormat?

    @Option(help: "Amazon metadata file (.json[.gz], JSON or Python-literal lines).")
    var meta: String?

    @Option(help: "Keep interactions rated strictly above this.")
    var minRating: Double = 3

    @Flag(help: "Implicit feedback: keep every interaction whatever its rating.")
    var implicit = false

    @Option(help: "Minimum interactions per user and per item, applied until stable (0: off).")
    var kcore: Int = 5

    @Option(help: "Use the split in this folder's RecBole benchmark files (NAME.train.inter, NAME.valid.inter, NAME.test.inter) as is: no rating filter, no k-core; DATASET still gives texts and timestamps.")
    var splitFrom: String?

    @Option(help: "Also write the split as RecBole benchmark files into this folder (NAME.train/valid/test.inter), for other tools.")
    var exportSplit: String?

    @Option(help: "Keep this many users (chosen at random, seeded) entirely out of training, for `evaluate --split heldout-users`.")
    var heldoutUsers: Int = 0

    @Option(help: "Make this fraction of the items cold (chosen at random, seeded; 0: none): every interaction with them leaves training, validation and test (their text stays), half of them by item for `evaluate --split cold-items-val`, half for `--split cold-items`.")
    var coldItems: Double = 0

    @Flag(help: "Replace an OUTPUT folder that already holds a recommender, as a whole.")
    var force = false

    @Option(help: "Seed of the user shuffle, the split and the embedding initialisation.")
    var seed: UInt64 = 98765

    @Option(help: "normal: N(0, 0.02²); text-mean: content embeddings from the mean word embedding of each entity's text.")
    var `init`: EmbeddingInit = .normal

    @Option(help: ArgumentHelp("Where the new user and item rows are drawn: normal: N(0, 0.02²), the reference code's draw; vocabulary-mean: the backbone's mean word row plus N(0, 0.02²), among the words a pretrained backbone knows (far from them it turns the rows into attention-sink positions that forget which item they were: docs/quality-study.md §3l). Default: vocabulary-mean for llama-family backbones (measured), normal for GPT-2 (the paper's).",
                                valueName: "rows"))
    var idRows: IDRowInit?

    @Option(help: "CSV: user column.") var userColumn: String = "user_id"
    @Option(help: "CSV: item column.") var itemColumn: String = "item_id"
    @Option(help: "CSV: rating column ('' for none).") var ratingColumn: String = "rating"
    @Option(help: "CSV: timestamp column ('' for none).") var timeColumn: String = "timestamp"
    @Option(help: "CSV: review text column.") var textColumn: String?
    @Option(help: "CSV: delimiter (default: tab for .tsv, comma otherwise).") var delimiter: String?

    func validate() throws {
        try FlagRules.inRange(0...1_000_000, kcore, "--kcore")
        try FlagRules.finite(minRating, "--min-rating")
        try FlagRules.inRange(0...100_000_000, heldoutUsers, "--heldout-users")
        try FlagRules.finite(coldItems, "--cold-items")
        guard coldItems >= 0, coldItems < 1 else { throw ValidationError("--cold-items must be in [0, 1): a fraction of the items (got \(coldItems))") }
        if let delimiter, delimiter.count != 1 { throw ValidationError("--delimiter must be one character (got \"\(delimiter)\")") }
        if let exportSplit, let splitFrom, URL(fileURLWithPath: exportSplit).standardizedFileURL == URL(fileURLWithPath: splitFrom).standardizedFileURL {
            throw ValidationError("--export-split and --split-from name the same folder")
        }
    }

    func run() throws {
        let started = Date()
        try RecommenderFolder.checkTarget(output, replacing: force)
        let model = BundledFiles.resolve(self.model, requiring: ["config.json", "vocab.json", "merges.txt"])
        let fmt = format ?? DatasetFormat.detect(dataset)
        let columns = CSVColumns(user: userColumn, item: itemColumn, rating: ratingColumn.isEmpty ? nil : ratingColumn,
                                 timestamp: timeColumn.isEmpty ? nil : timeColumn, text: textColumn)
        let raw = try RawDataset.read(dataset, format: fmt, metadata: meta, columns: columns, delimiter: delimiter?.first)
        let options = PrepareOptions(minRating: implicit ? nil : minRating, kcore: kcore, seed: seed, heldoutUsers: heldoutUsers > 0 ? heldoutUsers : nil)
        var prepared = try splitFrom.map { try PreparedDataset(raw: raw, splitFrom: $0, options: options) } ?? PreparedDataset(raw, options: options)
        if coldItems > 0 {
            if prepared.cold != nil, let splitFrom {
                throw CLIError("\(splitFrom) already holds cold items (NAME.cold-valid.inter, NAME.cold-test.inter): drop --cold-items to use them")
            }
            prepared = try prepared.holdingOutColdItems(fraction: coldItems, seed: seed)
        }

        let made = try RecommenderFolder.create(at: output, dataset: prepared, raw: raw, model: model, textMean: `init` == .textMean,
                                                rows: idRows, seed: seed, exportSplit: exportSplit)
        let (shape, corpora, textInit) = (made.shape, made.corpora, made.textInitialised)

        let s = prepared.statistics
        print("dataset \(raw.name) (\(fmt)): \(s.rawInteractions) interactions read")
        if let splitFrom {
            print("  split read from \(splitFrom) as is (no rating filter, no k-core)")
        } else {
            print("  dropped: \(s.duplicatesDropped) duplicate pairs, \(s.droppedByRating) rated <= \(implicit ? "-" : String(minRating)), \(s.droppedByKCore) by the \(kcore)-core")
        }
        print("  users \(s.users), items \(s.items), interactions \(s.train + s.validation + s.test) (train \(s.train) / validation \(s.validation) / test \(s.test)), sparsity \(String(format: "%.4f", s.sparsity))")
        print("  vocabulary \(made.baseVocabulary) + \(s.users) users + \(s.items) items = \(made.vocabulary) tokens; \(shape.architecture) backbone, embeddings width \(shape.width), init \(`init`.rawValue), rows \(made.rows.rawValue)" + (idRows == nil ? " (\(IDRowInit.measured(architecture: shape.architecture).basis))" : "") +
              (`init` == .textMean ? " (\(textInit.users) users, \(textInit.items) items from text)" : ""))
        for c in corpora.all {
            print("  corpus \(c.name.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(c.count).leftPad(7)) documents \(String(c.tokenCount).leftPad(10)) tokens")
        }
        if let h = s.heldoutUsers {
            print("  held out of training: \(h) users with \(s.heldoutInteractions ?? 0) interactions (80% folded in, 20% to find: evaluate --split heldout-users)")
        }
        if let c = prepared.cold {
            print("  cold items: \(c.validationItems.count) for cold-items-val and \(c.testItems.count) for cold-items (\(s.coldInteractions ?? 0) interactions kept out of training" +
                  (c.usersWithoutWarmHistory > 0 ? "; \(c.usersWithoutWarmHistory) users had only cold items and are not evaluated" : "") + ")")
        }
        if let exportSplit { print("  split written as RecBole benchmark files to \(exportSplit)/") }
        print("  wrote \(output)/ in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}

/// Dataset file formats `extend-vocab` reads.
extension DatasetFormat: ExpressibleByArgument {}
extension IDRowInit: ExpressibleByArgument {}

/// How `extend-vocab` initialises the new embeddings.
enum EmbeddingInit: String, ExpressibleByArgument, CaseIterable {
    case normal
    case textMean = "text-mean"
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
