/// Errors of the GPT-2 module; each message names the file or tensor and what is wrong. A config or
/// file that cannot be read is a `ModelFileError`, a file's missing, unused or mis-shaped tensors
/// `WeightIOError`s: the same for every architecture.
public enum GPT2Error: Error, CustomStringConvertible, Equatable {
    case duplicateTensor(file: String, tensor: String)
    case untiedHead(file: String)
    case cannotInferConfig(file: String, reason: String)

    public var description: String {
        switch self {
        case let .duplicateTensor(f, t): return "\(f): tensor \"\(t)\" appears twice (with and without the \"transformer.\" prefix)"
        case let .untiedHead(f): return "\(f): lm_head.weight differs from wte.weight; GPT-2 ties them and untied heads are not supported"
        case let .cannotInferConfig(f, r): return "\(f): cannot infer the GPT-2 config from the tensor shapes: \(r); pass a config.json"
        }
    }
}
