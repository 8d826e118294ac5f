/// A bad input found by a command: printed as one line, exit status 1 (no usage text, since the
/// flags were fine).
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
