/* int8_gemm.c — qmatmul against the f32 GEMM of the same shape.
 *
 *   build/bench_int8_gemm [M K N [reps]]      (default 256 784 256 200)
 *
 * Times nnc's qmatmul kernel (u8 [M,K] x i8 [K,N] -> i32, the weights
 * packed at each call, as a compiled model runs it: k_int8.c) on its
 * vpdpbusd path (when this CPU has AVX-512 VNNI) and its portable path
 * (--no-vnni), and nnrt_sgemm (OpenBLAS, split over the runtime's pool,
 * what an f32 model's matmul calls) on f32 operands of the same shape, on
 * 1 and 2 threads of the runtime's pool. Prints the best and the median
 * time per call of each, and the speedup of each int8 path over f32 (by
 * the medians). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/nnrt.h"
#include "../tests/codegen/harness.h"

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef void (*StepFn)(void **, const int64_t *, void *);
typedef int64_t (*WsFn)(const int64_t *);

typedef struct Run {
  StepFn fn;
  void **args;
  void *ws;
  const float *a, *b;
  float *c;
  int64_t m, n, k;
} Run;

/* Times reps calls of one kernel (after 5 untimed ones); best and median. */
static void timeit(const Run *r, int reps, double *best, double *median) {
  double *t = malloc(sizeof(double) * (size_t)reps);
  int64_t syms[1] = {0};
  for (int i = -5; i < reps; i++) {
    double t0 = now_us();
    if (r->fn) r->fn(r->args, syms, r->ws);
    else nnrt_sgemm(0, 0, r->m, r->n, r->k, 1, r->a, r->k, r->b, r->n, 0, r->c, r->n);
    if (i >= 0) t[i] = now_us() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  *best = t[0], *median = t[reps / 2];
  free(t);
}

int main(int argc, char **argv) {
  int64_t M = argc > 3 ? atoll(argv[1]) : 256, K = argc > 3 ? atoll(argv[2]) : 784, N = argc > 3 ? atoll(argv[3]) : 256;
  int reps = argc > 4 ? atoi(argv[4]) : 200;
  char text[400];
  snprintf(text, sizeof text,
           "module bench\nfunc forward(%%a: u8[%lld,%lld], %%w: i8[%lld,%lld]) -> (i32[%lld,%lld]) {\n"
           "  %%y = qmatmul %%a, %%w {ta=0, tb=0} : i32[%lld,%lld]\n  return %%y\n}\n",
           (long long)M, (long long)K, (long long)K, (long long)N, (long long)M, (long long)N, (long long)M,
           (long long)N);
  IrModule *m = t_parse(text);
  if (!m) return 1;
  unsigned char *qa = malloc((size_t)(M * K));
  signed char *qw = malloc((size_t)(K * N));
  int32_t *qc = malloc(sizeof(int32_t) * (size_t)(M * N));
  float *fa = malloc(sizeof(float) * (size_t)(M * K)), *fb = malloc(sizeof(float) * (size_t)(K * N));
  float *fc = malloc(sizeof(float) * (size_t)(M * N));
  srand(1);
  for (int64_t i = 0; i < M * K; i++) qa[i] = (unsigned char)(rand() & 255), fa[i] = (float)qa[i] / 255;
  for (int64_t i = 0; i < K * N; i++) qw[i] = (signed char)(rand() & 255), fb[i] = (float)qw[i] / 128;
  hk_parallel_for = nnrt_parallel_for;
  printf("qmatmul u8[%lld,%lld] x i8[%lld,%lld] -> i32 against f32 nnrt_sgemm (OpenBLAS %s), %d calls each\n",
         (long long)M, (long long)K, (long long)K, (long long)N, rt_blas_core(), reps);
  for (int threads = 1; threads <= 2; threads++) {
    RtError e;
    if (rt_pool_start(threads, &e) < 0) return 1;
    double fbest, fmed;
    timeit(&(Run){.a = fa, .b = fb, .c = fc, .m = M, .n = N, .k = K}, reps, &fbest, &fmed);
    printf("threads %d  f32 sgemm          best %8.1f us  median %8.1f us\n", threads, fbest, fmed);
    for (int portable = 0; portable < 2; portable++) {
      StepFn fn = (StepFn)(uintptr_t)jit_lookup_opts(m, 2, portable, "nnc_forward");
      WsFn wsf = fn ? (WsFn)(uintptr_t)jit_lookup(NULL, 0, "nnc_forward_workspace") : NULL;
      if (!wsf) return 1;
      int64_t syms[1] = {0};
      void *ws = aligned_alloc(64, (size_t)(wsf(syms) + 64));
      double best, med;
      timeit(&(Run){.fn = fn, .args = (void *[]){qa, qw, qc}, .ws = ws}, reps, &best, &med);
      printf("threads %d  int8 %-13s best %8.1f us  median %8.1f us  %.2fx f32\n", threads,
             portable ? "portable" : "vnni/native", best, med, fmed / med);
      free(ws);
    }
    rt_pool_stop();
  }
  t_free_all();
  return 0;
}
