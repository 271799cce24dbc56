/* fma_peak.c — the machine's measured f32 FMA peak, the yardstick bench/run.sh
 * holds GEMM-bound training steps against (bench/results.md).
 *
 * Each thread runs CHAINS independent chains of fused multiply-adds on full
 * vector registers: AVX2 (8 floats, OpenBLAS's Haswell kernels' ISA) and,
 * where the CPU has it, AVX-512 (16 floats, what `nnc build --cpu=native`
 * generates on such a CPU). With more chains than the FMA latency times the
 * FMA ports (4 cycles x 2 ports on current x86), the units never wait on a
 * result, so the rate is the issue limit: the peak no real kernel exceeds.
 * 12 chains and the two constants fit AVX2's 16 vector registers (16 chains
 * would spill, and measure the stores).
 * The figure is the best of REPEATS runs of about 0.1 s (a shared machine's
 * neighbours only ever slow a run down), counting 2 FLOPs per lane per FMA.
 *
 *   cc -O2 -pthread bench/fma_peak.c -o fma_peak && ./fma_peak [max_threads]
 *
 * prints one line per ISA and thread count: `fma_peak <isa> <threads> <GFLOP/s>`.
 * Compiled with FMA_PEAK_NO_MAIN it is the measurement alone (fma_peak.h),
 * which build/bench_gemm_libs links (bench/gemm_libs.cmake).
 */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fma_peak.h"

enum { CHAINS = 12, REPEATS = 5 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The chains are named variables, not an array: a compiler keeps an array of
 * vectors in memory unless it unrolls the loop, and a load and a store per
 * FMA would measure the cache instead. CHAIN_BODY is the one loop both ISAs
 * run, on the vector type and intrinsics the including function defines. */
#define CHAINS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define CHAIN_INIT(c) VEC acc##c = SET1((float)(c + 1));
#define CHAIN_STEP(c) acc##c = FMADD(acc##c, a, b);
#define CHAIN_SUM(c) s = ADD(s, acc##c);
#define CHAIN_BODY                                                                                                    \
  const VEC a = SET1(0.9999999f), b = SET1(1e-7f);                                                                    \
  CHAINS12(CHAIN_INIT)                                                                                                \
  for (long i = 0; i < iters; i++) {                                                                                  \
    CHAINS12(CHAIN_STEP)                                                                                              \
  }                                                                                                                   \
  VEC s = SET1(0.0f);                                                                                                 \
  CHAINS12(CHAIN_SUM)

/* Each returns a value that depends on every FMA, so none can be dropped. */
__attribute__((target("avx2,fma"))) static float chains_avx2(long iters) {
#define VEC __m256
#define SET1 _mm256_set1_ps
#define FMADD _mm256_fmadd_ps
#define ADD _mm256_add_ps
  CHAIN_BODY
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
#undef VEC
#undef SET1
#undef FMADD
#undef ADD
}

__attribute__((target("avx512f"))) static float chains_avx512(long iters) {
#define VEC __m512
#define SET1 _mm512_set1_ps
#define FMADD _mm512_fmadd_ps
#define ADD _mm512_add_ps
  CHAIN_BODY
  return _mm512_reduce_add_ps(s);
#undef VEC
#undef SET1
#undef FMADD
#undef ADD
}

typedef struct {
  float (*fn)(long);
  long iters;
  float result;
  pthread_barrier_t *start;
} Job;

static void *worker(void *arg) {
  Job *j = arg;
  pthread_barrier_wait(j->start);
  j->result = j->fn(j->iters);
  return NULL;
}

/* Seconds for `threads` threads to each run fn(iters), from a common start. */
static double timed(float (*fn)(long), long iters, int threads) {
  pthread_t tid[64];
  Job jobs[64];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  for (int t = 0; t < threads; t++) {
    jobs[t] = (Job){fn, iters, 0, &start};
    if (pthread_create(&tid[t], NULL, worker, &jobs[t])) {
      perror("pthread_create");
      exit(1);
    }
  }
  pthread_barrier_wait(&start);
  double t0 = now();
  volatile float sink = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    sink += jobs[t].result;
  }
  double secs = now() - t0;
  (void)sink;
  pthread_barrier_destroy(&start);
  return secs;
}

int fma_peak_supported(FmaIsa isa) {
  __builtin_cpu_init();
  if (isa == FMA_AVX512) return __builtin_cpu_supports("avx512f");
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const char *fma_peak_isa_name(FmaIsa isa) { return isa == FMA_AVX512 ? "avx512" : "avx2"; }

double fma_peak_gflops(FmaIsa isa, int threads) {
  if (threads < 1 || threads > 64) { /* timed()'s arrays */
    fprintf(stderr, "fma_peak: %d threads, not 1..64\n", threads);
    exit(2);
  }
  float (*fn)(long) = isa == FMA_AVX512 ? chains_avx512 : chains_avx2;
  int lanes = isa == FMA_AVX512 ? 16 : 8;
  long iters = 1 << 16;
  while (timed(fn, iters, 1) < 0.05 && iters < (1L << 40))
    iters *= 2; /* about 0.1 s a run */
  double best = 0;
  for (int r = 0; r < REPEATS; r++) {
    double secs = timed(fn, iters, threads);
    double gflops = 2.0 * lanes * CHAINS * (double)iters * threads / secs * 1e-9;
    if (gflops > best) best = gflops;
  }
  return best;
}

#ifndef FMA_PEAK_NO_MAIN
int main(int argc, char **argv) {
  int max_threads = argc > 1 ? atoi(argv[1]) : 2;
  if (argc > 2 || max_threads < 1 || max_threads > 64) {
    fprintf(stderr, "usage: fma_peak [max_threads (1..64, default 2)]\n");
    return 2;
  }
  if (!fma_peak_supported(FMA_AVX2)) {
    fprintf(stderr, "fma_peak: this CPU has no AVX2 with FMA\n");
    return 1;
  }
  for (int t = 1; t <= max_threads; t++)
    for (FmaIsa isa = FMA_AVX2; isa <= FMA_AVX512; isa++)
      if (fma_peak_supported(isa)) {
        printf("fma_peak %s %d %.1f\n", fma_peak_isa_name(isa), t, fma_peak_gflops(isa, t));
        fflush(stdout);
      }
  return 0;
}
#endif
