import Foundation

/// Writes a set of files into a folder all-or-nothing: files go to a hidden staging folder inside
/// the target, each written atomically, and are renamed into place only by `commit()`. A failure
/// before that leaves the target as it was (the staging folder is removed when this is released).
public final class StagedFolder {
    public let target: String
    public let staging: String
    private var names: [String] = []
    private var committed = false

    public init(_ target: String) throws {
        self.target = target
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: target, withIntermediateDirectories: true) } catch {
            throw WeightIOError.cannotWrite(file: target, reason: "cannot create folder: \(error.localizedDescription)")
        }
        staging = (target as NSString).appendingPathComponent(".staging-\(ProcessInfo.processInfo.processIdentifier)")
        try? fm.removeItem(atPath: staging)
        do { try fm.createDirectory(atPath: staging, withIntermediateDirectories: false) } catch {
            throw WeightIOError.cannotWrite(file: staging, reason: "cannot create folder: \(error.localizedDescription)")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: staging) }

    /// Path to write `name` to before `commit()`.
    public func path(_ name: String) -> String {
        if !names.contains(name) { names.append(name) }
        return (staging as NSString).appendingPathComponent(name)
    }

    public func write(_ name: String, bytes: [UInt8]) throws { try AtomicFile.write(path: path(name), bytes: bytes) }

    /// Moves every staged file into the target folder.
    public func commit() throws {
        precondition(!committed)
        for name in names where FileManager.default.fileExists(atPath: path(name)) {
            let dest = (target as NSString).appendingPathComponent(name)
            if rename(path(name), dest) != 0 {
                throw WeightIOError.cannotWrite(file: dest, reason: "cannot move into place: \(String(cString: strerror(errno)))")
            }
        }
        committed = true
    }
}
