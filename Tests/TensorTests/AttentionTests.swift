import XCTest

@testable import Tensor

/// Straightforward causal attention in Double, the reference for the blocked BLAS version.
struct NaiveAttention {
    let n, past, heads, hs: Int
    let p: Float, seed: UInt64
    var width: Int { heads * hs }
    var l: Int { past + n }

    /// y [n, width] from q [n, width], k, v [l, width].
    func forward(_ q: [Double], _ k: [Double], _ v: [Double]) -> [Double] {
        var y = [Double](repeating: 0, count: n * width)
        for h in 0..<heads {
            for i in 0..<n {
                let probs = rowProbs(q, k, h, i)
                for d in 0..<hs {
                    var acc = 0.0
                    for j in 0..<l { acc += probs[j] * mask(h, i, j) * v[j * width + h * hs + d] }
                    y[i * width + h * hs + d] = acc
                }
            }
        }
        return y
    }

    func rowProbs(_ q: [Double], _ k: [Double], _ h: Int, _ i: Int) -> [Double] {
        var s = [Double](repeating: -.infinity, count: l)
        for j in 0...(past + i) {
            var acc = 0.0
            for d in 0..<hs { acc += q[i * width + h * hs + d] * k[j * width + h * hs + d] }
            s[j] = acc / Double(hs).squareRoot()
        }
        let m = s.max()!
        let e = s.map { exp($0 - m) }
        let z = e.reduce(0, +)
        return e.map { $0 / z }
    }

    func mask(_ h: Int, _ i: Int, _ j: Int) -> Double {
        p <= 0 ? 1 : (Dropout.keep(seed: seed, index: h * n * l + i * l + j, p: p) ? 1 / Double(1 - p) : 0)
    }
}

final class AttentionTests: XCTestCase {
    func random(_ count: Int, _ g: inout SplitMix64) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &g) } }

    /// Lengths across the 64-row block boundary, with and without cached keys and dropout.
    func testBlockedForwardAndBackwardMatchNaive() {
        for (n, past, p) in [(150, 0, Float(0)), (130, 0, 0.2), (70, 5, 0), (1, 9, 0)] {
            let heads = 2, hs = 8, width = heads * hs, l = past + n
            var g = SplitMix64(seed: UInt64(n))
            let q = random(n * width, &g), k = random(l * width, &g), v = random(l * width, &g), dy = random(n * width, &g)
            var y = [Float](repeating: 0, count: n * width)
            var probs = [Float](repeating: 0, count: heads * n * l)
            var scratch = [Float](repeating: 0, count: 2 * n * l)
            CausalAttention.forward(q: q, ldq: width, k: k, v: v, ldkv: width, y: &y, ldy: width, rows: n, past: past, heads: heads,
                                    headSize: hs, probs: &probs, scratch: &scratch, dropout: p, seed: 42)
            let naive = NaiveAttention(n: n, past: past, heads: heads, hs: hs, p: p, seed: 42)
            let yRef = naive.forward(q.map(Double.init), k.map(Double.init), v.map(Double.init))
            for i in 0..<y.count { XCTAssertEqual(Double(y[i]), yRef[i], accuracy: 1e-5, "y[\(i)] n=\(n) past=\(past)") }
            guard past == 0 else { continue }  // backward is used in training, where nothing is cached
            var dq = [Float](repeating: 0, count: n * width), dk = dq, dv = dq
            CausalAttention.backward(dy: dy, ldy: width, q: q, ldq: width, k: k, v: v, ldkv: width, dq: &dq, dk: &dk, dv: &dv, ldd: width,
                                     rows: n, past: 0, heads: heads, headSize: hs, probs: probs, scratch: &scratch, dropout: p, seed: 42)
            // Central differences of L = sum(dy * y) in Double at a few coordinates of q, k, v.
            func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
                zip(naive.forward(q, k, v), dy).reduce(0) { $0 + $1.0 * Double($1.1) }
            }
            let qd = q.map(Double.init), kd = k.map(Double.init), vd = v.map(Double.init)
            for idx in [0, 17, width * (n / 2) + 3, n * width - 1] {
                let h = 1e-5
                for (which, analytic) in [(0, dq), (1, dk), (2, dv)] {
                    var a = [qd, kd, vd], b = [qd, kd, vd]
                    a[which][idx] += h; b[which][idx] -= h
                    let numeric = (loss(a[0], a[1], a[2]) - loss(b[0], b[1], b[2])) / (2 * h)
                    XCTAssertEqual(Double(analytic[idx]), numeric, accuracy: 1e-4 + 1e-3 * abs(numeric), "grad \(which)[\(idx)] n=\(n) p=\(p)")
                }
            }
        }
    }

    func testFastExpAndTanh() {
        for x: Float in [-87, -20, -1.5, -1e-3, 0, 0.5, 1, 10, 50, 88] {
            let e = exp8(Vec8(repeating: x))[0]
            XCTAssertEqual(e, expf(x), accuracy: 2e-7 * expf(x) + 1e-37, "exp(\(x))")
            XCTAssertEqual(tanh8(Vec8(repeating: x / 10))[0], tanhf(x / 10), accuracy: 1e-6)
        }
    }

    func testChunkedCrossEntropyMatchesDirectSoftmax() {
        var g = SplitMix64(seed: 7)
        let rows = 5, c = 6, v = 11
        let hidden = random(rows * c, &g), head = random(v * c, &g)
        let targets: [Int32] = [0, 10, 3, 3, 7]
        var dH = [Float](repeating: 0, count: rows * c), dW = [Float](repeating: 0, count: v * c)
        var scratch = [Float](repeating: 0, count: 2 * v)  // two rows per chunk: 3 chunks
        let loss = scratch.withUnsafeMutableBufferPointer {
            ChunkedCrossEntropy.lossAndGradient(hidden: hidden, rows: rows, width: c, head: head, vocab: v, targets: targets,
                                                gradScale: 0.5, dHidden: &dH, dHead: &dW, scratch: $0, chunkRows: 2)
        }
        var ref = 0.0
        var dHRef = [Double](repeating: 0, count: rows * c), dWRef = [Double](repeating: 0, count: v * c)
        for r in 0..<rows {
            let z = (0..<v).map { j in (0..<c).reduce(0.0) { $0 + Double(hidden[r * c + $1]) * Double(head[j * c + $1]) } }
            let m = z.max()!, lse = m + log(z.reduce(0) { $0 + exp($1 - m) })
            ref += lse - z[Int(targets[r])]
            for j in 0..<v {
                let d = 0.5 * (exp(z[j] - lse) - (j == Int(targets[r]) ? 1 : 0))
                for t in 0..<c { dHRef[r * c + t] += d * Double(head[j * c + t]); dWRef[j * c + t] += d * Double(hidden[r * c + t]) }
            }
        }
        XCTAssertEqual(loss, ref, accuracy: 1e-5)
        for i in 0..<dH.count { XCTAssertEqual(Double(dH[i]), dHRef[i], accuracy: 1e-6) }
        for i in 0..<dW.count { XCTAssertEqual(Double(dW[i]), dWRef[i], accuracy: 1e-6) }
    }

    func testLayerNormAndGELUBackwardByFiniteDifferences() {
        var g = SplitMix64(seed: 9)
        let rows = 3, c = 13
        let x = random(rows * c, &g), w = random(c, &g), b = random(c, &g), dout = random(rows * c, &g)
        func lnLoss(_ x: [Float]) -> Double {
            var out = [Float](repeating: 0, count: rows * c)
            LayerNorm.forward(out: &out, mean: nil, rstd: nil, x: x, weight: w, bias: b, rows: rows, width: c, eps: 1e-5)
            return zip(out, dout).reduce(0) { $0 + Double($1.0 * $1.1) }
        }
        var out = [Float](repeating: 0, count: rows * c), mean = [Float](repeating: 0, count: rows), rstd = mean
        LayerNorm.forward(out: &out, mean: &mean, rstd: &rstd, x: x, weight: w, bias: b, rows: rows, width: c, eps: 1e-5)
        var dx = [Float](repeating: 0, count: rows * c)
        LayerNorm.backward(dx: &dx, dout: dout, x: x, weight: w, mean: mean, rstd: rstd, rows: rows, width: c)
        for i in [0, 5, 14, 38] {
            var a = x, bb = x
            a[i] += 1e-2; bb[i] -= 1e-2
            XCTAssertEqual(Double(dx[i]), (lnLoss(a) - lnLoss(bb)) / 2e-2, accuracy: 2e-3, "layernorm dx[\(i)]")
        }
        let xs: [Float] = [-4, -1, -0.3, 0, 0.2, 1, 2.5, 6, -2, 3]
        var gy = [Float](repeating: 0, count: xs.count), gd = gy
        GELU.forward(out: &gy, x: xs, count: xs.count)
        GELU.backward(dx: &gd, dout: [Float](repeating: 1, count: xs.count), x: xs, count: xs.count)
        for (i, x) in xs.enumerated() {
            let ref = 0.5 * Double(x) * (1 + tanh(0.7978845608028654 * (Double(x) + 0.044715 * pow(Double(x), 3))))
            XCTAssertEqual(Double(gy[i]), ref, accuracy: 1e-6)
            var p: [Float] = [x + 1e-3], m: [Float] = [x - 1e-3], op: [Float] = [0], om: [Float] = [0]
            GELU.forward(out: &op, x: &p, count: 1); GELU.forward(out: &om, x: &m, count: 1)
            XCTAssertEqual(gd[i], (op[0] - om[0]) / 2e-3, accuracy: 2e-3)
        }
    }
}
