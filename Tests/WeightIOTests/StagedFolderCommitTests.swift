import Foundation
import WeightIO
import XCTest

/// A commit into an existing folder is all-or-nothing even when its process is killed: the
/// journal lets `recover` finish it, and leftovers of dead processes are removed.
final class StagedFolderCommitTests: XCTestCase {
    var dir = ""

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("commit-\(UUID())").path
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func text(_ name: String) -> String? {
        FileManager.default.contents(atPath: dir + "/" + name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The PID of a process that has exited.
    func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func testACommitKilledAfterItsJournalIsFinishedByRecover() throws {
        let old = try StagedFolder(dir)
        old.recordsGeneration = true
        try old.write("a.json", bytes: Array("old a".utf8))
        try old.write("b.json", bytes: Array("old b".utf8))
        try old.commit()
        XCTAssertEqual(StagedFolder.state(dir).generation, old.generation)

        let new = try StagedFolder(dir)
        new.recordsGeneration = true
        new.stopAfterJournal = true  // as if killed right after the journal reached the disk
        try new.write("a.json", bytes: Array("new a".utf8))
        try new.write("b.json", bytes: Array("new b".utf8))
        try new.write("adapter/c.json", bytes: Array("new c".utf8))
        try new.commit()
        XCTAssertEqual(text("a.json"), "old a", "nothing moved yet")
        XCTAssertTrue(StagedFolder.state(dir).committing)

        let r = try StagedFolder.recover(dir)
        XCTAssertEqual(r.finishedCommit, new.generation)
        XCTAssertEqual(text("a.json"), "new a")
        XCTAssertEqual(text("b.json"), "new b")
        XCTAssertEqual(text("adapter/c.json"), "new c")
        XCTAssertEqual(StagedFolder.state(dir).generation, new.generation)
        XCTAssertFalse(StagedFolder.state(dir).committing)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".staging") }, [])
        XCTAssertTrue(try StagedFolder.recover(dir).isEmpty, "a second recover has nothing to do")
    }

    func testAFolderWithoutGenerationsGetsNoDotFile() throws {
        let f = try StagedFolder(dir)
        try f.write("config.json", bytes: Array("{}".utf8))
        try f.commit()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["config.json"])
        XCTAssertNil(StagedFolder.state(dir).generation)
    }

    func testAnInterruptedRollForwardIsFinished() throws {
        let new = try StagedFolder(dir)
        new.stopAfterJournal = true
        try new.write("a.json", bytes: Array("new a".utf8))
        try new.write("b.json", bytes: Array("new b".utf8))
        try new.commit()
        // Killed after moving a.json but before b.json.
        XCTAssertEqual(rename(new.staging + "/a.json", dir + "/a.json"), 0)
        try StagedFolder.recover(dir)
        XCTAssertEqual(text("a.json"), "new a")
        XCTAssertEqual(text("b.json"), "new b")
        XCTAssertFalse(StagedFolder.state(dir).committing)
    }

    func testLeftoversOfDeadProcessesAreRemovedAndALiveOnesKept() throws {
        let dead = try deadPID(), me = getpid()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/.staging-\(dead)/x", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/.staging-\(me)", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/adapter", withIntermediateDirectories: true)
        fm.createFile(atPath: dir + "/embeddings.safetensors.tmp-\(dead)", contents: Data([1]))
        fm.createFile(atPath: dir + "/adapter/adapter_model.safetensors.tmp-\(dead)", contents: Data([1]))
        fm.createFile(atPath: dir + "/keep.json", contents: Data([1]))
        let r = try StagedFolder.recover(dir)
        XCTAssertEqual(Set(r.removed), [".staging-\(dead)", "embeddings.safetensors.tmp-\(dead)", "adapter/adapter_model.safetensors.tmp-\(dead)"])
        XCTAssertTrue(fm.fileExists(atPath: dir + "/.staging-\(me)"), "a running process's staging is kept")
        XCTAssertTrue(fm.fileExists(atPath: dir + "/keep.json"))
    }

    func testAWholeReplacementInterruptedBetweenItsRenamesIsPutBack() throws {
        let target = dir + "/rec", dead = try deadPID()
        let fm = FileManager.default
        // The old folder moved aside, the new one (whole) not yet moved in.
        try fm.createDirectory(atPath: dir + "/.rec.staging-\(dead)", withIntermediateDirectories: true)
        fm.createFile(atPath: dir + "/.rec.staging-\(dead)/ids.json", contents: Data("new".utf8))
        try fm.createDirectory(atPath: dir + "/.rec.old-\(dead)", withIntermediateDirectories: true)
        let r = try StagedFolder.recover(target)
        XCTAssertNotNil(r.finishedCommit)
        XCTAssertEqual(fm.contents(atPath: target + "/ids.json"), Data("new".utf8))
        XCTAssertEqual(r.removed, [".rec.old-\(dead)"])
        XCTAssertFalse(fm.fileExists(atPath: dir + "/.rec.old-\(dead)"))
    }

    func testACommitOfARunningProcessIsWaitedForThenReported() throws {
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["20"]
        try sleeper.run()
        defer { sleeper.terminate() }
        let journal = #"{"staging": ".staging-\#(sleeper.processIdentifier)", "names": ["a.json"], "pid": \#(sleeper.processIdentifier), "generation": "g"}"#
        FileManager.default.createFile(atPath: dir + "/" + StagedFolder.journalName, contents: Data(journal.utf8))
        let start = Date()
        XCTAssertThrowsError(try StagedFolder.recover(dir, wait: 0.3)) { e in
            XCTAssertTrue("\(e)".contains("process \(sleeper.processIdentifier) is committing"), "\(e)")
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.3, "waited first")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + StagedFolder.journalName), "another process's journal is left alone")
    }

    func testAnUnreadableJournalIsAnError() throws {
        FileManager.default.createFile(atPath: dir + "/" + StagedFolder.journalName, contents: Data("{ torn".utf8))
        XCTAssertThrowsError(try StagedFolder.recover(dir)) { XCTAssertTrue("\($0)".contains("unreadable commit journal"), "\($0)") }
    }
}
