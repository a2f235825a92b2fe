// Open MPI through dlopen: the few MPI calls data-parallel training needs, as plain C functions.
//
// Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, …) are macros over the addresses of global structs
// (&ompi_mpi_comm_world), which Swift cannot import; these wrappers take the addresses with dlsym.
// libmpi is loaded at run time (like OpenBLAS), so `qlora` builds and runs where Open MPI is absent
// and only a run started by mpirun needs it. Every function returns 0 on success, else an MPI error
// code or -1 (the message in qlora_mpi_error()).
#ifndef QLORA_MPI_H
#define QLORA_MPI_H

#include <stddef.h>

/// Loads libmpi (libmpi.so.40, then libmpi.so) and resolves the calls; idempotent.
int qlora_mpi_load(void);
/// The last load or call error, one line.
const char *qlora_mpi_error(void);
/// MPI_Init_thread with MPI_THREAD_FUNNELED (only the main thread calls MPI); rank and size of the world.
int qlora_mpi_init(int *rank, int *size);
/// Every rank's `count` floats, concatenated in rank order into `recv` (size × count floats).
int qlora_mpi_allgather_floats(const float *send, size_t count, float *recv);
/// Every rank's `bytes` bytes, concatenated in rank order into `recv` (size × bytes).
int qlora_mpi_allgather_bytes(const void *send, size_t bytes, void *recv);
/// Root's `bytes` bytes into every rank's `buf`.
int qlora_mpi_bcast_bytes(void *buf, size_t bytes, int root);
int qlora_mpi_barrier(void);
/// Ends every rank of the job with `code` (does not return).
void qlora_mpi_abort(int code);
int qlora_mpi_finalize(void);

#endif
