/// Llama's gated MLP activation: out = silu(gate) · up, silu(g) = g · sigmoid(g) (`act_fn(gate_proj(x)) * up_proj(x)`).
public enum SwiGLU {
    public static func forward(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
        Parallel.parts(n) { part in
            forwardSpan(out: out, gate: gate, up: up, part)
        }
    }

    /// The same over rows holding gate and up side by side, [rows, 2·width] (one product made both);
    /// out is [rows, width]. Rows go across the threads (a row alone is below a dispatch's worth).
    public static func forward(out: UnsafeMutablePointer<Float>, gateUp: UnsafePointer<Float>, rows: Int, width f: Int) {
        Parallel.rows(rows, width: f) { part in
            for r in part { forwardSpan(out: out + r * f, gate: gateUp + r * 2 * f, up: gateUp + r * 2 * f + f, 0..<f) }
        }
    }

    @inline(__always)
    static func forwardSpan(out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ part: Range<Int>) {
        var i = part.lowerBound
        let one = Vec8(repeating: 1)
        while i + 8 <= part.upperBound {
            let g = load8(gate + i)
            store8(g / (one + exp8(-g)) * load8(up + i), out + i)
            i += 8
        }
        while i < part.upperBound { let g = gate[i]; out[i] = g / (1 + expf(-g)) * up[i]; i += 1 }
    }

    /// Backward of the side-by-side form: dGateUp [rows, 2·width] receives dgate | dup in each row.
    public static func backward(dGateUp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, gateUp: UnsafePointer<Float>,
                                rows: Int, width f: Int) {
        Parallel.rows(rows, width: f) { part in
            for r in part {
                let g = gateUp + r * 2 * f, d = dGateUp + r * 2 * f
                backwardSpan(dgate: d, dup: d + f, dout: dout + r * f, gate: g, up: g + f, 0..<f)
            }
        }
    }

    /// dgate = dout · up · silu'(g), dup = dout · silu(g), silu'(g) = σ(g) (1 + g (1 − σ(g))).
    /// `dgate` and `dup` may not alias the inputs.
    public static func backward(dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count n: Int) {
        Parallel.parts(n) { part in
            backwardSpan(dgate: dgate, dup: dup, dout: dout, gate: gate, up: up, part)
        }
    }

    @inline(__always)
    static func backwardSpan(dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                             gate: UnsafePointer<Float>, up: UnsafePointer<Float>, _ part: Range<Int>) {
        var i = part.lowerBound
        let one = Vec8(repeating: 1)
        while i + 8 <= part.upperBound {
            let g = load8(gate + i), d = load8(dout + i)
            let s = one / (one + exp8(-g))
            store8(d * g * s, dup + i)
            store8(d * load8(up + i) * s * (one + g * (one - s)), dgate + i)
            i += 8
        }
        while i < part.upperBound {
            let g = gate[i], s = 1 / (1 + expf(-g))
            dup[i] = dout[i] * g * s
            dgate[i] = dout[i] * up[i] * s * (1 + g * (1 - s))
            i += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
