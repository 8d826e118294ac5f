import Foundation
import Tensor

/// sgemm throughput of one product shape stored both ways: weights [out, in] (nn.Linear, used as
/// x Wᵀ) and [in, out] (GPT-2's Conv1D, x W). Tells whether pre-transposing a model's weights pays.
func benchmarkGemmShapes(threads: Int, rows: Int, shapes: [(inp: Int, out: Int)]) throws {
    let blas = try ProductLibrary.load()
    BLAS.threads = threads
    print("swift \(blas.summary), \(threads) threads, \(rows) rows")
    for (inp, out) in shapes {
        let x = FloatBuffer(count: rows * inp), w = FloatBuffer(count: inp * out), y = FloatBuffer(count: rows * out)
        for i in 0..<x.count { x[i] = Float(i % 7) * 0.01 }
        for i in 0..<w.count { w[i] = Float(i % 5) * 0.01 }
        func best(_ body: () -> Void) -> Double {
            var b = Double.infinity
            for _ in 0..<5 { let t0 = now(); for _ in 0..<10 { body() }; b = min(b, (now() - t0) / 10) }
            return 2 * Double(rows * inp * out) / b / 1e9
        }
        let xp = x.pointer.baseAddress!, wp = w.pointer.baseAddress!, yp = y.pointer.baseAddress!
        let nt = best { BLAS.gemm(transB: true, m: rows, n: out, k: inp, a: xp, lda: inp, b: wp, ldb: inp, c: yp, ldc: out) }
        let nn = best { BLAS.gemm(m: rows, n: out, k: inp, a: xp, lda: inp, b: wp, ldb: out, c: yp, ldc: out) }
        print(String(format: "swift gemm %5d x %5d -> %5d: W [out,in] (x Wᵀ) %6.1f GFLOP/s, W [in,out] (x W) %6.1f GFLOP/s", rows, inp, out, nt, nn))
    }
}
