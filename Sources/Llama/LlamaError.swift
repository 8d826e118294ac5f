/// Errors of the Llama module; each message names the file or key and what is wrong. A file's
/// missing, unused or mis-shaped tensors are `WeightIOError`s, the same for every architecture.
public enum LlamaError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case io(String, String)
    case unsupported(file: String, problem: String)

    public var description: String {
        switch self {
        case let .invalidConfig(m): return "invalid Llama config: \(m)"
        case let .io(f, m): return "\(f): \(m)"
        case let .unsupported(f, p): return "\(f): \(p)"
        }
    }
}
