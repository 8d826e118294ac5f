import Foundation
import Hummingbird
import WeightIO

/// The server's JSON values, written in a fixed key order (sorted) so answers are byte-stable.
/// Requests are read with WeightIO's strict parser (RFC 8259, duplicate keys refused, depth
/// limited), which is fuzzed with the other readers.
public indirect enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    /// Written with Float's shortest round-trip digits (a score is a Float).
    case float(Float)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// Compact UTF-8 text.
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? "\(d)" : "null"
        case .float(let f): return f.isFinite ? "\(f)" : "null"
        case .string(let s): return JSONValue.quoted(s)
        case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { JSONValue.quoted($0) + ":" + o[$0]!.text }.joined(separator: ",") + "}"
        }
    }

    func response(status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A JSON value from a file's parsed form (for the training summaries in `/v1/info`).
    init(_ v: JSONValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let s): self = Int(s).map(JSON.int) ?? .double(Double(s) ?? .nan)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(JSON.init))
        case .object(let o): self = .object(Dictionary(o.map { ($0.0, JSON($0.1)) }, uniquingKeysWith: { a, _ in a }))
        }
    }
}

/// A JSON request body, read field by field with errors that name the field.
struct RequestBody {
    let fields: [(String, JSONValue)]

    /// Parses `bytes` as one JSON object whose keys are all in `allowed` (a misspelt key is an error, not a default).
    init(_ bytes: [UInt8], allowed: Set<String>) throws(APIError) {
        let value: JSONValue
        do { value = try JSONParser.parse(bytes) } catch {
            throw APIError(.badRequest, "bad_json", "the body is not valid JSON: \(error.problem) at byte \(error.offset)", field: error.duplicateKey)
        }
        guard case .object(let fields) = value else { throw APIError(.badRequest, "bad_json", "the body must be a JSON object") }
        if let unknown = fields.first(where: { !allowed.contains($0.0) }) {
            throw APIError.badField(unknown.0, "unknown field (accepted: \(allowed.sorted().joined(separator: ", ")))")
        }
        self.fields = fields
    }

    /// The value of `key`; null is a value (of the wrong type for every field), not a default.
    subscript(_ key: String) -> JSONValue? { fields.first(where: { $0.0 == key })?.1 }

    /// An id given as a string or an integer ("303" or 303).
    static func id(_ v: JSONValue, field: String) throws(APIError) -> String {
        switch v {
        case .string(let s): return s
        case .number(let n) where !n.isEmpty && n.drop(while: { $0 == "-" }).allSatisfy(\.isASCII) && n.drop(while: { $0 == "-" }).allSatisfy(\.isNumber):
            return n
        default: throw APIError.badField(field, "expected an id (string or integer)")
        }
    }

    func id(_ key: String) throws(APIError) -> String {
        guard let v = self[key] else { throw APIError.badField(key, "required") }
        return try Self.id(v, field: key)
    }

    func ids(_ key: String) throws(APIError) -> [String]? {
        guard let v = self[key] else { return nil }
        guard case .array(let a) = v else { throw APIError.badField(key, "expected an array of ids") }
        var out: [String] = []
        for (k, x) in a.enumerated() { out.append(try Self.id(x, field: "\(key)[\(k)]")) }
        return out
    }

    func int(_ key: String, default d: Int, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let v = self[key] else { return d }
        guard case .number(let n) = v, let i = Int(n) else { throw APIError.badField(key, "expected an integer") }
        guard range.contains(i) else { throw APIError.badField(key, "\(i) is out of range \(range.lowerBound)...\(range.upperBound)") }
        return i
    }

    func uint64(_ key: String, default d: UInt64) throws(APIError) -> UInt64 {
        guard let v = self[key] else { return d }
        guard case .number(let n) = v, let i = UInt64(n) else { throw APIError.badField(key, "expected an integer from 0 to \(UInt64.max)") }
        return i
    }

    /// A number in [lo, hi], checked before it becomes a Float (so 5e-324 is below a positive
    /// minimum, not zero).
    func float(_ key: String, default d: Float, _ lo: Double, _ hi: Double) throws(APIError) -> Float {
        guard let v = self[key] else { return d }
        guard case .number(let n) = v, let x = Double(n), x.isFinite else { throw APIError.badField(key, "expected a number") }
        guard x >= lo && x <= hi else { throw APIError.badField(key, "\(n) is out of range [\(lo), \(hi)]") }
        return Float(x)
    }
}
