import Foundation
import XCTest
@testable import Tensor

/// Which library runs the products (`CLLM4REC_BLAS`, the MKL search, the CPU's vendor), MKL's
/// set-up rules, and, where MKL is installed, its products against a Double reference and its bits
/// on one thread and two.
final class ProductLibraryTests: XCTestCase {
    let mklPath = "/usr/local/lib/libmkl_rt.so.3"

    func testAutoTakesMKLOnlyOnAnIntelCPU() throws {
        var c = try ProductLibrary.choose(request: nil, mkl: .success(mklPath), cpuIsIntel: true)
        XCTAssertEqual(c.kind, .mkl)
        XCTAssertEqual(c.reason, "Intel CPU, MKL found at \(mklPath)")
        c = try ProductLibrary.choose(request: "AUTO", mkl: .success(mklPath), cpuIsIntel: false)
        XCTAssertEqual(c.kind, .openblas)
        XCTAssertTrue(c.reason.contains("not Intel's") && c.reason.contains("CLLM4REC_BLAS=mkl"), c.reason)
        c = try ProductLibrary.choose(request: "", mkl: .success(nil), cpuIsIntel: true)
        XCTAssertEqual(c.kind, .openblas)
        XCTAssertEqual(c.reason, "MKL not found; on this Intel CPU it would run the products faster: bash Tools/install/mkl.sh")
        c = try ProductLibrary.choose(request: "", mkl: .success(nil), cpuIsIntel: false)
        XCTAssertEqual(c.reason, "MKL not found")
    }

    func testANamedLibraryIsTakenOrRefusedByName() throws {
        var c = try ProductLibrary.choose(request: "openblas", mkl: nil, cpuIsIntel: true)
        XCTAssertEqual(c.kind, .openblas)
        XCTAssertEqual(c.reason, "CLLM4REC_BLAS=openblas")
        // Asked for by name, MKL is used on any CPU.
        c = try ProductLibrary.choose(request: "MKL", mkl: .success(mklPath), cpuIsIntel: false)
        XCTAssertEqual(c.kind, .mkl)
        XCTAssertThrowsError(try ProductLibrary.choose(request: "mkl", mkl: .success(nil), cpuIsIntel: true)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("CLLM4REC_BLAS=mkl: MKL's libmkl_rt was not found"), text)
            XCTAssertTrue(text.contains("Tools/install/mkl.sh") && text.contains("CLLM4REC_MKL"), text)
        }
        XCTAssertThrowsError(try ProductLibrary.choose(request: "atlas", mkl: nil, cpuIsIntel: true)) { error in
            XCTAssertEqual("\(error)", "CLLM4REC_BLAS=atlas: not a product library; use auto, openblas or mkl")
        }
    }

    /// A CLLM4REC_MKL that does not open is an error even for `auto`: the user named it.
    func testANamedMKLThatFailsIsAnErrorNotAFallback() {
        let failure = BLASError("CLLM4REC_MKL=/x: no such file")
        for request in [nil, "auto", "mkl"] {
            XCTAssertThrowsError(try ProductLibrary.choose(request: request, mkl: .failure(failure), cpuIsIntel: true)) { error in
                XCTAssertEqual(error as? BLASError, failure)
            }
        }
    }

    func testLocateRefusesANamedPathThatHoldsNoLibrary() throws {
        XCTAssertThrowsError(try MKL.locate(explicitPath: "/no/such/libmkl_rt.so.3")) { error in
            XCTAssertEqual("\(error)", "CLLM4REC_MKL=/no/such/libmkl_rt.so.3: no such file")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mkl-empty-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try MKL.locate(explicitPath: dir)) { error in
            XCTAssertTrue("\(error)".hasSuffix("the folder holds none of libmkl_rt.so.3, libmkl_rt.so.2, libmkl_rt.so"), "\(error)")
        }
        // A folder holding the library gives the file's path; whether it opens is `open`'s business.
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/libmkl_rt.so.2", contents: Data("not a library".utf8)))
        XCTAssertEqual(try MKL.locate(explicitPath: dir), dir + "/libmkl_rt.so.2")
        XCTAssertThrowsError(try MKL.open(path: dir + "/libmkl_rt.so.2")) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(dir)/libmkl_rt.so.2: could not be opened: "), "\(error)")
        }
        // A library that is not MKL's is refused by the function it lacks.
        let zlib = ["/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"].first { FileManager.default.fileExists(atPath: $0) }
        if let zlib {
            XCTAssertThrowsError(try MKL.open(path: zlib)) { error in
                XCTAssertEqual("\(error)", "\(zlib) has no cblas_sgemm: is it MKL's libmkl_rt?")
            }
        }
    }

    func testSearchDirectoriesFollowTheEnvironment() {
        XCTAssertEqual(MKL.searchDirectories(environment: { ["HOME": "/home/u", "VIRTUAL_ENV": "/v", "CONDA_PREFIX": ""][$0] }),
                       ["/v/lib", "/home/u/.local/lib", "/usr/local/lib", "/opt/intel/oneapi/mkl/latest/lib",
                        "/opt/intel/oneapi/mkl/latest/lib/intel64"])
        XCTAssertEqual(MKL.searchDirectories(environment: { _ in nil }).first, "/usr/local/lib")
    }

    /// MKL's default layer (Intel OpenMP) without libiomp5 ends the process at the first product:
    /// the layer is chosen from what is installed, and a user's choice of a missing runtime refused.
    func testThreadingLayerFollowsWhatIsInstalled() throws {
        XCTAssertEqual(try MKL.threadingLayer(userLayer: nil, intelOpenMP: true, gnuOpenMP: true).code, MKL.layerIntel)
        XCTAssertEqual(try MKL.threadingLayer(userLayer: nil, intelOpenMP: false, gnuOpenMP: true).code, MKL.layerGNU)
        let none = try MKL.threadingLayer(userLayer: "", intelOpenMP: false, gnuOpenMP: false)
        XCTAssertEqual(none.code, MKL.layerSequential)
        XCTAssertTrue(none.name.hasPrefix("sequential"), none.name)
        let user = try MKL.threadingLayer(userLayer: "sequential", intelOpenMP: false, gnuOpenMP: false)
        XCTAssertNil(user.code, "MKL reads the user's variable itself")
        XCTAssertEqual(user.name, "MKL_THREADING_LAYER=sequential")
        XCTAssertThrowsError(try MKL.threadingLayer(userLayer: "intel", intelOpenMP: false, gnuOpenMP: true)) { error in
            XCTAssertTrue("\(error)".hasPrefix("MKL_THREADING_LAYER=intel but Intel OpenMP (libiomp5.so) was not found"), "\(error)")
        }
        XCTAssertThrowsError(try MKL.threadingLayer(userLayer: "GNU", intelOpenMP: true, gnuOpenMP: false))
    }

    /// Whichever library was chosen runs the products: every transpose combination, strides wider
    /// than the matrices, alpha and beta, against a Double reference; and the same bits with one
    /// thread and two (OpenBLAS splits rows and columns, MKL is held to strict CNR).
    func testTheChosenLibraryMultipliesAndKeepsItsBitsAcrossThreads() throws {
        let library = try ProductLibrary.load()
        print("products on: \(library.summary)")
        if library.kind == .mkl && ProcessInfo.processInfo.environment["MKL_CBWR"] == nil {
            XCTAssertTrue(library.description.contains("strict CNR"), library.description)
        }
        var g = SplitMix64(seed: 21)
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (130, 97, 61), (256, 200, 192), (48, 640, 576), (16, 24, 30000)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1
                let a = (0..<(ta ? k : m) * lda).map { _ in Float.random(in: -1...1, using: &g) }
                let b = (0..<(tb ? n : k) * ldb).map { _ in Float.random(in: -1...1, using: &g) }
                let c0 = (0..<m * ldc).map { _ in Float.random(in: -1...1, using: &g) }
                func run(threads: Int) -> [Float] {
                    let saved = BLAS.threads
                    BLAS.threads = threads
                    defer { BLAS.threads = saved }
                    var c = c0
                    BLAS.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb, beta: 2, c: &c, ldc: ldc)
                    return c
                }
                let one = run(threads: 1), two = run(threads: 2)
                // 16x24x30000 is a shape both libraries split along k on two threads: MKL without
                // strict CNR (MKL_CBWR=AUTO) changes the last bits of most values, and so does
                // OpenBLAS 0.3.21, which has no such mode (223 of 384 values; 8x576x5000: 2,819 of
                // 4,608). Only MKL is held to it there.
                // OpenBLAS's AVX2 kernel sets (Haswell, Zen) split even these shapes differently on
                // two threads (Zen 3 EPYC: 2,212 of 12,610 values of 130x97x61 differ in their last
                // bits): there both results are held to the Double reference below instead.
                let differing = zip(one, two).filter { $0.bitPattern != $1.bitPattern }.count
                if library.kind == .mkl || (k < 10_000 && library.keepsBitsAcrossThreads) {
                    XCTAssertEqual(differing, 0, "\(m)x\(n)x\(k) ta \(ta) tb \(tb): values differing between 1 and 2 threads")
                }
                var worst = 0.0
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k { s += Double(ta ? a[p * lda + i] : a[i * lda + p]) * Double(tb ? b[j * ldb + p] : b[p * ldb + j]) }
                        let want = 0.5 * s + 2 * Double(c0[i * ldc + j])
                        worst = max(worst, abs(want - Double(one[i * ldc + j])), abs(want - Double(two[i * ldc + j])))
                    }
                    // Padding between rows is left alone.
                    for j in n..<ldc where i * ldc + j < one.count { XCTAssertEqual(one[i * ldc + j], c0[i * ldc + j]) }
                }
                XCTAssertLessThan(worst, 1e-5 * Double(k).squareRoot() + 1e-6, "\(m)x\(n)x\(k) ta \(ta) tb \(tb)")
            }
        }
    }

    /// Everything MKL-specific on the library actually loaded; skipped where MKL is not installed (CI).
    func testMKLWhenInstalled() throws {
        guard let path = try MKL.locate(explicitPath: nil) else { throw XCTSkip("MKL is not installed (bash Tools/install/mkl.sh)") }
        let mkl = try MKL.open(path: path)
        let description = try mkl.configure()
        XCTAssertTrue(description.hasPrefix("MKL 20"), description)
        var y = [Float](repeating: 1, count: 3)
        // sgemv through MKL: [1 2; 3 4; 5 6] x [1; -1] + 1 = [0; 0; 0].
        let a: [Float] = [1, 2, 3, 4, 5, 6], x: [Float] = [1, -1]
        mkl.products.sgemv(BLAS.rowMajor, BLAS.noTrans, 3, 2, 1, a, 2, x, 1, 1, &y, 1)
        XCTAssertEqual(y, [0, 0, 0])
    }
}

