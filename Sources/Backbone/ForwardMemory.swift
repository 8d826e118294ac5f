import Tensor

/// The batch a backbone's last forward ran, which its backward replays (dropout masks from `seed`).
public struct ForwardBatch: Sendable {
    public let lengths: [Int], past: [Int], dropout: Bool, seed: UInt64
    /// Whether every layer's activations were kept (`forward(..., forBackward: true)`).
    public let kept: Bool

    public init(lengths: [Int], past: [Int], dropout: Bool, seed: UInt64, kept: Bool) {
        self.lengths = lengths; self.past = past; self.dropout = dropout; self.seed = seed; self.kept = kept
    }
}

/// A backbone's working memory, the same for every architecture: the last forward's activations and
/// batch, the last backward's gradients, and the row-loss buffers. Each grows to the largest batch
/// seen (a quarter more) and is then reused, so a training loop allocates nothing per step.
public final class ForwardMemory: @unchecked Sendable {
    public private(set) var activations = FloatBuffer(count: 0)
    public private(set) var gradients = FloatBuffer(count: 0)
    public private(set) var batch: ForwardBatch?
    public let rowLoss = RowLossBuffers()

    public init() {}

    /// Room for a forward's `count` activation floats; records the batch they will belong to.
    public func startForward(_ batch: ForwardBatch, activations count: Int) -> UnsafeMutablePointer<Float> {
        self.batch = batch
        return FloatBuffer.ensure(&activations, holds: count)
    }

    /// The last forward's batch, which must have kept its activations, and room for `count`
    /// gradient floats.
    public func startBackward(gradients count: Int) -> (batch: ForwardBatch, gradients: UnsafeMutablePointer<Float>) {
        guard let batch, batch.kept else { preconditionFailure("backward needs forward(..., forBackward: true) first") }
        return (batch, FloatBuffer.ensure(&gradients, holds: count))
    }
}
