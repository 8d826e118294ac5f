import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Splits the element-wise and row-wise loops (LayerNorm, GELU, dropout, residual adds) across
/// threads, so the second core is not idle between matrix products. Every element
/// runs the same code whatever the split (parts start at multiples of `align`, which keeps SIMD
/// lanes and scalar tails where they were), so results do not depend on the thread count.
public enum Parallel {
    /// Threads for these loops; `BLAS.threads` sets it together with OpenBLAS's.
    nonisolated(unsafe) public static var threads = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// Calls `body` on contiguous parts of 0..<n, one per thread, each starting at a multiple of
    /// `align`; runs it once on 0..<n when n < `minimum` (a dispatch costs a few microseconds).
    ///
    ///     Parallel.parts(1000, align: 64, minimum: 0) { r in ... }  // 2 threads: 0..<512, 512..<1000
    @inline(__always)
    public static func parts(_ n: Int, align: Int = 64, minimum: Int = 16384, _ body: (Range<Int>) -> Void) {
        let t = threads
        if t <= 1 || n < minimum || n <= align { body(0..<n); return }
        let units = (n + align - 1) / align
        let parts = min(t, units)
        let per = (units + parts - 1) / parts
        withoutActuallyEscaping(body) { body in
            // The parts write disjoint ranges, which is what makes sharing `body` safe.
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lo = min(n, p * per * align), hi = min(n, (p + 1) * per * align)
                if lo < hi { shared.value(lo..<hi) }
            }
        }
    }
}

private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
