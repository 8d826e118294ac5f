import XCTest

@testable import Tensor

/// The row-wise kernels that run across the cores (rotations of packed sequences, SwiGLU over
/// rows, the cross-entropy's softmax rows): against a Double reference, and the same bits with one
/// thread or two.
final class RowParallelKernelTests: XCTestCase {
    func withThreads<T>(_ n: Int, _ body: () -> T) -> T {
        let saved = Parallel.threads
        Parallel.threads = n
        defer { Parallel.threads = saved }
        return body()
    }

    func randomFloats(_ n: Int, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in Float.random(in: -2...2, using: &g) }
    }

    /// Packed sequences of 40 and 300 rows (positions 0..<40, then 7..<307 after 7 cached rows),
    /// q and k heads rotated in one call, then un-rotated by the inverse.
    func testPackedRotationsMatchTheFormulaAndInvert() {
        let d = 16, heads = 5, ld = heads * d + 8, rows = 340
        let table = RotaryTable(headSize: d, positions: 512, theta: 10_000)
        let positions = Array(0..<40) + Array(7..<307)
        let x = randomFloats(rows * ld, seed: 3)
        func rotate(threads: Int, inverse: Bool, _ input: [Float]) -> [Float] {
            var y = input
            withThreads(threads) { y.withUnsafeMutableBufferPointer { table.apply($0.baseAddress!, ld: ld, positions: positions, heads: heads, inverse: inverse) } }
            return y
        }
        let one = rotate(threads: 1, inverse: false, x), two = rotate(threads: 2, inverse: false, x)
        XCTAssertEqual(one.map(\.bitPattern), two.map(\.bitPattern), "same bits with one thread or two")
        for (r, pos) in positions.enumerated() {
            for h in 0..<heads {
                for j in 0..<(d / 2) {
                    let angle = Double(pos) * Double(Float(1 / pow(10_000, Double(2 * j) / Double(d))))
                    let a = Double(x[r * ld + h * d + j]), b = Double(x[r * ld + h * d + j + d / 2])
                    XCTAssertEqual(Double(one[r * ld + h * d + j]), a * cos(angle) - b * sin(angle), accuracy: 2e-4 * (1 + Double(pos) / 100))
                    XCTAssertEqual(Double(one[r * ld + h * d + j + d / 2]), b * cos(angle) + a * sin(angle), accuracy: 2e-4 * (1 + Double(pos) / 100))
                }
            }
            for i in (heads * d)..<ld { XCTAssertEqual(one[r * ld + i], x[r * ld + i], "columns after the heads are left alone") }
        }
        let back = rotate(threads: 2, inverse: true, one)
        for i in x.indices { XCTAssertEqual(back[i], x[i], accuracy: 1e-5) }
        // The packed form gives the per-sequence form's bits.
        var perSequence = x
        perSequence.withUnsafeMutableBufferPointer { p in
            table.apply(p.baseAddress!, ld: ld, positions: Array(0..<40), heads: heads)
            table.apply(p.baseAddress! + 40 * ld, ld: ld, positions: Array(7..<307), heads: heads)
        }
        XCTAssertEqual(perSequence.map(\.bitPattern), one.map(\.bitPattern))
    }

    func testSwiGLURowsMatchTheFormulaOnAnyThreadCount() {
        let rows = 70, f = 1000  // 70 000 elements: past the parallel threshold
        let gu = randomFloats(rows * 2 * f, seed: 5), dout = randomFloats(rows * f, seed: 6)
        func run(threads: Int) -> (out: [Float], dgu: [Float]) {
            var out = [Float](repeating: 0, count: rows * f), dgu = [Float](repeating: 0, count: rows * 2 * f)
            withThreads(threads) {
                SwiGLU.forward(out: &out, gateUp: gu, rows: rows, width: f)
                SwiGLU.backward(dGateUp: &dgu, dout: dout, gateUp: gu, rows: rows, width: f)
            }
            return (out, dgu)
        }
        let one = run(threads: 1), two = run(threads: 2)
        XCTAssertEqual(one.out.map(\.bitPattern), two.out.map(\.bitPattern))
        XCTAssertEqual(one.dgu.map(\.bitPattern), two.dgu.map(\.bitPattern))
        for r in stride(from: 0, to: rows, by: 7) {
            for j in stride(from: 0, to: f, by: 13) {
                let g = Double(gu[r * 2 * f + j]), u = Double(gu[r * 2 * f + f + j]), d = Double(dout[r * f + j])
                let s = 1 / (1 + exp(-g))
                XCTAssertEqual(Double(one.out[r * f + j]), g * s * u, accuracy: 1e-5)
                XCTAssertEqual(Double(one.dgu[r * 2 * f + j]), d * u * s * (1 + g * (1 - s)), accuracy: 1e-5)
                XCTAssertEqual(Double(one.dgu[r * 2 * f + f + j]), d * g * s, accuracy: 1e-5)
            }
        }
    }

    func testCrossEntropyLossIsTheSameSumOnAnyThreadCount() throws {
        try OpenBLAS.load()
        let rows = 300, c = 24, v = 700
        let hidden = randomFloats(rows * c, seed: 8), head = randomFloats(v * c, seed: 9)
        var g = SplitMix64(seed: 10)
        let targets = (0..<rows).map { _ in Int32(Int.random(in: 0..<v, using: &g)) }
        func run(threads: Int) -> (Double, [Float]) {
            var dHidden = [Float](repeating: 0, count: rows * c), scratch = [Float](repeating: 0, count: 128 * v)
            let loss = withThreads(threads) {
                scratch.withUnsafeMutableBufferPointer { s in
                    ChunkedCrossEntropy.lossAndGradient(hidden: hidden, rows: rows, width: c, head: head, vocab: v, targets: targets,
                                                        gradScale: 0.5, dHidden: &dHidden, scratch: s, chunkRows: 128)
                }
            }
            return (loss, dHidden)
        }
        let one = run(threads: 1), two = run(threads: 2)
        XCTAssertEqual(one.0.bitPattern, two.0.bitPattern)
        XCTAssertEqual(one.1.map(\.bitPattern), two.1.map(\.bitPattern))
        var reference = 0.0
        for r in 0..<rows {
            let logits = (0..<v).map { j in (0..<c).reduce(0.0) { $0 + Double(hidden[r * c + $1]) * Double(head[j * c + $1]) } }
            let m = logits.max()!
            reference += m + log(logits.reduce(0) { $0 + exp($1 - m) }) - logits[Int(targets[r])]
        }
        XCTAssertEqual(one.0, reference, accuracy: 1e-6 * abs(reference))
    }
}
