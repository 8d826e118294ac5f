/// Multi-head causal self-attention for one sequence, heads side by side in each row (as GPT-2's
/// fused qkv): query row i sees keys 0...past+i, where `past` keys come before the new rows (a KV
/// cache). Softmax(q kᵀ / sqrt(hs)) v per head, with optional dropout on the probabilities.
///
/// Query rows go in blocks of `block`; a block only multiplies against the keys it can see, which
/// halves the work of long sequences compared with masking a full square.
public enum CausalAttention {
    public static let block = 64

    /// Shapes: q [n, H·hs] (row stride ldq), k and v [past+n, H·hs] (row stride ldkv),
    /// y [n, H·hs] (stride ldy). `probs` receives the softmax probabilities [H, n, past+n], zero
    /// where masked up to the last key of the row's block of `block` rows, unspecified after it
    /// (saved for backward, which reads no further); `scratch` holds n·(past+n) floats when dropout is on.
    public static func forward(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                               y: UnsafeMutablePointer<Float>, ldy: Int, rows n: Int, past: Int, heads: Int, headSize hs: Int,
                               probs: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?,
                               dropout p: Float = 0, seed: UInt64 = 0) {
        let l = past + n
        let scaleFactor = 1 / Float(hs).squareRoot()
        for h in 0..<heads {
            let ph = probs + h * n * l
            var i0 = 0
            while i0 < n {
                let i1 = min(n, i0 + block), bs = i1 - i0, cols = past + i1
                BLAS.gemm(transB: true, m: bs, n: cols, k: hs, alpha: scaleFactor, a: q + i0 * ldq + h * hs, lda: ldq,
                          b: k + h * hs, ldb: ldkv, c: ph + i0 * l, ldc: l)
                for i in i0..<i1 {
                    let row = ph + i * l
                    let valid = past + i + 1
                    let m = maximum(row, valid)
                    let s = expShiftSum(row, valid, shift: m)
                    scale(row, valid, by: 1 / s)
                    // Masked columns up to the block's last key only: nothing reads a row past them
                    // (the products here and in backward take `cols` columns), and zeroing to the
                    // end of a long sequence's row cost as much as the softmax itself.
                    (row + valid).update(repeating: 0, count: cols - valid)
                }
                var pv = UnsafePointer(ph + i0 * l)
                if p > 0, let scratch {
                    scratch.update(from: ph + i0 * l, count: bs * l)
                    Dropout.apply(scratch, count: bs * l, p: p, seed: seed, offset: h * n * l + i0 * l)
                    pv = UnsafePointer(scratch)
                }
                BLAS.gemm(m: bs, n: hs, k: cols, a: pv, lda: l, b: v + h * hs, ldb: ldkv, c: y + i0 * ldy + h * hs, ldc: ldy)
                i0 = i1
            }
        }
    }

    /// Gradients for q, k, v from dy (overwriting dq, dk, dv for the rows of this call; keys and
    /// values of `past` rows are written too). `scratch` holds 2·n·(past+n) floats.
    public static func backward(dy: UnsafePointer<Float>, ldy: Int, q: UnsafePointer<Float>, ldq: Int,
                                k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                                dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, ldd: Int,
                                rows n: Int, past: Int, heads: Int, headSize hs: Int, probs: UnsafePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, dropout p: Float = 0, seed: UInt64 = 0) {
        let l = past + n
        let scaleFactor = 1 / Float(hs).squareRoot()
        let dP = scratch, dropped = scratch + n * l
        for h in 0..<heads {
            for r in 0..<l {
                (dk + r * ldd + h * hs).update(repeating: 0, count: hs)
                (dv + r * ldd + h * hs).update(repeating: 0, count: hs)
            }
            let ph = probs + h * n * l
            var i0 = 0
            while i0 < n {
                let i1 = min(n, i0 + block), bs = i1 - i0, cols = past + i1
                let pb = ph + i0 * l
                var pv = pb
                if p > 0 {
                    dropped.update(from: pb, count: bs * l)
                    Dropout.apply(dropped, count: bs * l, p: p, seed: seed, offset: h * n * l + i0 * l)
                    pv = UnsafePointer(dropped)
                }
                let dyb = dy + i0 * ldy + h * hs
                BLAS.gemm(transB: true, m: bs, n: cols, k: hs, a: dyb, lda: ldy, b: v + h * hs, ldb: ldkv, c: dP, ldc: l)
                BLAS.gemm(transA: true, m: cols, n: hs, k: bs, a: pv, lda: l, b: dyb, ldb: ldy, beta: 1, c: dv + h * hs, ldc: ldd)
                if p > 0 { Dropout.apply(dP, count: bs * l, p: p, seed: seed, offset: h * n * l + i0 * l) }
                for i in i0..<i1 {
                    let pr = ph + i * l, dr = dP + (i - i0) * l
                    let valid = past + i + 1
                    let d = dot(pr, dr, valid)
                    for j in 0..<valid { dr[j] = pr[j] * (dr[j] - d) }
                    (dr + valid).update(repeating: 0, count: cols - valid)
                }
                BLAS.gemm(m: bs, n: hs, k: cols, alpha: scaleFactor, a: dP, lda: l, b: k + h * hs, ldb: ldkv, c: dq + i0 * ldd + h * hs, ldc: ldd)
                BLAS.gemm(transA: true, m: cols, n: hs, k: bs, alpha: scaleFactor, a: dP, lda: l, b: q + i0 * ldq + h * hs, ldb: ldq,
                          beta: 1, c: dk + h * hs, ldc: ldd)
                i0 = i1
            }
        }
    }
}
