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

extension Parallel {
    /// `parts` over rows of `width` elements: whole rows per thread, split once the rows hold
    /// `minimumElements` elements together (a row-wise loop too short for a dispatch runs here).
    ///
    ///     Parallel.rows(512, width: 1536) { rows in ... }  // 2 threads: 0..<256, 256..<512
    @inline(__always)
    public static func rows(_ rows: Int, width: Int, minimumElements: Int = 16384, _ body: (Range<Int>) -> Void) {
        parts(rows, align: 1, minimum: max(1, minimumElements / max(width, 1)), body)
    }

    /// Runs `body(task, worker)` for every task in 0..<costs.count, on up to `threads` workers
    /// (worker in 0..<workers, for per-worker scratch), with the product library single-threaded inside: each
    /// worker is a core already (MKL or OpenBLAS alike). Tasks are dealt longest first to the least loaded worker (by
    /// `costs`), so a head of a long sequence and many heads of short ones balance; which worker
    /// runs a task never changes what it computes. When the costs sum below `minimum` (one
    /// decoding step's attention) the tasks run in order on this thread: waking a worker costs more.
    ///
    ///     Parallel.tasks(costs: [9, 4, 4, 1]) { task, worker in ... }  // 2 workers: {0}, {1, 2, 3}
    public static func tasks(costs: [Int], maxWorkers: Int = .max, minimum: Int = 1 << 15,
                             _ body: (_ task: Int, _ worker: Int) -> Void) {
        let workers = costs.reduce(0, +) < minimum ? 1 : min(threads, costs.count, maxWorkers)
        if workers <= 1 {
            for t in costs.indices { body(t, 0) }
            return
        }
        let assigned = deal(costs: costs, workers: workers, minimumLoad: 1)
        let blasThreads = BLAS.threads
        BLAS.setLibraryThreads(1)
        defer { BLAS.setLibraryThreads(Int32(blasThreads)) }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body), plan = assigned
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for t in plan[w] { shared.value(t, w) }
            }
        }
    }
}

extension Parallel {
    /// Deals tasks to `workers`: the costliest first (ties: lower index first), each to the worker
    /// with the least load so far (ties: lower worker), which then carries max(cost, `minimumLoad`)
    /// more. Returns each worker's tasks in the order dealt. A pure function: every caller (and
    /// every process of a distributed run) derives the same deal from the same costs.
    ///
    ///     Parallel.deal(costs: [9, 1, 1, 7], workers: 2)  // [[0], [3, 1, 2]]: 9 and 9
    public static func deal(costs: [Int], workers: Int, minimumLoad: Int = 0) -> [[Int]] {
        var assigned = [[Int]](repeating: [], count: workers), load = [Int](repeating: 0, count: workers)
        for t in costs.indices.sorted(by: { costs[$0] > costs[$1] || (costs[$0] == costs[$1] && $0 < $1) }) {
            let w = load.indices.min { load[$0] < load[$1] }!
            assigned[w].append(t)
            load[w] += max(costs[t], minimumLoad)
        }
        return assigned
    }
}

private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
