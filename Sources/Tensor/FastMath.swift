#if canImport(Glibc)
import Glibc
#endif

public typealias Vec8 = SIMD8<Float>

@inline(__always) public func load8(_ p: UnsafePointer<Float>) -> Vec8 {
    UnsafeRawPointer(p).loadUnaligned(as: Vec8.self)
}

@inline(__always) public func store8(_ v: Vec8, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec8.self)
}

/// e^x for eight lanes, relative error below 2e-7 for x in [-87, 88] (Cephes' polynomial with the
/// 1.5 x 2^23 rounding trick, so it compiles to plain AVX2 arithmetic).
@inline(__always)
public func exp8(_ x0: Vec8) -> Vec8 {
    // Lane-wise clamp by masks: `clamped` and `pointwiseMin` are not specialised and cost a call.
    var x = x0.replacing(with: -87, where: x0 .< -87)
    x = x.replacing(with: 88, where: x .> 88)
    let magic = Vec8(repeating: 12_582_912.0)
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    var r = x - n * 0.693_145_751_953_125
    r = r - n * 1.428_606_765_330_187e-06
    var p = Vec8(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    p = p * (r * r) + r + 1
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: Vec8.self)
    return p * scale
}

/// tanh for eight lanes: 1 - 2 / (e^{2x} + 1), with |x| clamped where tanh is ±1 in Float.
@inline(__always)
public func tanh8(_ x: Vec8) -> Vec8 {
    var c = x.replacing(with: -10, where: x .< -10)
    c = c.replacing(with: 10, where: c .> 10)
    let e = exp8(c + c)
    return 1 - 2 / (e + 1)
}

/// Sum of the lanes.
@inline(__always) public func hsum(_ v: Vec8) -> Float { v.sum() }

/// Sum of n floats.
@inline(__always)
public func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vec8()
    var i = 0
    while i + 8 <= n { acc += load8(p + i); i += 8 }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// Dot product of n floats.
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = Vec8()
    var i = 0
    while i + 8 <= n { acc += load8(a + i) * load8(b + i); i += 8 }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += a * x over n floats.
@inline(__always)
public func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let av = Vec8(repeating: a)
    var i = 0
    while i + 8 <= n { store8(load8(y + i) + av * load8(x + i), y + i); i += 8 }
    while i < n { y[i] += a * x[i]; i += 1 }
}

/// y[cols] += Σ_r x[r, cols] over `rows` contiguous rows: a bias's gradient.
@inline(__always)
public func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows { axpy(1, x + r * cols, y, cols) }
}

/// y = x + z over n floats (y may alias x or z).
@inline(__always)
public func add(_ x: UnsafePointer<Float>, _ z: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    Parallel.parts(n) { part in
        var i = part.lowerBound
        while i + 8 <= part.upperBound { store8(load8(x + i) + load8(z + i), y + i); i += 8 }
        while i < part.upperBound { y[i] = x[i] + z[i]; i += 1 }
    }
}

/// Maximum of n floats (n > 0).
@inline(__always)
public func maximum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var m = -Float.infinity
    if n >= 8 {
        var acc = load8(p)
        i = 8
        while i + 8 <= n { let v = load8(p + i); acc = acc.replacing(with: v, where: v .> acc); i += 8 }
        m = acc.max()
    }
    while i < n { m = Swift.max(m, p[i]); i += 1 }
    return m
}

/// p[i] = exp(p[i] - shift) in place; returns the sum.
@inline(__always)
public func expShiftSum(_ p: UnsafeMutablePointer<Float>, _ n: Int, shift: Float) -> Float {
    let s = Vec8(repeating: shift)
    var acc = Vec8()
    var i = 0
    while i + 8 <= n {
        let e = exp8(load8(p + i) - s)
        store8(e, p + i)
        acc += e
        i += 8
    }
    var total = acc.sum()
    while i < n { let e = expf(p[i] - shift); p[i] = e; total += e; i += 1 }
    return total
}

/// p[i] *= a over n floats.
@inline(__always)
public func scale(_ p: UnsafeMutablePointer<Float>, _ n: Int, by a: Float) {
    let av = Vec8(repeating: a)
    var i = 0
    while i + 8 <= n { store8(load8(p + i) * av, p + i); i += 8 }
    while i < n { p[i] *= a; i += 1 }
}
