#if canImport(Glibc)
import Glibc
#endif

/// Rotary position embeddings in the rotate-half layout of Hugging Face's Llama: in each head of
/// size d, element j < d/2 pairs with j + d/2, rotated by the angle pos · θ^(−2j/d):
///
///     x'[j]       = x[j] cos − x[j + d/2] sin
///     x'[j + d/2] = x[j + d/2] cos + x[j] sin
///
/// The table holds cos and sin per (position, j), computed as transformers does: inverse
/// frequencies rounded to Float, the angle a Float product, then cos/sin.
public final class RotaryTable: @unchecked Sendable {
    public let headSize: Int, positions: Int, theta: Float
    /// [positions][d/2] cosines, then the same for sines.
    let cosines: [Float], sines: [Float]

    public init(headSize d: Int, positions: Int, theta: Float) {
        precondition(d % 2 == 0)
        headSize = d; self.positions = positions; self.theta = theta
        let half = d / 2
        // inv_freq = 1 / (base ** (arange(0, d, 2).float() / d)) in float32.
        let inv: [Float] = (0..<half).map { j in 1 / powf(theta, Float(2 * j) / Float(d)) }
        var c = [Float](repeating: 0, count: positions * half), s = c
        for p in 0..<positions {
            for j in 0..<half {
                let a = Float(p) * inv[j]
                c[p * half + j] = cosf(a); s[p * half + j] = sinf(a)
            }
        }
        cosines = c; sines = s
    }

    /// Rotates `heads` heads of each row of packed sequences in place, row r at `positions[r]`,
    /// head h at column h·d of a row of stride `ld`, rows across the threads; `inverse` applies the
    /// transpose (the backward pass). Queries and keys side by side in a row ([q heads | k heads | ...],
    /// as the fused projection writes them) go in one call with heads = query + key heads.
    ///
    ///     rotary.apply(qkv, ld: Q + 2K, positions: [0, 1, 2, 0, 1], heads: H + Hkv)  // sequences of 3 and 2
    public func apply(_ x: UnsafeMutablePointer<Float>, ld: Int, positions rowPositions: [Int], heads: Int, inverse: Bool = false) {
        precondition(rowPositions.allSatisfy { $0 >= 0 && $0 < positions }, "a position beyond the rotary table's \(positions)")
        rowPositions.withUnsafeBufferPointer { pos in
            Parallel.rows(pos.count, width: heads * headSize) { part in
                for r in part { rotateRow(x + r * ld, heads: heads, position: pos[r], inverse: inverse) }
            }
        }
    }

    @inline(__always)
    func rotateRow(_ row: UnsafeMutablePointer<Float>, heads: Int, position: Int, inverse: Bool) {
        let d = headSize, half = d / 2
        let sign: Float = inverse ? -1 : 1
        cosines.withUnsafeBufferPointer { cb in
            sines.withUnsafeBufferPointer { sb in
                let cp = cb.baseAddress! + position * half, sp = sb.baseAddress! + position * half
                let signs = Vec8(repeating: sign)
                for h in 0..<heads {
                    let a = row + h * d, b = a + half
                    var j = 0
                    while j + 8 <= half {
                        let x1 = load8(a + j), x2 = load8(b + j), cs = load8(cp + j), sn = signs * load8(sp + j)
                        store8(x1 * cs - x2 * sn, a + j)
                        store8(x2 * cs + x1 * sn, b + j)
                        j += 8
                    }
                    while j < half {
                        let x1 = a[j], x2 = b[j], cs = cp[j], sn = sign * sp[j]
                        a[j] = x1 * cs - x2 * sn
                        b[j] = x2 * cs + x1 * sn
                        j += 1
                    }
                }
            }
        }
    }
}
