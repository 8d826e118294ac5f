import ArgumentParser
import CLLM4Rec
import Cluster
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The processes of this run: MPI_COMM_WORLD when mpirun started it, else this process alone
/// (MPI is then never initialised). Under mpirun, process 0 alone prints to standard output and
/// writes files; an error on any process ends the whole job with its message (MPI_Abort), so no
/// process waits forever for one that stopped.
enum Processes {
    nonisolated(unsafe) static var mpi: MPICollective?

    static func join() -> any Collective {
        if let mpi { return mpi }
        guard MPICollective.launchedByMPIRun else { return SingleProcess() }
        let c = MPICollective()
        mpi = c
        atexit { Processes.mpi?.finalize() }
        if c.rank != 0 {
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }
        }
        return c
    }

    /// Runs `body` with this run's processes.
    static func run<T>(_ body: (any Collective) throws -> T) throws -> T {
        let c = join()
        do {
            return try body(c)
        } catch let e as ExitCode {
            throw e
        } catch {
            if let mpi, mpi.isDistributed { mpi.abort(message: "\(error)") }
            throw error
        }
    }
}
