/* gemm_libs.c — nnc's matrix products on each GEMM library, side by side.
 *
 *   build/bench_gemm_libs [--rounds N] [--ms T] [--model NAME]
 *   (bench/gemm_libs.sh runs it; docs/bench.md, "GEMM libraries", has its
 *   tables)
 *
 * Times, in one run, every product shape the examples' training steps call
 * (logged from nnrt_sgemm / nnrt_sgemm_batch at each example's default batch,
 * and the MLP's at batch 256) on OpenBLAS (the runtime's fallback engine,
 * rt_gemm_openblas.c, with whatever OPENBLAS_CORETYPE the environment sets),
 * libxsmm (JIT small-GEMM kernels), BLIS and oneDNN (dnnl_sgemm, through
 * the runtime's oneDNN engine, rt_gemm_onednn.c), on 1 and 2
 * threads. Every library runs single-threaded inside the runtime's own cut
 * of a product into blocks over its pool (rt_sgemm_batch_with, rt_blas.c):
 * what a training binary linked with that library would run. Each round
 * times every library on a shape in turn (in a rotating order, so a noisy
 * neighbour hits all of them alike), each sample a run of calls lasting
 * about --ms milliseconds; the table is the median over --rounds rounds, in
 * GFLOP/s (2*M*N*K*count per call), and a per-model sum of calls/step x
 * median time: the milliseconds per training step each library would spend
 * in GEMMs. Before timing, each library's result is checked against
 * OpenBLAS's.
 * Also measured: this core's FMA peak with AVX2 (ymm) and AVX-512 (zmm),
 * by bench/fma_peak.c, the yardstick of bench/run.sh too. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runtime/nnrt.h"
#include "fma_peak.h"

#ifdef HAVE_LIBXSMM
#include <libxsmm.h>
#endif
#ifdef HAVE_BLIS
#include <blis.h>
#endif
/* The runtime's two engines under their own names (libnnrt.a has both):
 * the OpenBLAS and oneDNN columns time what the binaries run. */
#include "../runtime/rt_gemm.h"

typedef struct Shape {
  const char *model, *what;
  int ta, tb;
  int64_t m, n, k, count; /* count > 1: one nnrt_sgemm_batch call */
  int per_step;           /* calls per training step */
} Shape;

/* The products of each example's train_step, with their calls per step:
 * (ta, tb, M, N, K, count) printed by nnrt_sgemm and nnrt_sgemm_batch
 * (instrumented for the purpose) while each example's binary ran `bench`
 * at its default batch, the MLP's also at 256; products under 50k
 * multiply-adds left out. */
static const Shape shapes[] = {
    {"fashion_mlp (64)", "x@W1", 0, 0, 64, 256, 784, 1, 1},
    {"fashion_mlp (64)", "x^T@dz1", 1, 0, 784, 256, 64, 1, 1},
    {"fashion_mlp (64)", "h@W2", 0, 0, 64, 10, 256, 1, 1},
    {"fashion_mlp (64)", "dz2@W2^T", 0, 1, 64, 256, 10, 1, 1},
    {"fashion_mlp (64)", "h^T@dz2", 1, 0, 256, 10, 64, 1, 1},
    {"fashion_mlp (256)", "x@W1", 0, 0, 256, 256, 784, 1, 1},
    {"fashion_mlp (256)", "x^T@dz1", 1, 0, 784, 256, 256, 1, 1},
    {"fashion_mlp (256)", "h@W2", 0, 0, 256, 10, 256, 1, 1},
    {"fashion_mlp (256)", "dz2@W2^T", 0, 1, 256, 256, 10, 1, 1},
    {"fashion_mlp (256)", "h^T@dz2", 1, 0, 256, 10, 256, 1, 1},
    {"fashion_cnn (64)", "flat@W", 0, 0, 64, 64, 5408, 1, 1},
    {"fashion_cnn (64)", "dz@W^T", 0, 1, 64, 5408, 64, 1, 1},
    {"fashion_cnn (64)", "flat^T@dz", 1, 0, 5408, 64, 64, 1, 1},
    {"fashion_rows_lstm (64)", "step h@Wh", 0, 0, 64, 512, 128, 1, 28},
    {"fashion_rows_lstm (64)", "step dg@Wh^T", 0, 1, 64, 128, 512, 1, 28},
    {"fashion_rows_lstm (64)", "step h^T@dg", 1, 0, 128, 512, 64, 1, 28},
    {"fashion_rows_lstm (64)", "x@Wx (all steps)", 0, 0, 1792, 512, 28, 1, 1},
    {"fashion_rows_lstm (64)", "x^T@dg x28", 1, 0, 28, 512, 64, 28, 1},
    {"fashion_rows_lstm (64)", "h@Wo", 0, 0, 64, 10, 128, 1, 1},
    {"text_lstm (32)", "step h@Wh", 0, 0, 32, 256, 64, 1, 128},
    {"text_lstm (32)", "step dg@Wh^T", 0, 1, 32, 64, 256, 1, 128},
    {"text_lstm (32)", "step h^T@dg", 1, 0, 64, 256, 32, 1, 128},
    {"text_lstm (32)", "x@Wx (all steps)", 0, 0, 2048, 256, 64, 1, 2},
    {"text_lstm (32)", "dg@Wx^T (all steps)", 0, 1, 2048, 64, 256, 1, 2},
    {"text_lstm (32)", "x^T@dg x64", 1, 0, 64, 256, 32, 64, 2},
    {"text_bilstm_dropout (32)", "step h@Wh", 0, 0, 32, 512, 128, 1, 96},
    {"text_bilstm_dropout (32)", "step dg@Wh^T", 0, 1, 32, 128, 512, 1, 96},
    {"text_bilstm_dropout (32)", "step h^T@dg", 1, 0, 128, 512, 32, 1, 96},
    {"text_bilstm_dropout (32)", "step h@Wh (64)", 0, 0, 32, 256, 64, 1, 96},
    {"text_bilstm_dropout (32)", "step dg@Wh^T (64)", 0, 1, 32, 64, 256, 1, 96},
    {"text_bilstm_dropout (32)", "step h^T@dg (64)", 1, 0, 64, 256, 32, 1, 96},
    {"text_bilstm_dropout (32)", "x@Wx (all steps)", 0, 0, 1536, 512, 128, 1, 2},
    {"text_bilstm_dropout (32)", "x@Wx (layer 2)", 0, 0, 1536, 256, 256, 1, 2},
    {"text_bilstm_dropout (32)", "dg@Wx^T (layer 2)", 0, 1, 1536, 256, 256, 1, 2},
    {"text_bilstm_dropout (32)", "dg@Wx^T (all steps)", 0, 1, 1536, 128, 512, 1, 2},
    {"text_bilstm_dropout (32)", "x^T@dg x48", 1, 0, 128, 512, 32, 48, 2},
    {"text_bilstm_dropout (32)", "x^T@dg x48 (layer 2)", 1, 0, 256, 256, 32, 48, 2},
    {"char_gpt (32)", "qkv x@W", 0, 0, 4096, 384, 128, 1, 4},
    {"char_gpt (32)", "proj x@W", 0, 0, 4096, 128, 128, 1, 4},
    {"char_gpt (32)", "mlp up x@W", 0, 0, 4096, 512, 128, 1, 4},
    {"char_gpt (32)", "mlp down x@W", 0, 0, 4096, 128, 512, 1, 4},
    {"char_gpt (32)", "head x@W", 0, 0, 4096, 256, 128, 1, 1},
    {"char_gpt (32)", "qkv dy@W^T", 0, 1, 4096, 128, 384, 1, 4},
    {"char_gpt (32)", "proj dy@W^T", 0, 1, 4096, 128, 128, 1, 4},
    {"char_gpt (32)", "mlp up dy@W^T", 0, 1, 4096, 128, 512, 1, 4},
    {"char_gpt (32)", "mlp down dy@W^T", 0, 1, 4096, 512, 128, 1, 4},
    {"char_gpt (32)", "head dy@W^T", 0, 1, 4096, 128, 256, 1, 1},
    {"char_gpt (32)", "qkv x^T@dy x32", 1, 0, 128, 384, 128, 32, 4},
    {"char_gpt (32)", "proj x^T@dy x32", 1, 0, 128, 128, 128, 32, 4},
    {"char_gpt (32)", "mlp up x^T@dy x32", 1, 0, 128, 512, 128, 32, 4},
    {"char_gpt (32)", "mlp down x^T@dy x32", 1, 0, 512, 128, 128, 32, 4},
    {"char_gpt (32)", "head x^T@dy x32", 1, 0, 128, 256, 128, 32, 1},
    {"char_gpt (32)", "attn P@V x128", 0, 0, 128, 32, 128, 128, 8},
    {"char_gpt (32)", "attn Q@K^T x128", 0, 1, 128, 128, 32, 128, 8},
    {"char_gpt (32)", "attn P^T@dO x128", 1, 0, 128, 32, 128, 128, 8},
    /* Not called by any example: the products an im2col + GEMM convolution
     * would run per sample (count = the batch), to compare with the direct
     * kernels (codegen/cpu/k_window.c; docs/bench.md, "Convolutions").
     * fashion_cnn's conv (1 -> 32 channels, 3x3, 26x26 out) and a second
     * layer of 32 -> 64 channels, 3x3, padding 1, on 14x14
     * (bench/cnn2.nn): forward W@col, weight gradient
     * dy@col^T, input gradient W^T@dy (then a col2im). */
    {"im2col conv1 (64)", "fwd W@col", 0, 0, 32, 676, 9, 64, 1},
    {"im2col conv1 (64)", "dw dy@col^T", 0, 1, 32, 9, 676, 64, 1},
    {"im2col conv2 (64)", "fwd W@col", 0, 0, 64, 196, 288, 64, 1},
    {"im2col conv2 (64)", "dw dy@col^T", 0, 1, 64, 288, 196, 64, 1},
    {"im2col conv2 (64)", "dx W^T@dy", 1, 0, 288, 196, 64, 64, 1},
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

/* ---- the libraries, each as one block's row-major product ---- */

#ifdef HAVE_LIBXSMM
static atomic_long xsmm_fallbacks;                      /* products libxsmm could not JIT */
static int xsmm_fell[sizeof shapes / sizeof shapes[0]]; /* shapes where it did not */

/* libxsmm is column-major: C^T = op(B)^T op(A)^T. Shapes its JIT refuses
 * (libxsmm 1.17: a transposed A) go to libxsmm_sgemm, which calls the
 * BLAS linked (OpenBLAS's sgemm_); they are counted and marked. */
static void xsmm_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  int flags = (tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
  libxsmm_blasint M = (libxsmm_blasint)n, N = (libxsmm_blasint)m, K = (libxsmm_blasint)k;
  libxsmm_blasint LDA = (libxsmm_blasint)ldb, LDB = (libxsmm_blasint)lda, LDC = (libxsmm_blasint)ldc;
  libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &LDA, &LDB, &LDC, &alpha, &beta, &flags, NULL);
  if (f) {
    f(b, a, c);
    return;
  }
  atomic_fetch_add(&xsmm_fallbacks, 1);
  char tA = tb ? 'T' : 'N', tB = ta ? 'T' : 'N';
  libxsmm_sgemm(&tA, &tB, &M, &N, &K, &alpha, b, &LDA, a, &LDB, &beta, c, &LDC);
}
#endif

#ifdef HAVE_BLIS
/* BLIS takes a row and a column stride per operand: row-major as it is. */
static void blis_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &alpha,
            (float *)a, lda, 1, (float *)b, ldb, 1, &beta, c, ldc, 1);
}
#endif

typedef struct Lib {
  const char *name;
  RtGemmKernel kernel;
} Lib;

static const Lib libs[] = {
    {"OpenBLAS", rt_openblas_kernel},
#ifdef HAVE_LIBXSMM
    {"libxsmm", xsmm_kernel},
#endif
#ifdef HAVE_BLIS
    {"BLIS", blis_kernel},
#endif
    {"oneDNN", rt_onednn_kernel},
};
enum { NLIBS = sizeof libs / sizeof libs[0] };

/* ---- timing ---- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct Operands {
  float *a, *b, *c;
} Operands;

static void call(const Lib *l, const Shape *s, const Operands *o) {
  int64_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
  rt_sgemm_batch_with(l->kernel, s->ta, s->tb, s->m, s->n, s->k, 1.0f, o->a, lda, s->m * s->k, o->b, ldb, s->k * s->n,
                      0.0f, o->c, s->n, s->m * s->n, s->count);
}

static double flops(const Shape *s) { return 2.0 * (double)s->m * (double)s->n * (double)s->k * (double)s->count; }

/* Seconds per call: one untimed call, then `reps` timed ones. */
static double sample(const Lib *l, const Shape *s, const Operands *o, int reps) {
  call(l, s, o);
  double t0 = now_s();
  for (int i = 0; i < reps; i++)
    call(l, s, o);
  return (now_s() - t0) / reps;
}

/* Largest |x - ref| relative to the largest |ref| of one product's result. */
static double rel_error(const float *x, const float *ref, int64_t n) {
  double err = 0, big = 1e-30;
  for (int64_t i = 0; i < n; i++) {
    err = fmax(err, fabs((double)x[i] - ref[i]));
    big = fmax(big, fabs((double)ref[i]));
  }
  return err / big;
}

/* ---- the run ---- */

static void print_versions(void) {
  char model[256] = "unknown", line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
      snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = 0;
      break;
    }
  if (f) fclose(f);
  const char *coretype = getenv("OPENBLAS_CORETYPE");
  printf("CPU: %s, %d cores online; AVX2 %s, AVX-512F %s\n", model, rt_online_cores(),
         __builtin_cpu_supports("avx2") ? "yes" : "no", __builtin_cpu_supports("avx512f") ? "yes" : "no");
  Dl_info where = {0};
  dladdr((void *)(uintptr_t)dlsym(RTLD_DEFAULT, "cblas_sgemm"), &where);
  printf("OpenBLAS: %s (OPENBLAS_CORETYPE %s); cblas_sgemm from %s\n", rt_openblas_engine(),
         coretype ? coretype : "not set", where.dli_fname ? where.dli_fname : "?");
#ifdef HAVE_LIBXSMM
  printf("libxsmm: %s, JIT target %s\n", LIBXSMM_VERSION, libxsmm_get_target_arch());
#endif
#ifdef HAVE_BLIS
  printf("BLIS: %s, kernels for %s\n", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()));
#endif
  printf("oneDNN: %s\n", rt_onednn_engine());
}

static void usage(void) {
  fprintf(stderr, "usage: bench_gemm_libs [--rounds N (default 7)] [--ms T (default 10)] [--model NAME]\n");
  exit(2);
}

int main(int argc, char **argv) {
  int rounds = 7;
  double ms = 10;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    char *end = NULL;
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds = (int)strtol(argv[++i], &end, 10);
      if (*end || rounds < 1 || rounds > 1000) usage();
    } else if (!strcmp(argv[i], "--ms") && i + 1 < argc) {
      ms = strtod(argv[++i], &end);
      if (*end || !(ms > 0 && ms <= 10000)) usage();
    } else if (!strcmp(argv[i], "--model") && i + 1 < argc)
      only = argv[++i];
    else
      usage();
  }
  RtError e = {0};
#ifdef HAVE_LIBXSMM
  libxsmm_init();
#endif
#ifdef HAVE_BLIS
  bli_thread_set_num_threads(1);
#endif
  rt_openblas_setup();
  if (!rt_onednn_load()) {
    fprintf(stderr, "bench_gemm_libs: %s; install libdnnl (Debian: apt-get install libdnnl2)\n", rt_onednn_engine());
    return 1;
  }
  if (rt_pool_start(1, &e) < 0) return 1;
  print_versions();

  /* Operands big enough for every shape; random values in [-1, 1). */
  int64_t big = 0;
  for (int s = 0; s < NSHAPES; s++) {
    int64_t sz[3] = {shapes[s].m * shapes[s].k, shapes[s].k * shapes[s].n, shapes[s].m * shapes[s].n};
    for (int i = 0; i < 3; i++)
      if (sz[i] * shapes[s].count > big) big = sz[i] * shapes[s].count;
  }
  Operands o = {aligned_alloc(64, (size_t)big * 4), aligned_alloc(64, (size_t)big * 4),
                aligned_alloc(64, (size_t)big * 4)};
  float *ref = aligned_alloc(64, (size_t)big * 4);
  srand(1);
  for (int64_t i = 0; i < big; i++)
    o.a[i] = (float)rand() / (float)RAND_MAX * 2 - 1, o.b[i] = (float)rand() / (float)RAND_MAX * 2 - 1;

  /* Each library's result against OpenBLAS's (libs[0]). */
  int bad = 0;
  for (int s = 0; s < NSHAPES; s++) {
    const Shape *sh = &shapes[s];
    int64_t nc = sh->m * sh->n * sh->count;
    call(&libs[0], sh, &o);
    memcpy(ref, o.c, (size_t)nc * 4);
    for (int l = 1; l < NLIBS; l++) {
      memset(o.c, 0xff, (size_t)nc * 4); /* NaNs: a block left unwritten shows */
#ifdef HAVE_LIBXSMM
      long fell = atomic_load(&xsmm_fallbacks);
      call(&libs[l], sh, &o);
      if (libs[l].kernel == xsmm_kernel && atomic_load(&xsmm_fallbacks) > fell) xsmm_fell[s] = 1;
#else
      call(&libs[l], sh, &o);
#endif
      double err = rel_error(o.c, ref, nc);
      if (!(err < 1e-5)) {
        printf("MISMATCH: %s on %s %s: relative error %g against OpenBLAS\n", libs[l].name, sh->model, sh->what, err);
        bad = 1;
      }
    }
  }
  if (bad) return 1;

  /* The peak while the pool has no workers (1 thread): nothing else runs. */
  bool zmm = fma_peak_supported(FMA_AVX512);
  double peak[2][2] = {{0}}; /* [FMA_AVX2, FMA_AVX512][threads - 1] */
  for (int threads = 1; threads <= 2; threads++)
    for (FmaIsa isa = FMA_AVX2; isa <= FMA_AVX512; isa++)
      if (fma_peak_supported(isa)) peak[isa][threads - 1] = fma_peak_gflops(isa, threads);
  static double t[2][NSHAPES][8][1000]; /* [threads - 1][shape][lib][round] */
  for (int threads = 1; threads <= 2; threads++) {
    if (rt_pool_start(threads, &e) < 0) return 1;
    for (int r = 0; r < rounds; r++)
      for (int s = 0; s < NSHAPES; s++) {
        if (only && strncmp(shapes[s].model, only, strlen(only))) continue;
        /* about `ms` per sample at 50 GFLOP/s per thread */
        int reps = (int)fmax(1, fmin(100000, ms * 1e-3 * 50e9 * threads / flops(&shapes[s])));
        for (int l = 0; l < NLIBS; l++) { /* a rotating order: none always runs first */
          int li = (l + r) % NLIBS;
          t[threads - 1][s][li][r] = sample(&libs[li], &shapes[s], &o, reps);
        }
      }
    rt_pool_stop();
  }

  printf("\nFMA peak (measured, GFLOP/s): AVX2 %.1f (1 thread) %.1f (2 threads)", peak[0][0], peak[0][1]);
  if (zmm) printf("; AVX-512 %.1f (1 thread) %.1f (2 threads)", peak[1][0], peak[1][1]);
  printf("\n\nGFLOP/s, median of %d alternating rounds (1 thread / 2 threads); * best at 1 thread\n\n", rounds);
  printf("| model (batch) | product | ta tb M N K (xcount) | calls/step |");
  for (int l = 0; l < NLIBS; l++)
    printf(" %s |", libs[l].name);
  printf("\n|---|---|---|---|");
  for (int l = 0; l < NLIBS; l++)
    printf("---|");
  printf("\n");
  double med[2][NSHAPES][8];
  for (int s = 0; s < NSHAPES; s++) {
    const Shape *sh = &shapes[s];
    if (only && strncmp(sh->model, only, strlen(only))) continue;
    for (int th = 0; th < 2; th++)
      for (int l = 0; l < NLIBS; l++) {
        double v[1000];
        memcpy(v, t[th][s][l], sizeof(double) * (size_t)rounds);
        qsort(v, (size_t)rounds, sizeof *v, cmp_double);
        med[th][s][l] = v[rounds / 2];
      }
    int best = 0;
    for (int l = 1; l < NLIBS; l++)
      if (med[0][s][l] < med[0][s][best]) best = l;
    printf("| %s | %s | %d %d %lld %lld %lld", sh->model, sh->what, sh->ta, sh->tb, (long long)sh->m, (long long)sh->n,
           (long long)sh->k);
    if (sh->count > 1) printf(" x%lld", (long long)sh->count);
    printf(" | %d |", sh->per_step);
    for (int l = 0; l < NLIBS; l++) {
      printf(" %s%.1f / %.1f", l == best ? "*" : "", flops(sh) / med[0][s][l] / 1e9, flops(sh) / med[1][s][l] / 1e9);
#ifdef HAVE_LIBXSMM
      if (libs[l].kernel == xsmm_kernel && xsmm_fell[s]) printf(" (BLAS)");
#endif
      printf(" |");
    }
    printf("\n");
  }

  printf("\nGEMM time per training step (sum of calls/step x median), ms, 1 thread / 2 threads\n\n");
  printf("| model (batch) |");
  for (int l = 0; l < NLIBS; l++)
    printf(" %s |", libs[l].name);
  printf("\n|---|");
  for (int l = 0; l < NLIBS; l++)
    printf("---|");
  printf("\n");
  for (int s0 = 0; s0 < NSHAPES;) {
    int s1 = s0;
    while (s1 < NSHAPES && !strcmp(shapes[s1].model, shapes[s0].model))
      s1++;
    if (!only || !strncmp(shapes[s0].model, only, strlen(only))) {
      printf("| %s |", shapes[s0].model);
      for (int l = 0; l < NLIBS; l++) {
        double sum[2] = {0, 0};
        for (int s = s0; s < s1; s++)
          for (int th = 0; th < 2; th++)
            sum[th] += shapes[s].per_step * med[th][s][l];
        printf(" %.3f / %.3f |", sum[0] * 1e3, sum[1] * 1e3);
      }
      printf("\n");
    }
    s0 = s1;
  }
#ifdef HAVE_LIBXSMM
  printf("\n(BLAS): libxsmm has no JIT kernel for that shape; libxsmm_sgemm ran it on the BLAS linked (OpenBLAS)\n");
#endif
  free(o.a), free(o.b), free(o.c), free(ref);
  return 0;
}
