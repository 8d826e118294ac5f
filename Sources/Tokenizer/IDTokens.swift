/// The CLLM4Rec vocabulary extension: one atomic token per user and per item after GPT-2's 50,257.
///
/// `user_i` = base + i and `item_j` = base + I + j. Text is first split on `user_\d+|item_\d+`; a
/// match naming an existing user or item (canonical decimal, no leading zeros, ASCII digits) is one
/// token; every other piece goes through byte-level BPE after its trailing whitespace is stripped,
/// and whitespace-only pieces are dropped (so the space before an ID token is absorbed).
///
///     let t = IDTokenizer(base: gpt2, users: 10, items: 5)
///     t.encode("Hello, user_1! Have you seen item_2?")
///     // [15496, 11, 50258, 0, 8192, 345, 1775, 50269, 30]
public struct IDTokenizer: Sendable {
    public let base: BPETokenizer
    public let userCount: Int
    public let itemCount: Int

    public init(base: BPETokenizer, users: Int, items: Int) {
        self.base = base
        userCount = users
        itemCount = items
    }

    /// Id of the first user token (= the base vocabulary size).
    public var firstUserId: Int { base.count }
    public var firstItemId: Int { base.count + userCount }
    /// Size of the extended vocabulary.
    public var count: Int { base.count + userCount + itemCount }

    public func userToken(_ i: Int) -> Int { precondition(i >= 0 && i < userCount); return firstUserId + i }
    public func itemToken(_ j: Int) -> Int { precondition(j >= 0 && j < itemCount); return firstItemId + j }

    /// A piece of text: plain text, or a user/item reference that may or may not exist.
    enum Piece: Equatable { case text(Substring), user(Int), item(Int) }

    /// Splits on `user_\d+|item_\d+`, leftmost match first, as Python's `re.split` with a group.
    static func split(_ s: String) -> [(piece: Substring, id: (isUser: Bool, value: Substring)?)] {
        var out: [(Substring, (Bool, Substring)?)] = []
        let u = s.utf8
        var textStart = u.startIndex
        var i = u.startIndex
        while i != u.endIndex {
            let rest = s[i...]
            var prefixLen = 0
            var isUser = false
            if rest.utf8.starts(with: "user_".utf8) { prefixLen = 5; isUser = true } else if rest.utf8.starts(with: "item_".utf8) { prefixLen = 5 }
            if prefixLen > 0 {
                let digitsStart = u.index(i, offsetBy: prefixLen)
                var j = digitsStart
                while j != u.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(u[j]) { j = u.index(after: j) }
                if j != digitsStart {
                    if textStart != i { out.append((s[textStart..<i], nil)) }
                    out.append((s[i..<j], (isUser, s[digitsStart..<j])))
                    textStart = j
                    i = j
                    continue
                }
            }
            i = u.index(after: i)
        }
        if textStart != u.endIndex { out.append((s[textStart...], nil)) }
        return out
    }

    /// Token ids of text that mixes words with `user_i` / `item_j`.
    public func encode(_ text: String) -> [Int] {
        var out: [Int] = []
        for (piece, ref) in IDTokenizer.split(text) {
            if let ref, let id = resolve(isUser: ref.isUser, digits: ref.value) {
                out.append(id)
                continue
            }
            var t = piece
            while let last = t.unicodeScalars.last, last.properties.isWhitespace { t = t.dropLast() }
            if !t.isEmpty { base.encode(String(t), into: &out) }
        }
        return out
    }

    func resolve(isUser: Bool, digits: Substring) -> Int? {
        if digits.count > 1 && digits.first == "0" { return nil }
        guard let v = Int(digits) else { return nil }
        if isUser { return v < userCount ? firstUserId + v : nil }
        return v < itemCount ? firstItemId + v : nil
    }

    /// Text of extended ids: ID tokens print as `user_i` / `item_j`, separated from words by a space.
    public func decode(_ ids: [Int]) throws -> String {
        var out = ""
        var run: [Int] = []
        func flush() throws {
            if !run.isEmpty { out += try base.decode(run); run = [] }
        }
        for id in ids {
            if id >= firstUserId && id < count {
                try flush()
                if !out.isEmpty && !(out.last?.isWhitespace ?? true) { out += " " }
                out += id < firstItemId ? "user_\(id - firstUserId)" : "item_\(id - firstItemId)"
            } else {
                run.append(id)
            }
        }
        try flush()
        return out
    }
}
