/// GPT-2's pre-tokenization, the regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// written out as a scanner over UTF-8, with the same leftmost-alternative, greedy-with-backtracking
/// result as Oniguruma (which Hugging Face `tokenizers` runs). `\s` is Unicode White_Space.
///
///     pieces("Hello  world's\n\n") -> ["Hello", " ", " world", "'s", "\n\n"]
public enum PreTokenizer {
    enum Kind: UInt8 { case letter, number, space, other }

    /// Class of each ASCII byte.
    static let asciiKind: [Kind] = (0..<128).map { b -> Kind in
        switch UInt8(b) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return .letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        case 0x09...0x0D, 0x20: return .space
        default: return .other
        }
    }

    /// Class and byte length of the scalar starting at `i` (the buffer is valid UTF-8).
    @inline(__always)
    static func classify(_ s: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Kind, Int) {
        let b0 = s[i]
        if b0 < 0x80 { return (asciiKind[Int(b0)], 1) }
        var v: UInt32
        let len: Int
        if b0 < 0xE0 { len = 2; v = UInt32(b0 & 0x1F) } else if b0 < 0xF0 { len = 3; v = UInt32(b0 & 0x0F) } else { len = 4; v = UInt32(b0 & 0x07) }
        for k in 1..<len { v = v << 6 | UInt32(s[i + k] & 0x3F) }
        let p = Unicode.Scalar(v)!.properties
        if p.isWhitespace { return (.space, len) }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return (.letter, len)
        case .decimalNumber, .letterNumber, .otherNumber: return (.number, len)
        default: return (.other, len)
        }
    }

    /// Calls `emit` with the byte range of each piece of `s`, in order.
    ///
    /// With `digitsApart`, every decimal-digit scalar (`\p{N}`) is first cut out as its own piece
    /// and the regex runs on the text between them (SmolLM's `Digits(individual_digits)` then
    /// `ByteLevel`):
    ///
    ///     pieces("a  12", digitsApart: true) -> ["a", "  ", "1", "2"]   (GPT-2 alone: ["a", " ", " 12"])
    @inline(__always)
    public static func split(_ s: UnsafeBufferPointer<UInt8>, digitsApart: Bool = false, _ emit: (Range<Int>) -> Void) {
        guard digitsApart else { return scan(s, 0..<s.count, emit) }
        var start = 0, i = 0
        while i < s.count {
            let (kind, len) = classify(s, i)
            if kind == .number {
                if i > start { scan(s, start..<i, emit) }
                emit(i..<(i + len))
                start = i + len
            }
            i += len
        }
        if start < s.count { scan(s, start..<s.count, emit) }
    }

    /// GPT-2's regex over `s[range]`.
    @inline(__always)
    static func scan(_ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ emit: (Range<Int>) -> Void) {
        let n = range.upperBound
        var i = range.lowerBound
        while i < n {
            let start = i
            let c = s[i]
            // 's 't 're 've 'm 'll 'd
            if c == UInt8(ascii: "'"), i + 1 < n {
                let c1 = s[i + 1]
                if c1 == UInt8(ascii: "s") || c1 == UInt8(ascii: "t") || c1 == UInt8(ascii: "m") || c1 == UInt8(ascii: "d") {
                    emit(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < n {
                    let c2 = s[i + 2]
                    if (c1 == UInt8(ascii: "r") && c2 == UInt8(ascii: "e")) || (c1 == UInt8(ascii: "v") && c2 == UInt8(ascii: "e"))
                        || (c1 == UInt8(ascii: "l") && c2 == UInt8(ascii: "l")) {
                        emit(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            var (kind, len) = classify(s, i)
            var j = i
            if c == 0x20, i + 1 < n {
                // " ?X+": an optional leading space joins a following letter, number or symbol run.
                let (k2, l2) = classify(s, i + 1)
                if k2 != .space { kind = k2; len = l2; j = i + 1 }
            }
            if kind != .space {
                j += len
                while j < n {
                    let (k, l) = classify(s, j)
                    if k != kind { break }
                    j += l
                }
                emit(start..<j)
                i = j
                continue
            }
            // Whitespace: `\s+(?!\S)` takes the run but leaves its last scalar when a non-space
            // follows; a lone whitespace scalar before a non-space falls to `\s+`.
            var lastStart = i
            j = i + len
            while j < n {
                let (k, l) = classify(s, j)
                if k != .space { break }
                lastStart = j
                j += l
            }
            if j < n && lastStart > start {
                emit(start..<lastStart)
                i = lastStart
            } else {
                emit(start..<j)
                i = j
            }
        }
    }

    /// The pieces as strings (for tests and tools).
    public static func pieces(_ text: String, digitsApart: Bool = false) -> [String] {
        var t = text
        return t.withUTF8 { s in
            var out: [String] = []
            split(s, digitsApart: digitsApart) { out.append(String(decoding: UnsafeBufferPointer(rebasing: s[$0]), as: UTF8.self)) }
            return out
        }
    }
}
