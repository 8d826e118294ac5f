/// A fixed-size, 64-byte aligned, zero-initialised Float buffer with reference semantics: the one
/// allocation behind parameters, gradients and activations (as llm.c's single malloc per group).
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutableBufferPointer<Float>
    public var count: Int { pointer.count }

    public init(count: Int) {
        precondition(count >= 0)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        let p = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
        pointer = UnsafeMutableBufferPointer(start: p, count: count)
    }

    deinit { pointer.baseAddress?.deallocate() }

    /// A view of `count` elements starting at `offset`.
    @inline(__always)
    public func slice(_ offset: Int, _ count: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(offset >= 0 && count >= 0 && offset + count <= pointer.count)
        return UnsafeMutableBufferPointer(start: pointer.baseAddress! + offset, count: count)
    }

    /// Room for `count` floats in `buffer`, replaced by a larger one (a quarter more than asked,
    /// zeroed) when it is too small: a working buffer grows to the largest request and is reused.
    public static func ensure(_ buffer: inout FloatBuffer, holds count: Int) -> UnsafeMutablePointer<Float> {
        if buffer.count < max(count, 1) { buffer = FloatBuffer(count: max(count, 1) + count / 4) }
        return buffer.pointer.baseAddress!
    }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
