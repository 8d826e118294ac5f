#if canImport(Glibc)
import Glibc
#endif

/// GPT-2's tanh-approximated GELU (`gelu_new`): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
public enum GELU {
    static let k: Float = (2 / Float.pi).squareRoot()

    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        Parallel.parts(count) { part in forward(out: out + part.lowerBound, x: x + part.lowerBound, n: part.count) }
    }

    static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        let kv = Vec8(repeating: k)
        var i = 0
        while i + 8 <= n {
            let v = load8(x + i)
            let t = tanh8(kv * (v + 0.044715 * v * v * v))
            store8(0.5 * v * (1 + t), out + i)
            i += 8
        }
        while i < n {
            let v = x[i]
            out[i] = 0.5 * v * (1 + tanhf(k * (v + 0.044715 * v * v * v)))
            i += 1
        }
    }

    /// dx = dout * gelu'(x) (overwrites dx).
    public static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        Parallel.parts(count) { part in
            let o = part.lowerBound
            backward(dx: dx + o, dout: dout + o, x: x + o, n: part.count)
        }
    }

    static func backward(dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        let kv = Vec8(repeating: k)
        var i = 0
        while i + 8 <= n {
            let v = load8(x + i)
            let t = tanh8(kv * (v + 0.044715 * v * v * v))
            let sech2: Vec8 = 1 - t * t
            let inner: Vec8 = 1 + 0.134145 * v * v  // d/dx of x + 0.044715 x^3
            let half: Vec8 = 0.5 * (1 + t)
            let g: Vec8 = half + 0.5 * v * sech2 * kv * inner
            store8(g * load8(dout + i), dx + i)
            i += 8
        }
        while i < n {
            let v = x[i]
            let t = tanhf(k * (v + 0.044715 * v * v * v))
            let g = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 0.134145 * v * v)
            dx[i] = g * dout[i]
            i += 1
        }
    }
}
