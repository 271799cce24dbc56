/* rt_blas.c — nnrt_sgemm and nnrt_sgemm_ep, the GEMM entry points of
 * generated code.
 *
 * Why not let generated code call cblas_sgemm and OpenBLAS thread it:
 *   - reproducibility: OpenBLAS splits a product differently for each thread
 *     count and the rounding follows the split, so `--threads 2` trained to other weights than `--threads 1` (measured:
 *     2737 of dense_1.w's 200704 values differed after one step);
 *   - speed: OpenBLAS's threads are a second pool that spins next to ours
 *     (2 cores, 3 busy threads), and it does not split the weight-gradient
 *     shape [784,64]x[64,256] at all: with 2 threads the MLP step was slower
 *     than with 1.
 * So OpenBLAS (or another engine) runs single-threaded (rt_gemm_setup) and
 * a product is cut here into blocks of C that depend only on (M, N, K) —
 * never on the thread count — each computed by its own engine call
 * (rt_gemm_kernel: cblas_sgemm by default) on the runtime's pool.
 * Every element of C is then computed by the same kernel call with the same
 * operands whatever the thread count: bitwise the same result.
 *
 * The cut: along the larger of M and N (a block repacks the whole of the
 * other operand, so cutting the larger side repacks the least), into at most
 * GEMM_MAX_BLOCKS blocks of at least GEMM_MIN_SIDE rows/columns and
 * GEMM_MIN_MACS multiply-adds, boundaries on multiples of 16 (OpenBLAS's
 * widest register tile). The constants trade parallelism for repacking:
 * on 2 cores, the MLP's two large products ([64,784]x[784,256] and its
 * weight gradient) ran 5-20% faster in 2 and 6 blocks than in 8.
 *
 * Epilogues (nnrt_sgemm_ep): each block's task calls the epilogue on the
 * block right after its cblas_sgemm, so a fused bias + activation reads the
 * block back from cache instead of making its own pass over C. The cut
 * counts the epilogue as GEMM_EP_K more multiply-adds per element of C: a
 * product with a short K (the ReLU gradient's dz2 @ w^T, K = 10 classes)
 * would otherwise be one block, and its epilogue, which ran as a parallel
 * loop of its own before fusion, would run on one thread. An epilogue that
 * sums over C's rows (a bias gradient, whole_columns) gets blocks of whole
 * columns, cut by the same rule along N alone, so that no two blocks add
 * to one column sum. The cut still depends only on the shape and on the
 * kind of epilogue.
 *
 * Kernels: each block is one call of rt_gemm_kernel, the engine the binary
 * links (rt_gemm_openblas.c by default; nnc build --gemm=<engine> picks
 * another, rt_gemm_<engine>.c); bench/gemm_libs.c times every engine
 * through this same cut with rt_sgemm_batch_with. */
#include "nnrt.h"
#include <stdio.h>
#include <stdlib.h>

#define GEMM_MAX_BLOCKS 8
#define GEMM_MIN_SIDE 128
#define GEMM_MIN_MACS ((int64_t)1 << 20)
#define GEMM_EP_K 32

typedef struct Gemm {
  RtGemmKernel kernel;
  int ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *a, *b;
  float *c;
  int by_rows; /* blocks of C's rows (else of its columns) */
  int64_t side, nblocks;
  NnrtEpilogue ep; /* or NULL */
  void *ep_ctx;
} Gemm;

/* Blocks along `side` (a dim of C) for a product of m*n*k multiply-adds. */
static int64_t blocks_along(int64_t side, int64_t m, int64_t n, int64_t k) {
  int64_t macs;
  if (rt_mul64(m, n, &macs) || rt_mul64(macs, k, &macs)) macs = INT64_MAX;
  int64_t nb = side / GEMM_MIN_SIDE;
  if (nb > macs / GEMM_MIN_MACS) nb = macs / GEMM_MIN_MACS;
  if (nb > GEMM_MAX_BLOCKS) nb = GEMM_MAX_BLOCKS;
  return nb < 1 ? 1 : nb;
}

int64_t rt_gemm_blocks(int64_t m, int64_t n, int64_t k, int *by_rows) {
  if (by_rows) *by_rows = m >= n;
  return blocks_along(m >= n ? m : n, m, n, k);
}

/* Block i covers [start(i), start(i + 1)) of the cut side. */
static int64_t block_start(const Gemm *g, int64_t i) {
  return i >= g->nblocks ? g->side : g->side * i / g->nblocks / 16 * 16;
}

static void block(const Gemm *g, int64_t i) {
  int64_t lo = block_start(g, i), hi = block_start(g, i + 1);
  const float *a = g->a, *b = g->b;
  int64_t m = g->m, n = g->n;
  if (g->by_rows) { /* rows lo..hi of op(A) and of C */
    a += g->ta ? lo : lo * g->lda;
    m = hi - lo;
  } else { /* columns lo..hi of op(B) and of C */
    b += g->tb ? lo * g->ldb : lo;
    n = hi - lo;
  }
  float *c = g->c + (g->by_rows ? lo * g->ldc : lo);
  g->kernel(g->ta, g->tb, m, n, g->k, g->alpha, a, g->lda, b, g->ldb, g->beta, c, g->ldc);
  if (!g->ep) return;
  if (g->by_rows) g->ep(g->ep_ctx, lo, hi, 0, g->n);
  else g->ep(g->ep_ctx, 0, g->m, lo, hi);
}

static void blocks(void *ctx, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; i++)
    block(ctx, i);
}

void nnrt_sgemm(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  nnrt_sgemm_ep(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, NULL, 0);
}

/* The product's shape, checked against the engines' 32-bit sizes, and its
 * cut into blocks. */
static Gemm plan(RtGemmKernel kernel, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                 NnrtEpilogue ep, void *ctx, int32_t whole_columns) {
  const int64_t dims[6] = {m, n, k, lda, ldb, ldc};
  for (int i = 0; i < 6; i++)
    if (dims[i] < 0 || dims[i] > INT32_MAX) {
      /* OpenBLAS takes 32-bit ints; this is far past any shape nnc plans. */
      fprintf(stderr, "error: matrix product %lld x %lld x %lld is too large for the GEMM engine's 32-bit sizes\n",
              (long long)m, (long long)n, (long long)k);
      fflush(stderr);
      _Exit(RT_EXIT_FAIL);
    }
  Gemm g = {kernel, ta != 0, tb != 0, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c, 0, 0, 0, ep, ctx};
  int64_t kk = ep ? k + GEMM_EP_K : k;
  if (ep && whole_columns) g.by_rows = 0, g.nblocks = blocks_along(n, m, n, kk);
  else g.nblocks = rt_gemm_blocks(m, n, kk, &g.by_rows);
  g.side = g.by_rows ? m : n;
  return g;
}

void nnrt_sgemm_ep(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc, NnrtEpilogue ep, void *ctx,
                   int32_t whole_columns) {
  Gemm g = plan(rt_gemm_kernel, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, ctx, whole_columns);
  if (m == 0 || n == 0) return;
  nnrt_parallel_for(blocks, &g, g.nblocks, 1);
}

/* A batch: task t is block t % nblocks of product t / nblocks. */
typedef struct Batch {
  Gemm g; /* product 0 */
  int64_t sa, sb, sc;
} Batch;

static void batch_blocks(void *ctx, int64_t lo, int64_t hi) {
  const Batch *bt = ctx;
  for (int64_t t = lo; t < hi; t++) {
    Gemm g = bt->g;
    int64_t i = t / g.nblocks;
    g.a += i * bt->sa, g.b += i * bt->sb, g.c += i * bt->sc;
    block(&g, t % g.nblocks);
  }
}

void rt_sgemm_batch_with(RtGemmKernel kernel, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b,
                         float beta, float *c, int64_t ldc, int64_t stride_c, int64_t count) {
  Batch bt = {plan(kernel, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, NULL, 0), stride_a, stride_b,
              stride_c};
  int64_t tasks;
  if (m == 0 || n == 0 || count <= 0) return;
  if (rt_mul64(count, bt.g.nblocks, &tasks)) tasks = INT64_MAX; /* unreachable: count is a tensor's matrices */
  nnrt_parallel_for(batch_blocks, &bt, tasks, 1);
}

void nnrt_sgemm_batch(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                      int64_t ldc, int64_t stride_c, int64_t count) {
  rt_sgemm_batch_with(rt_gemm_kernel, ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc,
                      stride_c, count);
}
