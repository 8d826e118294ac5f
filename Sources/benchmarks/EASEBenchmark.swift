import CLLM4Rec
import Foundation
import Tensor

/// EASE fitting time and memory at a given catalogue size: `users` synthetic users with `perUser`
/// items each, drawn with a popularity skew (item i with weight 1 / (i + 10)), from a fixed seed.
func benchmarkEASE(items sizes: [Int], users: Int, perUser: Int, threads: Int) throws {
    try ProductLibrary.load()
    BLAS.threads = threads
    print("EASE fit (XᵀX, LAPACK dpotrf + dpotri, weights), \(threads) threads, LAPACK on OpenBLAS \(OpenBLAS.shared.coreName), products on \(ProductLibrary.shared.shortName)")
    for j in sizes {
        var rng = SplitMix64(seed: 7)
        // Inverse-CDF sampling of the skewed item distribution.
        var cdf = [Double](repeating: 0, count: j)
        var total = 0.0
        for i in 0..<j { total += 1 / Double(i + 10); cdf[i] = total }
        let train: [[Int]] = (0..<users).map { _ in
            var s = Set<Int>()
            while s.count < min(perUser, j) {
                let x = Double(rng.next() >> 11) / Double(1 << 53) * total
                var lo = 0, hi = j - 1
                while lo < hi { let mid = (lo + hi) / 2; if cdf[mid] < x { lo = mid + 1 } else { hi = mid } }
                s.insert(lo)
            }
            return Array(s)
        }
        let t0 = Date()
        let ease = try EASE(train: train, items: j, lambda: 200)
        let seconds = Date().timeIntervalSince(t0)
        var scores = [Float](repeating: 0, count: j)
        let t1 = Date()
        for u in 0..<min(users, 1000) { scores.withUnsafeMutableBufferPointer { ease.scores(history: train[u], into: $0) } }
        let scoring = Date().timeIntervalSince(t1) / Double(min(users, 1000))
        print(String(format: "J = %5d: fit %.2f s, one J x J Double buffer %.0f MB, scoring %.3f ms/user", j, seconds,
                     Double(j * j * 8) / 1e6, scoring * 1000))
    }
}
