import Foundation

/// Writes a set of files into a folder all-or-nothing: files go to a hidden staging folder inside
/// the target, each written atomically, and are renamed into place only by `commit()`. A failure
/// before that leaves the target as it was (the staging folder is removed when this is released).
public final class StagedFolder {
    public let target: String
    public let staging: String
    /// Whether `commit()` replaces the whole target folder (else it moves files into it).
    public let replacesWhole: Bool
    private var names: [String] = []
    private var committed = false

    /// Stages a folder that `commit()` puts in place of `target` as a whole: whatever the target
    /// held before is gone, and a failure before the commit leaves it untouched. The staging folder
    /// is a hidden sibling of the target, so the final renames stay on one file system.
    public init(replacingWhole target: String) throws {
        self.target = target
        replacesWhole = true
        let url = URL(fileURLWithPath: target).standardizedFileURL
        let parent = url.deletingLastPathComponent().path
        do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
            throw WeightIOError.cannotWrite(file: parent, reason: "cannot create folder: \(error.localizedDescription)")
        }
        staging = (parent as NSString).appendingPathComponent(".\(url.lastPathComponent).staging-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(atPath: staging)
        do { try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false) } catch {
            throw WeightIOError.cannotWrite(file: staging, reason: "cannot create folder: \(error.localizedDescription)")
        }
    }

    public init(_ target: String) throws {
        self.target = target
        replacesWhole = false
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

    deinit { if !(committed && replacesWhole) { try? FileManager.default.removeItem(atPath: staging) } }

    /// Path to write `name` to before `commit()`.
    public func path(_ name: String) -> String {
        if !names.contains(name) { names.append(name) }
        return (staging as NSString).appendingPathComponent(name)
    }

    public func write(_ name: String, bytes: [UInt8]) throws { try AtomicFile.write(path: path(name), bytes: bytes) }

    /// Moves every staged file into the target folder (or, made with `replacingWhole`, puts the
    /// staged folder in the target's place: the old folder is renamed aside, the new one renamed in,
    /// and only then the old one removed).
    public func commit() throws {
        precondition(!committed)
        if replacesWhole {
            let fm = FileManager.default
            let aside = staging.replacingOccurrences(of: ".staging-", with: ".old-")
            var exists = fm.fileExists(atPath: target)
            if exists && rename(target, aside) != 0 {
                throw WeightIOError.cannotWrite(file: target, reason: "cannot move the old folder aside: \(String(cString: strerror(errno)))")
            }
            if rename(staging, target) != 0 {
                let reason = String(cString: strerror(errno))
                if exists { _ = rename(aside, target); exists = false }
                throw WeightIOError.cannotWrite(file: target, reason: "cannot move into place: \(reason)")
            }
            committed = true
            if exists { try? fm.removeItem(atPath: aside) }
            return
        }
        for name in names where FileManager.default.fileExists(atPath: path(name)) {
            let dest = (target as NSString).appendingPathComponent(name)
            if rename(path(name), dest) != 0 {
                throw WeightIOError.cannotWrite(file: dest, reason: "cannot move into place: \(String(cString: strerror(errno)))")
            }
        }
        committed = true
    }
}
