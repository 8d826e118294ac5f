import Foundation
import Backbone
import RecData
import Tensor
import Tokenizer
import WeightIO

/// `recommender.json`: what a recommender folder was built from.
public struct RecommenderManifest: Codable, Sendable {
    /// The backbone model folder (as given, and resolved to an absolute path).
    public var backbone: String
    public var backboneAbsolute: String
    /// The backbone's `model_type` ("gpt2", "llama", "qwen2"); nil in folders made before it was recorded (GPT-2).
    public var architecture: String?
    public var users: Int
    public var items: Int
    public var width: Int
    /// "normal" or "text-mean".
    public var initialization: String
    /// Where the new rows were drawn; nil in folders made before it was recorded (normal).
    public var idRows: IDRowInit?
    public var seed: UInt64
    enum CodingKeys: String, CodingKey {
        case backbone, users, items, width, seed, architecture
        case backboneAbsolute = "backbone_absolute", initialization = "init", idRows = "id_rows"
    }

    public init(backbone: String, backboneAbsolute: String, architecture: String, users: Int, items: Int, width: Int, initialization: String,
                idRows: IDRowInit = .normal, seed: UInt64) {
        self.backbone = backbone; self.backboneAbsolute = backboneAbsolute; self.architecture = architecture; self.users = users; self.items = items
        self.width = width; self.initialization = initialization; self.idRows = idRows; self.seed = seed
    }

    /// `recommender.json`'s bytes: pretty, keys sorted, a final newline.
    public func encoded() throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try e.encode(self)) + [0x0A]
    }
}

/// A recommender folder: `recommender.json`, `embeddings.safetensors`, the prepared dataset
/// (`ids.json`, `splits.json`, `corpora.bin`, `dataset.json`), and later training state.
public struct RecommenderFolder {
    public let path: String
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public init(_ path: String) { self.path = path }

    public func manifest() throws -> RecommenderManifest {
        guard let data = FileManager.default.contents(atPath: file("recommender.json")) else {
            throw CLLM4RecError.invalidFile(file("recommender.json"), "missing: is \(path) a recommender folder made by extend-vocab?")
        }
        do { return try JSONDecoder().decode(RecommenderManifest.self, from: data) } catch {
            throw CLLM4RecError.invalidFile(file("recommender.json"), "invalid: \(error)")
        }
    }

    /// The backbone's folder: as recorded, relative to the working directory, else the absolute path.
    public func backbonePath(_ m: RecommenderManifest) -> String {
        FileManager.default.fileExists(atPath: m.backbone + "/config.json") ? m.backbone : m.backboneAbsolute
    }
}

/// Where the new user and item rows start (`extend-vocab --id-rows`).
public enum IDRowInit: String, Codable, CaseIterable, Sendable {
    /// N(0, 0.02²): the reference code's draw.
    case normal
    /// The backbone's mean word row plus N(0, 0.02²). A pretrained backbone's word rows share a large
    /// common component (SmolLM2-135M: norm 2.2 of 3.2); rows of norm 0.5 around the origin are far
    /// from every word, and the pretrained layers turn them into attention-sink-like positions with
    /// massive activations that lose which item they were (docs/quality-study.md §3l). The shift is
    /// the same for every row, so the tied item head's scores change only by a constant per prompt.
    case vocabularyMean = "vocabulary-mean"

    /// The draw `extend-vocab` makes for an architecture (`ArchitectureRegistry.modelTypes`) when
    /// none is asked, with the reason for its log line. Llama family: vocabulary-mean, measured on
    /// SmolLM2-135M (docs/quality-study.md §3l: its collaborative loss falls to 6.16 in six epochs
    /// instead of staying at 6.43, the popularity entropy being 6.39; for its random twin the two
    /// draws differ by a shift of norm 0.002). Other families: the paper's, until measured.
    public static func measured(architecture: String) -> (rows: IDRowInit, basis: String) {
        switch architecture {
        case "llama", "qwen2":
            return (.vocabularyMean, "measured for llama-family backbones; the paper's: --id-rows normal")
        default:
            return (.normal, "the paper's; none measured for \(architecture) backbones yet")
        }
    }
}

/// Initial embeddings: N(0, 0.02²) for every table, shifted by the mean word row when `rows` is
/// `.vocabularyMean`; with `textMean`, the content copy of each user and item that has text (its
/// description, else its training reviews) starts at the mean word row of that text's tokens instead
/// (docs/CLLM4REC.md §5). `wordRows`, the backbone's token embeddings (vocabulary × width), is needed
/// by both and read by nothing else. The normal draws are the same for every choice.
public func initialEmbeddings(users: Int, items: Int, width: Int, seed: UInt64, rows: IDRowInit = .normal, textMean: Bool = false,
                              wordRows: UnsafeBufferPointer<Float>? = nil, corpora: Corpora) -> (IDEmbeddings, textInitialised: (users: Int, items: Int)) {
    precondition(wordRows != nil || (rows == .normal && !textMean), "initialEmbeddings: vocabulary-mean rows and text-mean need the word rows")
    let e = IDEmbeddings(users: users, items: items, width: width)
    var g = SplitMix64(seed: seed)
    for c in [IDEmbeddings.Copy.collaborative, .content] {
        fillNormal(UnsafeMutableBufferPointer(start: e.user(c), count: users * width), std: 0.02, using: &g)
        fillNormal(UnsafeMutableBufferPointer(start: e.item(c), count: items * width), std: 0.02, using: &g)
    }
    if rows == .vocabularyMean, let wordRows {
        let mean = meanRow(wordRows, width: width)
        for c in [IDEmbeddings.Copy.collaborative, .content] {
            for u in 0..<users { axpy(1, mean, e.user(c) + u * width, width) }
            for j in 0..<items { axpy(1, mean, e.item(c) + j * width, width) }
        }
    }
    guard textMean, let wte = wordRows?.baseAddress else { return (e, (0, 0)) }
    func tokens(of corpora: [Corpus], users isUser: Bool, count: Int) -> [[Int32]] {
        var out = [[Int32]](repeating: [], count: count)
        var described = Set<Int>()
        for c in corpora {
            for k in 0..<c.count {
                let owner = Int(isUser ? c.users[k] : c.items[k])
                guard owner >= 0 else { continue }
                // A description wins over reviews: reviews only for entities without one.
                if c.name == "reviews" && described.contains(owner) { continue }
                if c.name != "reviews" { described.insert(owner) }
                out[owner] += c.main(k)
            }
        }
        return out
    }
    var counts = (0, 0)
    for (isUser, texts) in [(true, tokens(of: [corpora.userText, corpora.reviews], users: true, count: users)),
                            (false, tokens(of: [corpora.itemText, corpora.reviews], users: false, count: items))] {
        let table = isUser ? e.user(.content) : e.item(.content)
        for (k, ids) in texts.enumerated() where !ids.isEmpty {
            let row = table + k * width
            row.update(repeating: 0, count: width)
            for t in ids { axpy(1, wte + Int(t) * width, row, width) }
            scale(row, width, by: 1 / Float(ids.count))
            if isUser { counts.0 += 1 } else { counts.1 += 1 }
        }
    }
    return (e, counts)
}

/// The mean of `rows` (count/width rows of `width`), summed in double precision.
func meanRow(_ rows: UnsafeBufferPointer<Float>, width: Int) -> [Float] {
    let n = rows.count / width
    var sum = [Double](repeating: 0, count: width)
    for r in 0..<n { for c in 0..<width { sum[c] += Double(rows[r * width + c]) } }
    return sum.map { Float($0 / Double(max(1, n))) }
}
