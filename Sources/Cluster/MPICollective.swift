import CLLM4Rec
import CMPI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The processes of `mpirun -np N cllm4rec ...` as a `Collective`: MPI_COMM_WORLD, sums with
/// MPI_Allreduce in place.
///
/// MPI is initialised only when the process was started by mpirun (Open MPI sets
/// OMPI_COMM_WORLD_SIZE); otherwise the tool runs as one process without touching MPI. The library
/// (libmpi) must be installed either way, as it is linked (`Tools/install/deps.sh`).
public final class MPICollective: Collective {
    public let rank: Int
    public let size: Int
    public private(set) var communicationSeconds = 0.0
    public private(set) var communicatedBytes = 0
    private let comm = cllm4rec_mpi_comm_world()

    /// Whether mpirun started this process.
    public static var launchedByMPIRun: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// Joins MPI_COMM_WORLD (MPI_Init_thread, serialized: only one thread calls MPI at a time).
    public init() {
        var provided: Int32 = 0
        _ = MPI_Init_thread(nil, nil, Int32(cllm4rec_mpi_thread_serialized()), &provided)
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &n)
        rank = Int(r)
        size = Int(n)
    }

    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {
        reduce(UnsafeMutableRawPointer(values), count: count, type: cllm4rec_mpi_float(), width: 4)
    }

    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) {
        reduce(UnsafeMutableRawPointer(values), count: count, type: cllm4rec_mpi_double(), width: 8)
    }

    /// MPI_Allreduce in chunks that fit its Int32 count.
    private func reduce(_ p: UnsafeMutableRawPointer, count: Int, type: MPI_Datatype?, width: Int) {
        let start = DispatchTime.now().uptimeNanoseconds
        var done = 0
        while done < count {
            let n = min(count - done, Int(Int32.max))
            let rc = MPI_Allreduce(cllm4rec_mpi_in_place(), p + done * width, Int32(n), type, cllm4rec_mpi_sum(), comm)
            if rc != cllm4rec_mpi_success() { abort(message: "MPI_Allreduce failed with code \(rc)") }
            done += n
        }
        communicatedBytes += count * width
        communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Ends the job: every process of it stops (MPI_Abort), after `message` on standard error.
    public func abort(message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("error (process \(rank) of \(size)): \(message)\n".utf8))
        MPI_Abort(comm, code)
        exit(code)
    }

    /// Waits until every process gets here.
    public func barrier() { MPI_Barrier(comm) }

    /// MPI_Finalize: the last MPI call of a process that ends normally.
    public func finalize() {
        MPI_Finalize()
    }
}
