/* rt_gemm_select.c — which engine (rt_gemm.h) computes a CPU binary's
 * matrix products: compiled once per runtime library with NNRT_GEMM set to
 * one of the values below (runtime/CMakeLists.txt), so that each library
 * links only the engines it can pick.
 *
 *   NNRT_GEMM_AUTO      libnnrt.a, nnc build's default (--gemm=auto):
 *                       oneDNN when libdnnl loads, else OpenBLAS, decided
 *                       once when the binary starts. oneDNN is chosen where
 *                       it loads because it was as fast or faster on every
 *                       product measured (docs/bench.md, "GEMM libraries");
 *                       OpenBLAS, always linked, keeps the binary working
 *                       on a machine without it. `--version` says which.
 *   NNRT_GEMM_OPENBLAS  libnnrt_openblas.a (--gemm=openblas): OpenBLAS.
 *   NNRT_GEMM_ONEDNN    libnnrt_onednn.a (--gemm=onednn): oneDNN, and a
 *                       clear error when libdnnl does not load.
 *
 * The two engines round differently (both are f32 GEMMs, within f32
 * rounding of each other: tests/e2e/gemm_onednn.sh); a binary's results
 * are reproducible on one machine, whichever it picks. */
#include <stdio.h>
#include <stdlib.h>

#include "nnrt.h"
#include "rt_gemm.h"

#define NNRT_GEMM_AUTO 1
#define NNRT_GEMM_OPENBLAS 2
#define NNRT_GEMM_ONEDNN 3
#ifndef NNRT_GEMM
#error "compile rt_gemm_select.c with -DNNRT_GEMM=NNRT_GEMM_AUTO, _OPENBLAS or _ONEDNN"
#endif

#if NNRT_GEMM == NNRT_GEMM_AUTO
static RtGemmKernel kernel = rt_openblas_kernel; /* until oneDNN loads */
static bool picked;
static char engine[256];

/* Once, on the thread that starts the pool (rt_gemm_setup) or asks
 * (rt_gemm_engine), before any product runs. */
static void pick(void) {
  if (picked) return;
  picked = true;
  if (rt_onednn_load()) {
    kernel = rt_onednn_kernel;
    snprintf(engine, sizeof engine, "%s", rt_onednn_engine());
  } else {
    snprintf(engine, sizeof engine, "%s; %s", rt_openblas_engine(), rt_onednn_engine());
  }
}

void rt_gemm_setup(void) {
  rt_openblas_setup(); /* OpenBLAS may compute a product before oneDNN is tried (bench) */
  pick();
}

const char *rt_gemm_engine(void) {
  pick();
  return engine;
}

void rt_gemm_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  kernel(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#elif NNRT_GEMM == NNRT_GEMM_OPENBLAS
void rt_gemm_setup(void) { rt_openblas_setup(); }

const char *rt_gemm_engine(void) { return rt_openblas_engine(); }

void rt_gemm_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  rt_openblas_kernel(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#elif NNRT_GEMM == NNRT_GEMM_ONEDNN
void rt_gemm_setup(void) {
  if (rt_onednn_load()) return;
  fprintf(stderr,
          "error: this binary computes matrix products with oneDNN (nnc build --gemm=onednn), but %s; "
          "install libdnnl (Debian: apt-get install libdnnl2) or build without --gemm=onednn\n",
          rt_onednn_engine());
  fflush(stderr);
  _Exit(RT_EXIT_FAIL);
}

const char *rt_gemm_engine(void) { return rt_onednn_engine(); }

void rt_gemm_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  rt_onednn_kernel(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#else
#error "NNRT_GEMM is none of NNRT_GEMM_AUTO, _OPENBLAS, _ONEDNN"
#endif
