import CQuant
import Foundation
import Tensor
import WeightIO
import XCTest

/// The decoding path's products from GGUF block formats, both loops (portable and, where the CPU
/// has it, AVX2), against GGUFDequantize (bit-identical to gguf-py, tested in WeightIOTests)
/// followed by a double-precision product.
final class QuantizedMatrixTests: XCTestCase {
    /// Random whole blocks of `format` for a [rows, cols] matrix: scales of either sign over four
    /// decades (the k-quants' 6-bit and int8 sub-block scales: every value), every quant value possible.
    func randomBlocks(_ format: QuantizedMatrix.Format, rows: Int, cols: Int, seed: UInt64) -> [UInt8] {
        var g = SplitMix64(seed: seed)
        var out: [UInt8] = []
        func f16(_ v: Float) -> [UInt8] { let b = Float16(v).bitPattern; return [UInt8(b & 0xff), UInt8(b >> 8)] }
        func scale() -> [UInt8] { f16(Float.random(in: 1e-4...1e-1, using: &g) * (Bool.random(using: &g) ? 1 : -1)) }
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) } }
        for _ in 0..<(rows * cols / format.blockElements) {
            switch format {
            case .q8_0: out += scale() + bytes(32)
            case .q4_0: out += scale() + bytes(16)
            case .q4_1: out += scale() + scale() + bytes(16)
            case .q5_0: out += scale() + bytes(20)
            case .q5_1: out += scale() + scale() + bytes(20)
            case .q4_K: out += scale() + scale() + bytes(140)  // d, dmin, 12 scale bytes, 128 of nibbles
            case .q5_K: out += scale() + scale() + bytes(172)
            case .q6_K: out += bytes(208) + scale()  // ql, qh, 16 int8 scales, then d
            case .f16: for _ in 0..<32 { out += f16(Float.random(in: -2...2, using: &g)) }
            case .bf16:
                for _ in 0..<32 { let b = Float.random(in: -2...2, using: &g).bitPattern >> 16; out += [UInt8(b & 0xff), UInt8(b >> 8)] }
            }
        }
        return out
    }

    static let ggmlTypes: [QuantizedMatrix.Format: GGMLType] = [.q8_0: .Q8_0, .q4_0: .Q4_0, .q4_1: .Q4_1, .q5_0: .Q5_0, .q5_1: .Q5_1,
                                                                .q4_K: .Q4_K, .q5_K: .Q5_K, .q6_K: .Q6_K, .f16: .F16, .bf16: .BF16]

    /// x quantized as the kernels must: per block of 32, d = max|x| / 127, q = x / d to the nearest, ties to even.
    func quantized(_ x: [Float]) -> [Float] {
        var out = x
        for b in 0..<(x.count / 32) {
            let block = x[(32 * b)..<(32 * b + 32)]
            let d = block.map { abs($0) }.max()! / 127, inv: Float = d > 0 ? 1 / d : 0
            for j in 0..<32 { out[32 * b + j] = Float(max(-127, min(127, (x[32 * b + j] * inv).rounded(.toNearestOrEven)))) * d }
        }
        return out
    }

    func testEveryFormatAndPathMatchesDequantizeThenMultiply() throws {
        let rows = 37, cols = 512
        var paths: [QuantizedMatrix.Path] = [.portable]
        if QuantizedMatrix.bestPath == .avx2 { paths.append(.avx2) }
        var g = SplitMix64(seed: 5)
        var x = (0..<cols).map { _ in Float.random(in: -2...2, using: &g) }
        x[40] = 0; for j in 64..<96 { x[j] = 0 }  // a zero element and an all-zero block
        // A block whose quotients fall on ties: max 127 gives d = 1, and 2.5, -0.5 are exact halves.
        x[96] = 127; x[97] = 2.5; x[98] = -0.5; x[99] = 3.5
        let xq = quantized(x)
        for format in QuantizedMatrix.Format.allCases {
            let bytes = randomBlocks(format, rows: rows, cols: cols, seed: UInt64(format.rawValue))
            let type = try XCTUnwrap(Self.ggmlTypes[format])
            XCTAssertEqual(bytes.count, rows * cols / type.blockSize * type.blockBytes, "\(format)")
            XCTAssertEqual(format.blockBytes * type.blockSize, type.blockBytes * format.blockElements, "\(format): bytes per element")
            var w = [Float](repeating: 0, count: rows * cols)
            bytes.withUnsafeBytes { src in
                w.withUnsafeMutableBufferPointer { GGUFDequantize.dequantize(src, type: type, into: $0) }
            }
            // Each loop, whole and with its rows spread over the threads.
            for (path, spread) in paths.flatMap({ p in [(p, false), (p, true)] }) {
                var y = [Float](repeating: .nan, count: rows)
                let saved = QuantizedMatrix.parallelWeights
                QuantizedMatrix.parallelWeights = spread ? 0 : Int.max
                defer { QuantizedMatrix.parallelWeights = saved }
                bytes.withUnsafeBytes { raw in
                    let m = QuantizedMatrix(format: format, rows: rows, cols: cols, bytes: raw.baseAddress!, owner: nil)
                    m.multiply(x, into: &y, path: path)
                }
                for r in 0..<rows {
                    var exact = 0.0, unquantized = 0.0, scale = 0.0, step = 0.0
                    for c in 0..<cols {
                        exact += Double(w[r * cols + c]) * Double(xq[c])
                        unquantized += Double(w[r * cols + c]) * Double(x[c])
                        scale += abs(Double(w[r * cols + c]) * Double(x[c]))
                        // Half a quantization step of this element's block (its largest / 127).
                        let largest = x[(c / 32 * 32)..<(c / 32 * 32 + 32)].map { abs(Double($0)) }.max()!
                        step += abs(Double(w[r * cols + c])) * 0.5 * largest / 127
                    }
                    // The 16-bit formats meet x itself, the others its 8-bit form.
                    XCTAssertEqual(Double(y[r]), format.isHalf ? unquantized : exact, accuracy: 2e-6 * scale + 1e-30, "\(format) \(path) row \(r)")
                    // What quantizing the vector costs: at most half a step per element.
                    XCTAssertEqual(Double(y[r]), unquantized, accuracy: step * 1.0001 + 1e-6, "\(format) \(path) row \(r)")
                }
            }
        }
    }

    /// The pool's products equal one thread's to the bit (each row is one thread's dot product), for
    /// more threads than row blocks, repeated products, and helpers woken from sleep (no spinning).
    func testThePoolEqualsOneThread() throws {
        let savedThreads = Parallel.threads, savedSpin = QuantizedMatrix.spinMicroseconds, savedMinimum = QuantizedMatrix.poolWeights
        defer { Parallel.threads = savedThreads; QuantizedMatrix.spinMicroseconds = savedSpin; QuantizedMatrix.poolWeights = savedMinimum }
        QuantizedMatrix.poolWeights = 0
        var g = SplitMix64(seed: 9)
        for (rows, shortCols) in [(37, 320), (5, 64), (300, 96)] {
            for format in QuantizedMatrix.Format.allCases {
                let cols = (shortCols + format.blockElements - 1) / format.blockElements * format.blockElements
                let x = (0..<cols).map { _ in Float.random(in: -2...2, using: &g) }
                let bytes = randomBlocks(format, rows: rows, cols: cols, seed: UInt64(rows * 10) + UInt64(format.rawValue))
                bytes.withUnsafeBytes { raw in
                    let m = QuantizedMatrix(format: format, rows: rows, cols: cols, bytes: raw.baseAddress!, owner: nil)
                    Parallel.threads = 1
                    var one = [Float](repeating: .nan, count: rows)
                    m.multiply(x, into: &one)
                    for (threads, spin) in [(2, 2000), (3, 0), (5, 50), (2, 0)] {
                        Parallel.threads = threads; QuantizedMatrix.spinMicroseconds = Int32(spin)
                        for round in 0..<20 {
                            var y = [Float](repeating: .nan, count: rows)
                            m.multiply(x, into: &y)
                            XCTAssertEqual(y, one, "\(format) \(rows)x\(cols), \(threads) threads, spin \(spin) µs, round \(round)")
                            if spin == 0 && round % 5 == 0 { usleep(2000) }  // the helpers fall asleep between some products
                        }
                    }
                }
            }
        }
    }

    /// The portable half-to-float conversion, every one of the 65,536 bit patterns against Swift's Float16.
    func testHalfToFloatEveryPattern() {
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits)), got = cquant_f16_to_f32(bits)
            if expected.isNaN { XCTAssertTrue(got.isNaN, "\(bits)") } else { XCTAssertEqual(got.bitPattern, expected.bitPattern, "\(bits)") }
        }
    }
}
