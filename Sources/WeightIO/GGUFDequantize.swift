/// ggml's block formats turned back into Float, value for value as gguf-py's
/// `gguf.quants.dequantize` computes them in float32 (same products, same order; Swift does
/// not contract `a * b + c` into a fused multiply-add), so the results are bit-identical to it (tested on fixture blocks of every type).
///
/// Q4_1, one block of 32: F16 d, F16 m, 16 bytes; element j < 16 is `d * (byte[j] & 15) + m`,
/// element j + 16 is `d * (byte[j] >> 4) + m`.
public enum GGUFDequantize {
    /// Dequantizes `dst.count` elements stored as `type` in `src` (which holds whole blocks).
    public static func dequantize(_ src: UnsafeRawBufferPointer, type: GGMLType, into dst: UnsafeMutableBufferPointer<Float>) {
        let n = dst.count
        precondition(n % type.blockSize == 0 && src.count >= n / type.blockSize * type.blockBytes)
        let out = dst.baseAddress!
        let blocks = n / type.blockSize
        switch type {
        case .F32: for k in 0..<n { out[k] = Float(bitPattern: src.u32(4 * k)) }
        case .F16: for k in 0..<n { out[k] = src.f16(2 * k) }
        case .BF16: for k in 0..<n { out[k] = Float(bitPattern: UInt32(src.u16(2 * k)) << 16) }
        case .Q8_0:
            for b in 0..<blocks { q8_0(src, b * 34, out + b * 32) }
        case .Q4_0:
            for b in 0..<blocks { q4_0(src, b * 18, out + b * 32) }
        case .Q4_1:
            for b in 0..<blocks { q4_1(src, b * 20, out + b * 32) }
        case .Q5_0:
            for b in 0..<blocks { q5_0(src, b * 22, out + b * 32) }
        case .Q5_1:
            for b in 0..<blocks { q5_1(src, b * 24, out + b * 32) }
        case .Q4_K:
            for b in 0..<blocks { q4_K(src, b * 144, out + b * 256) }
        case .Q5_K:
            for b in 0..<blocks { q5_K(src, b * 176, out + b * 256) }
        case .Q6_K:
            for b in 0..<blocks { q6_K(src, b * 210, out + b * 256) }
        default:
            preconditionFailure("\(type) is not dequantizable: callers check isDequantizable")
        }
    }

    /// d (F16), then 32 signed bytes: x = q · d.
    static func q8_0(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o)
        for j in 0..<32 { y[j] = Float(Int8(bitPattern: s[o + 2 + j])) * d }
    }

    /// d, 16 bytes of two nibbles: x = d · (q − 8).
    static func q4_0(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o)
        for j in 0..<16 {
            let b = s[o + 2 + j]
            y[j] = d * Float(Int(b & 15) - 8)
            y[j + 16] = d * Float(Int(b >> 4) - 8)
        }
    }

    /// d, m, 16 bytes of nibbles: x = d · q + m.
    static func q4_1(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o), m = s.f16(o + 2)
        for j in 0..<16 {
            let b = s[o + 4 + j]
            y[j] = d * Float(b & 15) + m
            y[j + 16] = d * Float(b >> 4) + m
        }
    }

    /// d, 32 high bits (u32 qh: bit j is element j's fifth bit), 16 bytes of nibbles: x = d · (q − 16).
    static func q5_0(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o), qh = s.u32(o + 2)
        for j in 0..<16 {
            let b = s[o + 6 + j]
            let lo = Int(b & 15) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(b >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo - 16)
            y[j + 16] = d * Float(hi - 16)
        }
    }

    /// d, m, qh, nibbles: x = d · q + m.
    static func q5_1(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o), m = s.f16(o + 2), qh = s.u32(o + 4)
        for j in 0..<16 {
            let b = s[o + 8 + j]
            let lo = Int(b & 15) | Int((qh >> UInt32(j)) & 1) << 4
            let hi = Int(b >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(lo) + m
            y[j + 16] = d * Float(hi) + m
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) of a Q4_K/Q5_K block from its 12 packed
    /// bytes at `o` (ggml's `get_scale_min_k4`).
    static func scaleMin(_ s: UnsafeRawBufferPointer, _ o: Int, _ j: Int) -> (Float, Float) {
        if j < 4 { return (Float(s[o + j] & 63), Float(s[o + j + 4] & 63)) }
        let sc = (s[o + j + 4] & 0x0F) | ((s[o + j - 4] >> 6) << 4)
        let m = (s[o + j + 4] >> 4) | ((s[o + j] >> 6) << 4)
        return (Float(sc), Float(m))
    }

    /// d, dmin, 12 scale bytes, 128 bytes of nibbles; sub-block 2i takes the low nibbles of bytes
    /// 32i..<32i+32, sub-block 2i+1 their high nibbles: x = (d · sc) · q − dmin · m.
    static func q4_K(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o), dmin = s.f16(o + 2)
        for sub in 0..<8 {
            let (sc, m) = scaleMin(s, o + 4, sub)
            let ds = d * sc, dm = dmin * m
            let q = o + 16 + (sub / 2) * 32, shift: UInt8 = sub % 2 == 0 ? 0 : 4
            for i in 0..<32 { y[sub * 32 + i] = ds * Float((s[q + i] >> shift) & 15) - dm }
        }
    }

    /// d, dmin, 12 scale bytes, 32 bytes qh (bit `sub` of qh[i] is element i of sub-block `sub`'s
    /// fifth bit), 128 bytes of nibbles as Q4_K.
    static func q5_K(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o), dmin = s.f16(o + 2)
        for sub in 0..<8 {
            let (sc, m) = scaleMin(s, o + 4, sub)
            let ds = d * sc, dm = dmin * m
            let q = o + 48 + (sub / 2) * 32, shift: UInt8 = sub % 2 == 0 ? 0 : 4
            for i in 0..<32 {
                let v = ((s[q + i] >> shift) & 15) | (((s[o + 16 + i] >> UInt8(sub)) & 1) << 4)
                y[sub * 32 + i] = ds * Float(v) - dm
            }
        }
    }

    /// 128 bytes ql, 64 bytes qh, 16 signed scales, d. Each half h of 128 elements has four rows r
    /// of 32: low 4 bits from ql[64h + 32(r % 2) + i] (nibble r / 2), high 2 bits from
    /// qh[32h + i] >> 2r; x = (d · scale[e / 16]) · (q − 32).
    static func q6_K(_ s: UnsafeRawBufferPointer, _ o: Int, _ y: UnsafeMutablePointer<Float>) {
        let d = s.f16(o + 208)
        for h in 0..<2 {
            for r in 0..<4 {
                let shift: UInt8 = r < 2 ? 0 : 4
                for i in 0..<32 {
                    let lo = (s[o + 64 * h + 32 * (r % 2) + i] >> shift) & 15
                    let hi = (s[o + 128 + 32 * h + i] >> UInt8(2 * r)) & 3
                    let q = Int(lo | hi << 4) - 32
                    let e = 128 * h + 32 * r + i
                    let scale = d * Float(Int8(bitPattern: s[o + 192 + e / 16]))
                    y[e] = scale * Float(q)
                }
            }
        }
    }
}

extension UnsafeRawBufferPointer {
    @inline(__always) func u16(_ o: Int) -> UInt16 { UInt16(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt16.self)) }
    @inline(__always) func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
    @inline(__always) func f16(_ o: Int) -> Float { Float(Float16(bitPattern: u16(o))) }
}
