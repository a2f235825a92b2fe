// Open MPI loaded with dlopen; see qlora_mpi.h.
#include "qlora_mpi.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

// Open MPI's ABI: every handle is a pointer to a predefined struct; the thread levels are 0…3.
typedef void *MPI_Comm;
typedef void *MPI_Datatype;
enum { QLORA_MPI_THREAD_FUNNELED = 1 };

static struct {
    int loaded;
    int (*init_thread)(int *, char ***, int, int *);
    int (*comm_rank)(MPI_Comm, int *);
    int (*comm_size)(MPI_Comm, int *);
    int (*allgather)(const void *, int, MPI_Datatype, void *, int, MPI_Datatype, MPI_Comm);
    int (*bcast)(void *, int, MPI_Datatype, int, MPI_Comm);
    int (*barrier)(MPI_Comm);
    int (*abort_)(MPI_Comm, int);
    int (*finalize)(void);
    MPI_Comm world;
    MPI_Datatype type_float, type_byte;
    int size;
} mpi;

static char last_error[512];

const char *qlora_mpi_error(void) { return last_error; }

int qlora_mpi_load(void) {
    if (mpi.loaded) return 0;
    // RTLD_GLOBAL: Open MPI's plugins (dlopen'ed by libmpi itself) resolve libmpi's symbols globally.
    void *h = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
    if (!h) h = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        snprintf(last_error, sizeof last_error, "Open MPI's libmpi not found (install openmpi-bin): %s", dlerror());
        return -1;
    }
#define SYM(field, name)                                                                       \
    do {                                                                                       \
        *(void **)(&mpi.field) = dlsym(h, name);                                               \
        if (!mpi.field) {                                                                      \
            snprintf(last_error, sizeof last_error, "libmpi has no %s (not Open MPI?)", name); \
            return -1;                                                                         \
        }                                                                                      \
    } while (0)
    SYM(init_thread, "MPI_Init_thread");
    SYM(comm_rank, "MPI_Comm_rank");
    SYM(comm_size, "MPI_Comm_size");
    SYM(allgather, "MPI_Allgather");
    SYM(bcast, "MPI_Bcast");
    SYM(barrier, "MPI_Barrier");
    SYM(abort_, "MPI_Abort");
    SYM(finalize, "MPI_Finalize");
    SYM(world, "ompi_mpi_comm_world");
    SYM(type_float, "ompi_mpi_float");
    SYM(type_byte, "ompi_mpi_byte");
#undef SYM
    mpi.loaded = 1;
    return 0;
}

static int fail(const char *what, int rc) {
    snprintf(last_error, sizeof last_error, "%s failed (MPI error %d)", what, rc);
    return rc;
}

int qlora_mpi_init(int *rank, int *size) {
    if (qlora_mpi_load() != 0) return -1;
    int provided = 0;
    int rc = mpi.init_thread(NULL, NULL, QLORA_MPI_THREAD_FUNNELED, &provided);
    if (rc != 0) return fail("MPI_Init_thread", rc);
    if (provided < QLORA_MPI_THREAD_FUNNELED) {
        snprintf(last_error, sizeof last_error, "Open MPI provides thread level %d, below MPI_THREAD_FUNNELED", provided);
        return -1;
    }
    if ((rc = mpi.comm_rank(mpi.world, rank)) != 0) return fail("MPI_Comm_rank", rc);
    if ((rc = mpi.comm_size(mpi.world, size)) != 0) return fail("MPI_Comm_size", rc);
    mpi.size = *size;
    return 0;
}

int qlora_mpi_allgather_floats(const float *send, size_t count, float *recv) {
    if (count > INT_MAX) {
        snprintf(last_error, sizeof last_error, "allgather of %zu floats exceeds MPI's int count", count);
        return -1;
    }
    int rc = mpi.allgather(send, (int)count, mpi.type_float, recv, (int)count, mpi.type_float, mpi.world);
    return rc ? fail("MPI_Allgather", rc) : 0;
}

int qlora_mpi_allgather_bytes(const void *send, size_t bytes, void *recv) {
    if (bytes > INT_MAX) {
        snprintf(last_error, sizeof last_error, "allgather of %zu bytes exceeds MPI's int count", bytes);
        return -1;
    }
    int rc = mpi.allgather(send, (int)bytes, mpi.type_byte, recv, (int)bytes, mpi.type_byte, mpi.world);
    return rc ? fail("MPI_Allgather", rc) : 0;
}

int qlora_mpi_bcast_bytes(void *buf, size_t bytes, int root) {
    // In pieces of at most 1 GiB (MPI counts are int).
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < ((size_t)1 << 30) ? bytes - done : ((size_t)1 << 30);
        int rc = mpi.bcast((char *)buf + done, (int)n, mpi.type_byte, root, mpi.world);
        if (rc) return fail("MPI_Bcast", rc);
        done += n;
    }
    return 0;
}

int qlora_mpi_barrier(void) {
    int rc = mpi.barrier(mpi.world);
    return rc ? fail("MPI_Barrier", rc) : 0;
}

void qlora_mpi_abort(int code) {
    if (mpi.loaded) mpi.abort_(mpi.world, code);
}

int qlora_mpi_finalize(void) {
    int rc = mpi.finalize();
    return rc ? fail("MPI_Finalize", rc) : 0;
}
