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

/// Byte-level BPE as Hugging Face `tokenizers` runs it for GPT-2, SmolLM and their kin: no prefix
/// space, no normalisation, special tokens (`<|endoftext|>`, `<|im_start|>`, ...) recognised
/// anywhere in the text as whole tokens, the rest pre-tokenized (`PreTokenization`) and merged by
/// rank. For GPT-2 it is identical to `GPT2TokenizerFast`.
///
///     let t = try BPETokenizer(vocabPath: "Models/gpt2/vocab.json", mergesPath: "Models/gpt2/merges.txt")
///     t.encode("Hello world")  // [15496, 995]
///     t.decode([15496, 995])   // "Hello world"
public final class BPETokenizer: @unchecked Sendable {
    public static let endOfText = "<|endoftext|>"

    /// How text is cut into pieces before the merges.
    public enum PreTokenization: String, Sendable {
        /// GPT-2's regex (`PreTokenizer.split`).
        case gpt2
        /// Every digit its own piece first, then GPT-2's regex on the rest: SmolLM's
        /// `Sequence[Digits(individual_digits), ByteLevel]`, llama.cpp's `smollm`.
        case smollm
        /// Llama 3's regex (numbers in runs of up to 3 digits; `Llama3PreTokenizer`).
        case llama3
        /// Qwen2's: Llama 3's regex with single digits.
        case qwen2
    }

    /// Unicode NFC applied to the text first (Qwen2's normalizer).
    public let normalizesNFC: Bool

    /// Token id of the end-of-text token appended to documents (`<|endoftext|>` when the
    /// vocabulary has it).
    public let endOfTextId: Int
    /// Special tokens, matched whole in any text before pre-tokenization, by their text.
    public let specialTokens: [String: Int]
    public let preTokenization: PreTokenization
    /// Special tokens by first byte, longest first.
    private let specialsByFirstByte: [[(bytes: [UInt8], id: Int)]]
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

    /// `vocab` maps byte-level token strings to ids; `merges` is merges.txt's text. GPT-2's
    /// conventions: `<|endoftext|>` is the one special token, GPT-2's pre-tokenization.
    public convenience init(vocab: [String: Int], merges mergesText: String, vocabPath: String = "vocab.json", mergesPath: String = "merges.txt") throws {
        _ = try BPETokenizer.checkIds(vocab, vocabPath)
        var pairs: [(String, String)] = []
        for (k, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let l = line.hasSuffix("\r") ? line.dropLast() : line
            if l.isEmpty || (k == 0 && l.hasPrefix("#version")) { pairs.append(("", "")); continue }
            let parts = l.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalidMerge(file: mergesPath, line: k + 1, problem: "expected two tokens separated by one space, found \"\(l)\"")
            }
            // Each line is checked whole before the next, so the first bad line is the one named.
            guard vocab[String(parts[0])] != nil, vocab[String(parts[1])] != nil, vocab[String(parts[0] + parts[1])] != nil else {
                throw TokenizerError.invalidMerge(file: mergesPath, line: k + 1, problem: "\"\(l)\" uses or makes a token missing from the vocabulary")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        try self.init(vocab: vocab, merges: pairs, specialTokens: [BPETokenizer.endOfText], endOfText: BPETokenizer.endOfText,
                      preTokenization: .gpt2, vocabPath: vocabPath, mergesPath: mergesPath)
    }

    /// The general form. `merges` in rank order (an empty pair is a skipped line, for line
    /// numbers); `specialTokens` are vocabulary entries matched whole and spelled as plain text;
    /// `endOfText` must be one of the vocabulary's tokens.
    public init(vocab: [String: Int], merges mergePairs: [(String, String)], specialTokens specials: [String], endOfText: String,
                preTokenization: PreTokenization, normalizesNFC: Bool = false, vocabPath: String = "vocab.json",
                mergesPath: String = "merges.txt") throws {
        self.normalizesNFC = normalizesNFC
        let maxId = try BPETokenizer.checkIds(vocab, vocabPath)
        var bytes = [[UInt8]?](repeating: nil, count: maxId + 1)
        let specialSet = Set(specials)
        for (token, id) in vocab {
            guard bytes[id] == nil else { throw TokenizerError.invalidVocab(vocabPath, "id \(id) is used twice") }
            if specialSet.contains(token) { bytes[id] = Array(token.utf8); continue }
            var b: [UInt8] = []
            for ch in token {
                guard let x = unicodeToByte[ch] else {
                    throw TokenizerError.invalidVocab(vocabPath, "token \"\(token)\" (id \(id)) has a character outside the byte-level alphabet")
                }
                b.append(x)
            }
            bytes[id] = b
        }
        guard let eot = vocab[endOfText] else { throw TokenizerError.invalidVocab(vocabPath, "has no \(endOfText)") }
        var specialIds: [String: Int] = [:]
        var byFirst = [[(bytes: [UInt8], id: Int)]](repeating: [], count: 256)
        for sp in specials {
            guard let id = vocab[sp] else { throw TokenizerError.invalidVocab(vocabPath, "special token \"\(sp)\" is not in the vocabulary") }
            guard let first = sp.utf8.first else { continue }
            specialIds[sp] = id
            byFirst[Int(first)].append((Array(sp.utf8), id))
        }
        for b in 0..<256 { byFirst[b].sort { $0.bytes.count > $1.bytes.count } }
        specialTokens = specialIds
        specialsByFirstByte = byFirst
        self.preTokenization = preTokenization
        if let missing = bytes.firstIndex(where: { $0 == nil }) {
            throw TokenizerError.invalidVocab(vocabPath, "id \(missing) is missing (ids must be 0..<\(bytes.count))")
        }
        tokenBytes = bytes.map { $0! }
        endOfTextId = eot
        // A byte without a token of its own (SmolLM2 has none for six control characters and the
        // bytes UTF-8 never uses) is dropped from the text, as Hugging Face's BPE does without an
        // unknown token: -1 here.
        var ids = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let id = vocab[String(byteToUnicode[b])] { ids[b] = Int32(id) }
        }
        byteIds = ids
        var table: [UInt64: UInt64] = [:]
        var rank: UInt64 = 0
        for (k, pair) in mergePairs.enumerated() {
            if pair.0.isEmpty && pair.1.isEmpty { continue }
            guard let a = vocab[pair.0], let b = vocab[pair.1], let m = vocab[pair.0 + pair.1] else {
                throw TokenizerError.invalidMerge(file: mergesPath, line: k + 1, problem: "\"\(pair.0) \(pair.1)\" uses or makes a token missing from the vocabulary")
            }
            let key = UInt64(a) << 32 | UInt64(b)
            if table[key] == nil { table[key] = rank << 32 | UInt64(m) }
            rank += 1
        }
        merges = table
    }

    /// The largest id, after checking the ids are 0..<count.
    static func checkIds(_ vocab: [String: Int], _ vocabPath: String) throws -> Int {
        guard let maxId = vocab.values.max(), vocab.values.min()! >= 0 else {
            throw TokenizerError.invalidVocab(vocabPath, "is empty or has negative ids")
        }
        // Ids are dense, so the largest is below the count (found by fuzzing: an id of 7.8e18 asked
        // for an array of that size).
        guard maxId < vocab.count else {
            throw TokenizerError.invalidVocab(vocabPath, "id \(maxId) is outside 0..<\(vocab.count) (ids must be 0..<number of tokens)")
        }
        return maxId
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
        var t = normalizesNFC ? text.precomposedStringWithCanonicalMapping : text
        t.withUTF8 { s in
            // Split around every occurrence of a special token first (the longest one starting at
            // a position wins), as added tokens are.
            var segStart = 0
            var i = 0
            scan: while i < s.count {
                for sp in specialsByFirstByte[Int(s[i])] where i + sp.bytes.count <= s.count {
                    if sp.bytes.withUnsafeBufferPointer({ m in memcmp(s.baseAddress! + i, m.baseAddress!, m.count) == 0 }) {
                        encodeOrdinary(UnsafeBufferPointer(rebasing: s[segStart..<i]), into: &out)
                        out.append(sp.id)
                        i += sp.bytes.count
                        segStart = i
                        continue scan
                    }
                }
                i += 1
            }
            encodeOrdinary(UnsafeBufferPointer(rebasing: s[segStart..<s.count]), into: &out)
        }
    }

    /// Encodes text that holds no special token.
    func encodeOrdinary(_ s: UnsafeBufferPointer<UInt8>, into out: inout [Int]) {
        let pieces: (_ emit: (Range<Int>) -> Void) -> Void = { emit in
            switch self.preTokenization {
            case .gpt2: PreTokenizer.split(s, emit)
            case .smollm: PreTokenizer.split(s, digitsApart: true, emit)
            case .llama3: Llama3PreTokenizer.split(s, 0..<s.count, maxDigits: 3, emit)
            case .qwen2: Llama3PreTokenizer.split(s, 0..<s.count, maxDigits: 1, emit)
            }
        }
        pieces { r in
            let piece = UnsafeBufferPointer(rebasing: s[r])
            if piece.count == 1 {
                let id = byteIds[Int(piece[0])]
                if id >= 0 { out.append(Int(id)) }
                return
            }
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
        if ids.contains(-1) { ids.removeAll { $0 < 0 } }
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
