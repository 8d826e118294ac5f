/// The pre-tokenization regex of Llama 3 (and, with single digits, of Qwen2):
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// written out as a scanner over UTF-8 with Oniguruma's leftmost-alternative, greedy-with-
/// backtracking result (what Hugging Face `tokenizers` runs for `Split(Regex(...), "isolated")`).
/// Qwen2's pattern is the same with `\p{N}` instead of `\p{N}{1,3}` (`maxDigits` 1).
///
///     pieces("Hello!world  12345\n\n x", maxDigits: 3) -> ["Hello", "!world", " ", " ", "123", "45", "\n\n", " x"]
public enum Llama3PreTokenizer {
    typealias Kind = PreTokenizer.Kind

    @inline(__always)
    static func isNewline(_ s: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool { s[i] == 0x0A || s[i] == 0x0D }

    /// Calls `emit` with the byte range of each piece of `s[range]`, in order.
    public static func split(_ s: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, maxDigits: Int, _ emit: (Range<Int>) -> Void) {
        let n = range.upperBound
        var i = range.lowerBound
        func kind(_ j: Int) -> (Kind, Int) { PreTokenizer.classify(s, j) }
        while i < n {
            let start = i
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if s[i] == UInt8(ascii: "'"), i + 1 < n {
                let c1 = s[i + 1] | 0x20  // ASCII lower case
                if c1 == UInt8(ascii: "s") || c1 == UInt8(ascii: "t") || c1 == UInt8(ascii: "m") || c1 == UInt8(ascii: "d") {
                    emit(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < n {
                    let c2 = s[i + 2] | 0x20
                    if (c1 == UInt8(ascii: "r") && c2 == UInt8(ascii: "e")) || (c1 == UInt8(ascii: "v") && c2 == UInt8(ascii: "e"))
                        || (c1 == UInt8(ascii: "l") && c2 == UInt8(ascii: "l")) {
                        emit(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            let (k0, l0) = kind(i)
            // [^\r\n\p{L}\p{N}]?\p{L}+
            var j = i
            if k0 == .letter {
                j = i
            } else if k0 != .number && !isNewline(s, i) && i + l0 < n && kind(i + l0).0 == .letter {
                j = i + l0
            } else {
                j = -1
            }
            if j >= 0 {
                while j < n {
                    let (k, l) = kind(j)
                    if k != .letter { break }
                    j += l
                }
                emit(start..<j); i = j; continue
            }
            // \p{N}{1,maxDigits}
            if k0 == .number {
                j = i
                var count = 0
                while j < n && count < maxDigits {
                    let (k, l) = kind(j)
                    if k != .number { break }
                    j += l; count += 1
                }
                emit(start..<j); i = j; continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            var p = i
            if s[p] == 0x20, p + 1 < n, kind(p + 1).0 == .other { p += 1 }
            if kind(p).0 == .other {
                while p < n {
                    let (k, l) = kind(p)
                    if k != .other { break }
                    p += l
                }
                while p < n && isNewline(s, p) { p += 1 }
                emit(start..<p); i = p; continue
            }
            // Whitespace from here on (k0 == .space).
            var end = i, lastNewlineEnd = -1, lastStart = i
            while end < n {
                let (k, l) = kind(end)
                if k != .space { break }
                lastStart = end
                end += l
                if isNewline(s, end - l) { lastNewlineEnd = end }
            }
            // \s*[\r\n]+ : up to the last newline of the run.
            if lastNewlineEnd > 0 {
                emit(start..<lastNewlineEnd); i = lastNewlineEnd; continue
            }
            // \s+(?!\S): the run, less its last character when a non-space follows; \s+ otherwise.
            if end < n && lastStart > start {
                emit(start..<lastStart); i = lastStart
            } else {
                emit(start..<end); i = end
            }
        }
    }

    /// The pieces as strings (for tests and tools).
    public static func pieces(_ text: String, maxDigits: Int) -> [String] {
        var t = text
        return t.withUTF8 { s in
            var out: [String] = []
            split(s, 0..<s.count, maxDigits: maxDigits) { out.append(String(decoding: UnsafeBufferPointer(rebasing: s[$0]), as: UTF8.self)) }
            return out
        }
    }
}
