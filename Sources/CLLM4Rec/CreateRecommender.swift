import Architectures
import Backbone
import Foundation
import RecData
import Tokenizer
import WeightIO

/// What `RecommenderFolder.create` made, for the tool's summary.
public struct CreatedRecommender {
    public var shape: BackboneShape
    /// The backbone's vocabulary and the extended one (plus one token per user and per item).
    public var baseVocabulary: Int
    public var vocabulary: Int
    public var corpora: Corpora
    /// Users and items whose content rows started at the mean of their text's token rows.
    public var textInitialised: (users: Int, items: Int)
    /// Where the new rows were drawn.
    public var rows: IDRowInit
}

extension RecommenderFolder {
    /// Whether `create` may write to `output`: a missing or empty folder, or (with `replacing`) one
    /// that holds a recommender. Anything else is refused, so that nothing a user keeps is lost.
    public static func checkTarget(_ output: String, replacing: Bool) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output, isDirectory: &isDir) else { return }
        guard isDir.boolValue else { throw RecommenderError("\(output) is a file, not a folder") }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
        if contents.isEmpty { return }
        guard contents.contains("recommender.json") else {
            throw RecommenderError("\(output) is not empty and holds no recommender: choose another --output (nothing is overwritten)")
        }
        guard replacing else {
            throw RecommenderError("\(output) already holds a recommender: pass --force to replace it whole (its checkpoints, adapter and results go with it), or choose another --output")
        }
    }

    /// `extend-vocab`'s work: one new token per user and item of `dataset` after the model's
    /// vocabulary, the tokenized corpora, the initial embeddings (`initialEmbeddings`: drawn as `rows`
    /// says, nil: `IDRowInit.measured` for the backbone's architecture; with `textMean` the content
    /// rows of users and items with text at their text's mean token row) and the manifest, written
    /// to `output` in one commit (a folder there is replaced whole: the caller checks first).
    /// `exportSplit`: the split also written as RecBole benchmark files there.
    public static func create(at output: String, dataset prepared: PreparedDataset, raw: RawDataset, model: String,
                              textMean: Bool, rows asked: IDRowInit? = nil, seed: UInt64, exportSplit: String? = nil) throws -> CreatedRecommender {
        let shape = try ArchitectureRegistry.shape(folder: model)
        let rows = asked ?? IDRowInit.measured(architecture: shape.architecture).rows
        let base = try BPETokenizer.load(folder: model)
        guard base.count == shape.vocabSize else {
            throw RecommenderError("\(model): the tokenizer has \(base.count) tokens but the model's vocabulary is \(shape.vocabSize) (user and item tokens must follow the last word)")
        }
        let tok = IDTokenizer(base: base, users: prepared.users.count, items: prepared.items.count)
        let corpora = Corpora.build(prepared, tokenizer: tok, contextLength: shape.documentLength)

        // The word rows are read in place from the loaded backbone (no copy of the table).
        let backbone = textMean || rows != .normal ? try ArchitectureRegistry.load(folder: model).backbone : nil
        let (embeddings, textInit) = withExtendedLifetime(backbone) {
            initialEmbeddings(users: prepared.users.count, items: prepared.items.count, width: shape.width, seed: seed, rows: rows,
                              textMean: textMean,
                              wordRows: backbone.map { UnsafeBufferPointer(start: $0.tokenEmbeddings, count: $0.vocabSize * $0.width) },
                              corpora: corpora)
        }

        let folder = try StagedFolder(replacingWhole: output)
        try prepared.write(to: folder, raw: raw, corpora: corpora)
        try embeddings.save(to: folder.path("embeddings.safetensors"))
        let manifest = RecommenderManifest(backbone: model, backboneAbsolute: URL(fileURLWithPath: model).standardizedFileURL.path,
                                           architecture: shape.architecture, users: prepared.users.count, items: prepared.items.count, width: shape.width,
                                           initialization: textMean ? "text-mean" : "normal", idRows: rows, seed: seed)
        try folder.write("recommender.json", bytes: try manifest.encoded())
        if let exportSplit { try prepared.exportSplit(to: exportSplit, raw: raw) }
        try folder.commit()
        return CreatedRecommender(shape: shape, baseVocabulary: base.count, vocabulary: tok.count, corpora: corpora, textInitialised: textInit, rows: rows)
    }
}
