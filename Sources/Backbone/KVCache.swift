import Tensor

/// Keys and values of past positions, per layer and per slot (one slot per sequence being
/// generated): [L][slots][maxLength][width] each, `width` being the key width of one position
/// (all key/value heads side by side: n_embd for GPT-2, num_key_value_heads · head_dim for Llama).
public final class KVCache: @unchecked Sendable {
    public let layers: Int, slots: Int, maxLength: Int, width: Int
    let k: FloatBuffer, v: FloatBuffer
    /// Positions already cached in each slot.
    public var lengths: [Int]

    public init(layers: Int, width: Int, slots: Int, maxLength: Int) {
        self.layers = layers; self.slots = slots; self.maxLength = maxLength; self.width = width
        k = FloatBuffer(count: layers * slots * maxLength * width)
        v = FloatBuffer(count: layers * slots * maxLength * width)
        lengths = Array(repeating: 0, count: slots)
    }

    public func keys(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        k.pointer.baseAddress! + ((layer * slots + slot) * maxLength) * width
    }

    public func values(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        v.pointer.baseAddress! + ((layer * slots + slot) * maxLength) * width
    }

    public func reset() { lengths = Array(repeating: 0, count: slots) }
}
