import WeightIO

/// Parses one Python literal (`ast.literal_eval` of dicts, lists, tuples, strings, numbers,
/// True/False/None), the style of the 2014 Amazon metadata files, into a JSON value. JSON's own
/// true/false/null are accepted too, so the same parser reads both releases.
///
///     {'title': 'Tutu', 'price': 3.17, 'categories': [['Toys', 'Dance']], 'x': None}
public struct PythonLiteral {
    private let s: [UInt8]
    private var i = 0
    private var depth = 0

    /// The value, or the byte offset and reason it could not be read.
    public static func parse(_ text: Substring) -> Result<JSONValue, JSONError> {
        var p = PythonLiteral(s: Array(text.utf8))
        do {
            p.space()
            let v = try p.value()
            p.space()
            if p.i != p.s.count { throw p.fail("unexpected data after the value") }
            return .success(v)
        } catch let e as JSONError { return .failure(e) } catch { return .failure(JSONError(offset: 0, problem: "\(error)")) }
    }

    private init(s: [UInt8]) { self.s = s }
    private func fail(_ p: String) -> JSONError { JSONError(offset: i, problem: p) }
    private mutating func space() { while i < s.count, [0x20, 0x09, 0x0A, 0x0D].contains(s[i]) { i += 1 } }

    private mutating func value() throws -> JSONValue {
        guard i < s.count else { throw fail("unexpected end of line") }
        switch s[i] {
        case UInt8(ascii: "{"): return try container(close: UInt8(ascii: "}"), isDict: true)
        case UInt8(ascii: "["): return try container(close: UInt8(ascii: "]"), isDict: false)
        case UInt8(ascii: "("): return try container(close: UInt8(ascii: ")"), isDict: false)
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "u") where i + 1 < s.count && (s[i + 1] == UInt8(ascii: "'") || s[i + 1] == UInt8(ascii: "\"")):
            i += 1
            return .string(try string())
        default:
            var j = i
            while j < s.count, !",:]})} \t\r\n".utf8.contains(s[j]) { j += 1 }
            let word = String(decoding: s[i..<j], as: UTF8.self)
            switch word {
            case "True", "true": i = j; return .bool(true)
            case "False", "false": i = j; return .bool(false)
            case "None", "null": i = j; return .null
            default:
                guard Double(word) != nil else { throw fail("unexpected \"\(word.prefix(20))\"") }
                i = j
                return .number(word)
            }
        }
    }

    private mutating func container(close: UInt8, isDict: Bool) throws -> JSONValue {
        depth += 1
        defer { depth -= 1 }
        if depth > 64 { throw fail("nesting deeper than 64") }
        i += 1
        var items: [JSONValue] = [], entries: [(String, JSONValue)] = []
        while true {
            space()
            guard i < s.count else { throw fail("unterminated \(isDict ? "dict" : "list")") }
            if s[i] == close { i += 1; break }
            if isDict {
                let keyValue = try value()
                let key: String
                switch keyValue {
                case let .string(k): key = k
                case let .number(n): key = n
                default: throw fail("dict keys must be strings or numbers")
                }
                space()
                guard i < s.count, s[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                space()
                entries.append((key, try value()))
            } else {
                items.append(try value())
            }
            space()
            guard i < s.count else { throw fail("unterminated \(isDict ? "dict" : "list")") }
            if s[i] == UInt8(ascii: ",") { i += 1; continue }
            if s[i] == close { i += 1; break }
            throw fail("expected ',' or '\(Character(Unicode.Scalar(close)))'")
        }
        return isDict ? .object(entries) : .array(items)
    }

    private mutating func hex(_ n: Int) throws -> UInt32 {
        guard i + n <= s.count, let v = UInt32(String(decoding: s[i..<(i + n)], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\x, \\u or \\U escape")
        }
        i += n
        return v
    }

    private mutating func string() throws -> String {
        let quote = s[i]
        i += 1
        var out: [UInt8] = []
        func scalar(_ v: UInt32) throws {
            guard let u = Unicode.Scalar(v) else { throw fail("escape names an invalid code point") }
            out += Array(String(Character(u)).utf8)
        }
        while true {
            guard i < s.count else { throw fail("unterminated string") }
            let c = s[i]
            if c == quote { i += 1; break }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < s.count else { throw fail("unterminated escape") }
            let e = s[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "x"): try scalar(try hex(2))
            case UInt8(ascii: "u"):
                var v = try hex(4)
                // JSON-style surrogate pairs appear in some converted files.
                if (0xD800..<0xDC00).contains(v), i + 6 <= s.count, s[i] == UInt8(ascii: "\\"), s[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex(4)
                    // A high surrogate pairs with a low one only (found by fuzzing: "\\ud800\\u0041"
                    // overflowed here, a trap with checks and garbage without).
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a \\u high surrogate must be followed by a \\u low surrogate") }
                    v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                }
                try scalar(v)
            case UInt8(ascii: "U"): try scalar(try hex(8))
            case UInt8(ascii: "\n"): break
            default: out.append(e)  // \\ \' \" and unknown escapes keep the character, as Python does for quotes
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
