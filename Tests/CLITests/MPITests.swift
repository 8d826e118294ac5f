import Foundation
import TestSupport
import XCTest

/// `mpirun -np 2` on loopback against one process: N processes with `--accumulate A` compute what
/// one process with `--accumulate N·A` does (float sums in another order); a process killed
/// mid-run ends the job with a message, and `--resume` completes it.
final class MPITests: XCTestCase {
    var work = ""

    override func setUpWithError() throws {
        guard let mpirun = MPITests.mpirun else { throw XCTSkip("mpirun not found (Tools/install/deps.sh installs openmpi-bin)") }
        _ = mpirun
        work = temporaryFolder(self, "mpi")
    }

    static let mpirun: String? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs the tool under `mpirun -np n` (TCP on loopback, oversubscribed: 2 cores).
    func mpi(_ n: Int, _ args: [String]) throws -> CLI.Result {
        try mpirun(["-np", "\(n)", CLI.binary] + args)
    }

    /// `mpirun -np 1 BIN A... : -np 1 BIN B...`: one process per argument list (MPMD), e.g. each
    /// with its own copy of a folder, as per-machine copies would be.
    func mpiEach(_ lists: [[String]]) throws -> CLI.Result {
        var args: [String] = []
        for (k, l) in lists.enumerated() { args += (k > 0 ? [":"] : []) + ["-np", "1", CLI.binary] + l }
        return try mpirun(args)
    }

    /// mpirun with these arguments after the loopback options, in the work folder; its output.
    func mpirun(_ args: [String]) throws -> CLI.Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: MPITests.mpirun!)
        p.arguments = ["--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: work)
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        let out = work + "/mpirun-\(UUID()).log"
        FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        p.standardError = FileHandle(forWritingAtPath: out)
        try p.run()
        p.waitUntilExit()
        return CLI.Result(status: p.terminationStatus, out: String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self), err: "")
    }

    /// Processes whose copies of the folder differ (one at a later checkpoint) refuse to start,
    /// naming the process and what differs, instead of training on mismatched states.
    func testProcessesWithDifferentCheckpointsRefuseToStart() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        try cli("extend-vocab", "data", "--model", "model", "--output", "a", "--kcore", "0")
        try cli("pretrain", "a", "--warmup-epochs", "0", "--rounds", "1", "--batch", "2", "--accumulate", "2", "--threads", "1")
        let ft = ["--batch", "2", "--accumulate", "2", "--content-every", "0", "--lr", "1e-2", "--threads", "1"]
        try CLI.run(["finetune", "a", "--epochs", "1"] + ft, in: work)
        try FileManager.default.copyItem(atPath: work + "/a", toPath: work + "/b")  // stale: one epoch behind
        try CLI.run(["finetune", "a", "--resume", "--extend-to", "2", "--threads", "1"], in: work)
        let r = try mpiEach([["finetune", "a", "--resume", "--extend-to", "3", "--threads", "1"], ["finetune", "b", "--resume", "--extend-to", "3", "--threads", "1"]])
        XCTAssertNotEqual(r.status, 0, r.all)
        XCTAssertTrue(r.all.contains("do not start from the same place"), r.all)
        XCTAssertTrue(r.all.contains("process 1 differs from process 0 in resume point"), r.all)
        XCTAssertTrue(r.all.contains("process 1 differs from process 0 in parameters"), r.all)
        XCTAssertFalse(r.all.contains("in data"), "the data is the same: \(r.all)")
        // The same copies agree.
        try FileManager.default.removeItem(atPath: work + "/b")
        try FileManager.default.copyItem(atPath: work + "/a", toPath: work + "/b")
        let same = try mpiEach([["finetune", "a", "--resume", "--extend-to", "3", "--threads", "1"], ["finetune", "b", "--resume", "--extend-to", "3", "--threads", "1"]])
        XCTAssertEqual(same.status, 0, same.all)
    }

    /// A run checkpointed by 2 processes and resumed by 1 keeps the global batch (--accumulate
    /// doubled) and so the trajectory of an uninterrupted 2-process run; a count that cannot keep
    /// it is refused with the arithmetic.
    func testResumingWithAnotherProcessCountKeepsTheGlobalBatch() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        try cli("extend-vocab", "data", "--model", "model", "--output", "x", "--kcore", "0")
        try cli("pretrain", "x", "--warmup-epochs", "0", "--rounds", "1", "--batch", "2", "--accumulate", "2", "--threads", "1")
        try FileManager.default.copyItem(atPath: work + "/x", toPath: work + "/y")
        let ft = ["--batch", "2", "--accumulate", "1", "--content-every", "0", "--lr", "1e-2", "--threads", "1"]
        let whole = try mpi(2, ["finetune", "y", "--epochs", "2"] + ft)
        XCTAssertEqual(whole.status, 0, whole.all)
        let half = try mpi(2, ["finetune", "x", "--epochs", "1"] + ft)
        XCTAssertEqual(half.status, 0, half.all)
        try FileManager.default.copyItem(atPath: work + "/x", toPath: work + "/z")
        let three = try mpi(3, ["finetune", "z", "--resume", "--extend-to", "2", "--threads", "1"])
        XCTAssertNotEqual(three.status, 0)
        XCTAssertTrue(three.all.contains("written by 2 processes with --accumulate 1 (global batch 2 micro-batches per optimizer step); 3 processes cannot keep it"), three.all)
        let resumed = try cli("finetune", "x", "--resume", "--extend-to", "2", "--threads", "1")
        XCTAssertTrue(resumed.out.contains("resuming with 1 process instead of 2: --accumulate 1 -> 2"), resumed.out)
        let a = try metrics("x").filter { ($0["stage"] as? String) == "finetune" }, b = try metrics("y").filter { ($0["stage"] as? String) == "finetune" }
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(a.count, b.count)
        for (u, v) in zip(a, b) {
            for key in ["loss", "mr", "val_recall@20", "val_ndcg@100"] { assertClose(u[key] as? Double, v[key] as? Double, "epoch \(u["epoch"]!) \(key)") }
        }
    }

    @discardableResult
    func cli(_ args: String...) throws -> CLI.Result {
        let r = try CLI.run(args, in: work)
        XCTAssertEqual(r.status, 0, "cllm4rec \(args.joined(separator: " ")):\n\(r.all)")
        return r
    }

    func metrics(_ folder: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: work + "/\(folder)/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    func assertClose(_ a: Double?, _ b: Double?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let a, let b else { XCTFail("\(what): missing", file: file, line: line); return }
        XCTAssertEqual(a, b, accuracy: 1e-5 * max(abs(a), abs(b), 1e-3), what, file: file, line: line)
    }

    func testTwoProcessesEqualOneWithTwiceTheAccumulation() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        try cli("extend-vocab", "data", "--model", "model", "--output", "one", "--kcore", "0")
        try FileManager.default.copyItem(atPath: work + "/one", toPath: work + "/two")

        let pretrain = ["--warmup-epochs", "1", "--rounds", "1", "--batch", "2", "--threads", "1", "--lambda", "0.1"]
        try CLI.run(["pretrain", "one"] + pretrain + ["--accumulate", "4"], in: work)
        let p2 = try mpi(2, ["pretrain", "two"] + pretrain + ["--accumulate", "2", "--check-sync"])
        XCTAssertEqual(p2.status, 0, p2.all)
        XCTAssertTrue(p2.all.contains("parameters equal on all 2 processes"), p2.all)
        XCTAssertEqual(p2.all.components(separatedBy: "pretrain epoch 1/3 content: loss").count - 1, 1, "process 0 alone prints:\n\(p2.all)")

        let finetune = ["--epochs", "2", "--batch", "2", "--lr", "1e-2", "--threads", "1"]
        try CLI.run(["finetune", "one"] + finetune + ["--accumulate", "2"], in: work)
        let f2 = try mpi(2, ["finetune", "two"] + finetune + ["--accumulate", "1", "--check-sync"])
        XCTAssertEqual(f2.status, 0, f2.all)

        let a = try metrics("one"), b = try metrics("two")
        XCTAssertEqual(a.count, 7, "3 pretraining epochs, 2 finetuning epochs each followed by a content epoch")
        XCTAssertEqual(a.count, b.count)
        for (x, y) in zip(a, b) {
            let what = "\(x["stage"]!) epoch \(x["epoch"]!)"
            for key in ["loss", "mr", "objective", "val_recall@20", "val_recall@40", "val_ndcg@100"] where x[key] != nil {
                assertClose(x[key] as? Double, y[key] as? Double, "\(what) \(key)")
            }
            XCTAssertEqual(x["predictions"] as? Int, y["predictions"] as? Int, what)
            XCTAssertEqual(x["tokens"] as? Int, y["tokens"] as? Int, what)
            XCTAssertEqual(y["processes"] as? Int, 2, what)
            XCTAssertNotNil(y["allreduce_seconds"], what)
        }
        XCTAssertNotEqual(a[3]["loss"] as? Double, a[4]["loss"] as? Double, "training moved")

        // Evaluation: users dealt out over 2 processes, the same metrics as one process.
        try cli("evaluate", "two", "--threads", "1")
        let single = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/two/evaluation-test.json"))) as! [String: Any]
        let e2 = try mpi(2, ["evaluate", "two", "--threads", "1"])
        XCTAssertEqual(e2.status, 0, e2.all)
        let double = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/two/evaluation-test.json"))) as! [String: Any]
        XCTAssertEqual(double["processes"] as? Int, 2)
        XCTAssertEqual(single["users"] as? Int, double["users"] as? Int)
        let m1 = ((single["results"] as! [[String: Any]])[0]["metrics"] as! [String: Double])
        let m2 = ((double["results"] as! [[String: Any]])[0]["metrics"] as! [String: Double])
        XCTAssertEqual(m1.keys.sorted(), m2.keys.sorted())
        for (k, v) in m1 { assertClose(v, m2[k], "evaluate \(k)") }
        // And the finetuned tables of both runs agree.
        try cli("evaluate", "one", "--threads", "1")
        let one = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/one/evaluation-test.json"))) as! [String: Any]
        let m0 = ((one["results"] as! [[String: Any]])[0]["metrics"] as! [String: Double])
        for (k, v) in m0 { assertClose(v, m1[k], "one process vs two: \(k)") }
    }

    /// A process killed mid-run: the job exits non-zero and says so; `--resume` (here with one
    /// process) completes the run from the last checkpoint.
    func testKilledProcessEndsTheJobAndResumeCompletesIt() throws {
        try cli("init-gpt2", "--config", "tiny", "--seed", "1", "--output", "model")
        try writeTinyDataset(to: work + "/data")
        try cli("extend-vocab", "data", "--model", "model", "--output", "rec", "--kcore", "0")
        let folder = work + "/rec"
        let killer = Thread {
            // Once the first epoch is checkpointed, kill process 1.
            for _ in 0..<1200 {
                if let text = try? String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8), !text.isEmpty,
                   let pid = MPITests.process(rank: 1, containing: folder) {
                    kill(pid, SIGKILL)
                    return
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        killer.start()
        let r = try mpi(2, ["finetune", "rec", "--epochs", "60", "--content-every", "0", "--batch", "2", "--accumulate", "1", "--lr", "1e-2", "--threads", "1"])
        XCTAssertNotEqual(r.status, 0, r.all)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/training-finetune.json"), "the run did not finish")
        XCTAssertTrue(r.all.lowercased().contains("signal 9") || r.all.lowercased().contains("killed") || r.all.contains("exited on signal"), r.all)
        let resumed = try cli("finetune", "rec", "--resume", "--threads", "1")
        XCTAssertTrue(resumed.out.contains("finetune finished"), resumed.out)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/training-finetune.json"))
    }

    /// The pid of the process of MPI rank `rank` whose command line mentions `text`.
    static func process(rank: Int, containing text: String) -> Int32? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for e in entries {
            guard let pid = Int32(e),
                  let environ = FileManager.default.contents(atPath: "/proc/\(e)/environ"),
                  let cmdline = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { continue }
            let env = String(decoding: environ, as: UTF8.self).split(separator: "\0")
            let cmd = String(decoding: cmdline, as: UTF8.self)
            if env.contains("OMPI_COMM_WORLD_RANK=\(rank)") && cmd.contains("finetune") && !cmd.contains("mpirun") { return pid }
        }
        _ = text
        return nil
    }
}
