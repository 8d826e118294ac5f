import Foundation
import XCTest
@testable import Tensor

/// `CLLM4REC_BLAS=auto` with MKL found: the faster library, measured once per CPU, versions and
/// thread count, cached; a stale or broken cache measured again.
final class ProductCalibrationTests: XCTestCase {
    let key = ProductCalibration.Key(cpu: "Intel(R) Xeon(R) Platinum 8581C", openblas: "OpenBLAS 0.3.21 SkylakeX", mkl: "MKL 2026.2 (AVX-512)", threads: 2)

    func calibration(openblas: Double, mkl: Double, key: ProductCalibration.Key? = nil) -> ProductCalibration {
        ProductCalibration(key: key ?? self.key, openblasSeconds: [openblas, openblas, openblas, openblas].map { $0 / 4 },
                           mklSeconds: [mkl, mkl, mkl, mkl].map { $0 / 4 })
    }

    func testTheMeasurementDecidesAutoWhateverTheVendor() throws {
        let path = "/usr/local/lib/libmkl_rt.so.3"
        // MKL slower on an Intel CPU (the Emerald Rapids case): OpenBLAS, and the reason says so.
        var c = try ProductLibrary.choose(request: nil, mkl: .success(path), cpuIsIntel: true, calibration: calibration(openblas: 1.0, mkl: 1.25))
        XCTAssertEqual(c.kind, .openblas)
        XCTAssertTrue(c.reason.contains("measured on this CPU: MKL at 0.8x OpenBLAS's speed"), c.reason)
        // MKL faster, even on a CPU that is not Intel's.
        c = try ProductLibrary.choose(request: "auto", mkl: .success(path), cpuIsIntel: false, calibration: calibration(openblas: 1.3, mkl: 1.0))
        XCTAssertEqual(c.kind, .mkl)
        XCTAssertTrue(c.reason.contains("MKL at 1.3x"), c.reason)
        // Within the margin: OpenBLAS stays.
        c = try ProductLibrary.choose(request: nil, mkl: .success(path), cpuIsIntel: true, calibration: calibration(openblas: 1.02, mkl: 1.0))
        XCTAssertEqual(c.kind, .openblas)
        // A named library is taken whatever was measured.
        c = try ProductLibrary.choose(request: "openblas", mkl: nil, cpuIsIntel: true, calibration: calibration(openblas: 2, mkl: 1))
        XCTAssertEqual(c.kind, .openblas)
        c = try ProductLibrary.choose(request: "mkl", mkl: .success(path), cpuIsIntel: true, calibration: calibration(openblas: 1, mkl: 2))
        XCTAssertEqual(c.kind, .mkl)
    }

    func testTheCacheIsUsedForItsKeyOnlyAndABrokenOneIsMeasuredAgain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calibration-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/nested/product-library.txt"
        var measured = 0
        func measure(_ k: ProductCalibration.Key, _ o: Double) -> () -> ProductCalibration {
            { measured += 1; return self.calibration(openblas: o, mkl: 1, key: k) }
        }
        let first = ProductCalibration.cached(key: key, file: file, measure: measure(key, 2))
        XCTAssertFalse(first.fromCache)
        XCTAssertEqual(measured, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: file), "the folder is made and the figures written")
        let again = ProductCalibration.cached(key: key, file: file, measure: measure(key, 3))
        XCTAssertTrue(again.fromCache)
        XCTAssertEqual(measured, 1, "the same CPU, versions and threads: not measured again")
        XCTAssertEqual(again.0, first.0)
        // Any part of the key changed: stale, measured again and rewritten.
        for stale in [ProductCalibration.Key(cpu: key.cpu, openblas: key.openblas, mkl: "MKL 2027.0 (AVX-512)", threads: 2),
                      ProductCalibration.Key(cpu: key.cpu, openblas: key.openblas, mkl: key.mkl, threads: 1),
                      ProductCalibration.Key(cpu: "AMD EPYC 9B45", openblas: key.openblas, mkl: key.mkl, threads: 2),
                      ProductCalibration.Key(cpu: key.cpu, openblas: "OpenBLAS 0.3.29 SkylakeX", mkl: key.mkl, threads: 2)] {
            let before = measured
            let r = ProductCalibration.cached(key: stale, file: file, measure: measure(stale, 5))
            XCTAssertFalse(r.fromCache)
            XCTAssertEqual(measured, before + 1)
            XCTAssertEqual(ProductCalibration(text: try String(contentsOfFile: file, encoding: .utf8))?.key, stale)
        }
        // A damaged file: measured again.
        for damaged in ["", "cpu=x\n", "garbage\n", ProductCalibration(text: calibration(openblas: 1, mkl: 1).text)!.text.replacingOccurrences(of: "mkl_seconds=0.25", with: "mkl_seconds=-1")] {
            try damaged.write(toFile: file, atomically: true, encoding: .utf8)
            let before = measured
            XCTAssertFalse(ProductCalibration.cached(key: key, file: file, measure: measure(key, 2)).fromCache, damaged)
            XCTAssertEqual(measured, before + 1)
        }
        // A cache that cannot be written is no error.
        let unwritable = ProductCalibration.cached(key: key, file: "/proc/no-such-dir/product-library.txt", measure: measure(key, 2))
        XCTAssertFalse(unwritable.fromCache)
    }

    func testTheFileRoundTripsAndItsPlaceFollowsTheEnvironment() {
        let c = ProductCalibration(key: key, openblasSeconds: [0.0123, 0.02, 0.031, 0.0042], mklSeconds: [0.011, 0.019, 0.035, 0.004])
        XCTAssertEqual(ProductCalibration(text: c.text), c)
        XCTAssertEqual(ProductCalibration.cacheFile(environment: ["CLLM4REC_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"].get), "/c/product-library.txt")
        XCTAssertEqual(ProductCalibration.cacheFile(environment: ["XDG_CACHE_HOME": "/x", "HOME": "/h"].get), "/x/cllm4rec/product-library.txt")
        XCTAssertEqual(ProductCalibration.cacheFile(environment: ["HOME": "/h"].get), "/h/.cache/cllm4rec/product-library.txt")
        XCTAssertNil(ProductCalibration.cacheFile(environment: [:].get))
    }

    /// The timing loop runs each shape as a row-major product with the right leading dimensions
    /// (a recording sgemm), and on OpenBLAS gives positive, finite seconds.
    func testTimingRunsTheShapes() throws {
        Recorded.calls = []
        let shapes = [ProductCalibration.Shape(m: 3, n: 5, k: 7, transposeA: false), ProductCalibration.Shape(m: 4, n: 6, k: 2, transposeA: true)]
        let seconds = ProductCalibration.time(recordingSGEMM, shapes: shapes)
        XCTAssertEqual(seconds.count, 2)
        XCTAssertEqual(Recorded.calls.count, 8, "a warm-up and three timed runs per shape")
        XCTAssertEqual(Recorded.calls[0], [101, 111, 111, 3, 5, 7, 7, 5, 5])
        XCTAssertEqual(Recorded.calls[4], [101, 112, 111, 4, 6, 2, 4, 6, 6])
        _ = try OpenBLAS.load()
        let real = ProductCalibration.time(OpenBLAS.entryPoints.products.sgemm, shapes: [ProductCalibration.Shape(m: 64, n: 64, k: 64, transposeA: true)])
        XCTAssertTrue(real[0] > 0 && real[0] < 1, "\(real)")
        XCTAssertFalse(ProductCalibration.cpuModel().isEmpty)
    }
}

enum Recorded { nonisolated(unsafe) static var calls: [[Int32]] = [] }

let recordingSGEMM: ProductEntryPoints.SGEMM = { order, ta, tb, m, n, k, _, _, lda, _, ldb, _, _, ldc in
    Recorded.calls.append([order, ta, tb, m, n, k, lda, ldb, ldc])
}

extension Dictionary where Key == String, Value == String {
    var get: (String) -> String? { { self[$0] } }
}
