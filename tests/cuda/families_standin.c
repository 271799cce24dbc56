/* families_standin.c — TEMPORARY, test-only: weak definitions of the kernel
 * families that other branches write (k_reduce.c, k_window.c, k_int8.c),
 * so that test_cugen links gen.c's dispatch before they land. test_cugen
 * never calls them; a real definition, once linked, takes precedence. */
#include "codegen/cuda/cuda.h"

#define STANDIN(fn)                                                                                                    \
  __attribute__((weak)) bool fn(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {                 \
    (void)p, (void)k, (void)index, (void)l;                                                                            \
    return cu_gen_fail(g, "%s is not on this branch", #fn);                                                           \
  }
STANDIN(cu_kernel_reduce)
STANDIN(cu_kernel_row)
STANDIN(cu_kernel_window)
STANDIN(cu_kernel_qgemm)
