/// Why a dataset file was refused: always the file, the line (1-based) and the field.
public enum RecDataError: Error, CustomStringConvertible, Equatable {
    case io(file: String, problem: String)
    case header(file: String, problem: String)
    case row(file: String, line: Int, field: String?, problem: String)
    case empty(String)

    public var description: String {
        switch self {
        case let .io(f, p): return "\(f): \(p)"
        case let .header(f, p): return "\(f):1: header \(p)"
        case let .row(f, l, field, p): return "\(f):\(l): " + (field.map { "field \"\($0)\": " } ?? "") + p
        case let .empty(m): return m
        }
    }
}
