/// Errors of the Llama module; each message names the file or key and what is wrong. A config or
/// file that cannot be read is a `ModelFileError`, a file's missing, unused or mis-shaped tensors
/// `WeightIOError`s: the same for every architecture.
public enum LlamaError: Error, CustomStringConvertible, Equatable {
    case unsupported(file: String, problem: String)

    public var description: String {
        switch self {
        case let .unsupported(f, p): return "\(f): \(p)"
        }
    }
}
