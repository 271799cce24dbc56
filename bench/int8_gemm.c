/* int8_gemm.c — nnc's int8 kernels against f32 ones of the same shape.
 *
 *   build/bench_int8_gemm [M K N [reps]]                   (default 256 784 256 200)
 *   build/bench_int8_gemm conv N C H W F k stride pad [reps]
 *
 * The first times qmatmul (u8 [M,K] x i8 [K,N] -> i32, the weights packed
 * at each call, as a compiled model runs it: codegen/cpu/k_int8.c) against
 * nnrt_sgemm (OpenBLAS, split over the runtime's pool: what an f32 model's
 * matmul calls) on f32 operands of the same shape; the second qconv2d
 * against nnc's f32 conv2d kernel (k_window.c). Each int8 kernel runs on
 * its vpdpbusd path (when this CPU has AVX-512 VNNI) and its portable path
 * (--no-vnni), on 1 and 2 threads of the runtime's pool. Prints the best
 * and the median time per call, and each int8 path's speedup over f32 (by
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

/* A kernel to time: a module's forward (m), or nnrt_sgemm (m NULL). */
typedef struct Run {
  IrModule *m;
  bool no_vnni;
  void **args;
  const float *a, *b;
  float *c;
  int64_t M, N, K;
} Run;

/* Times reps calls (after 5 untimed ones); best and median in us. */
static bool timeit(const Run *r, int reps, double *best, double *median) {
  StepFn fn = NULL;
  void *ws = NULL;
  int64_t syms[1] = {0};
  if (r->m) {
    CgOptions o = {.opt_level = 2, .cpu_native = true, .no_vnni = r->no_vnni};
    fn = (StepFn)(uintptr_t)jit_lookup_cg(r->m, &o, "nnc_forward");
    WsFn wsf = fn ? (WsFn)(uintptr_t)jit_lookup(NULL, 0, "nnc_forward_workspace") : NULL;
    if (!wsf) return false;
    ws = aligned_alloc(64, (size_t)(wsf(syms) + 64));
  }
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int i = -5; i < reps; i++) {
    double t0 = now_us();
    if (fn) fn(r->args, syms, ws);
    else nnrt_sgemm(0, 0, r->M, r->N, r->K, 1, r->a, r->K, r->b, r->N, 0, r->c, r->N);
    if (i >= 0) t[i] = now_us() - t0;
  }
  qsort(t, (size_t)reps, sizeof *t, cmp_double);
  *best = t[0], *median = t[reps / 2];
  free(t), free(ws);
  return true;
}

static void *filled(int64_t n, int size, unsigned seed) {
  unsigned char *p = malloc((size_t)(n * size));
  srand(seed);
  for (int64_t i = 0; i < n; i++) {
    int v = rand() & 255;
    if (size == 1) p[i] = (unsigned char)v;
    else ((float *)p)[i] = (float)(v - 128) / 128;
  }
  return p;
}

/* f32 first, then the int8 paths, on 1 and 2 threads. */
static int compare(Run f32, Run q, int reps) {
  for (int threads = 1; threads <= 2; threads++) {
    RtError e;
    if (rt_pool_start(threads, &e) < 0) return 1;
    double fbest, fmed, best, med;
    if (!timeit(&f32, reps, &fbest, &fmed)) return 1;
    printf("threads %d  f32                best %9.1f us  median %9.1f us\n", threads, fbest, fmed);
    for (int portable = 0; portable < 2; portable++) {
      q.no_vnni = portable;
      if (!timeit(&q, reps, &best, &med)) return 1;
      printf("threads %d  int8 %-13s best %9.1f us  median %9.1f us  %.2fx f32\n", threads,
             portable ? "portable" : "vnni/native", best, med, fmed / med);
    }
    rt_pool_stop();
  }
  return 0;
}

static int bench_qmatmul(int64_t M, int64_t K, int64_t N, int reps) {
  char text[400];
  snprintf(text, sizeof text,
           "module bench\nfunc forward(%%a: u8[%lld,%lld], %%w: i8[%lld,%lld]) -> (i32[%lld,%lld]) {\n"
           "  %%y = qmatmul %%a, %%w {ta=0, tb=0} : i32[%lld,%lld]\n  return %%y\n}\n",
           (long long)M, (long long)K, (long long)K, (long long)N, (long long)M, (long long)N, (long long)M,
           (long long)N);
  IrModule *m = t_parse(text);
  if (!m) return 1;
  printf("qmatmul u8[%lld,%lld] x i8[%lld,%lld] -> i32 against f32 nnrt_sgemm (OpenBLAS %s), %d calls each\n",
         (long long)M, (long long)K, (long long)K, (long long)N, rt_blas_core(), reps);
  Run f32 = {.a = filled(M * K, 4, 1), .b = filled(K * N, 4, 2), .c = malloc(sizeof(float) * (size_t)(M * N)),
             .M = M, .N = N, .K = K};
  Run q = {.m = m, .args = (void *[]){filled(M * K, 1, 1), filled(K * N, 1, 2), malloc(4 * (size_t)(M * N))}};
  return compare(f32, q, reps);
}

static int bench_qconv2d(const int64_t *a, int reps) {
  int64_t N = a[0], C = a[1], H = a[2], W = a[3], F = a[4], k = a[5], s = a[6], pad = a[7];
  int64_t OH = ir_window_out(H, (int)k, (int)s, (int)pad), OW = ir_window_out(W, (int)k, (int)s, (int)pad);
  IrModule *m[2];
  for (int q = 0; q < 2; q++) {
    char text[600];
    snprintf(text, sizeof text,
             "module bench\nfunc forward(%%x: %s[%lld,%lld,%lld,%lld], %%w: %s[%lld,%lld,%lld,%lld]) -> "
             "(%s[%lld,%lld,%lld,%lld]) {\n  %%y = %s %%x, %%w {%sstride=%lld, pad=%lld} : %s[%lld,%lld,%lld,%lld]\n"
             "  return %%y\n}\n",
             q ? "u8" : "f32", (long long)N, (long long)C, (long long)H, (long long)W, q ? "i8" : "f32", (long long)F,
             (long long)C, (long long)k, (long long)k, q ? "i32" : "f32", (long long)N, (long long)F, (long long)OH,
             (long long)OW, q ? "qconv2d" : "conv2d", q ? "value=128, " : "", (long long)s, (long long)pad,
             q ? "i32" : "f32", (long long)N, (long long)F, (long long)OH, (long long)OW);
    if (!(m[q] = t_parse(text))) return 1;
  }
  printf("qconv2d u8[%lld,%lld,%lld,%lld] x i8[%lld,%lld,%lld,%lld] stride %lld pad %lld against f32 conv2d, %d calls "
         "each\n",
         (long long)N, (long long)C, (long long)H, (long long)W, (long long)F, (long long)C, (long long)k, (long long)k,
         (long long)s, (long long)pad, reps);
  int64_t nx = N * C * H * W, nw = F * C * k * k, ny = N * F * OH * OW;
  Run f32 = {.m = m[0], .args = (void *[]){filled(nx, 4, 1), filled(nw, 4, 2), malloc(4 * (size_t)ny)}};
  Run q = {.m = m[1], .args = (void *[]){filled(nx, 1, 1), filled(nw, 1, 2), malloc(4 * (size_t)ny)}};
  return compare(f32, q, reps);
}

int main(int argc, char **argv) {
  hk_parallel_for = nnrt_parallel_for;
  int rc;
  if (argc > 1 && !strcmp(argv[1], "conv")) {
    int64_t a[8] = {64, 1, 28, 28, 32, 3, 1, 1};
    for (int i = 0; i < 8 && i + 2 < argc; i++) a[i] = atoll(argv[i + 2]);
    rc = bench_qconv2d(a, argc > 10 ? atoi(argv[10]) : 50);
  } else {
    rc = bench_qmatmul(argc > 3 ? atoll(argv[1]) : 256, argc > 3 ? atoll(argv[2]) : 784,
                       argc > 3 ? atoll(argv[3]) : 256, argc > 4 ? atoi(argv[4]) : 200);
  }
  t_free_all();
  return rc;
}
