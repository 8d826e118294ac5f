import ArgumentParser
import CLLM4Rec
import Foundation
import GPT2
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
            fingerprint of the source files). Nothing is written unless everything succeeded.
            """)

    @Argument(help: "Dataset: a RecBole folder or .inter file, an Amazon reviews .json[.gz], or a .csv/.tsv.")
    var dataset: String

    @Option(help: "Backbone model folder.")
    var model: String = "Models/gpt2"

    @Option(help: "Output recommender folder.")
    var output: String

    @Option(help: "recbole, amazon or csv (default: from the path).")
    var format: String?

    @Option(help: "Amazon metadata file (.json[.gz], JSON or Python-literal lines).")
    var meta: String?

    @Option(help: "Keep interactions rated strictly above this.")
    var minRating: Double = 3

    @Flag(help: "Implicit feedback: keep every interaction whatever its rating.")
    var implicit = false

    @Option(help: "Minimum interactions per user and per item, applied until stable (0: off).")
    var kcore: Int = 5

    @Option(help: "Seed of the user shuffle, the split and the embedding initialisation.")
    var seed: UInt64 = 98765

    @Option(help: "normal: N(0, 0.02²); text-mean: content embeddings from the mean word embedding of each entity's text.")
    var `init`: String = "normal"

    @Option(help: "CSV: user column.") var userColumn: String = "user_id"
    @Option(help: "CSV: item column.") var itemColumn: String = "item_id"
    @Option(help: "CSV: rating column ('' for none).") var ratingColumn: String = "rating"
    @Option(help: "CSV: timestamp column ('' for none).") var timeColumn: String = "timestamp"
    @Option(help: "CSV: review text column.") var textColumn: String?
    @Option(help: "CSV: delimiter (default: tab for .tsv, comma otherwise).") var delimiter: String?

    func validate() throws {
        guard ["normal", "text-mean"].contains(`init`) else { throw ValidationError("--init must be normal or text-mean") }
        guard kcore >= 0 else { throw ValidationError("--kcore must be >= 0") }
        if let format, !["recbole", "amazon", "csv"].contains(format) { throw ValidationError("--format must be recbole, amazon or csv") }
        if let delimiter, delimiter.count != 1 { throw ValidationError("--delimiter must be one character") }
    }

    func detectedFormat() -> String {
        if let format { return format }
        let p = dataset.lowercased()
        if p.hasSuffix(".json") || p.hasSuffix(".json.gz") || p.hasSuffix(".jsonl") || p.hasSuffix(".jsonl.gz") { return "amazon" }
        if p.hasSuffix(".csv") || p.hasSuffix(".tsv") || p.hasSuffix(".csv.gz") || p.hasSuffix(".tsv.gz") { return "csv" }
        return "recbole"
    }

    func run() throws {
        let started = Date()
        let fmt = detectedFormat()
        let raw: RawDataset
        switch fmt {
        case "amazon": raw = try RawDataset.amazon(reviews: dataset, metadata: meta)
        case "csv":
            let cols = CSVColumns(user: userColumn, item: itemColumn, rating: ratingColumn.isEmpty ? nil : ratingColumn,
                                  timestamp: timeColumn.isEmpty ? nil : timeColumn, text: textColumn)
            raw = try RawDataset.csv(path: dataset, columns: cols, delimiter: delimiter?.first)
        default: raw = try RawDataset.recBole(path: dataset)
        }
        let options = PrepareOptions(minRating: implicit ? nil : minRating, kcore: kcore, seed: seed)
        let prepared = try PreparedDataset(raw, options: options)

        let config = try GPT2Config.load(path: model + "/config.json")
        let base = try GPT2Tokenizer(vocabPath: model + "/vocab.json", mergesPath: model + "/merges.txt")
        guard base.count == config.vocabSize else {
            throw CLIError("\(model): the tokenizer has \(base.count) tokens but the model's vocabulary is \(config.vocabSize)")
        }
        let tok = IDTokenizer(base: base, users: prepared.users.count, items: prepared.items.count)
        let corpora = Corpora.build(prepared, tokenizer: tok, contextLength: config.nPositions)

        var wte: [Float]? = nil
        if `init` == "text-mean" {
            let (params, _) = try GPT2Checkpoint.load(path: model)
            wte = Array(params.tensor(.wte))
        }
        let (embeddings, textInit) = initialEmbeddings(users: prepared.users.count, items: prepared.items.count, width: config.nEmbd,
                                                       seed: seed, textMean: wte, corpora: corpora)

        let folder = try StagedFolder(output)
        try prepared.write(to: folder, raw: raw, corpora: corpora)
        try embeddings.save(to: folder.path("embeddings.safetensors"))
        let manifest = RecommenderManifest(backbone: model, backboneAbsolute: URL(fileURLWithPath: model).standardizedFileURL.path,
                                           users: prepared.users.count, items: prepared.items.count, width: config.nEmbd,
                                           initialization: `init`, seed: seed)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try folder.write("recommender.json", bytes: Array(try e.encode(manifest)) + [0x0A])
        try folder.commit()

        let s = prepared.statistics
        print("dataset \(raw.name) (\(fmt)): \(s.rawInteractions) interactions read")
        print("  dropped: \(s.duplicatesDropped) duplicate pairs, \(s.droppedByRating) rated <= \(implicit ? "-" : String(minRating)), \(s.droppedByKCore) by the \(kcore)-core")
        print("  users \(s.users), items \(s.items), interactions \(s.train + s.validation + s.test) (train \(s.train) / validation \(s.validation) / test \(s.test)), sparsity \(String(format: "%.4f", s.sparsity))")
        print("  vocabulary \(base.count) + \(s.users) users + \(s.items) items = \(tok.count) tokens; embeddings width \(config.nEmbd), init \(`init`)" +
              (`init` == "text-mean" ? " (\(textInit.users) users, \(textInit.items) items from text)" : ""))
        for c in corpora.all {
            print("  corpus \(c.name.padding(toLength: 13, withPad: " ", startingAt: 0)) \(String(c.count).leftPad(7)) documents \(String(c.tokenCount).leftPad(10)) tokens")
        }
        print("  wrote \(output)/ in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
