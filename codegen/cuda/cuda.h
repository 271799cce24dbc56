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

typedef struct CuGen {
  const IrModule *m;
  Arena *arena;
  CuSrc src;            /* the CUDA C translation unit so far */
  NnrtCuKernel *ktab;   /* the kernel table: nnrt_cu_launch's numbers */
  int nk, kcap;
  Diag *diag;
  const char *error;    /* the first error (arena string), or NULL */
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

/* Expression helpers every family uses (expr.c). */
/* A size: "(3LL*a.s[0]*a.s[1])". */
void cu_mono(CuSrc *s, CgMono m);
/* The C type of an element of dt ("float", "int", "signed char", ...). */
const char *cu_ctype(DType dt);

bool cu_kernel_ew(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);       /* k_elem.c */
bool cu_kernel_epilogue(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l); /* k_elem.c */
bool cu_kernel_onehot(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_misc.c */
bool cu_kernel_range(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);    /* k_misc.c */
bool cu_kernel_gather(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_gather.c */
bool cu_kernel_reduce(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_reduce.c */
bool cu_kernel_row(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);      /* k_reduce.c */
bool cu_kernel_window(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);   /* k_window.c */
bool cu_kernel_qgemm(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l);    /* k_int8.c */

#endif
