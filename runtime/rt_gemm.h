/* rt_gemm.h — the CPU binaries' GEMM engines, behind nnrt.h's
 * rt_gemm_kernel / rt_gemm_setup / rt_gemm_engine.
 *
 * Each engine is one file under its own names (rt_gemm_openblas.c,
 * rt_gemm_onednn.c); rt_gemm_select.c, compiled once per runtime library,
 * says which of them a binary's products run on: libnnrt.a (nnc build's
 * default, --gemm=auto) takes oneDNN when libdnnl loads and OpenBLAS
 * otherwise; libnnrt_openblas.a and libnnrt_onednn.a take one engine only
 * (--gemm=openblas, --gemm=onednn). bench/gemm_libs.c calls the engines
 * side by side under these names. */
#ifndef RT_GEMM_H
#define RT_GEMM_H
#include <stdbool.h>
#include <stdint.h>

/* OpenBLAS's cblas_sgemm, single-threaded (setup) because the runtime's
 * pool cuts the products into blocks itself. */
void rt_openblas_setup(void);
void rt_openblas_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
const char *rt_openblas_engine(void); /* "OpenBLAS Haswell kernels" */

/* oneDNN's dnnl_sgemm from libdnnl, loaded with dlopen: rt_onednn_load
 * loads it once and says whether it did; rt_onednn_engine names it
 * ("oneDNN 2.6.3 sgemm") or says why it did not load. */
bool rt_onednn_load(void);
void rt_onednn_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
const char *rt_onednn_engine(void);

#endif
