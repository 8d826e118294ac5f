import Foundation

/// The readers under test take paths, so each input is written to a file in a RAM-backed folder
/// (one per process, reused), read back through the real code path, and removed.
public enum TemporaryFile {
    static let folder: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = "\(base)/cllm4rec-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// Writes `bytes` to `name` in the fuzz folder and returns its path.
    public static func write(_ bytes: UnsafeRawBufferPointer, name: String) -> String {
        let path = folder + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// Removes every file written for this input.
    public static func clean() {
        for f in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] { try? FileManager.default.removeItem(atPath: folder + "/" + f) }
    }

    /// The input cut at the first `separator` byte sequence into two parts (the second empty when absent).
    public static func split(_ bytes: UnsafeRawBufferPointer, at separator: [UInt8] = [0x00, 0xFF, 0x00]) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        let b = Array(bytes)
        if b.count >= separator.count {
            for i in 0...(b.count - separator.count) where Array(b[i..<(i + separator.count)]) == separator {
                return (UnsafeRawBufferPointer(rebasing: bytes[0..<i]), UnsafeRawBufferPointer(rebasing: bytes[(i + separator.count)...]))
            }
        }
        return (bytes, UnsafeRawBufferPointer(start: nil, count: 0))
    }
}
