import Foundation

/// Why the tokenizer files were refused; each message names the file and line.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case io(String, String)
    case invalidVocab(String, String)
    case invalidMerge(file: String, line: Int, problem: String)
    case invalidTokenId(Int)

    public var description: String {
        switch self {
        case let .io(f, m): return "\(f): \(m)"
        case let .invalidVocab(f, m): return "\(f): \(m)"
        case let .invalidMerge(f, l, m): return "\(f):\(l): \(m)"
        case let .invalidTokenId(id): return "token id \(id) is not in the vocabulary"
        }
    }
}

/// GPT-2 byte-level BPE, identical to Hugging Face `GPT2TokenizerFast` (no prefix space, no
/// normalisation, `<|endoftext|>` recognised anywhere in the text as one special token).
///
///     let t = try GPT2Tokenizer(vocabPath: "Models/gpt2/vocab.json", mergesPath: "Models/gpt2/merges.txt")
///     t.encode("Hello world")  // [15496, 995]
///     t.decode([15496, 995])   // "Hello world"
public final class GPT2Tokenizer: @unchecked Sendable {
    public static let endOfText = "<|endoftext|>"

    /// Token id of `<|endoftext|>`.
    public let endOfTextId: Int
    /// Number of ids (vocabulary size).
    public var count: Int { tokenBytes.count }
    /// The bytes each id stands for.
    public let tokenBytes: [[UInt8]]
    /// Id of the one-byte token for each byte value.
    let byteIds: [Int32]
    /// (left id << 32 | right id) -> (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    /// Ids of pieces seen before, keyed by their exact bytes: a `String` key would compare by
    /// canonical equivalence and hand ";" the ids of U+037E GREEK QUESTION MARK (or U+0300 those of
    /// U+0340, a CJK compatibility ideograph those of its unified twin), changing the text.
    private var cache: [PieceKey: [Int32]] = [:]
    private let cacheLock = NSLock()

    public convenience init(vocabPath: String, mergesPath: String) throws {
        guard let vocabData = FileManager.default.contents(atPath: vocabPath) else {
            throw TokenizerError.io(vocabPath, "cannot read")
        }
        guard let mergesData = FileManager.default.contents(atPath: mergesPath) else {
            throw TokenizerError.io(mergesPath, "cannot read")
        }
        let vocab: [String: Int]
        do { vocab = try JSONDecoder().decode([String: Int].self, from: vocabData) } catch {
            throw TokenizerError.invalidVocab(vocabPath, "must be a JSON object of token -> id (\(error))")
        }
        try self.init(vocab: vocab, merges: String(decoding: mergesData, as: UTF8.self), vocabPath: vocabPath, mergesPath: mergesPath)
    }

    /// `vocab` maps byte-level token strings to ids; `merges` is merges.txt's text.
    public init(vocab: [String: Int], merges mergesText: String, vocabPath: String = "vocab.json", mergesPath: String = "merges.txt") throws {
        guard let maxId = vocab.values.max(), vocab.values.min()! >= 0 else {
            throw TokenizerError.invalidVocab(vocabPath, "is empty or has negative ids")
        }
        // Ids are dense, so the largest is below the count (found by fuzzing: an id of 7.8e18 asked
        // for an array of that size).
        guard maxId < vocab.count else {
            throw TokenizerError.invalidVocab(vocabPath, "id \(maxId) is outside 0..<\(vocab.count) (ids must be 0..<number of tokens)")
        }
        var bytes = [[UInt8]?](repeating: nil, count: maxId + 1)
        var eot = -1
        for (token, id) in vocab {
            guard bytes[id] == nil else { throw TokenizerError.invalidVocab(vocabPath, "id \(id) is used twice") }
            if token == GPT2Tokenizer.endOfText { eot = id; bytes[id] = Array(token.utf8); continue }
            var b: [UInt8] = []
            for ch in token {
                guard let x = unicodeToByte[ch] else {
                    throw TokenizerError.invalidVocab(vocabPath, "token \"\(token)\" (id \(id)) has a character outside the byte-level alphabet")
                }
                b.append(x)
            }
            bytes[id] = b
        }
        guard eot >= 0 else { throw TokenizerError.invalidVocab(vocabPath, "has no \(GPT2Tokenizer.endOfText)") }
        if let missing = bytes.firstIndex(where: { $0 == nil }) {
            throw TokenizerError.invalidVocab(vocabPath, "id \(missing) is missing (ids must be 0..<\(bytes.count))")
        }
        tokenBytes = bytes.map { $0! }
        endOfTextId = eot
        var ids = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            guard let id = vocab[String(byteToUnicode[b])] else {
                throw TokenizerError.invalidVocab(vocabPath, "has no token for byte \(b)")
            }
            ids[b] = Int32(id)
        }
        byteIds = ids
        var table: [UInt64: UInt64] = [:]
        var rank: UInt64 = 0
        for (k, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.isEmpty || (k == 0 && l.hasPrefix("#version")) { continue }
            let parts = l.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalidMerge(file: mergesPath, line: k + 1, problem: "expected two tokens separated by one space, found \"\(l)\"")
            }
            guard let a = vocab[String(parts[0])], let b = vocab[String(parts[1])], let m = vocab[String(parts[0] + parts[1])] else {
                throw TokenizerError.invalidMerge(file: mergesPath, line: k + 1, problem: "\"\(l)\" uses or makes a token missing from the vocabulary")
            }
            let key = UInt64(a) << 32 | UInt64(b)
            if table[key] == nil { table[key] = rank << 32 | UInt64(m) }
            rank += 1
        }
        merges = table
    }

    // MARK: encoding

    /// Token ids of `text`.
    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(text.utf8.count / 3)
        encode(text, into: &out)
        return out
    }

    /// Appends the ids of `text` to `out`.
    public func encode(_ text: String, into out: inout [Int]) {
        var t = text
        t.withUTF8 { s in
            // Split around every occurrence of <|endoftext|> first, as added tokens are.
            let marker = Array(GPT2Tokenizer.endOfText.utf8)
            var segStart = 0
            var i = 0
            while i + marker.count <= s.count {
                if s[i] == marker[0] && marker.withUnsafeBufferPointer({ m in memcmp(s.baseAddress! + i, m.baseAddress!, m.count) == 0 }) {
                    encodeOrdinary(UnsafeBufferPointer(rebasing: s[segStart..<i]), into: &out)
                    out.append(endOfTextId)
                    i += marker.count
                    segStart = i
                } else {
                    i += 1
                }
            }
            encodeOrdinary(UnsafeBufferPointer(rebasing: s[segStart..<s.count]), into: &out)
        }
    }

    /// Encodes text that holds no special token.
    func encodeOrdinary(_ s: UnsafeBufferPointer<UInt8>, into out: inout [Int]) {
        PreTokenizer.split(s) { r in
            let piece = UnsafeBufferPointer(rebasing: s[r])
            if piece.count == 1 { out.append(Int(byteIds[Int(piece[0])])); return }
            let key = PieceKey(piece)
            cacheLock.lock()
            let hit = cache[key]
            cacheLock.unlock()
            if let hit {
                for id in hit { out.append(Int(id)) }
                return
            }
            let ids = bpe(piece)
            cacheLock.lock()
            if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
            cache[key] = ids
            cacheLock.unlock()
            for id in ids { out.append(Int(id)) }
        }
    }

    /// Merges the bytes of one piece by rank: repeatedly join the adjacent pair whose merge came
    /// earliest in merges.txt (leftmost first on ties).
    ///
    ///     bpe(" lower") -> ids of ["Ġlower"] when "Ġ l", "o w", "Ġl ow", "e r", "Ġlow er" are merges
    func bpe(_ piece: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var ids = piece.map { byteIds[Int($0)] }
        while ids.count > 1 {
            var best = UInt64.max
            var at = -1
            for k in 0..<(ids.count - 1) {
                if let m = merges[UInt64(UInt32(ids[k])) << 32 | UInt64(UInt32(ids[k + 1]))], m < best {
                    best = m
                    at = k
                }
            }
            if at < 0 { break }
            // Merge every non-overlapping occurrence of this pair, left to right.
            let a = ids[at], b = ids[at + 1]
            let merged = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            var w = 0, r = 0
            while r < ids.count {
                if r + 1 < ids.count && ids[r] == a && ids[r + 1] == b {
                    ids[w] = merged; r += 2
                } else {
                    ids[w] = ids[r]; r += 1
                }
                w += 1
            }
            ids.removeLast(ids.count - w)
        }
        return ids
    }

    // MARK: decoding

    /// The bytes of a sequence of ids.
    public func decodeBytes(_ ids: [Int]) throws -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0 && id < tokenBytes.count else { throw TokenizerError.invalidTokenId(id) }
            out += tokenBytes[id]
        }
        return out
    }

    /// The text of a sequence of ids; byte sequences that are not valid UTF-8 become U+FFFD, as
    /// Hugging Face's `decode` (Rust `from_utf8_lossy`) does.
    public func decode(_ ids: [Int]) throws -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }
}

/// A piece of text as its UTF-8 bytes, compared and hashed byte for byte (not by canonical
/// equivalence). Pieces of up to 24 bytes, nearly all of them, live in three words, so a cache
/// lookup allocates nothing; longer ones keep an array.
struct PieceKey: Hashable {
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0
    var count: Int
    var long: [UInt8]?

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        count = bytes.count
        if count > 24 { long = Array(bytes); return }
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &words) { $0.copyMemory(from: UnsafeRawBufferPointer(bytes)) }
        (w0, w1, w2) = words
    }

    static func == (a: PieceKey, b: PieceKey) -> Bool {
        a.count == b.count && a.w0 == b.w0 && a.w1 == b.w1 && a.w2 == b.w2 && a.long == b.long
    }

    func hash(into h: inout Hasher) {
        if let long { h.combine(long); return }
        // Unused words are zero: hash only the ones the piece reaches.
        h.combine(w0 ^ UInt64(count) << 56)
        if count > 8 { h.combine(w1) }
        if count > 16 { h.combine(w2) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
