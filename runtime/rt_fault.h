/* rt_fault.h — fault injection in the runtime's I/O and allocations, a
 * testing hook in the product build (as SQLite's tests fail the Nth malloc
 * or write).
 *
 * NNRT_FAULT=OP:N[:ERRNO][,OP:N...] makes the Nth call (1-based, counted
 * from the start of the process) of OP fail as the system would: the
 * wrapper returns its failure value with errno set (ERRNO by name, else
 * the op's usual one below). OP is one of
 *   open    creating or opening a file the runtime writes, or a checkpoint,
 *           vocabulary or data file it reads (fopen, mkstemp, the IDX
 *           loader's gzopen): EMFILE
 *   write   write(2) of a checkpoint, vocabulary or CSV log: ENOSPC
 *   fsync   fsync(2) of a file before its rename: EIO
 *   rename  the atomic rename of a written file onto its name: EROFS
 *   malloc  the runtime's allocations (rt_alloc: data, parameters,
 *           workspace; the checkpoint writer's and reader's buffers; the
 *           data loaders' own: IDX, npy, CSV, fortunes, the vocabulary):
 *           ENOMEM
 * NNRT_FAULT=count counts the calls instead and prints the counts on
 * stderr at exit ("NNRT_FAULT count: open=3 write=41 ..."), so a test can
 * sweep N over every fault point of a run. An injected fault prints
 * "NNRT_FAULT: failing OP call N (ERRNO)" on stderr when it fires.
 *
 * Unset, every wrapper costs one load and one branch before the real call.
 * The directory fsync after a rename is best effort (some file systems
 * refuse it) and not a fault point; nor are the allocations of best-effort
 * work (cleaning stale temporary files, the `data` command's class counts),
 * nor what zlib allocates inside gzopen and gzread. */
#ifndef RT_FAULT_H
#define RT_FAULT_H
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

typedef enum {
  RT_FAULT_OPEN,
  RT_FAULT_WRITE,
  RT_FAULT_FSYNC,
  RT_FAULT_RENAME,
  RT_FAULT_MALLOC,
  RT_FAULT_NOPS
} RtFaultOp;

/* 0 when NNRT_FAULT is unset (read once, at the first call); else whether
 * this call of op is the one to fail (errno is then set). */
extern int rt_fault_state; /* 0: not read yet, 1: off, 2: on */
int rt_fault_slow(RtFaultOp op);
static inline int rt_fault(RtFaultOp op) { return rt_fault_state == 1 ? 0 : rt_fault_slow(op); }

/* The system calls with the fault point in front. rt_fault_fopen's FILE
 * sends its writes through rt_fault_write when NNRT_FAULT is set. */
ssize_t rt_fault_write(int fd, const void *data, size_t n);
int rt_fault_fsync(int fd);
int rt_fault_rename(const char *from, const char *to);
int rt_fault_mkstemp(char *tmpl);
FILE *rt_fault_fopen(const char *path, const char *mode);
void *rt_fault_malloc(size_t n);
void *rt_fault_calloc(size_t n, size_t size);
void *rt_fault_realloc(void *p, size_t n);
void *rt_fault_aligned_alloc(size_t align, size_t n);

#endif
