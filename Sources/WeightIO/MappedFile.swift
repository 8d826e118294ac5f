#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file; the bytes stay valid as long as the object lives.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw WeightIOError.cannotOpen(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw WeightIOError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw WeightIOError.cannotOpen(file: path, reason: "is a directory")
        }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw WeightIOError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}

/// Writes a file so that readers see either the old file or the complete new one: the bytes go to a
/// temporary name in the same folder, are flushed, then renamed over the target.
public enum AtomicFile {
    public static func write(path: String, _ produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw WeightIOError.cannotWrite(file: path, reason: String(cString: strerror(errno))) }
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp) }
        }
        try produce { chunk in
            var done = 0
            while done < chunk.count {
                let n = Glibc.write(fd, chunk.baseAddress! + done, chunk.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WeightIOError.cannotWrite(file: path, reason: String(cString: strerror(errno)))
                }
                done += n
            }
        }
        guard fsync(fd) == 0, close(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            ok = true
            throw WeightIOError.cannotWrite(file: path, reason: reason)
        }
        ok = true
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw WeightIOError.cannotWrite(file: path, reason: reason)
        }
    }

    /// Atomic write of a small in-memory file.
    public static func write(path: String, bytes: [UInt8]) throws {
        try write(path: path) { w in try bytes.withUnsafeBytes { try w($0) } }
    }
}
