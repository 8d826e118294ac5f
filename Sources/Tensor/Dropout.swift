/// Inverted dropout whose mask is a pure function of (seed, index): the backward pass regenerates
/// the forward's mask instead of storing it, and runs with the same seed repeat bit for bit.
public enum Dropout {
    /// Whether element `i` is kept, for drop probability `p`.
    @inline(__always)
    public static func keep(seed: UInt64, index: Int, p: Float) -> Bool {
        var z = seed &+ UInt64(bitPattern: Int64(index)) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) * (1 / Float(1 << 24)) >= p
    }

    /// The places in a transformer where dropout draws its own stream.
    public enum Site: Equatable, Sendable {
        /// The input embeddings (GPT-2's embd_pdrop; layer -1).
        case embeddings
        /// The attention probabilities (each head's rows continue the stream at their offset).
        case attention
        /// The attention block's output, before the residual add.
        case attentionOutput
        /// The MLP block's output, before the residual add.
        case mlpOutput
        /// The input of the adapter on the layer's k-th adapted projection (LoRA's dropout).
        case adapter(Int)

        /// The number that keeps the streams of earlier versions: 0, 1, 2, 3, and 10 + k.
        var index: Int {
            switch self {
            case .embeddings: return 0
            case .attention: return 1
            case .attentionOutput: return 2
            case .mlpOutput: return 3
            case let .adapter(k): return 10 + k
            }
        }
    }

    /// The seed of the dropout stream at (`layer`, `site`) of a forward pass seeded by `seed`:
    /// distinct streams per layer and per place in a layer, mixed so that neighbours do not correlate.
    public static func streamSeed(_ seed: UInt64, layer: Int, site: Site) -> UInt64 {
        var z = seed ^ (UInt64(bitPattern: Int64(layer + 2)) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(site.index + 1) &* 0xC2B2_AE3D_27D4_EB4F)
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        return z ^ (z >> 33)
    }

    /// x[i] = keep ? x[i] / (1 - p) : 0, for i in 0..<n, indices counted from `offset`. Forward and
    /// backward are the same operation.
    public static func apply(_ x: UnsafeMutablePointer<Float>, count n: Int, p: Float, seed: UInt64, offset: Int = 0) {
        if p <= 0 { return }
        let s = 1 / (1 - p)
        Parallel.parts(n) { part in
            for i in part { x[i] = keep(seed: seed, index: offset + i, p: p) ? x[i] * s : 0 }
        }
    }
}
