/// Errors of the Llama module; each message names the file or key and what is wrong.
public enum LlamaError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case io(String, String)
    case missingTensor(file: String, tensor: String, expectedShape: [Int])
    case unusedTensor(file: String, tensor: String, shape: [Int])
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case unsupported(file: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidConfig(m): return "invalid Llama config: \(m)"
        case let .io(f, m): return "\(f): \(m)"
        case let .missingTensor(f, t, s): return "\(f): tensor \"\(t)\" with shape \(s) is missing"
        case let .unusedTensor(f, t, s): return "\(f): tensor \"\(t)\" (shape \(s)) is not part of this model; refusing to drop it silently"
        case let .shapeMismatch(f, t, e, s): return "\(f): tensor \"\(t)\" has shape \(s), expected \(e)"
        case let .unsupported(f, p): return "\(f): \(p)"
        }
    }
}
