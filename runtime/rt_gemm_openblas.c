/* rt_gemm_openblas.c — the OpenBLAS GEMM engine (rt_gemm.h): each block of
 * nnrt_sgemm's cut (rt_blas.c) is one single-threaded cblas_sgemm call. It
 * is the fallback of nnc build's default engine (--gemm=auto) and the only
 * one of --gemm=openblas.
 *
 * OpenBLAS picks its kernels by CPU model when it loads, or as
 * OPENBLAS_CORETYPE says; `bench` and `--version` print which (on an
 * AVX-512 machine its "SkylakeX" kernels ran [64,784]x[784,256] in 157 us
 * against 257 us for "Haswell", the choice some machines' environment
 * pins). */
#include "nnrt.h"
#include "rt_gemm.h"
#include <stdio.h>

/* From OpenBLAS's cblas.h, declared here because its location varies. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
                 int ldb, float beta, float *c, int ldc);
char *openblas_get_corename(void);
void openblas_set_num_threads(int num_threads);

void rt_openblas_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)m, (int)n,
              (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

const char *rt_blas_core(void) {
  const char *c = openblas_get_corename();
  return c ? c : "unknown";
}

/* Matrix products are split over the runtime's pool by nnrt_sgemm: OpenBLAS's
 * own threads would make results depend on the thread count and spin on the
 * same cores as ours. */
void rt_openblas_setup(void) { openblas_set_num_threads(1); }

const char *rt_openblas_engine(void) {
  static char buf[96];
  snprintf(buf, sizeof buf, "OpenBLAS %s kernels", rt_blas_core());
  return buf;
}
