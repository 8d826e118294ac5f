import COpenBLAS
import Foundation
import XCTest
@testable import Tensor

/// The kernel-set choice made before OpenBLAS is opened, and the check that it took effect.
final class OpenBLASTests: XCTestCase {
    func testKernelChoiceRules() {
        // AVX-512 CPU: SkylakeX, and an inherited OPENBLAS_CORETYPE is named as overridden.
        var c = OpenBLAS.kernelChoice(override: nil, openblasCoreType: "Haswell", cpuHasAVX512: true)
        XCTAssertEqual(c.coreType, "SkylakeX")
        XCTAssertTrue(c.reason.contains("OPENBLAS_CORETYPE=Haswell overridden"), c.reason)
        XCTAssertFalse(c.explicit)
        c = OpenBLAS.kernelChoice(override: nil, openblasCoreType: nil, cpuHasAVX512: true)
        XCTAssertEqual(c.coreType, "SkylakeX")
        XCTAssertEqual(c.reason, "AVX-512 CPU")
        // No AVX-512: OpenBLAS decides, from OPENBLAS_CORETYPE or its detection.
        c = OpenBLAS.kernelChoice(override: nil, openblasCoreType: "Haswell", cpuHasAVX512: false)
        XCTAssertNil(c.coreType)
        XCTAssertEqual(c.reason, "OPENBLAS_CORETYPE=Haswell")
        c = OpenBLAS.kernelChoice(override: nil, openblasCoreType: "", cpuHasAVX512: false)
        XCTAssertNil(c.coreType)
        XCTAssertEqual(c.reason, "OpenBLAS's CPU detection")
        // The program's own variable wins; `openblas` hands the choice back.
        c = OpenBLAS.kernelChoice(override: "Zen", openblasCoreType: "Haswell", cpuHasAVX512: true)
        XCTAssertEqual(c.coreType, "Zen")
        XCTAssertEqual(c.reason, "CLLM4REC_BLAS_CORETYPE=Zen")
        XCTAssertTrue(c.explicit)
        c = OpenBLAS.kernelChoice(override: "OpenBLAS", openblasCoreType: "Haswell", cpuHasAVX512: true)
        XCTAssertNil(c.coreType)
        XCTAssertEqual(c.reason, "OPENBLAS_CORETYPE=Haswell")
    }

    /// The CPU check agrees with the kernel's own reading of the CPU (/proc/cpuinfo flags).
    func testAVX512DetectionAgreesWithProcCPUInfo() throws {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo")
        }
        let flags = Set(line.split(separator: " ").map(String.init))
        let expected = ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains)
        XCTAssertEqual(cllm4rec_cpu_has_avx512() != 0, expected)
    }

    /// The library runs the kernel set that was chosen (the environment trick worked), and a name
    /// OpenBLAS does not run is refused by name instead of silently running other kernels.
    func testOpenedLibraryRunsTheChosenKernels() throws {
        let blas = try OpenBLAS.load()
        let override = ProcessInfo.processInfo.environment[OpenBLAS.coreTypeVariable]
        if override == nil && cllm4rec_cpu_has_avx512() != 0 {
            XCTAssertEqual(blas.coreName, "SkylakeX")
        }
        XCTAssertTrue(blas.config.hasPrefix("OpenBLAS"), blas.config)
        XCTAssertEqual(ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], getenv("OPENBLAS_CORETYPE").map { String(cString: $0) },
                       "the environment is put back after dlopen")
        let userTimeout = ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"]
        XCTAssertEqual(userTimeout, getenv("OPENBLAS_THREAD_TIMEOUT").map { String(cString: $0) }, "the environment is put back after dlopen")
        if userTimeout == nil {
            XCTAssertEqual(blas.threadTimeout, OpenBLAS.threadTimeoutExponent, "OpenBLAS took the spin time this program chose")
        }
        XCTAssertThrowsError(try OpenBLAS.open(choice: .init(coreType: "NoSuchCore", reason: "test", explicit: true))) { error in
            XCTAssertTrue("\(error)".contains("no kernel set named NoSuchCore"), "\(error)")
        }
        // Chosen by the program rather than the user, a set this OpenBLAS does not run falls back
        // to the one it runs, and says so.
        let fallback = try OpenBLAS.open(choice: .init(coreType: "NoSuchCore", reason: "AVX-512 CPU", explicit: false))
        XCTAssertEqual(fallback.coreName, blas.coreName)
        XCTAssertEqual(fallback.reason, "AVX-512 CPU; this OpenBLAS build has no NoSuchCore kernels")
        // A product through the opened library: [1 2; 3 4] x [5; 6] = [17; 39].
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6]
        var c: [Float] = [0, 0]
        BLAS.gemm(m: 2, n: 1, k: 2, a: a, lda: 2, b: b, ldb: 1, c: &c, ldc: 1)
        XCTAssertEqual(c, [17, 39])
    }
}

/// The loops `Parallel` splits give the same bits with one thread or two, at sizes whose parts end
/// inside SIMD groups and rows.
final class ParallelTests: XCTestCase {
    func testResultsDoNotDependOnTheThreadCount() {
        let n = 3 * 16384 + 13, rows = 67, c = 40
        var g = SplitMix64(seed: 5)
        let x = (0..<n).map { _ in Float.random(in: -3...3, using: &g) }
        let w = (0..<c).map { _ in Float.random(in: 0.5...1.5, using: &g) }, b = (0..<c).map { _ in Float.random(in: -1...1, using: &g) }
        func run(threads: Int) -> [[Float]] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            var gelu = [Float](repeating: 0, count: n), dgelu = [Float](repeating: 0, count: n)
            GELU.forward(out: &gelu, x: x, count: n)
            GELU.backward(dx: &dgelu, dout: x, x: x, count: n)
            var dropped = x
            Dropout.apply(&dropped, count: n, p: 0.3, seed: 9, offset: 17)
            var sum = [Float](repeating: 0, count: n)
            add(x, gelu, &sum, n)
            var ln = [Float](repeating: 0, count: rows * c), mean = [Float](repeating: 0, count: rows), rstd = mean
            LayerNorm.forward(out: &ln, mean: &mean, rstd: &rstd, x: x, weight: w, bias: b, rows: rows, width: c, eps: 1e-5)
            var dx = [Float](repeating: 0, count: rows * c)
            LayerNorm.backward(dx: &dx, dout: Array(x.suffix(rows * c)), x: x, weight: w, mean: mean, rstd: rstd, rows: rows, width: c)
            return [gelu, dgelu, dropped, sum, ln, dx]
        }
        let one = run(threads: 1), two = run(threads: 2), three = run(threads: 3)
        for k in one.indices {
            XCTAssertEqual(one[k].map(\.bitPattern), two[k].map(\.bitPattern), "output \(k), 2 threads")
            XCTAssertEqual(one[k].map(\.bitPattern), three[k].map(\.bitPattern), "output \(k), 3 threads")
        }
        // Dropout really dropped something and GELU is GELU at a point: the outputs are not trivial.
        XCTAssertTrue(one[2].contains(0))
        XCTAssertEqual(Double(one[0][0]), 0.5 * Double(x[0]) * (1 + tanh((2 / Double.pi).squareRoot() * (Double(x[0]) + 0.044715 * pow(Double(x[0]), 3)))), accuracy: 1e-5)
    }
}

/// `Parallel.tasks` runs every task once, deals the longest first to the least loaded worker, and
/// products inside run on the worker's own thread.
final class ParallelTasksTests: XCTestCase {
    func testEveryTaskRunsOnceBalancedLongestFirst() {
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        let costs = [9, 4, 4, 1, 100_000]
        var ran = [Int](repeating: 0, count: costs.count), worker = [Int](repeating: -1, count: costs.count)
        let lock = NSLock()
        Parallel.tasks(costs: costs) { t, w in lock.lock(); ran[t] += 1; worker[t] = w; lock.unlock() }
        XCTAssertEqual(ran, [1, 1, 1, 1, 1])
        // 100000 alone on one worker; 9, 4, 4 and 1 together on the other.
        XCTAssertNotEqual(worker[4], worker[0])
        XCTAssertEqual(Set([worker[0], worker[1], worker[2], worker[3]]).count, 1)
    }

    func testDealGivesTheCostliestToTheLeastLoaded() {
        XCTAssertEqual(Parallel.deal(costs: [9, 1, 1, 7], workers: 2), [[0], [3, 1, 2]])
        // Zero-cost tasks weigh `minimumLoad`: without it all three would land on worker 0.
        XCTAssertEqual(Parallel.deal(costs: [0, 0, 0], workers: 2), [[0, 1, 2], []])
        XCTAssertEqual(Parallel.deal(costs: [0, 0, 0], workers: 2, minimumLoad: 1), [[0, 2], [1]])
    }

    func testCheapTasksRunInOrderOnOneWorker() {
        var order: [Int] = []
        Parallel.tasks(costs: [3, 2, 1]) { t, w in XCTAssertEqual(w, 0); order.append(t) }
        XCTAssertEqual(order, [0, 1, 2])
    }

    func testProductsInsideTasksMatchTheSerialProduct() {
        let saved = BLAS.threads
        BLAS.threads = 2
        defer { BLAS.threads = saved }
        var g = SplitMix64(seed: 3)
        let m = 96, n = 80, k = 64, tasks = 6
        let a = (0..<tasks * m * k).map { _ in Float.random(in: -1...1, using: &g) }, b = (0..<k * n).map { _ in Float.random(in: -1...1, using: &g) }
        var serial = [Float](repeating: 0, count: tasks * m * n), parallel = serial
        serial.withUnsafeMutableBufferPointer { out in
            for t in 0..<tasks { BLAS.gemm(m: m, n: n, k: k, a: Array(a[(t * m * k)...]), lda: k, b: b, ldb: n, c: out.baseAddress! + t * m * n, ldc: n) }
        }
        parallel.withUnsafeMutableBufferPointer { out in
            let c = out.baseAddress!
            a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in
                Parallel.tasks(costs: [Int](repeating: m * n * k, count: tasks)) { t, _ in
                    BLAS.gemm(m: m, n: n, k: k, a: a.baseAddress! + t * m * k, lda: k, b: b.baseAddress!, ldb: n, c: c + t * m * n, ldc: n)
                }
            } }
        }
        // Inside tasks each product runs on one thread; serially on two. The same bits where the
        // library keeps them across thread counts, float rounding apart elsewhere.
        if (try? ProductLibrary.load())?.keepsBitsAcrossThreads ?? true {
            XCTAssertEqual(serial, parallel)
        } else {
            let worst = zip(serial, parallel).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-5)
        }
        XCTAssertEqual(BLAS.threads, 2, "OpenBLAS's thread count is put back")
    }
}
