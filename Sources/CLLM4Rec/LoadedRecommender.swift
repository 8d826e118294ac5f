import Backbone
import Architectures
import Foundation
import RecData
import Tokenizer
import WeightIO

/// A recommender folder that cannot be loaded or used as asked: one line naming the file or id.
public struct RecommenderError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A recommender folder with everything loaded: backbone, embeddings, dataset, corpora, tokenizer.
public struct LoadedRecommender: @unchecked Sendable {
    public let folder: RecommenderFolder
    public let manifest: RecommenderManifest
    public let model: RecModel
    public let dataset: PreparedDataset
    /// `dataset.json`: sources, options and statistics.
    public let datasetManifest: DatasetManifest
    public let corpora: Corpora
    public let tokenizer: IDTokenizer

    /// Loads the folder as one commit's files: an interrupted commit is finished first (or, if its
    /// process still runs, waited for), and a load during which another process committed is done
    /// again (`StagedFolder.state` before and after).
    public init(path: String, applyAdapter: Bool = true) throws {
        try StagedFolder.recover(path)
        for _ in 0..<5 {
            let before = StagedFolder.state(path)
            let loaded = try LoadedRecommender(loadingOnce: path, applyAdapter: applyAdapter)
            let after = StagedFolder.state(path)
            if !before.committing, !after.committing, before.generation == after.generation { self = loaded; return }
            try StagedFolder.recover(path)
        }
        throw RecommenderError("\(path): another process committed new files during each of 5 loads; try again")
    }

    private init(loadingOnce path: String, applyAdapter: Bool) throws {
        folder = RecommenderFolder(path)
        manifest = try folder.manifest()
        let backbonePath = folder.backbonePath(manifest)
        let (backbone, base) = try ArchitectureRegistry.load(folder: backbonePath)
        guard backbone.width == manifest.width else {
            throw RecommenderError("\(backbonePath): width \(backbone.width) differs from the recommender's \(manifest.width)")
        }
        if let arch = manifest.architecture, arch != backbone.architecture {
            throw RecommenderError("\(backbonePath): a \(backbone.architecture) model, but the recommender was made with a \(arch) backbone")
        }
        if applyAdapter, FileManager.default.fileExists(atPath: folder.file("adapter/adapter_model.safetensors")) {
            backbone.adapter = try backbone.loadAdapter(path: folder.file("adapter"))
        }
        let embeddings = try IDEmbeddings.load(path: folder.file("embeddings.safetensors"), users: manifest.users, items: manifest.items,
                                               width: manifest.width)
        model = RecModel(backbone: backbone, embeddings: embeddings)
        (dataset, datasetManifest, corpora) = try PreparedDataset.load(from: path)
        guard dataset.users.count == manifest.users, dataset.items.count == manifest.items else {
            throw RecommenderError("\(path): recommender.json and ids.json disagree on the number of users or items")
        }
        tokenizer = IDTokenizer(base: base, users: manifest.users, items: manifest.items)
    }

    /// Readies the recommendation rows for scoring and says whether finetuning made them: a folder
    /// not finetuned yet scores with its collaborative rows (what pretraining learned), so that
    /// `generate` and `serve` answer at every stage.
    @discardableResult
    public func prepareRecommendationRows() -> Bool {
        let finetuned = model.embeddings.has(.recommendation)
        if !finetuned { model.embeddings.copy(.collaborative, to: .recommendation) }
        return finetuned
    }

    /// Index of an external user id.
    public func user(_ id: String) throws -> Int {
        guard let u = dataset.users.firstIndex(exactly: id) else { throw RecommenderError("unknown user \"\(id)\" (ids as in the dataset, e.g. \"\(dataset.users[0])\")") }
        return u
    }

    /// Index of an external item id.
    public func item(_ id: String) throws -> Int {
        guard let j = dataset.items.firstIndex(exactly: id) else { throw RecommenderError("unknown item \"\(id)\" (ids as in the dataset, e.g. \"\(dataset.items[0])\")") }
        return j
    }

    /// The item's text, cut to 70 characters for a terminal line.
    public func title(_ j: Int) -> String {
        let t = dataset.itemText[j] ?? ""
        return t.count > 70 ? String(t.prefix(67)) + "..." : t
    }
}
