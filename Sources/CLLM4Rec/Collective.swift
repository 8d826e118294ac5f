import Foundation

/// The processes of one data-parallel run and the sums they share (MPI's allreduce, or nothing for
/// one process). Training deals each optimizer step's micro-batches out over the processes and sums
/// their gradients; evaluation deals out users and sums the metrics. Every process then holds the
/// same numbers, so every process applies the same update.
public protocol Collective: AnyObject {
    /// This process's index, 0..<size; process 0 alone writes files and prints progress.
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sums over all processes, in place: every process gets the result.
    func sum(_ values: UnsafeMutablePointer<Float>, count: Int)
    func sum(_ values: UnsafeMutablePointer<Double>, count: Int)
    /// Seconds spent in `sum` so far (the allreduce time).
    var communicationSeconds: Double { get }
    /// Bytes this process sent to `sum` so far.
    var communicatedBytes: Int { get }
}

extension Collective {
    public var isRoot: Bool { rank == 0 }
    public var isDistributed: Bool { size > 1 }

    /// Sums an array of doubles over all processes.
    public func sum(_ values: [Double]) -> [Double] {
        var v = values
        if isDistributed { v.withUnsafeMutableBufferPointer { sum($0.baseAddress!, count: $0.count) } }
        return v
    }

    /// Whether any process says true (an interrupt seen by one process stops all at the same step).
    public func any(_ flag: Bool) -> Bool { sum([flag ? 1 : 0])[0] > 0 }

    /// Every process's value of `x`, by rank (exact for integers below 2^53).
    public func gather(_ x: UInt64) -> [UInt64] {
        var slots = [Double](repeating: 0, count: 2 * size)
        slots[2 * rank] = Double(x >> 32)
        slots[2 * rank + 1] = Double(x & 0xFFFF_FFFF)
        let all = sum(slots)
        return (0..<size).map { UInt64(all[2 * $0]) << 32 | UInt64(all[2 * $0 + 1]) }
    }
}

/// One process: sums are the values themselves.
public final class SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) {}
    public var communicationSeconds: Double { 0 }
    public var communicatedBytes: Int { 0 }
}

/// FNV-1a over the bytes of float buffers: equal parameters on every process give equal hashes.
///
///     parameterHash([[1, 2]]) == parameterHash([[1, 2]])  // true; [[1, 2.0000002]] differs
public func parameterHash(_ buffers: [UnsafeBufferPointer<Float>]) -> UInt64 {
    var h = FNV1a()
    for b in buffers { h.add(UnsafeRawBufferPointer(b)) }
    return h.value
}

/// The 64-bit FNV-1a hash, fed bytes or integers (an integer as its 8 little-endian bytes).
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ bytes: some Sequence<UInt8>) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }

    mutating func add(_ x: UInt64) {
        for k in 0..<8 { value = (value ^ ((x >> (8 * UInt64(k))) & 0xFF)) &* 0x100_0000_01b3 }
    }
}
