import Tensor

/// Keys and values of past positions, per layer and per slot (one slot per sequence being
/// generated): [L][slots][maxLength][C] each.
public final class KVCache: @unchecked Sendable {
    public let layers: Int, slots: Int, maxLength: Int, width: Int
    let k: FloatBuffer, v: FloatBuffer
    /// Positions already cached in each slot.
    public var lengths: [Int]

    public init(config: GPT2Config, slots: Int, maxLength: Int) {
        layers = config.nLayer; self.slots = slots; self.maxLength = min(maxLength, config.nPositions); width = config.nEmbd
        k = FloatBuffer(count: layers * slots * self.maxLength * width)
        v = FloatBuffer(count: layers * slots * self.maxLength * width)
        lengths = Array(repeating: 0, count: slots)
    }

    func keys(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        k.pointer.baseAddress! + ((layer * slots + slot) * maxLength) * width
    }

    func values(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        v.pointer.baseAddress! + ((layer * slots + slot) * maxLength) * width
    }

    public func reset() { lengths = Array(repeating: 0, count: slots) }
}
