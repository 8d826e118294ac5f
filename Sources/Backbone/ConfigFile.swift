import Foundation

/// Reading and writing an architecture's config.json, the same for every architecture: the decoded
/// config, or one line saying why not (the key path of a decoding failure).
public enum ConfigFile {
    public static func decode<C: Decodable>(_ type: C.Type, path: String) -> Result<C, ConfigFileProblem> {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            return .failure(ConfigFileProblem(message: "cannot read: \(error.localizedDescription)"))
        }
        do { return .success(try JSONDecoder().decode(C.self, from: data)) } catch {
            return .failure(ConfigFileProblem(message: "invalid config: \(describe(error))"))
        }
    }

    /// Pretty-printed JSON with sorted keys, as Hugging Face writes it.
    public static func encode<C: Encodable>(_ config: C) -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try! e.encode(config)
    }

    /// A one-line reason for a JSON decoding failure, naming the key path.
    public static func describe(_ error: Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ c: [CodingKey]) -> String { c.map(\.stringValue).joined(separator: ".") }
        switch e {
        case let .typeMismatch(_, c): return "\(path(c.codingPath)): \(c.debugDescription)"
        case let .valueNotFound(_, c): return "\(path(c.codingPath)): \(c.debugDescription)"
        case let .keyNotFound(k, c): return "\(path(c.codingPath + [k])): missing"
        case let .dataCorrupted(c): return "\(path(c.codingPath)): \(c.debugDescription) \(c.underlyingError.map { "\($0)" } ?? "")"
        @unknown default: return "\(e)"
        }
    }
}

public struct ConfigFileProblem: Error { public let message: String }

/// An architecture's config that says what this engine cannot run in it.
public protocol CheckedConfig: Decodable {
    /// Why this engine cannot run the config, naming the key to fix; nil when it can.
    var problem: String? { get }
}

extension ConfigFile {
    /// A config.json decoded and checked: the config, or one line saying why not.
    public static func load<C: CheckedConfig>(_ type: C.Type, path: String) -> Result<C, ConfigFileProblem> {
        decode(type, path: path).flatMap { c in c.problem.map { .failure(ConfigFileProblem(message: $0)) } ?? .success(c) }
    }
}
