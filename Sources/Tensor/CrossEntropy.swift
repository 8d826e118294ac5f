/// Softmax cross-entropy over a large output head without materialising all logits: rows are
/// processed in chunks, each chunk's logits = hidden · headᵀ computed, reduced and turned into
/// gradients before the next chunk reuses the same scratch.
public enum ChunkedCrossEntropy {
    /// Rows per chunk. Each chunk's product re-reads (and BLAS re-packs) the whole head, 154 MB for
    /// GPT-2's vocabulary, so small chunks spend their time copying the head: 32 rows made the
    /// packing 16% of a GPT-2 small forward pass. Measured forward 4x128 (2 threads, SkylakeX):
    /// 32 rows 1,109 tokens/s, 128 rows 1,341, 256 rows 1,418, 512 rows 1,448 (+50 MB); 256 keeps a
    /// chunk's logits at 51 MB.
    public static let defaultChunkRows = 256

    /// Sum over rows of -log softmax(hidden[r] · headᵀ)[target[r]].
    ///
    /// - hidden: [rows, width]; head: [vocab, width] (the tied embedding matrix, no bias).
    /// - dHidden: when given, overwritten with gradScale · (softmax - onehot) · head.
    /// - dHead: when given, gradScale · (softmax - onehot)ᵀ · hidden is added to it.
    /// - scratch: at least min(rows, chunkRows) x `vocab` floats; rows go `chunkRows` at a time.
    ///   The chunking is fixed, not taken from the scratch's size, so that results do not depend on
    ///   how large a reused buffer happens to be (bit-for-bit repeatable runs).
    public static func lossAndGradient(hidden: UnsafePointer<Float>, rows: Int, width c: Int,
                                       head: UnsafePointer<Float>, vocab v: Int, targets: UnsafePointer<Int32>,
                                       gradScale: Float = 1, dHidden: UnsafeMutablePointer<Float>? = nil,
                                       dHead: UnsafeMutablePointer<Float>? = nil,
                                       scratch: UnsafeMutableBufferPointer<Float>, chunkRows: Int = defaultChunkRows) -> Double {
        precondition(scratch.count >= min(rows, chunkRows) * v, "scratch must hold a chunk of logits")
        let chunk = max(1, min(rows, chunkRows))
        let logits = scratch.baseAddress!
        var total = 0.0
        var r0 = 0
        let rowLoss = UnsafeMutablePointer<Double>.allocate(capacity: chunk)
        defer { rowLoss.deallocate() }
        while r0 < rows {
            let n = min(chunk, rows - r0)
            BLAS.gemm(transB: true, m: n, n: v, k: c, a: hidden + r0 * c, lda: c, b: head, ldb: c, c: logits, ldc: v)
            // Rows across the cores, each row's loss kept and summed in order afterwards (the same
            // total whatever the thread count).
            let grad = dHidden != nil || dHead != nil
            Parallel.rows(n, width: v, minimumElements: 65536) { part in
                for r in part {
                    let row = logits + r * v
                    let t = Int(targets[r0 + r])
                    precondition(t >= 0 && t < v, "target \(t) outside 0..<\(v)")
                    let m = maximum(row, v)
                    let target = row[t]
                    let s = expShiftSum(row, v, shift: m)
                    rowLoss[r] = Double(m + logf(s) - target)
                    if grad {
                        scale(row, v, by: gradScale / s)
                        row[t] -= gradScale
                    }
                }
            }
            for r in 0..<n { total += rowLoss[r] }
            if let dHidden {
                BLAS.gemm(m: n, n: c, k: v, a: logits, lda: v, b: head, ldb: c, c: dHidden + r0 * c, ldc: c)
            }
            if let dHead {
                BLAS.gemm(transA: true, m: v, n: c, k: n, a: logits, lda: v, b: hidden + r0 * c, ldb: c, beta: 1, c: dHead, ldc: c)
            }
            r0 += n
        }
        return total
    }
}

#if canImport(Glibc)
import Glibc
#endif
