import CQuant

/// A weight matrix [rows, cols] kept in one of ggml's block formats (as a GGUF file stores it), for
/// the decoding path: a matrix-vector product reads 4.5 (Q4_0, Q4_K) to 8.5 (Q8_0) bits per weight
/// instead of 32, and decoding runs at the memory's speed. As llama.cpp: the vector is quantized to
/// 8 bits per block of 32 and meets each weight block in an integer dot product (`Sources/CQuant`: a
/// portable C loop and an AVX2 one, both tested against `GGUFDequantize` and that rule).
public final class QuantizedMatrix: @unchecked Sendable {
    /// ggml's type numbers.
    public enum Format: Int32, Sendable, CaseIterable {
        case f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30
        public var blockBytes: Int { Int(cquant_block_bytes(rawValue)) }
        /// F16 and BF16 meet the vector itself in float products, the others its 8-bit form.
        public var isHalf: Bool { self == .f16 || self == .bf16 }
        /// Elements per block: 32, or 256 for the k-quants.
        public var blockElements: Int { Int(cquant_block_elements(rawValue)) }
    }
    /// Which loop runs the product: the AVX2 one where the CPU has it, else the portable one.
    public enum Path: Int32, Sendable { case portable = 0, avx2 = 1 }
    public static let bestPath: Path = cquant_has_avx2() != 0 ? .avx2 : .portable

    public let format: Format
    public let rows: Int, cols: Int
    public let bytes: UnsafeRawPointer
    /// What keeps `bytes` alive (a mapped file).
    let owner: AnyObject?

    /// `bytes` holds rows · cols / `format.blockElements` blocks, row after row; `cols` is a multiple
    /// of `format.blockElements`.
    public init(format: Format, rows: Int, cols: Int, bytes: UnsafeRawPointer, owner: AnyObject?) {
        precondition(cols % format.blockElements == 0 && rows > 0)
        self.format = format; self.rows = rows; self.cols = cols; self.bytes = bytes; self.owner = owner
    }

    public var byteCount: Int { rows * cols / format.blockElements * format.blockBytes }

    /// How a product is spread over `Parallel.threads`.
    public enum Threading: Sendable {
        /// The persistent pool of `cquant_matvec_pool`: helpers that spin between products (for
        /// `spinMicroseconds`) take their share as soon as it is posted; products from `poolWeights`.
        case pool
        /// `Parallel.rows` (a dispatch per product, a few microseconds): products from `parallelWeights`.
        case dispatch
    }
    nonisolated(unsafe) public static var threading = Threading.pool
    /// With `.pool`: products of at least this many weights are shared (SmolLM2: every projection).
    nonisolated(unsafe) public static var poolWeights = 1 << 16
    /// With `.pool`: how long a helper spins after a product before it sleeps. A decoding step's
    /// products come tens of microseconds apart; a step (one token) takes ~15 ms at 2 threads.
    nonisolated(unsafe) public static var spinMicroseconds: Int32 = 2000
    /// With `.dispatch`: products of at least this many weights are spread over the threads.
    nonisolated(unsafe) public static var parallelWeights = 1 << 20

    /// y [rows] = W x, with x quantized to 8 bits per block of 32 first (as llama.cpp), rows spread
    /// over the threads.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, path: Path = QuantizedMatrix.bestPath) {
        multiply(QuantizedVector(x, count: cols), into: y, path: path)
    }

    /// y [rows] = W x for a vector quantized once (the matrices that read the same input: q, k, v).
    public func multiply(_ x: QuantizedVector, into y: UnsafeMutablePointer<Float>, path: Path = QuantizedMatrix.bestPath) {
        precondition(x.qx.count == cols, "a vector of \(x.qx.count) for \(cols) columns")
        x.qx.withUnsafeBufferPointer { q in x.scale.withUnsafeBufferPointer { s in x.qsum.withUnsafeBufferPointer { sum in x.x.withUnsafeBufferPointer { xf in
            let (qp, sp, sump, xp) = (q.baseAddress!, s.baseAddress!, sum.baseAddress!, xf.baseAddress!)
            if QuantizedMatrix.threading == .pool, Parallel.threads > 1, rows * cols >= QuantizedMatrix.poolWeights {
                cquant_matvec_pool(Int32(Parallel.threads), QuantizedMatrix.spinMicroseconds, 8, format.rawValue, bytes, Int32(cols), Int32(rows),
                                   qp, sp, sump, xp, y, path.rawValue)
                return
            }
            // A dispatch per product: only from a million weights on (SmolLM2: the head alone), since
            // a projection's product is ~20 µs and the dispatch cost more than it saved (2 threads
            // decoded 54 tokens/s against 74 with one; measured, Zen 3).
            Parallel.rows(rows, width: cols, minimumElements: QuantizedMatrix.parallelWeights) { range in
                cquant_matvec(format.rawValue, bytes, Int32(cols), Int32(range.lowerBound), Int32(range.upperBound), qp, sp, sump,
                              xp, y + range.lowerBound, path.rawValue)
            }
        } } } }
    }
}

/// A vector quantized to 8 bits per block of 32 (`cquant_quantize_vector`): the form every
/// quantized product takes its input in; the vector itself too, for the 16-bit formats.
public struct QuantizedVector {
    let qx: [Int8], scale: [Float], qsum: [Int32], x: [Float]

    public init(_ x: UnsafePointer<Float>, count: Int) {
        precondition(count % 32 == 0)
        var qx = [Int8](repeating: 0, count: count), scale = [Float](repeating: 0, count: count / 32)
        var qsum = [Int32](repeating: 0, count: count / 32)
        cquant_quantize_vector(x, Int32(count), &qx, &scale, &qsum)
        self.qx = qx; self.scale = scale; self.qsum = qsum
        self.x = Array(UnsafeBufferPointer(start: x, count: count))
    }
}
