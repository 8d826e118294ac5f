import Foundation

/// Writes a set of files into a folder all-or-nothing: files go to a hidden staging folder inside
/// the target, each written atomically, and are renamed into place only by `commit()`. A failure
/// before that leaves the target as it was (the staging folder is removed when this is released).
///
/// A commit into an existing folder is journaled, so that a process killed half-way leaves nothing
/// half-done: every staged file is on disk (fsynced) before the journal `.commit-journal.json`
/// (the list of names) is written and fsynced; then the files are renamed in, the folder is
/// fsynced, and the journal removed. `recover(_:)`, run by every reader and writer of the folder
/// first, finishes a commit whose process died after its journal (the staged files are whole), and
/// removes the staging folders and temporary files of processes that died before it. A commit made
/// with `recordsGeneration` also writes `.generation` (last), a new id a reader compares before and
/// after loading.
public final class StagedFolder {
    /// The journal of a commit in progress (or interrupted) in the target folder.
    public static let journalName = ".commit-journal.json"
    /// The id of the folder's last commit.
    public static let generationName = ".generation"
    /// This commit's id (written to `.generation`; writers may record it in their own files).
    public let generation = UUID().uuidString
    /// Whether the commit writes `generation` to `.generation` (a folder that readers load as one
    /// unit, such as a recommender folder; model and split folders stay free of it).
    public var recordsGeneration = false
    /// For tests: stop a commit right after its journal is on disk, as a process killed there would.
    public var stopAfterJournal = false
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

    deinit {
        // A whole replacement moved the staging folder into place; a stopped commit leaves it for `recover`.
        if committed && (replacesWhole || stopAfterJournal) { return }
        try? FileManager.default.removeItem(atPath: staging)
    }

    /// Path to write `name` to before `commit()`; a name may hold folders ("adapter/config.json"),
    /// created in the staging folder.
    public func path(_ name: String) -> String {
        if !names.contains(name) { names.append(name) }
        let p = (staging as NSString).appendingPathComponent(name)
        if name.contains("/") { try? FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true) }
        return p
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
            fsyncDirectory(staging)
            if exists && rename(target, aside) != 0 {
                throw WeightIOError.cannotWrite(file: target, reason: "cannot move the old folder aside: \(String(cString: strerror(errno)))")
            }
            if rename(staging, target) != 0 {
                let reason = String(cString: strerror(errno))
                if exists { _ = rename(aside, target); exists = false }
                throw WeightIOError.cannotWrite(file: target, reason: "cannot move into place: \(reason)")
            }
            committed = true
            fsyncDirectory(URL(fileURLWithPath: target).standardizedFileURL.deletingLastPathComponent().path)
            if exists { try? fm.removeItem(atPath: aside) }
            return
        }
        let fm = FileManager.default
        let moved = names.filter { fm.fileExists(atPath: (staging as NSString).appendingPathComponent($0)) }
        if recordsGeneration {
            try AtomicFile.write(path: (staging as NSString).appendingPathComponent(Self.generationName), bytes: Array(generation.utf8))
        }
        let journal = Journal(staging: (staging as NSString).lastPathComponent, names: moved + (recordsGeneration ? [Self.generationName] : []),
                              pid: getpid(), generation: generation)
        for dir in Set(journal.names.map { name in name.lastIndex(of: "/").map { String(name[..<$0]) } ?? "" }) {
            fsyncDirectory(dir.isEmpty ? staging : (staging as NSString).appendingPathComponent(dir))
        }
        try AtomicFile.write(path: (target as NSString).appendingPathComponent(Self.journalName), bytes: Array(try JSONEncoder().encode(journal)))
        fsyncDirectory(target)
        committed = true
        if stopAfterJournal { return }
        try Self.rollForward(target, journal)
    }

    struct Journal: Codable {
        var staging: String
        var names: [String]
        var pid: Int32
        var generation: String
    }

    /// Renames the journal's staged files into place, fsyncs, removes the journal and the staging folder.
    static func rollForward(_ target: String, _ journal: Journal) throws {
        let fm = FileManager.default
        let staging = (target as NSString).appendingPathComponent(journal.staging)
        var dirs: Set<String> = [target]
        for name in journal.names {
            let src = (staging as NSString).appendingPathComponent(name), dest = (target as NSString).appendingPathComponent(name)
            guard fm.fileExists(atPath: src) else { continue }  // moved before an interruption
            let parent = (dest as NSString).deletingLastPathComponent
            if parent != target {
                do { try fm.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
                    throw WeightIOError.cannotWrite(file: parent, reason: "cannot create folder: \(error.localizedDescription)")
                }
                dirs.insert(parent)
            }
            if rename(src, dest) != 0 {
                throw WeightIOError.cannotWrite(file: dest, reason: "cannot move into place: \(String(cString: strerror(errno)))")
            }
        }
        dirs.forEach(fsyncDirectory)
        unlink((target as NSString).appendingPathComponent(journalName))
        fsyncDirectory(target)
        try? fm.removeItem(atPath: staging)
    }

    /// What `recover` did to a folder.
    public struct Recovery: Equatable, Sendable {
        /// The generation of an interrupted commit that was finished, if one was.
        public var finishedCommit: String?
        /// Leftovers of dead processes removed (names in the folder or, for whole-folder
        /// replacements, next to it).
        public var removed: [String] = []
        public var isEmpty: Bool { finishedCommit == nil && removed.isEmpty }
    }

    /// Brings `target` to a committed state: finishes a commit interrupted after its journal, puts
    /// back a whole-folder replacement interrupted between its two renames, and removes the staging
    /// folders and temporary files of processes that no longer run. A commit whose process still
    /// runs is waited for (up to `wait` seconds), then reported as an error. A folder that does not
    /// exist is left alone.
    @discardableResult
    public static func recover(_ target: String, wait: Double = 10) throws -> Recovery {
        let fm = FileManager.default
        var out = Recovery()
        let url = URL(fileURLWithPath: target).standardizedFileURL
        let parent = url.deletingLastPathComponent().path, base = url.lastPathComponent
        // A whole-folder replacement: `.NAME.old-PID` (the previous folder, moved aside) and
        // `.NAME.staging-PID` (the new one, whole) of a dead process.
        if let siblings = try? fm.contentsOfDirectory(atPath: parent) {
            // The new folder first: once it is in place, the old one can go.
            for name in siblings.sorted(by: { $0.contains(".staging-") && !$1.contains(".staging-") }) where name.hasPrefix(".\(base).") {
                guard let pid = deadOwner(name, markers: [".staging-", ".old-"]) else { continue }
                let path = (parent as NSString).appendingPathComponent(name)
                if name.contains(".staging-"), !fm.fileExists(atPath: target) {
                    // Interrupted between "old aside" and "new in": the new folder is whole.
                    if rename(path, target) == 0 { out.finishedCommit = "whole folder of process \(pid)"; fsyncDirectory(parent); continue }
                }
                if name.contains(".old-"), !fm.fileExists(atPath: target) { continue }  // never drop the only copy
                try? fm.removeItem(atPath: path)
                out.removed.append(name)
            }
        }
        guard fm.fileExists(atPath: target) else { return out }
        let journalPath = (target as NSString).appendingPathComponent(journalName)
        let deadline = Date().addingTimeInterval(wait)
        while let data = fm.contents(atPath: journalPath) {
            guard let journal = try? JSONDecoder().decode(Journal.self, from: data) else {
                throw WeightIOError.cannotOpen(file: journalPath, reason: "an unreadable commit journal; the folder may be half-written")
            }
            if journal.pid != getpid() && isRunning(journal.pid) {
                if Date() < deadline { Thread.sleep(forTimeInterval: 0.02); continue }
                throw WeightIOError.cannotOpen(file: target, reason: "process \(journal.pid) is committing new files into it; try again once it is done")
            }
            try rollForward(target, journal)
            out.finishedCommit = journal.generation
        }
        // Leftovers in the folder and its subfolders (adapter/, checkpoints).
        var dirs = [""]
        if let entries = try? fm.contentsOfDirectory(atPath: target) {
            for name in entries where !name.hasPrefix(".") {
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: (target as NSString).appendingPathComponent(name), isDirectory: &isDir), isDir.boolValue { dirs.append(name) }
            }
        }
        for dir in dirs {
            let path = dir.isEmpty ? target : (target as NSString).appendingPathComponent(dir)
            for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] where deadOwner(name, markers: [".staging-", ".tmp-"]) != nil {
                try? fm.removeItem(atPath: (path as NSString).appendingPathComponent(name))
                out.removed.append(dir.isEmpty ? name : dir + "/" + name)
            }
        }
        return out
    }

    /// The id of the folder's last commit (nil before any journaled commit), and whether a commit
    /// is in progress: a reader that sees the same id and no commit before and after loading has
    /// loaded one commit's files.
    public static func state(_ target: String) -> (generation: String?, committing: Bool) {
        let g = FileManager.default.contents(atPath: (target as NSString).appendingPathComponent(generationName)).map { String(decoding: $0, as: UTF8.self) }
        return (g, FileManager.default.fileExists(atPath: (target as NSString).appendingPathComponent(journalName)))
    }

    /// The PID after one of `markers` at the end of `name`, if that process is not running.
    static func deadOwner(_ name: String, markers: [String]) -> Int32? {
        for m in markers {
            guard let r = name.range(of: m, options: .backwards), let pid = Int32(name[r.upperBound...]), pid > 0 else { continue }
            return isRunning(pid) ? nil : pid
        }
        return nil
    }

    static func isRunning(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno == EPERM }
}

/// fsync of a folder, so that the renames in it survive a crash (errors ignored: some file
/// systems refuse it, and the data files themselves are fsynced).
func fsyncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY)
    guard fd >= 0 else { return }
    _ = fsync(fd)
    close(fd)
}
