import Foundation
import Tokenizer
import WeightIO

/// A set of documents, each a prompt and a main text of token ids, stored flat.
public struct Corpus: Equatable, Sendable {
    public var name: String
    public var promptOffsets: [Int] = [0]
    public var mainOffsets: [Int] = [0]
    public var promptTokens: [Int32] = []
    public var mainTokens: [Int32] = []
    /// The user and item each document is about (-1 when none).
    public var users: [Int32] = []
    public var items: [Int32] = []

    public init(name: String) { self.name = name }

    public var count: Int { users.count }
    public func prompt(_ k: Int) -> ArraySlice<Int32> { promptTokens[promptOffsets[k]..<promptOffsets[k + 1]] }
    public func main(_ k: Int) -> ArraySlice<Int32> { mainTokens[mainOffsets[k]..<mainOffsets[k + 1]] }
    public var tokenCount: Int { promptTokens.count + mainTokens.count }

    public mutating func append(prompt: [Int], main: [Int], user: Int, item: Int) {
        promptTokens += prompt.map(Int32.init)
        mainTokens += main.map(Int32.init)
        promptOffsets.append(promptTokens.count)
        mainOffsets.append(mainTokens.count)
        users.append(Int32(user))
        items.append(Int32(item))
    }
}

/// The tokenized documents of docs/CLLM4REC.md §3, built once per dataset and cached:
/// collaborative (`user_i has interacted with` + training items), reviews (`user_i wrote the
/// following review for item_j:` + text, training pairs only), item and user text (`item_j is
/// described as:` + text), and the finetuning prompt's two fixed parts. Text main texts end with
/// `<|endoftext|>`, which the content head learns to predict like any word.
public struct Corpora: Equatable, Sendable {
    public var contextLength: Int
    public var collaborative: Corpus
    public var reviews: Corpus
    public var itemText: Corpus
    public var userText: Corpus
    /// `user_i has interacted with` and `, user_i will interact with`, with -1 where user_i goes.
    public var finetunePrefix: [Int32]
    public var finetuneSuffix: [Int32]

    public var all: [Corpus] { [collaborative, reviews, itemText, userText] }

    /// Tokenizes everything. Main texts longer than the context are cut: histories lose their oldest
    /// items, texts their end.
    public static func build(_ d: PreparedDataset, tokenizer t: IDTokenizer, contextLength: Int) -> Corpora {
        func room(_ prompt: [Int]) -> Int { max(0, contextLength - prompt.count) }
        func textMain(_ text: String, room: Int) -> [Int] { Corpora.textMain(text, room: room, tokenizer: t) }
        var collab = Corpus(name: "collaborative")
        for (u, items) in d.train.enumerated() {
            let p = t.encode(PromptTemplates.history(user: u))
            collab.append(prompt: p, main: fitHistory(items.map { t.itemToken($0) }, room: room(p)), user: u, item: -1)
        }
        var reviews = Corpus(name: "reviews")
        for r in d.reviews {
            let p = t.encode(PromptTemplates.review(user: r.user, item: r.item))
            reviews.append(prompt: p, main: textMain(r.text, room: room(p)), user: r.user, item: r.item)
        }
        var itemText = Corpus(name: "item-text")
        for (j, text) in d.itemText.enumerated() {
            guard let text, !text.isEmpty else { continue }
            let p = t.encode(PromptTemplates.itemText(item: j))
            itemText.append(prompt: p, main: textMain(text, room: room(p)), user: -1, item: j)
        }
        var userText = Corpus(name: "user-text")
        for (u, text) in d.userText.enumerated() {
            guard let text, !text.isEmpty else { continue }
            let p = t.encode(PromptTemplates.userText(user: u))
            userText.append(prompt: p, main: textMain(text, room: room(p)), user: u, item: -1)
        }
        let placeholder = { (ids: [Int]) in ids.map { $0 == t.firstUserId ? Int32(-1) : Int32($0) } }
        return Corpora(contextLength: contextLength, collaborative: collab, reviews: reviews, itemText: itemText, userText: userText,
                       finetunePrefix: placeholder(t.encode(PromptTemplates.history(user: 0))),
                       finetuneSuffix: placeholder(t.encode(PromptTemplates.future(user: 0))))
    }

    /// A text's tokens ended by <|endoftext|> (so that generated reviews stop by themselves), cut at
    /// the end to fit `room` tokens.
    static func textMain(_ text: String, room: Int, tokenizer t: IDTokenizer) -> [Int] {
        guard room > 0 else { return [] }
        return Array(t.base.encode(" " + text).prefix(room - 1)) + [t.base.endOfTextId]
    }

    /// These corpora with item-text documents for new items (`item_j is described as:` + text), as
    /// `build` makes them; `tokenizer` must know the new items.
    public func addingItemTexts(_ texts: [(item: Int, text: String)], tokenizer t: IDTokenizer) -> Corpora {
        var out = self
        for (j, text) in texts {
            let p = t.encode(PromptTemplates.itemText(item: j))
            out.itemText.append(prompt: p, main: Corpora.textMain(text, room: max(0, contextLength - p.count), tokenizer: t), user: -1, item: j)
        }
        return out
    }

    /// The finetuning prompt `user_i has interacted with <items>, user_i will interact with`, the
    /// items cut at the oldest end so the whole prompt fits the context.
    public func finetunePrompt(userToken: Int, items: [Int]) -> [Int] {
        let prefix = finetunePrefix.map { $0 < 0 ? userToken : Int($0) }
        let suffix = finetuneSuffix.map { $0 < 0 ? userToken : Int($0) }
        return prefix + fitHistory(items, room: contextLength - prefix.count - suffix.count) + suffix
    }
}

/// The most recent items of a history (oldest first) that fit in `room` tokens: a long history loses
/// its oldest items, never the prompt's tail.
///
///     fitHistory([1, 2, 3, 4], room: 2) -> [3, 4]
public func fitHistory<T>(_ items: [T], room: Int) -> [T] { Array(items.suffix(max(0, room))) }

// MARK: - cache file

extension Corpora {
    static let magic = Array("CLLM4REC-CORPORA".utf8)
    static let version: UInt32 = 1

    /// A compact binary: magic, version, context, the two templates, then each corpus's counts and
    /// arrays (little-endian Int64 offsets, Int32 tokens), and a CRC-32 of everything before it.
    public func encoded() -> [UInt8] {
        var out = Corpora.magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: Int) { withUnsafeBytes(of: UInt64(v).littleEndian) { out += $0 } }
        func i32s(_ a: [Int32]) { u64(a.count); a.withUnsafeBytes { out += $0 } }
        func ints(_ a: [Int]) { u64(a.count); for v in a { u64(v) } }
        u32(Corpora.version)
        u64(contextLength)
        i32s(finetunePrefix)
        i32s(finetuneSuffix)
        u32(UInt32(all.count))
        for c in all {
            let name = Array(c.name.utf8)
            u64(name.count); out += name
            ints(c.promptOffsets); ints(c.mainOffsets)
            i32s(c.promptTokens); i32s(c.mainTokens); i32s(c.users); i32s(c.items)
        }
        let crc = out.withUnsafeBytes { crc32Of($0) }
        u32(crc)
        return out
    }

    /// Reads `encoded()` back, checking the magic, version, CRC and every offset.
    public init(decoding b: [UInt8], file: String) throws {
        func bad(_ p: String, _ at: Int) -> RecDataError { .io(file: file, problem: "corrupt corpora cache at byte \(at): \(p); run extend-vocab again") }
        guard b.count >= Corpora.magic.count + 8, Array(b.prefix(Corpora.magic.count)) == Corpora.magic else { throw bad("not a corpora file", 0) }
        let stored = b.suffix(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard b.dropLast(4).withUnsafeBytes({ crc32Of($0) }) == stored else { throw bad("CRC-32 mismatch", b.count - 4) }
        var i = Corpora.magic.count
        let end = b.count - 4
        func u32() throws -> UInt32 {
            guard i + 4 <= end else { throw bad("truncated", i) }
            defer { i += 4 }
            return b.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: i, as: UInt32.self)) }
        }
        func u64() throws -> Int {
            guard i + 8 <= end else { throw bad("truncated", i) }
            let v = b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: i, as: UInt64.self)) }
            guard v <= UInt64(end) * 8 else { throw bad("count \(v) out of range", i) }
            i += 8
            return Int(v)
        }
        func i32s() throws -> [Int32] {
            let n = try u64()
            guard n <= (end - i) / 4 else { throw bad("array of \(n) runs past the end", i) }
            defer { i += 4 * n }
            return (0..<n).map { k in b.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: i + 4 * k, as: Int32.self)) } }
        }
        func ints() throws -> [Int] {
            let n = try u64()
            guard n <= (end - i) / 8 else { throw bad("array of \(n) runs past the end", i) }
            return try (0..<n).map { _ in try u64() }
        }
        guard try u32() == Corpora.version else { throw bad("unsupported version", i - 4) }
        contextLength = try u64()
        finetunePrefix = try i32s()
        finetuneSuffix = try i32s()
        let n = try u32()
        guard n == 4 else { throw bad("expected 4 corpora, found \(n)", i - 4) }
        var corpora: [Corpus] = []
        for _ in 0..<n {
            let len = try u64()
            guard len <= end - i else { throw bad("name runs past the end", i) }
            var c = Corpus(name: String(decoding: b[i..<(i + len)], as: UTF8.self))
            i += len
            c.promptOffsets = try ints(); c.mainOffsets = try ints()
            c.promptTokens = try i32s(); c.mainTokens = try i32s(); c.users = try i32s(); c.items = try i32s()
            let docs = c.users.count
            guard c.items.count == docs, c.promptOffsets.count == docs + 1, c.mainOffsets.count == docs + 1,
                  c.promptOffsets.first == 0, c.mainOffsets.first == 0,
                  c.promptOffsets.last == c.promptTokens.count, c.mainOffsets.last == c.mainTokens.count,
                  zip(c.promptOffsets, c.promptOffsets.dropFirst()).allSatisfy({ $0 <= $1 }),
                  zip(c.mainOffsets, c.mainOffsets.dropFirst()).allSatisfy({ $0 <= $1 })
            else { throw bad("inconsistent offsets in corpus \"\(c.name)\"", i) }
            corpora.append(c)
        }
        guard i == end else { throw bad("unexpected trailing data", i) }
        (collaborative, reviews, itemText, userText) = (corpora[0], corpora[1], corpora[2], corpora[3])
    }
}
