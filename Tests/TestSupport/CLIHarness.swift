import Foundation
import XCTest

/// Runs the built `cllm4rec` binary (SwiftPM builds it for this test target) in a chosen working
/// directory and captures its exit status and output.
public struct CLI {
    public struct Result {
        public var status: Int32
        public var out: String
        public var err: String
        public var all: String { out + err }
        public init(status: Int32, out: String, err: String) { self.status = status; self.out = out; self.err = err }
    }

    public static let binary: String = {
        var candidates: [URL] = []
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(exe.deletingLastPathComponent())
        candidates.append(Bundle.main.bundleURL)
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for dir in candidates {
            let p = dir.appendingPathComponent("cllm4rec").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        fatalError("the cllm4rec binary was not found next to the test bundle (\(candidates.map(\.path)))")
    }()

    /// The repository root (for the shipped Models/gpt2 tokenizer files).
    public static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @discardableResult
    public static func run(_ args: [String], in cwd: String, environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        // Output goes to files, so that a chatty child can never block on a full pipe.
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID())").path
        FileManager.default.createFile(atPath: base + ".out", contents: nil)
        FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer { try? FileManager.default.removeItem(atPath: base + ".out"); try? FileManager.default.removeItem(atPath: base + ".err") }
        p.standardOutput = FileHandle(forWritingAtPath: base + ".out")
        p.standardError = FileHandle(forWritingAtPath: base + ".err")
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let outData = FileManager.default.contents(atPath: base + ".out") ?? Data()
        let errData = FileManager.default.contents(atPath: base + ".err") ?? Data()
        return Result(status: p.terminationStatus, out: String(decoding: outData, as: UTF8.self), err: String(decoding: errData, as: UTF8.self))
    }
}

/// A temporary folder that lives as long as the test process (for fixtures shared by a class).
public func temporaryFolderPath(_ name: String) -> String {
    let p = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID())").path
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    return p
}

/// Names, sizes and modification dates of every file below `dir`: a refused command must leave it equal.
public func snapshot(_ dir: String) throws -> [String: String] {
    var out: [String: String] = [:]
    let fm = FileManager.default
    for case let name as String in fm.enumerator(atPath: dir)! {
        let a = try fm.attributesOfItem(atPath: dir + "/" + name)
        out[name] = "\(a[.size] ?? 0) \((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
    }
    return out
}

/// A temporary working folder, removed after the test.
public func temporaryFolder(_ test: XCTestCase, _ name: String = "cli") -> String {
    let p = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID())").path
    try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: p) }
    return p
}

/// A small RecBole dataset: 12 users, 10 items, 7 interactions each (one rated 2, dropped by the
/// rating filter), with titles and user profiles.
public func writeTinyDataset(to dir: String, name: String = "tiny") throws {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    var t = 880_000_000
    for u in 0..<12 {
        for k in 0..<8 {
            t += 17
            inter += "\(100 + u)\t\(200 + (u + k * 3) % 10)\t\(k == 7 ? 2 : 4 + (u + k) % 2)\t\(t)\n"
        }
    }
    try inter.write(toFile: dir + "/\(name).inter", atomically: true, encoding: .utf8)
    var item = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    for i in 0..<10 { item += "\(200 + i)\tFilm Number \(i)\t\(1990 + i)\t\(i % 2 == 0 ? "Drama" : "Comedy Action")\n" }
    try item.write(toFile: dir + "/\(name).item", atomically: true, encoding: .utf8)
    var user = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
    for u in 0..<12 { user += "\(100 + u)\t\(20 + u)\t\(u % 2 == 0 ? "M" : "F")\twriter\t0000\(u)\n" }
    try user.write(toFile: dir + "/\(name).user", atomically: true, encoding: .utf8)
}
