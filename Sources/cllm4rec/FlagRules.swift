import ArgumentParser
import Foundation

/// Range checks for numeric flags, run in `validate()` so that a bad value is refused before any
/// work starts: each failure is a `ValidationError` naming the flag, the allowed range and the
/// value given (exit code 64, nothing written).
///
///     try FlagRules.atLeast(1, batch, "--batch")   // --batch 0 -> "--batch must be >= 1 (got 0)"
enum FlagRules {
    static func atLeast(_ minimum: Int, _ value: Int, _ flag: String) throws {
        guard value >= minimum else { throw ValidationError("\(flag) must be >= \(minimum) (got \(value))") }
    }

    static func atLeast(_ minimum: Int, _ value: Int?, _ flag: String) throws {
        if let value { try atLeast(minimum, value, flag) }
    }

    static func inRange(_ range: ClosedRange<Int>, _ value: Int, _ flag: String) throws {
        guard range.contains(value) else {
            throw ValidationError("\(flag) must be in \(range.lowerBound)...\(range.upperBound) (got \(value))")
        }
    }

    /// A finite number > 0 (learning rates, LoRA alpha, penalties).
    static func positive<F: BinaryFloatingPoint>(_ value: F, _ flag: String) throws {
        guard value.isFinite, value > 0 else { throw ValidationError("\(flag) must be a finite number > 0 (got \(value))") }
    }

    /// A finite number >= 0 (λ, temperature).
    static func nonNegative<F: BinaryFloatingPoint>(_ value: F, _ flag: String) throws {
        guard value.isFinite, value >= 0 else { throw ValidationError("\(flag) must be a finite number >= 0 (got \(value))") }
    }

    /// A finite number of any sign (thresholds).
    static func finite<F: BinaryFloatingPoint>(_ value: F, _ flag: String) throws {
        guard value.isFinite else { throw ValidationError("\(flag) must be a finite number (got \(value))") }
    }

    /// lower < value < upper, or with `includingUpper` lower < value <= upper; with `includingLower`
    /// lower <= value.
    static func between<F: BinaryFloatingPoint>(_ value: F, _ lower: F, _ upper: F, _ flag: String,
                                                includingLower: Bool = false, includingUpper: Bool = false) throws {
        let aboveLower = includingLower ? value >= lower : value > lower
        let belowUpper = includingUpper ? value <= upper : value < upper
        guard value.isFinite, aboveLower, belowUpper else {
            let range = (includingLower ? "[" : "(") + "\(lower), \(upper)" + (includingUpper ? "]" : ")")
            throw ValidationError("\(flag) must be in \(range) (got \(value))")
        }
    }

    /// A file the command will write at the end: its folder must exist and be writable now, so that
    /// a long run is not lost to a typo in the path.
    static func writableFile(_ path: String?, _ flag: String) throws {
        guard let path else { return }
        let parent = (path as NSString).deletingLastPathComponent, folder = parent.isEmpty ? "." : parent
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("\(flag) \(path): the folder \(folder) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: folder) else { throw ValidationError("\(flag) \(path): the folder \(folder) is not writable") }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw ValidationError("\(flag) \(path) is a folder; name a file")
        }
    }

    /// "20,40" -> [20, 40]: positive integers only, each at most `maximum`.
    ///
    ///     try FlagRules.cutoffs("20,40", "--k") -> [20, 40]
    static func cutoffs(_ list: String, _ flag: String, maximum: Int = 1_000_000) throws -> [Int] {
        let values = try list.split(separator: ",", omittingEmptySubsequences: false).map { s -> Int in
            guard let v = Int(s.trimmingCharacters(in: .whitespaces)), v > 0, v <= maximum else {
                throw ValidationError("\(flag) takes comma-separated integers in 1...\(maximum) (got \"\(list)\")")
            }
            return v
        }
        guard !values.isEmpty else { throw ValidationError("\(flag) needs at least one cut-off") }
        return values
    }
}
