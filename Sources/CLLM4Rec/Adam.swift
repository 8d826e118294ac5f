import Tensor

#if canImport(Glibc)
import Glibc
#endif

/// Adam as `torch.optim.Adam` (β 0.9/0.999, ε 1e-8, no weight decay), over one flat parameter
/// buffer: every element moves every step, gradient or not, as with dense embedding gradients.
public final class Adam: @unchecked Sendable {
    public let count: Int
    public let m: FloatBuffer, v: FloatBuffer
    public var step = 0
    public var beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8

    public init(count: Int) {
        self.count = count
        m = FloatBuffer(count: count)
        v = FloatBuffer(count: count)
    }

    /// p -= lr · m̂ / (sqrt(v̂) + ε) with the gradient `g` scaled by `gradScale`.
    public func update(_ p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>, lr: Float, gradScale: Float = 1) {
        step += 1
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        let stepSize = lr / bc1, bc2Root = bc2.squareRoot()
        let mp = m.pointer.baseAddress!, vp = v.pointer.baseAddress!
        for i in 0..<count {
            let gi = g[i] * gradScale
            mp[i] = beta1 * mp[i] + (1 - beta1) * gi
            vp[i] = beta2 * vp[i] + (1 - beta2) * gi * gi
            p[i] -= stepSize * mp[i] / (vp[i].squareRoot() / bc2Root + eps)
        }
    }
}
