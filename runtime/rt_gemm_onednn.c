/* rt_gemm_onednn.c — the oneDNN GEMM engine (rt_gemm.h): each block of
 * nnrt_sgemm's cut (rt_blas.c) is one single-threaded dnnl_sgemm call. nnc
 * build's default engine (--gemm=auto) runs on it when libdnnl loads;
 * --gemm=onednn runs on it only.
 *
 * Why oneDNN: its sgemm JIT-generates kernels for the instruction set the
 * CPU reports (AVX-512, AVX2, SSE4.1) when the binary runs, where OpenBLAS
 * picks precompiled kernels by CPU model and falls back to SSE3 "Prescott"
 * kernels on a model it does not know (OpenBLAS 0.3.21 on a 2-core Xeon of
 * model 207: 5-10 GFLOP/s against oneDNN's 25-60 on nnc's products;
 * docs/bench.md, "GEMM libraries", bench/gemm_libs.c).
 *
 * libdnnl is loaded with dlopen (rt_onednn_load), like the CUDA runtime
 * loads cuBLASLt: the binary links no oneDNN, nnc builds it without
 * libdnnl-dev, and a machine without libdnnl falls back to OpenBLAS
 * (--gemm=auto) or gets a clear error (--gemm=onednn) instead of a loader
 * failure. oneDNN threads with OpenMP; its thread count is per calling
 * thread, so every thread that runs blocks asks once for one thread: the
 * runtime's pool is the only parallelism, and a block's result depends only on its shape,
 * whatever --threads says (rt_blas.c). */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "nnrt.h"
#include "rt_gemm.h"

/* From oneDNN's dnnl.h (the same in its versions 2 and 3), declared here
 * because the library is loaded at run time. */
typedef int (*DnnlSgemm)(char transa, char transb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                         int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
typedef struct DnnlVersion {
  int major, minor, patch;
  const char *hash;
  unsigned cpu_runtime, gpu_runtime;
} DnnlVersion;

static struct {
  bool tried;
  DnnlSgemm sgemm;
  void (*omp_set_num_threads)(int);
  char engine[160]; /* "oneDNN 2.6.3 sgemm", or why it did not load */
} dnnl;

/* Loads libdnnl once; false with dnnl.engine saying why. */
bool rt_onednn_load(void) {
  if (dnnl.tried) return dnnl.sgemm != NULL;
  dnnl.tried = true;
  static const char *const names[] = {"libdnnl.so.3", "libdnnl.so.2", NULL};
  void *lib = NULL;
  int i = 0;
  for (; names[i] && !lib; i++)
    lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(dnnl.engine, sizeof dnnl.engine, "oneDNN (not loaded: %s)", dlerror());
    return false;
  }
  /* POSIX's way to take a function pointer from dlsym's void *. */
  *(void **)&dnnl.sgemm = dlsym(lib, "dnnl_sgemm");
  *(void **)&dnnl.omp_set_num_threads = dlsym(lib, "omp_set_num_threads"); /* libgomp, a dependency */
  const DnnlVersion *(*version)(void);
  *(void **)&version = dlsym(lib, "dnnl_version");
  if (!dnnl.sgemm || !dnnl.omp_set_num_threads || !version) {
    dnnl.sgemm = NULL;
    snprintf(dnnl.engine, sizeof dnnl.engine,
             "oneDNN (not loaded: %s lacks dnnl_sgemm, dnnl_version or OpenMP's omp_set_num_threads)", names[i - 1]);
    dlclose(lib);
    return false;
  }
  const DnnlVersion *v = version();
  snprintf(dnnl.engine, sizeof dnnl.engine, "oneDNN %d.%d.%d sgemm", v->major, v->minor, v->patch);
  return true;
}

const char *rt_onednn_engine(void) {
  rt_onednn_load();
  return dnnl.engine;
}

void rt_onednn_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  /* OpenMP's thread count is per calling thread and nothing else here sets
   * it, so each thread that runs blocks (the pool's workers and the main
   * thread) asks once for one thread: every block runs single-threaded,
   * without a call into libgomp per block. */
  static _Thread_local int single_threaded;
  if (!single_threaded) {
    dnnl.omp_set_num_threads(1);
    single_threaded = 1;
  }
  int status = dnnl.sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (status != 0) { /* dnnl_success; only bad arguments fail, and rt_blas.c checked them */
    fprintf(stderr, "error: oneDNN's dnnl_sgemm failed (status %d) on a %lld x %lld x %lld product\n", status,
            (long long)m, (long long)n, (long long)k);
    fflush(stderr);
    _Exit(RT_EXIT_FAIL);
  }
}
