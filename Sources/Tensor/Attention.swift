/// Multi-head causal self-attention for one sequence, heads side by side in each row (as GPT-2's
/// fused qkv): query row i sees keys 0...past+i, where `past` keys come before the new rows (a KV
/// cache). Softmax(q kᵀ / sqrt(hs)) v per head, with optional dropout on the probabilities.
public enum CausalAttention {
    /// Shapes: q [n, H·hs] (row stride ldq), k and v [past+n, H·hs] (row stride ldkv),
    /// y [n, H·hs] (stride ldy). `probs` receives the softmax probabilities [H, n, past+n]
    /// (saved for backward); `scratch` holds n·(past+n) floats when dropout is on.
    public static func forward(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                               y: UnsafeMutablePointer<Float>, ldy: Int, rows n: Int, past: Int, heads: Int, headSize hs: Int,
                               probs: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>?,
                               dropout p: Float = 0, seed: UInt64 = 0) {
        let l = past + n
        let scaleFactor = 1 / Float(hs).squareRoot()
        for h in 0..<heads {
            let ph = probs + h * n * l
            BLAS.gemm(transB: true, m: n, n: l, k: hs, alpha: scaleFactor, a: q + h * hs, lda: ldq,
                      b: k + h * hs, ldb: ldkv, c: ph, ldc: l)
            for i in 0..<n {
                let row = ph + i * l
                let valid = past + i + 1
                let m = maximum(row, valid)
                let s = expShiftSum(row, valid, shift: m)
                scale(row, valid, by: 1 / s)
                (row + valid).update(repeating: 0, count: l - valid)
            }
            var pv = UnsafePointer(ph)
            if p > 0, let scratch {
                scratch.update(from: ph, count: n * l)
                Dropout.apply(scratch, count: n * l, p: p, seed: seed, offset: h * n * l)
                pv = UnsafePointer(scratch)
            }
            BLAS.gemm(m: n, n: hs, k: l, a: pv, lda: l, b: v + h * hs, ldb: ldkv, c: y + h * hs, ldc: ldy)
        }
    }

    /// Gradients for q, k, v from dy (overwriting dq, dk, dv for this sequence). `scratch` holds
    /// 2·n·(past+n) floats.
    public static func backward(dy: UnsafePointer<Float>, ldy: Int, q: UnsafePointer<Float>, ldq: Int,
                                k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                                dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>, ldd: Int,
                                rows n: Int, past: Int, heads: Int, headSize hs: Int, probs: UnsafePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, dropout p: Float = 0, seed: UInt64 = 0) {
        let l = past + n
        let scaleFactor = 1 / Float(hs).squareRoot()
        let dP = scratch, dropped = scratch + n * l
        for h in 0..<heads {
            let ph = probs + h * n * l
            var pv = ph
            if p > 0 {
                dropped.update(from: ph, count: n * l)
                Dropout.apply(dropped, count: n * l, p: p, seed: seed, offset: h * n * l)
                pv = UnsafePointer(dropped)
            }
            BLAS.gemm(transB: true, m: n, n: l, k: hs, a: dy + h * hs, lda: ldy, b: v + h * hs, ldb: ldkv, c: dP, ldc: l)
            BLAS.gemm(transA: true, m: l, n: hs, k: n, a: pv, lda: l, b: dy + h * hs, ldb: ldy, c: dv + h * hs, ldc: ldd)
            if p > 0 { Dropout.apply(dP, count: n * l, p: p, seed: seed, offset: h * n * l) }
            for i in 0..<n {
                let pr = ph + i * l, dr = dP + i * l
                let valid = past + i + 1
                let d = dot(pr, dr, valid)
                for j in 0..<valid { dr[j] = pr[j] * (dr[j] - d) }
                (dr + valid).update(repeating: 0, count: l - valid)
            }
            BLAS.gemm(m: n, n: hs, k: l, alpha: scaleFactor, a: dP, lda: l, b: k + h * hs, ldb: ldkv, c: dq + h * hs, ldc: ldd)
            BLAS.gemm(transA: true, m: l, n: hs, k: n, alpha: scaleFactor, a: dP, lda: l, b: q + h * hs, ldb: ldq, c: dk + h * hs, ldc: ldd)
        }
    }
}
