import Tensor

/// Offsets handed out in an architecture's one activation buffer. Every piece starts on a 16-float
/// (64-byte) boundary, so that a SIMD load of any piece's first element is aligned.
public struct ActivationArena {
    /// Floats handed out so far, padding included: the next piece's offset.
    public private(set) var size = 0

    public init() {}

    /// The offset of the next `count` floats.
    public mutating func take(_ count: Int) -> Int {
        defer { size += (count + 15) / 16 * 16 }
        return size
    }
}

/// The layers' slots in an activation buffer: `count` slots of `stride` floats from `start`. One
/// slot serves every layer when a forward keeps no activations for a backward.
public struct LayerSlots: Sendable {
    public var start = 0, stride = 0, count = 0

    public init() {}

    /// `count` slots of one layer's `arena`, placed in `buffer`'s arena.
    public init(of layer: ActivationArena, count: Int, in buffer: inout ActivationArena) {
        stride = layer.size; self.count = count
        start = buffer.take(stride * count)
    }

    /// Where layer `l`'s slot starts in `buffer`.
    public func base(in buffer: FloatBuffer, layer l: Int) -> UnsafeMutablePointer<Float> {
        buffer.pointer.baseAddress! + start + (count > 1 ? l : 0) * stride
    }

    /// The first float after the last slot.
    public var end: Int { start + stride * count }
}

/// An architecture's activation layout: its layers' slots, and the pointers into one slot.
public protocol LayeredActivations {
    associatedtype Layer
    var layerSlots: LayerSlots { get }
    /// The activations of the layer whose slot starts at `base`.
    func layer(at base: UnsafeMutablePointer<Float>) -> Layer
}

extension LayeredActivations {
    /// Layer `l`'s activations in `buffer` (every layer shares slot 0 when activations are not kept).
    public func layer(_ buffer: FloatBuffer, _ l: Int) -> Layer { layer(at: layerSlots.base(in: buffer, layer: l)) }
}

/// One layer's LoRA activations x Aᵀ [N, r], a block of N·r floats per adapted module.
public struct LowRankActivations {
    public let base: UnsafeMutablePointer<Float>
    public let stride: Int

    public init(base: UnsafeMutablePointer<Float>, stride: Int) { self.base = base; self.stride = stride }

    /// Module `k`'s block (`k` its index in the adapter's module list).
    public func module(_ k: Int) -> UnsafeMutablePointer<Float> { base + k * stride }
}
