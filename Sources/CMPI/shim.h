// Open MPI for Swift. MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE and the thread levels are
// macros or anonymous enum values in mpi.h, which Swift cannot import as such: these functions
// return them.
#include <mpi.h>

static inline MPI_Comm cllm4rec_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cllm4rec_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cllm4rec_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op cllm4rec_mpi_sum(void) { return MPI_SUM; }
static inline void *cllm4rec_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int cllm4rec_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int cllm4rec_mpi_success(void) { return MPI_SUCCESS; }
