/// LayerNorm over rows of width C: out = (x - mean) / sqrt(var + eps) * w + b, with the biased
/// variance, as `torch.nn.LayerNorm`. Saves each row's mean and 1/std for the backward pass.
public enum LayerNorm {
    public static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?,
                               rstd: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               rows: Int, width c: Int, eps: Float) {
        Parallel.parts(rows, align: 1, minimum: 16) { part in
            for r in part {
                let xr = x + r * c, o = out + r * c
                let m = sum(xr, c) / Float(c)
                var acc = Vec8()
                let mv = Vec8(repeating: m)
                var i = 0
                while i + 8 <= c { let d = load8(xr + i) - mv; acc += d * d; i += 8 }
                var v = acc.sum()
                while i < c { let d = xr[i] - m; v += d * d; i += 1 }
                let s = 1 / (v / Float(c) + eps).squareRoot()
                let sv = Vec8(repeating: s)
                i = 0
                while i + 8 <= c {
                    store8((load8(xr + i) - mv) * sv * load8(weight + i) + load8(bias + i), o + i)
                    i += 8
                }
                while i < c { o[i] = (xr[i] - m) * s * weight[i] + bias[i]; i += 1 }
                mean?[r] = m
                rstd?[r] = s
            }
        }
    }

    /// dweight += Σ_rows dout · x̂ and dbias += Σ_rows dout, x̂ = (x - mean) · rstd: the gradients of
    /// the LayerNorm's own parameters, for when they are trained (`backward` gives dx).
    public static func parameterBackward(dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                         dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, width c: Int) {
        if let dbias { addColumnSums(dout, rows: rows, cols: c, into: dbias) }
        guard let dweight else { return }
        for r in 0..<rows {
            let xr = x + r * c, dr = dout + r * c
            let m = Vec8(repeating: mean[r]), s = Vec8(repeating: rstd[r])
            var i = 0
            while i + 8 <= c {
                store8(load8(dweight + i) + load8(dr + i) * (load8(xr + i) - m) * s, dweight + i)
                i += 8
            }
            while i < c { dweight[i] += dr[i] * (xr[i] - mean[r]) * rstd[r]; i += 1 }
        }
    }

    /// dx += dL/dx given dout; the LayerNorm's own parameters are frozen (no dweight/dbias).
    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                weight: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                rows: Int, width c: Int) {
        Parallel.parts(rows, align: 1, minimum: 16) { part in
            for r in part {
                let xr = x + r * c, dr = dout + r * c, dxr = dx + r * c
                let m = Vec8(repeating: mean[r]), s = Vec8(repeating: rstd[r])
                var a1 = Vec8(), a2 = Vec8()
                var i = 0
                while i + 8 <= c {
                    let dn = load8(weight + i) * load8(dr + i)
                    let nrm = (load8(xr + i) - m) * s
                    a1 += dn
                    a2 += dn * nrm
                    i += 8
                }
                var dnMean = a1.sum(), dnNormMean = a2.sum()
                while i < c {
                    let dn = weight[i] * dr[i]
                    dnMean += dn
                    dnNormMean += dn * (xr[i] - mean[r]) * rstd[r]
                    i += 1
                }
                dnMean /= Float(c)
                dnNormMean /= Float(c)
                let dm = Vec8(repeating: dnMean), dnm = Vec8(repeating: dnNormMean)
                i = 0
                while i + 8 <= c {
                    let dn = load8(weight + i) * load8(dr + i)
                    let nrm = (load8(xr + i) - m) * s
                    store8(load8(dxr + i) + (dn - dm - nrm * dnm) * s, dxr + i)
                    i += 8
                }
                while i < c {
                    let dn = weight[i] * dr[i]
                    let nrm = (xr[i] - mean[r]) * rstd[r]
                    dxr[i] += (dn - dnMean - nrm * dnNormMean) * rstd[r]
                    i += 1
                }
            }
        }
    }
}
