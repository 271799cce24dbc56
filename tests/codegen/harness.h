/* harness.h — running IR functions through the CPU backend (JIT) and the
 * reference interpreter, and comparing the two.
 *
 * A check builds an LLVM module for the whole IR module (every function the
 * backend knows), JIT-compiles it with ORC's LLJIT, feeds the same random
 * data to nnc_<fn> (floats) and ir_interp (doubles), and compares outputs
 * and, for functions with stores, the updated globals. Every buffer the
 * generated code gets (globals, inputs, outputs, workspace sized by
 * nnc_<fn>_workspace) ends at an inaccessible page: an access past its end
 * stops the test with the check's name. */
#ifndef NNC_TEST_CG_HARNESS_H
#define NNC_TEST_CG_HARNESS_H
#include "codegen/cpu/cg.h"
#include "ir/interp.h"

/* What random data a check feeds in. */
typedef enum { DATA_NORMAL, DATA_POSITIVE, DATA_INTS } DataKind;

typedef struct CheckOpts {
  const char *fn;  /* default "forward" */
  int64_t syms[4]; /* values of the symbolic dims */
  DataKind data;
  int label_max; /* integer inputs are drawn from [0, label_max); default 4 */
  int bad_label; /* >= 0: this i32 element is set to label_max (out of range) */
  double tol;    /* relative and absolute tolerance; default 1e-4 */
  int opt;       /* -O level; default 2 (set opt_set to use 0) */
  bool opt_set;
  int steps; /* calls in a row (globals carry over); default 1 */
  /* Set: from the second call on, the interpreter starts each call from
   * the generated code's globals (its f32 values, read back exactly)
   * instead of its own f64 ones, so that every call is compared from the
   * same state: each step of a model whose steps amplify f32 rounding
   * (mha.nn in test_models.c) is checked to that step's own precision,
   * however far the two trajectories would part over the steps. */
  bool resync;
  uint64_t seed;
  /* Set: compile for this CPU (an LLVM name, e.g. "x86-64-v4") and run the
   * optimized code in LLVM's interpreter, on any host; small cases only. */
  const char *cpu;
  /* int8 tests: integer inputs span their type's whole range (its two ends
   * one time in four) instead of [0, label_max); int8 products in the
   * portable code, as --no-vnni asks; the module built for a generic x86-64
   * (--cpu=generic, SSE2 tiles) and run here. */
  bool full_ints;
  bool no_vnni;
  bool generic;
  /* Set: input i's elements are values[i] when that is not NULL (fixed
   * data: NaNs, ties) instead of random ones. */
  const double *const *values;
  /* Set: every result of the generated code is printed after each call, a
   * line "<print> <result index> <values...>" (read by a script). */
  const char *print;
} CheckOpts;

/* Counters the test runtime hooks keep (reset by each check). */
extern int hk_parallel_calls, hk_fail_calls;
extern int hk_multi_calls; /* nnrt_parallel_multi jobs */
extern int hk_gemm_ep_calls; /* nnrt_sgemm_ep calls (GEMMs with an epilogue) */
extern int hk_gemm_batch_calls; /* nnrt_sgemm_batch calls (batched matmuls) */
extern int64_t hk_fail_args[4]; /* index, value, classes or rows, ids per row */
/* > 0: the parallel-for cuts chunks of this many iterations instead of the
 * kernel's grain (odd cuts the runtime's pool may make). */
extern int64_t hk_grain;
/* Set: the generated code's nnrt_parallel_for goes to it (a benchmark's
 * real thread pool) instead of the test's serial, reversed stand-in. */
extern void (*hk_parallel_for)(NnrtBody body, void *ctx, int64_t n, int64_t grain);

/* Runs the check; prints what differs and returns false on a mismatch or a
 * compile failure. */
bool cg_check(IrModule *m, const CheckOpts *o, const char *name);

/* Builds and JIT-compiles m at -O opt for this machine; returns the
 * address of symbol `sym` (NULL on failure). The JIT lives until
 * jit_release. jit_lookup_cg takes the backend's options (their opt_level,
 * cpu_native and no_vnni; m NULL: a symbol of the module built last). */
void *jit_lookup(IrModule *m, int opt, const char *sym);
void *jit_lookup_cg(IrModule *m, const CgOptions *o, const char *sym);
void jit_release(void);

/* Test bookkeeping: EXPECT prints the failing condition. */
extern int t_passed, t_failed;
#define EXPECT(cond, ...)                                                                                              \
  do {                                                                                                                 \
    if (cond)                                                                                                          \
      t_passed++;                                                                                                      \
    else {                                                                                                             \
      t_failed++;                                                                                                      \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                                           \
      printf(__VA_ARGS__);                                                                                             \
      printf("\n");                                                                                                    \
    }                                                                                                                  \
  } while (0)

/* Checks m three ways (unfused; fused at -O0; fused at -O2), each an
 * EXPECT named after `name`. */
void t_check3(IrModule *m, CheckOpts o, const char *name);

/* Sets every function's fusion groups as the fuse pass does with every
 * fusion kind (on: GEMM epilogues too), or clears them (off: one kernel per
 * node). */
void t_set_fused(IrModule *m, bool on);
/* Kernels the backend plans for function fn, and how many of them are
 * fused (nfused may be NULL). */
int t_kernels(const IrModule *m, const char *fn, int *nfused);
/* Function fn's plan at syms: whether its workspace takes the split layout
 * (codegen/memplan.c). Checks (EXPECT) that the split layout, where the
 * plan has one, puts two values alive at once at one offset exactly when
 * the one-arena plan does: kernels pass such values as one pointer, others
 * as noalias ones, built once for both layouts. */
bool t_split_layout(const IrModule *m, const char *fn, const int64_t *syms);

/* IR building shortcuts for tests. Modules live in arenas that t_free_all
 * frees (with the JIT) at the end. */
Arena *t_arena(void);
/* A module from IR text (in t_arena()); a parse error is a failed check. */
IrModule *t_parse(const char *text);
void t_free_all(void);
IrModule *t_module(const char *name);
Type t_type(DType dt, int rank, const int64_t *dims);
#define T(dt, ...) t_type(dt, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})
#define TS(dt) t_type(dt, 0, NULL)
int t_op(IrFunc *f, OpKind op, int a, int b);
int t_attr(IrFunc *f, OpKind op, int a, const Attrs *at, const Type *hint);
int t_bin(IrFunc *f, OpKind op, int a, int b, const Attrs *at);
int t_param(IrModule *m, const char *name, Type t);

#endif
