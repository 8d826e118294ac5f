import Foundation

/// Reading and writing an architecture's config.json, the same for every architecture: the decoded
/// config, or one line saying why not (the key path of a decoding failure).
public enum ConfigFile {
    public static func decode<C: Decodable>(_ type: C.Type, path: String) throws(ModelFileError) -> C {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .io(file: path, problem: "cannot read: \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(C.self, from: data) } catch {
            throw .io(file: path, problem: "invalid config: \(describe(error))")
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

/// What every architecture's files can get wrong in the same way: a config this engine cannot run,
/// a file or folder it cannot read. Each message names the architecture or the file.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(architecture: String, problem: String)
    case io(file: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidConfig(a, m): return "invalid \(a) config: \(m)"
        case let .io(f, m): return "\(f): \(m)"
        }
    }
}

/// An architecture's config that says what this engine cannot run in it.
public protocol CheckedConfig: Decodable {
    /// The architecture's name in messages ("GPT-2", "Llama").
    static var displayName: String { get }
    /// Why this engine cannot run the config, naming the key to fix; nil when it can.
    var problem: String? { get }
}

extension CheckedConfig {
    /// Checks what this engine can run; the message names the key to fix.
    public func validate() throws(ModelFileError) {
        if let problem { throw .invalidConfig(architecture: Self.displayName, problem: problem) }
    }

    /// A config.json decoded and checked; the error names the file and the key.
    public static func load(path: String) throws(ModelFileError) -> Self {
        let config = try ConfigFile.decode(Self.self, path: path)
        if let problem = config.problem { throw .io(file: path, problem: problem) }
        return config
    }
}
