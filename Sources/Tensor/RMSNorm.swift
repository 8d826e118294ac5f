/// RMSNorm over rows of width C, as Hugging Face's `LlamaRMSNorm`: out = w · x / sqrt(mean(x²) + eps)
/// (no mean subtracted, no bias). Saves each row's 1/rms for the backward pass.
public enum RMSNorm {
    public static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, rows: Int, width c: Int, eps: Float) {
        Parallel.parts(rows, align: 1, minimum: 16) { part in
            for r in part {
                let xr = x + r * c, o = out + r * c
                let s = 1 / (dot(xr, xr, c) / Float(c) + eps).squareRoot()
                let sv = Vec8(repeating: s)
                var i = 0
                while i + 8 <= c { store8(load8(xr + i) * sv * load8(weight + i), o + i); i += 8 }
                while i < c { o[i] = xr[i] * s * weight[i]; i += 1 }
                rstd?[r] = s
            }
        }
    }

    /// dx += dL/dx given dout. With g = w · dout and s = 1/rms:
    /// dx_i = s · g_i − x_i · s³ · Σ_j g_j x_j / C.
    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, width c: Int) {
        Parallel.parts(rows, align: 1, minimum: 16) { part in
            for r in part {
                let xr = x + r * c, dr = dout + r * c, dxr = dx + r * c
                var acc = Vec8()
                var i = 0
                while i + 8 <= c { acc += load8(weight + i) * load8(dr + i) * load8(xr + i); i += 8 }
                var gx = acc.sum()
                while i < c { gx += weight[i] * dr[i] * xr[i]; i += 1 }
                let s = rstd[r]
                let k = s * s * s * gx / Float(c)
                let sv = Vec8(repeating: s), kv = Vec8(repeating: k)
                i = 0
                while i + 8 <= c {
                    store8(load8(dxr + i) + sv * load8(weight + i) * load8(dr + i) - kv * load8(xr + i), dxr + i)
                    i += 8
                }
                while i < c { dxr[i] += s * weight[i] * dr[i] - k * xr[i]; i += 1 }
            }
        }
    }

    /// dweight += Σ_rows dout · x · s (the norm's own weight, when it is trained).
    public static func parameterBackward(dweight: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                         rstd: UnsafePointer<Float>, rows: Int, width c: Int) {
        for r in 0..<rows {
            let xr = x + r * c, dr = dout + r * c
            let s = Vec8(repeating: rstd[r])
            var i = 0
            while i + 8 <= c { store8(load8(dweight + i) + load8(dr + i) * load8(xr + i) * s, dweight + i); i += 8 }
            while i < c { dweight[i] += dr[i] * xr[i] * rstd[r]; i += 1 }
        }
    }
}
