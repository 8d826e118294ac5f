/// Fills with N(0, std²) by Box-Muller, two values per pair of uniforms.
public func fillNormal<G: RandomNumberGenerator>(_ p: UnsafeMutableBufferPointer<Float>, std: Float, using g: inout G) {
    var i = 0
    while i < p.count {
        let u1 = Float.random(in: Float.ulpOfOne..<1, using: &g)
        let u2 = Float.random(in: 0..<1, using: &g)
        let r = (-2 * logf(u1)).squareRoot() * std
        p[i] = r * cosf(2 * .pi * u2)
        if i + 1 < p.count { p[i + 1] = r * sinf(2 * .pi * u2) }
        i += 2
    }
}

#if canImport(Glibc)
import Glibc
#endif
