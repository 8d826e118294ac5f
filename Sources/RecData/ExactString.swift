/// A string compared and hashed by its exact UTF-8 bytes. Swift's `String` equality is canonical
/// equivalence, so as a dictionary key "Jos\u{E9}" and "Jose\u{301}" would be one user; the
/// reference (Python, pandas) and the files themselves treat them as two ids, and so does this.
///
///     ExactString("Jos\u{E9}") == ExactString("Jose\u{301}")   // false
///     "Jos\u{E9}" == "Jose\u{301}"                              // true
public struct ExactString: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringInterpolation {
    public let value: String
    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }
    public init(stringInterpolation: DefaultStringInterpolation) { value = String(stringInterpolation: stringInterpolation) }
    public var description: String { value }

    public static func == (a: ExactString, b: ExactString) -> Bool { a.value.utf8.elementsEqual(b.value.utf8) }

    public func hash(into h: inout Hasher) {
        var v = value
        v.withUTF8 { h.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension Sequence where Element == String {
    /// Index of the first element with exactly the bytes of `s` (not merely canonically equivalent).
    public func firstIndex(exactly s: String) -> Int? {
        for (k, x) in enumerated() where x.utf8.elementsEqual(s.utf8) { return k }
        return nil
    }
}
