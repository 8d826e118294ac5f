import Tensor

/// The learned part of a `learned` head input: f = z + U (D z) on the standardized z, with D
/// [rank, width] and U [width, rank] trained with the item head (Adam, the rows' rate). U starts at
/// zero, so finetuning starts from the standardized head, and D at uniform(±1/√width) as a LoRA
/// adapter's A: the head learns which few directions of z to stretch or mix, where a fixed
/// conditioning (standardized, whitened) can only weigh them once, before any training.
///
/// `weights` holds D then U (rank·width each); `gradients` the same layout, accumulated over a
/// step's micro-batches. A training forward (`keep`) and its backward run one at a time on an object
/// (the trainer's step; fold-in works on its own `copy`); scoring forwards only read it.
public final class HeadInputProjection: @unchecked Sendable, Equatable {
    /// Rank of the learned correction: a tenth of SmolLM2's width or less, and above the 5-17
    /// effective directions of its head input during finetuning.
    public static let defaultRank = 32

    public let rank: Int, width: Int
    public let weights: FloatBuffer
    public let gradients: FloatBuffer
    var keptInput: [Float] = [], keptDown: [Float] = []

    public init(rank: Int, width: Int) {
        precondition(rank > 0 && width > 0)
        self.rank = rank; self.width = width
        weights = FloatBuffer(count: 2 * rank * width)
        gradients = FloatBuffer(count: 2 * rank * width)
    }

    /// D [rank, width] and U [width, rank] as stored (`head_input.down`, `head_input.up`).
    public convenience init(down: [Float], up: [Float], rank: Int, width: Int) {
        precondition(down.count == rank * width && up.count == rank * width)
        self.init(rank: rank, width: width)
        weights.pointer.baseAddress!.update(from: down, count: down.count)
        (weights.pointer.baseAddress! + rank * width).update(from: up, count: up.count)
    }

    var down: UnsafeMutablePointer<Float> { weights.pointer.baseAddress! }
    var up: UnsafeMutablePointer<Float> { weights.pointer.baseAddress! + rank * width }
    public var downValues: [Float] { Array(UnsafeBufferPointer(start: down, count: rank * width)) }
    public var upValues: [Float] { Array(UnsafeBufferPointer(start: up, count: rank * width)) }

    /// D uniform in ±1/√width, U zero.
    public func initialize<G: RandomNumberGenerator>(using g: inout G) {
        let bound = 1 / Float(width).squareRoot()
        for i in 0..<(rank * width) { down[i] = Float.random(in: -bound...bound, using: &g) }
        up.update(repeating: 0, count: rank * width)
    }

    public func copy() -> HeadInputProjection {
        let c = HeadInputProjection(rank: rank, width: width)
        c.weights.pointer.baseAddress!.update(from: weights.pointer.baseAddress!, count: weights.count)
        return c
    }

    public static func == (a: HeadInputProjection, b: HeadInputProjection) -> Bool {
        a.rank == b.rank && a.width == b.width && a.weights.pointer.elementsEqual(b.weights.pointer)
    }

    /// rows [count, width] ← z + (z Dᵀ) Uᵀ in place; keeps z and z Dᵀ for `backward` when asked.
    func forward(_ rows: UnsafeMutablePointer<Float>, count: Int, keep: Bool) {
        guard count > 0 else { return }
        let z = [Float](UnsafeBufferPointer(start: rows, count: count * width))
        var t = [Float](repeating: 0, count: count * rank)
        z.withUnsafeBufferPointer { zp in
            t.withUnsafeMutableBufferPointer { tp in
                BLAS.gemm(transB: true, m: count, n: rank, k: width, a: zp.baseAddress!, lda: width, b: down, ldb: width, c: tp.baseAddress!, ldc: rank)
                BLAS.gemm(transB: true, m: count, n: width, k: rank, a: tp.baseAddress!, lda: rank, b: up, ldb: rank, beta: 1, c: rows, ldc: width)
            }
        }
        if keep { keptInput = z; keptDown = t }  // scoring writes nothing here: concurrent scorers may share this object
    }

    /// From d(loss)/df [count, width] of the last kept forward: adds dU = dfᵀ t and dD = (df U)ᵀ z to
    /// `gradients`, and replaces the rows by d(loss)/dz = df + (df U) D.
    func backward(_ dRows: UnsafeMutablePointer<Float>, count: Int) {
        precondition(keptInput.count == count * width, "backward without its forward")
        var s = [Float](repeating: 0, count: count * rank)
        let dDown = gradients.pointer.baseAddress!, dUp = dDown + rank * width
        keptInput.withUnsafeBufferPointer { z in
            keptDown.withUnsafeBufferPointer { t in
                s.withUnsafeMutableBufferPointer { sp in
                    // dU [width, rank] += dfᵀ [width, count] · t [count, rank]
                    BLAS.gemm(transA: true, m: width, n: rank, k: count, a: dRows, lda: width, b: t.baseAddress!, ldb: rank, beta: 1, c: dUp, ldc: rank)
                    // s = df U [count, rank]
                    BLAS.gemm(m: count, n: rank, k: width, a: dRows, lda: width, b: up, ldb: rank, c: sp.baseAddress!, ldc: rank)
                    // dD [rank, width] += sᵀ · z
                    BLAS.gemm(transA: true, m: rank, n: width, k: count, a: sp.baseAddress!, lda: rank, b: z.baseAddress!, ldb: width, beta: 1, c: dDown, ldc: width)
                    // df += s D
                    BLAS.gemm(m: count, n: width, k: rank, a: sp.baseAddress!, lda: rank, b: down, ldb: width, beta: 1, c: dRows, ldc: width)
                }
            }
        }
        keptInput = []; keptDown = []
    }
}
