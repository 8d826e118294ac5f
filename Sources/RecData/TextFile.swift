import Foundation
import WeightIO

/// A text file read whole (gunzipped when it ends in .gz or starts with the gzip magic), with its
/// lines: LF or CRLF endings, a final line without ending accepted.
public struct TextFile {
    public let path: String
    public let bytes: [UInt8]

    public init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecDataError.io(file: path, problem: FileManager.default.fileExists(atPath: path) ? "cannot read" : "no such file")
        }
        let raw = [UInt8](data)
        if raw.count >= 2 && raw[0] == 0x1F && raw[1] == 0x8B {
            do { bytes = try raw.withUnsafeBytes { try gunzip($0, file: path) } } catch let e as WeightIOError {
                throw RecDataError.io(file: path, problem: "\(e)".replacingOccurrences(of: path + ": ", with: ""))
            }
        } else {
            bytes = raw
        }
    }

    /// Calls `body(lineNumber, line)` for every line (without its ending); `line` is valid UTF-8
    /// or the file is refused at that line.
    public func forEachLine(_ body: (Int, Substring) throws -> Void) throws {
        var start = 0, number = 0
        let n = bytes.count
        try bytes.withUnsafeBufferPointer { b in
            while start < n {
                var end = start
                while end < n && b[end] != 0x0A { end += 1 }
                number += 1
                var stop = end
                if stop > start && b[stop - 1] == 0x0D { stop -= 1 }
                let slice = UnsafeBufferPointer(rebasing: b[start..<stop])
                guard let line = String(validating: slice, as: UTF8.self) else {
                    throw RecDataError.row(file: path, line: number, field: nil, problem: "not valid UTF-8")
                }
                try body(number, Substring(line))
                start = end + 1
            }
        }
    }

    /// Size and CRC-32 of the file as stored (before gunzip): the fingerprint of a source file.
    public static func fingerprint(path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "missing" }
        let crc = data.withUnsafeBytes { crc32Of($0) }
        return "\(data.count) bytes, crc32 \(String(format: "%08x", crc))"
    }
}
