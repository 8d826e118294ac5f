/// Element types of stored tensors, with safetensors' names.
public enum DType: String, CaseIterable, Sendable {
    case BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }

    /// Whether `convertToFloat` can read this type.
    public var isConvertibleToFloat: Bool { self != .F8_E5M2 && self != .F8_E4M3 }
}

/// Decodes `count` little- or big-endian elements of `dtype` from `src` into Floats.
///
///     BF16 0x3F80 -> 1.0; F16 0x3C00 -> 1.0; I64 3 -> 3.0
public func convertToFloat(_ src: UnsafeRawBufferPointer, dtype: DType, bigEndian: Bool = false,
                           into dst: UnsafeMutableBufferPointer<Float>) {
    let n = dst.count
    precondition(src.count >= n * dtype.size)
    @inline(__always) func u16(_ k: Int) -> UInt16 {
        let v = src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)
        return bigEndian ? v.byteSwapped : v
    }
    @inline(__always) func u32(_ k: Int) -> UInt32 {
        let v = src.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)
        return bigEndian ? v.byteSwapped : v
    }
    @inline(__always) func u64(_ k: Int) -> UInt64 {
        let v = src.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)
        return bigEndian ? v.byteSwapped : v
    }
    switch dtype {
    case .F32:
        if !bigEndian, let s = src.baseAddress {
            dst.baseAddress!.update(from: UnsafeRawPointer(s).assumingMemoryBound(to: Float.self), count: n)
            // ^ memcpy semantics; alignment of `s` does not matter for a byte copy.
        } else {
            for k in 0..<n { dst[k] = Float(bitPattern: u32(k)) }
        }
    case .F64: for k in 0..<n { dst[k] = Float(Double(bitPattern: u64(k))) }
    case .F16: for k in 0..<n { dst[k] = Float(Float16(bitPattern: u16(k))) }
    case .BF16: for k in 0..<n { dst[k] = Float(bitPattern: UInt32(u16(k)) << 16) }
    case .BOOL, .U8: for k in 0..<n { dst[k] = Float(src[k]) }
    case .I8: for k in 0..<n { dst[k] = Float(Int8(bitPattern: src[k])) }
    case .I16: for k in 0..<n { dst[k] = Float(Int16(bitPattern: u16(k))) }
    case .U16: for k in 0..<n { dst[k] = Float(u16(k)) }
    case .I32: for k in 0..<n { dst[k] = Float(Int32(bitPattern: u32(k))) }
    case .U32: for k in 0..<n { dst[k] = Float(u32(k)) }
    case .I64: for k in 0..<n { dst[k] = Float(Int64(bitPattern: u64(k))) }
    case .U64: for k in 0..<n { dst[k] = Float(u64(k)) }
    case .F8_E5M2, .F8_E4M3: preconditionFailure("checked by isConvertibleToFloat")
    }
}

/// A named tensor decoded to Float, in row-major order.
public struct FloatTensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
        self.shape = shape
        self.values = values
    }
}
