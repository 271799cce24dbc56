/* cuda.h — internals of the CUDA backend (codegen/cuda), shared by its files.
 *
 * A CUDA binary has two halves, both built from the same backend-neutral
 * kernel plan (../plan.h) as the CPU binary:
 *
 *   host   the step functions nnc_<fn>(args, syms, workspace) and the
 *          nnrt_model constant, built by the CPU backend's own step.c,
 *          k_scan.c and meta.c (LLVM, for the host) with device hooks
 *          (CgDevice, codegen/cpu/cg.h): args and the workspace are device
 *          pointers, every buffer address is computed exactly as on the
 *          CPU, and each planned kernel becomes one nnrt_cu_launch call
 *          (runtime/nnrt_abi.h) with an NnrtCuArgs of its buffers, the syms
 *          and its work; matmuls call nnrt_cu_sgemm (cuBLASLt) and a GEMM
 *          group's epilogue runs as its own kernel over the product; a
 *          scan's carries are copied with nnrt_cu_memcpy;
 *   device one CUDA C translation unit (this directory) with one
 *          extern "C" __global__ function per launched kernel, compiled
 *          ahead of time by NVRTC (nvrtc.c) and embedded (NnrtCuda).
 *
 * Generated kernel source rules (so that NVRTC and the host emulation in
 * tests/cuda/emu.h both compile it):
 *   - signature: extern "C" __global__ void __launch_bounds__(BLOCK)
 *     <name>(NnrtCuArgs a); buffers are a.b[i] (cast to the element type),
 *     sizes are expressions of a.s[k] (cu_mono), the work is a.work;
 *   - loops over work with a stride (grid-stride for elements, block-stride
 *     for rows: NnrtCuKernel.rows), so any grid is correct;
 *   - shared memory only as fixed-size __shared__ arrays declared at the
 *     top of the kernel body (no dynamic shared memory, no static
 *     __shared__ at file scope); __syncthreads() reached by every thread of
 *     the block; warp shuffles (__shfl_xor_sync / __shfl_down_sync with
 *     0xffffffff) reached by all 32 lanes of a warp;
 *   - the device functions the prelude (cu_prelude) defines, CUDA's math
 *     functions (expf, logf, tanhf, sqrtf, fmaxf, ...), atomicAdd on float
 *     and int; no other CUDA runtime API, no printf, no C++ library.
 *
 * Sections: source text · the module being generated · kernels. */
#ifndef NNC_CUDA_H
#define NNC_CUDA_H
#include <stdarg.h>
#include <stdio.h>

#include "../backend.h"
#include "../plan.h"
#include "../../runtime/nnrt_abi.h"

/* ---- source text (src.c) ---- */

typedef struct CuSrc {
  char *s;
  size_t n, cap;
} CuSrc;
void cu_printf(CuSrc *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cu_free(CuSrc *s);

/* ---- the module being generated (gen.c) ---- */

/* A GEMM group's cuBLASLt epilogue (lt.c): what nnrt_cu_sgemm_ep computes
 * in place of the epilogue kernel's first members. */
typedef struct CuLt {
  int ep;        /* NNRT_CU_EP_*, or 0: none (nnrt_cu_sgemm, then the epilogue kernel) */
  int d;         /* the node whose memory receives cuBLASLt's D */
  int bias;      /* the bias read, or the bias gradient (a sum) written; -1: none */
  int aux;       /* the node whose memory holds aux (GELU's input, or the ReLU mask); -1 */
  int64_t ldaux; /* aux's row stride: floats, or bits for the mask */
  bool *covered; /* per node: computed by cuBLASLt */
  int done_by;   /* a reduction's kernel: the later GEMM whose BGRADA/BGRADB computes it (not launched); else -1 */
} CuLt;

typedef struct CuGen {
  const IrModule *m;
  Arena *arena;
  CuSrc src;            /* the CUDA C translation unit so far */
  NnrtCuKernel *ktab;   /* the kernel table: nnrt_cu_launch's numbers */
  int nk, kcap;
  Diag *diag;
  const char *error;    /* the first error (arena string), or NULL */
  bool lt_on;           /* cuBLASLt epilogues (off: --no-lt-epilogue) */
  FILE *verbose;        /* -v: a line per GEMM saying its epilogue, or NULL */
  const CgPlan *lt_plan; /* the plan lt was decided for (lt.c) */
  CuLt *lt;              /* per kernel of lt_plan */
} CuGen;

/* What the host step needs to launch one planned kernel. */
typedef struct CuLaunch {
  int kid;                       /* row of the kernel table */
  int bufs[NNRT_CU_MAX_BUFS];    /* plan buffers, in a.b[] order */
  int nbufs;
  CgMono work;                   /* a.work: elements or rows (NnrtCuKernel.rows) */
} CuLaunch;

void cu_gen_init(CuGen *g, const IrModule *m, Arena *a, Diag *d);
/* Appends a kernel table row; returns its number. */
int cu_gen_kernel(CuGen *g, const char *name, int block, int rows);
/* Records the first error (it stops code generation); returns false. */
bool cu_gen_fail(CuGen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The prelude every module starts with: NnrtCuArgs, the helpers kernels
 * use (block and warp reductions, Philox, ...). */
void cu_prelude(CuSrc *s);
/* Emits kernel k of plan p (p->ks index `index`, named
 * nnc_<fn>_k<index>_<kind> as the CPU backend names its kernels): any kind
 * but CK_MATMUL and CK_SCAN; for a CK_MATMUL with more members than its
 * root, its epilogue as a kernel over the product (run after the GEMM).
 * Fills l; false after cu_gen_fail. */
bool cu_kernel(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);

/* ---- kernels (one file per family; cu_kernel dispatches) ---- */

/* ---- expr.c: the shared core every kernel family builds on ----
 *
 * Text: sizes, types, constants. Kernels: their opening line and the
 * grid-/block-stride loops. Buffers: a.b[] slots. Elementwise evaluation
 * (CuEw): the values of a kernel's elementwise members at one index of
 * its domain, from leaves read at that index, through the op table
 * mirroring codegen/cpu/k_elem.c's (one row per elementwise op). */

/* A size: "(3LL*a.s[0]*a.s[1])" (c * prod a.s[k]^e[k], a long long). */
void cu_mono(CuSrc *s, CgMono m);
/* The C type of an element of dt ("float", "int", "signed char",
 * "unsigned char", "long long"). */
const char *cu_ctype(DType dt);
/* A constant of dtype dt as CUDA C: floats rounded to f32 as the CPU
 * backend rounds them ("1.5f", "-__int_as_float(0x7f800000)" for -inf),
 * integers as the value converted to dt ("(int)3"). */
void cu_const(CuSrc *s, double v, DType dt);

/* Starts kernel `index` of plan p: appends its table row (cu_gen_kernel)
 * named nnc_<fn>_k<index>_<what> (the CPU backend's names) with `block`
 * threads, rows as NnrtCuKernel.rows; sets l->kid, empties l->bufs, and
 * opens its definition: extern "C" __global__ void
 * __launch_bounds__(block) name(NnrtCuArgs a) {. The body follows;
 * cu_kernel_close closes it. */
void cu_kernel_open(CuGen *g, const CgPlan *p, int index, const char *what, int block, int rows, CuLaunch *l);
void cu_kernel_close(CuGen *g);
/* The grid-stride loop over elements [0, a.work): opens
 * "for (long long <var> = ...; <var> < a.work; ...) {"; the block-stride
 * loop over rows [0, a.work) (one row per block per pass). Close each
 * with cu_printf(s, "}\n"). */
void cu_for_elems(CuSrc *s, const char *var);
void cu_for_rows(CuSrc *s, const char *var);

/* The a.b[] slot of plan buffer `buf` in launch l: added to l->bufs on
 * first use, one slot per distinct memory (two plan buffers redirected to
 * one global or output, or sharing a workspace slot and offset, are one
 * pointer). -1 after cu_gen_fail when a kernel needs more than
 * NNRT_CU_MAX_BUFS. */
int cu_launch_buf(CuGen *g, const CgPlan *p, CuLaunch *l, int buf);
/* "((T *)a.b[slot])" for buffer `buf` of element type dt (slot as above);
 * false after cu_gen_fail. */
bool cu_buf_ptr(CuGen *g, const CgPlan *p, CuLaunch *l, CuSrc *s, int buf, DType dt);

/* One index variable of an evaluation: a row-major counter over domain
 * dims [lo, hi] (dims of static size 1 among them are always 0), of
 * extent ext. Adjacent dims share one variable when every access steps
 * over them as over one run (nest.c's loop collapsing), which spares the
 * divisions of unflattening a flat index. */
typedef struct CuIx {
  int lo, hi;
  CgMono ext;
} CuIx;

/* The elementwise evaluation of kernel k's members at one index of its
 * domain. Members are computed; every other node, and a member the plan
 * materialises (p->mat: read from p->src), is a leaf read at the index
 * (p->val: a strided view broadcast into the domain as numpy aligns
 * shapes, a constant, or a dim). A member that is not elementwise (a
 * reduction, a softmax: a root) gets its value from root_value. Values are
 * C variables "v<node>" of the node's element type (cu_ctype), declared
 * where they are first emitted: a caller that opens a scope (a loop, a
 * pass over a row) forgets the values it declared inside when the scope
 * closes (cu_ew_forget). Index variables are "<ix><j>" (long long), j in
 * [0, nv), set by the caller (cu_ew_unflatten) before values that vary
 * with them are emitted. */
typedef struct CuEw {
  CuGen *g;
  const CgPlan *p;
  const CgKernel *k;
  CuLaunch *l;
  const char *ix;
  CuIx v[IR_MAX_RANK];
  int nv;
  /* per node */
  bool *member;
  bool *need;   /* a target, or an operand of a needed member */
  bool *done;   /* its variable is in scope */
  unsigned *vary; /* bit j: its value changes with index variable j */
  int *acc;       /* its read's access (a leaf in memory), or -1 */
  /* per access: leaves' reads, then the caller's extra ones */
  CgMono (*dst)[IR_MAX_RANK]; /* stride per domain dim, in elements */
  int nacc, first_extra;
  /* Emits the declaration of root member `node`'s variable (cu_ew_emit
   * has emitted its operands); false after cu_gen_fail. NULL: a kernel
   * without roots. */
  bool (*root_value)(struct CuEw *E, CuSrc *s, int node, void *ctx);
  void *root_ctx;
  /* Set (".x", ".y", ".z", ".w"): a leaf in memory is not loaded but read
   * from the caller's vector "L<access>" (a 16-byte load of four
   * consecutive elements, k_elem.c); NULL: loads. */
  const char *lane;
} CuEw;

/* Sets up E over k->domain for the values of targets (nodes): which nodes
 * are needed, their accesses, the index variables and what each value
 * varies with. tags: per domain dim (NULL: all alike); dims with different
 * tags never share a variable (a row kernel keeps its row axis apart).
 * extra: further accesses (strides per domain dim: stores, labels) that
 * the variables must serve too; the caller reads them with cu_ew_offset
 * (access first_extra + i). Arena-allocated (g->arena). */
void cu_ew_init(CuEw *E, CuGen *g, const CgPlan *p, const CgKernel *k, CuLaunch *l, const char *ix, const int *targets,
                int ntargets, const int *tags, CgMono (*extra)[IR_MAX_RANK], int nextra);
/* The mask of every index variable. */
unsigned cu_ew_all(const CuEw *E);
/* The index variable covering domain dim d, or -1 (a static size-1 dim). */
int cu_ew_var_of(const CuEw *E, int d);
/* Declares index variables in mask (bit j: variable j) from the flat
 * row-major index `flat` over them: "long long <ix>j = ..." by divisions
 * and remainders by their extents (none for a single variable). */
void cu_ew_unflatten(const CuEw *E, CuSrc *s, const char *flat, unsigned mask);
/* The element offset of access acc at the index, summing the variables in
 * mask: "(i0*(8LL)+i1)" ("0LL" for none). */
void cu_ew_offset(const CuEw *E, CuSrc *s, int acc, unsigned mask);
/* Emits the declarations of node's variable and of every needed value it
 * depends on that is not in scope yet (node must be needed). False after
 * cu_gen_fail (an unreadable leaf, a root without root_value, too many
 * buffers). */
bool cu_ew_emit(CuEw *E, CuSrc *s, int node);
/* Forgets the values that vary with any index variable in mask (all
 * values: ~0u), so that the next cu_ew_emit declares them again. */
void cu_ew_forget(CuEw *E, unsigned mask);
/* Sets what root `node` varies with (a reduction's value is constant along
 * its row) and what every needed member computed from it varies with. */
void cu_ew_set_vary(CuEw *E, int node, unsigned mask);
/* Stores node's value (emitted) into buffer buf at access acc's offset
 * over every index variable: "((T *)a.b[s])[off] = v<node>;". */
bool cu_ew_store(CuEw *E, CuSrc *s, int node, int buf, int acc);
/* The expression of elementwise op n applied to operand expressions a[]
 * (args: its operand nodes, for their types): the op table. False after
 * cu_gen_fail for an op without a row. */
bool cu_ew_op(CuGen *g, CuSrc *s, const IrNode *n, const IrNode *args, const char *const *a);

bool cu_kernel_ew(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);       /* k_elem.c */
/* A GEMM group's epilogue kernel over the product, but for the members in
 * covered (NULL: the matmul alone), which cuBLASLt computed (lt.c); none
 * (l->kid -1) when nothing is left. */
bool cu_kernel_epilogue(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l, const bool *covered);
/* ---- lt.c: cuBLASLt epilogues ---- */
/* Kernel `index` of plan p's cuBLASLt epilogue (decided once per plan). */
const CuLt *cu_lt(CuGen *g, const CgPlan *p, int index);
/* A CK_MATMUL kernel with an epilogue: its choice, as a comment in the
 * source (and a -v line), then the epilogue kernel for what is left. */
bool cu_kernel_gemm(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);
/* A reduction a later GEMM's BGRADA/BGRADB computes (CuLt.done_by): no
 * kernel (l->kid -1), the choice as a comment and a -v line. */
bool cu_kernel_lt_sum(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);
bool cu_kernel_onehot(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_misc.c */
bool cu_kernel_range(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);    /* k_misc.c */
bool cu_kernel_gather(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_gather.c */
bool cu_kernel_reduce(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_reduce.c */
bool cu_kernel_row(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);      /* k_reduce.c */
bool cu_kernel_window(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_window.c */
bool cu_kernel_qgemm(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);    /* k_int8.c */

#endif
