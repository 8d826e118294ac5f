import Foundation
import WeightIO

/// `ids.json`: external ids and descriptions, index = position.
struct IdsFile: Codable {
    var users: [String]
    var items: [String]
    var userText: [String?]
    var itemText: [String?]
    enum CodingKeys: String, CodingKey { case users, items, userText = "user_text", itemText = "item_text" }
}

/// `splits.json`: item indices per user, oldest first.
struct SplitsFile: Codable {
    var train: [[Int]], validation: [[Int]], test: [[Int]]
    /// Users kept out of training (absent when there are none).
    var heldout: HeldoutUsers?
    /// Cold items (absent when there are none).
    var cold: ColdItems?
}

/// `dataset.json`: where the data came from and what preprocessing made of it.
public struct DatasetManifest: Codable, Sendable {
    public struct Source: Codable, Sendable { public var path: String; public var fingerprint: String }
    public struct CorpusSize: Codable, Sendable { public var documents: Int; public var tokens: Int }
    public var name: String
    public var format: String
    public var sources: [Source]
    public var options: PrepareOptions
    public var statistics: DatasetStatistics
    public var sparsity: Double
    public var contextLength: Int
    public var corpora: [String: CorpusSize]
    enum CodingKeys: String, CodingKey {
        case name, format, sources, options, statistics, sparsity, corpora
        case contextLength = "context_length"
    }
}

extension PreparedDataset {
    /// Stages `ids.json`, `splits.json`, `corpora.bin` and `dataset.json` into `folder`.
    public func write(to folder: StagedFolder, raw: RawDataset, corpora: Corpora) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try folder.write("ids.json", bytes: Array(try e.encode(IdsFile(users: users, items: items, userText: userText, itemText: itemText))))
        try folder.write("splits.json", bytes: Array(try e.encode(SplitsFile(train: train, validation: validation, test: test, heldout: heldout.users.isEmpty ? nil : heldout, cold: cold))))
        try folder.write("corpora.bin", bytes: corpora.encoded())
        let manifest = DatasetManifest(
            name: name, format: raw.format,
            sources: raw.sources.map { .init(path: ($0 as NSString).standardizingPath, fingerprint: TextFile.fingerprint(path: $0)) },
            options: options, statistics: statistics, sparsity: statistics.sparsity, contextLength: corpora.contextLength,
            corpora: Dictionary(uniqueKeysWithValues: corpora.all.map { ($0.name, .init(documents: $0.count, tokens: $0.tokenCount)) }))
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        try folder.write("dataset.json", bytes: Array(try e.encode(manifest)) + [0x0A])
    }

    /// Stages `ids.json`, `splits.json`, `corpora.bin` and `dataset.json` for a dataset read from a
    /// folder and changed (items added): `manifest` keeps its sources and options, and takes the
    /// statistics and corpus sizes of now.
    public func write(to folder: StagedFolder, manifest old: DatasetManifest, corpora: Corpora) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try folder.write("ids.json", bytes: Array(try e.encode(IdsFile(users: users, items: items, userText: userText, itemText: itemText))))
        try folder.write("splits.json", bytes: Array(try e.encode(SplitsFile(train: train, validation: validation, test: test, heldout: heldout.users.isEmpty ? nil : heldout, cold: cold))))
        try folder.write("corpora.bin", bytes: corpora.encoded())
        var manifest = old
        manifest.statistics = statistics
        manifest.sparsity = statistics.sparsity
        manifest.corpora = Dictionary(uniqueKeysWithValues: corpora.all.map { ($0.name, .init(documents: $0.count, tokens: $0.tokenCount)) })
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        try folder.write("dataset.json", bytes: Array(try e.encode(manifest)) + [0x0A])
    }

    /// Reads a prepared dataset back from a recommender folder (reviews stay in the corpora only).
    public static func load(from dir: String) throws -> (PreparedDataset, DatasetManifest, Corpora) {
        func read<T: Decodable>(_ name: String, _ type: T.Type) throws -> T {
            let path = (dir as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else { throw RecDataError.io(file: path, problem: "missing; run extend-vocab") }
            do { return try JSONDecoder().decode(T.self, from: data) } catch {
                throw RecDataError.io(file: path, problem: "invalid: \(error)")
            }
        }
        let ids = try read("ids.json", IdsFile.self)
        let splits = try read("splits.json", SplitsFile.self)
        let manifest = try read("dataset.json", DatasetManifest.self)
        let corporaPath = (dir as NSString).appendingPathComponent("corpora.bin")
        guard let bytes = FileManager.default.contents(atPath: corporaPath) else { throw RecDataError.io(file: corporaPath, problem: "missing; run extend-vocab") }
        let corpora = try Corpora(decoding: [UInt8](bytes), file: corporaPath)
        let n = ids.users.count
        guard splits.train.count == n, splits.validation.count == n, splits.test.count == n, ids.userText.count == n,
              ids.itemText.count == ids.items.count,
              (splits.train + splits.validation + splits.test).allSatisfy({ $0.allSatisfy { $0 >= 0 && $0 < ids.items.count } }),
              splits.heldout.map({ h in
                  h.foldIn.count == h.users.count && h.test.count == h.users.count
                      && (h.foldIn + h.test).allSatisfy { $0.allSatisfy { $0 >= 0 && $0 < ids.items.count } }
              }) ?? true,
              splits.cold.map({ c in
                  c.validation.count == n && c.test.count == n
                      && (c.validation + c.test + [c.validationItems, c.testItems]).allSatisfy { $0.allSatisfy { $0 >= 0 && $0 < ids.items.count } }
              }) ?? true
        else { throw RecDataError.io(file: dir, problem: "ids.json and splits.json disagree; run extend-vocab again") }
        let d = PreparedDataset(name: manifest.name, users: ids.users, items: ids.items, train: splits.train, validation: splits.validation,
                                test: splits.test, reviews: [], itemText: ids.itemText, userText: ids.userText,
                                statistics: manifest.statistics, options: manifest.options, heldout: splits.heldout ?? HeldoutUsers(), cold: splits.cold)
        return (d, manifest, corpora)
    }
}
