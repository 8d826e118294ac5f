import CLLM4Rec
import Cluster
import Foundation

/// Under mpirun: the time of one in-place MPI_Allreduce (sum) of `floats` floats, the size of a
/// recommender's user and item gradient tables, after a barrier (so waiting for a slow process is
/// not counted): the minimum and the median of `repeats` calls, and the bytes each process sends.
func benchmarkAllreduce(sizes: [(String, Int)], repeats: Int) {
    let mpi = MPICollective()
    defer { mpi.finalize() }
    if mpi.isRoot {
        print("allreduce over \(mpi.size) processes, \(repeats) calls each, after a barrier; MPI_FLOAT, MPI_SUM, in place")
        print("table".padding(toLength: 44, withPad: " ", startingAt: 0) + "floats".rightAligned(12) + "MB".rightAligned(8)
              + "min ms".rightAligned(10) + "median ms".rightAligned(11) + "GB/s (algbw)".rightAligned(13))
    }
    for (name, n) in sizes {
        var buffer = [Float](repeating: Float(mpi.rank + 1), count: n)
        var times: [Double] = []
        for _ in 0..<(repeats + 1) {
            mpi.barrier()
            let t0 = DispatchTime.now().uptimeNanoseconds
            buffer.withUnsafeMutableBufferPointer { mpi.sum($0.baseAddress!, count: n) }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        times.removeFirst()  // the first call sets up connections
        times.sort()
        let expected = Float(mpi.size * (mpi.size + 1) / 2) * pow(Float(mpi.size), Float(repeats))
        if buffer[0] != expected && mpi.isRoot { print("  (check: \(buffer[0]) != \(expected))") }
        if mpi.isRoot {
            let mb = Double(n * 4) / 1e6
            print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + "\(n)".rightAligned(12) + String(format: "%.2f", mb).rightAligned(8)
                  + String(format: "%.2f", times[0] * 1000).rightAligned(10) + String(format: "%.2f", times[times.count / 2] * 1000).rightAligned(11)
                  + String(format: "%.2f", mb / 1000 / times[times.count / 2]).rightAligned(13))
        }
    }
}

extension String {
    func rightAligned(_ n: Int) -> String { count >= n ? self + " " : String(repeating: " ", count: n - count) + self }
}
