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
 * a product is cut here into blocks (of C, or of K) that depend only on
 * (M, N, K) and the operands' layout — never on the thread count — each
 * computed by its own engine call (rt_gemm_kernel: cblas_sgemm by
 * default) on the runtime's pool. Every element of C is then computed by
 * the same kernel calls with the same operands, added in the same order,
 * whatever the thread count: bitwise the same result.
 *
 * The cut slices the largest of A, B and C along its stored rows: C's rows
 * (M), A's (M, or K when A is stored transposed) or B's (K, or N when B is
 * stored transposed). Those are the contiguous stretches an elementwise
 * kernel's chunks and the optimizer's update cover (rt_pool.c cuts every
 * loop into the threads' contiguous shares), so each thread reads and
 * writes the same share of a weight in its forward product, its gradient's
 * product and its update. On a machine whose cores share no cache that
 * matters more than anything else: the MLP's forward product
 * [64,784]x[784,256] cut along N (the rule before this one) had each core
 * read half of every row of the weight that the other core had just
 * updated, and the update then pulled the lines back; the step on 2
 * threads was no faster than on 1. Slicing B's rows is a cut along K, in
 * two halves (exactly at K / 2, where the update's shares meet), each
 * cut further along the larger of M and N: the first half's blocks write
 * C, the second's a partial product in scratch, added to C by a second
 * loop over C's rows (which also runs the epilogue), so the result still
 * depends only on the shape. It is taken only while C, the partial
 * product's size, is at most half the matrix it keeps in place (at batch
 * 256 the MLP's forward product cut along K took 0.03 ms longer and its
 * weight's update 0.02 less; there x, as large as the weight and listed
 * first among equals, gets the cut along M). Where the largest matrix's
 * rows give one block (or its K cut too large a partial product), the
 * next largest is sliced; where none can be, the cut is along the larger
 * of M and N (a block repacks the whole of the other operand, so cutting
 * the larger side repacks the least).
 *
 * Blocks: at most GEMM_MAX_BLOCKS of at least GEMM_MIN_SIDE rows/columns
 * and GEMM_MIN_MACS multiply-adds, boundaries on multiples of 16 (OpenBLAS's
 * widest register tile). The constants trade parallelism for repacking:
 * on 2 cores, the MLP's two large products ([64,784]x[784,256] and its
 * weight gradient) ran 5-20% faster in 2 and 6 blocks than in 8 (6 is
 * now 4: block counts are powers of two).
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define GEMM_MAX_BLOCKS 8
#define GEMM_MIN_SIDE 128
#define GEMM_MIN_MACS ((int64_t)1 << 20)
#define GEMM_EP_K 32
#define GEMM_SUM_GRAIN 4096 /* elements of C per chunk of the K cut's sum */

typedef struct Gemm {
  RtGemmKernel kernel;
  int ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  const float *a, *b;
  float *c;
  RtGemmCut cut;
  int64_t side, nblocks;
  int64_t sub;     /* the K cut: blocks per half of K, along the larger of M and N */
  int sub_rows;    /* ... of C's rows (else of its columns) */
  float *part;     /* the K cut: the second half's partial product, m x n */
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
  /* A power of two, so that 2, 4 or 8 threads get equal shares (3 blocks
   * on 2 threads: one thread computes two, and a block of the rows the
   * other one owns). */
  while (nb & (nb - 1)) nb &= nb - 1;
  return nb < 1 ? 1 : nb;
}

/* The cut along the larger of M and N. */
static int64_t mn_cut(int64_t m, int64_t n, int64_t kk, RtGemmCut *cut) {
  *cut = m >= n ? RT_CUT_M : RT_CUT_N;
  return blocks_along(m >= n ? m : n, m, n, kk);
}

/* A matrix of the product and the cut along its stored rows. */
typedef struct Operand {
  double size;
  RtGemmCut cut;
} Operand;

int64_t rt_gemm_cut(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t extra_k, RtGemmCut *cut) {
  /* C, A, B, then sorted largest first (C first among equals). */
  Operand mat[3] = {{(double)m * (double)n, RT_CUT_M},
                    {(double)m * (double)k, ta ? RT_CUT_K : RT_CUT_M},
                    {(double)k * (double)n, tb ? RT_CUT_N : RT_CUT_K}};
  for (int i = 1; i < 3; i++)
    for (int j = i; j > 0 && mat[j].size > mat[j - 1].size; j--) {
      Operand t = mat[j];
      mat[j] = mat[j - 1], mat[j - 1] = t;
    }
  for (int i = 0; i < 3; i++) {
    RtGemmCut c = mat[i].cut;
    int64_t nb = blocks_along(c == RT_CUT_M ? m : c == RT_CUT_N ? n : k, m, n, k + extra_k);
    if (nb < 2) continue;
    /* A K cut writes and sums a partial product the size of C: worth it
     * only while C is small beside the matrix it keeps in place. */
    if (c == RT_CUT_K && (double)m * (double)n > mat[i].size / 2) continue;
    if (c == RT_CUT_K) {
      /* Two halves of K, each in nb / 2 blocks of at least GEMM_MIN_SIDE
       * rows or columns: each block repacks its half of the other operand
       * (the CNN's [64,5408]x[5408,64] in 8 blocks of 16 rows took 5% more
       * of its 1-thread step than in 2 halves). */
      int64_t side = m >= n ? m : n;
      while (nb > 2 && side / (nb / 2) < GEMM_MIN_SIDE) nb /= 2;
    }
    *cut = c;
    return nb;
  }
  return mn_cut(m, n, k + extra_k, cut);
}

/* Part i of parts along a side of `side`: [part_start(i), part_start(i + 1)),
 * boundaries on multiples of 16 (OpenBLAS's widest register tile). */
static int64_t part_start(int64_t side, int64_t parts, int64_t i) {
  return i >= parts ? side : side * i / parts / 16 * 16;
}

static void block(const Gemm *g, int64_t i) {
  const float *a = g->a, *b = g->b;
  float *c = g->c;
  int64_t m = g->m, n = g->n, k = g->k, ldc = g->ldc, lo = 0, hi = 0;
  float beta = g->beta;
  RtGemmCut cut = g->cut;
  if (cut == RT_CUT_K) {
    /* Half i / sub of K (exactly: the halves of a weight's rows are the
     * threads' shares of its update), block i % sub of it along M or N. */
    int64_t h = i / g->sub, k0 = h ? g->k / 2 : 0, k1 = h ? g->k : g->k / 2;
    a += g->ta ? k0 * g->lda : k0;
    b += g->tb ? k0 : k0 * g->ldb;
    k = k1 - k0;
    if (h) c = g->part, ldc = n, beta = 0;
    i %= g->sub;
    cut = g->sub_rows ? RT_CUT_M : RT_CUT_N;
    lo = part_start(g->sub_rows ? m : n, g->sub, i), hi = part_start(g->sub_rows ? m : n, g->sub, i + 1);
  } else {
    lo = part_start(g->side, g->nblocks, i), hi = part_start(g->side, g->nblocks, i + 1);
  }
  if (cut == RT_CUT_M) { /* rows lo..hi of op(A) and of C */
    a += g->ta ? lo : lo * g->lda;
    c += lo * ldc;
    m = hi - lo;
  } else { /* columns lo..hi of op(B) and of C */
    b += g->tb ? lo * g->ldb : lo;
    c += lo;
    n = hi - lo;
  }
  g->kernel(g->ta, g->tb, m, n, k, g->alpha, a, g->lda, b, g->ldb, beta, c, ldc);
  if (!g->ep || g->cut == RT_CUT_K) return;
  if (cut == RT_CUT_M) g->ep(g->ep_ctx, lo, hi, 0, g->n);
  else g->ep(g->ep_ctx, 0, g->m, lo, hi);
}

/* The K cut's second loop, over the rows of every product of a batch
 * (count * m; one product: m): C's row plus the partial product's, then
 * the epilogue on those rows. */
typedef struct SumParts {
  const Gemm *g;
  int64_t stride_c; /* between the products' Cs */
} SumParts;

static void sum_parts(void *ctx, int64_t lo, int64_t hi) {
  const SumParts *s = ctx;
  const Gemm *g = s->g;
  for (int64_t row = lo; row < hi; row++) {
    int64_t prod = row / g->m, r = row % g->m;
    float *c = g->c + prod * s->stride_c + r * g->ldc;
    const float *q = g->part + (prod * g->m + r) * g->n;
    for (int64_t j = 0; j < g->n; j++)
      c[j] += q[j];
  }
  if (g->ep) g->ep(g->ep_ctx, lo, hi, 0, g->n); /* only a single product has one */
}

/* The K cut's partial products: a buffer per thread that grows to the
 * largest product it has held (freed when the thread exits). */
static pthread_key_t g_part_key;
static pthread_once_t g_part_once = PTHREAD_ONCE_INIT;

typedef struct PartBuf {
  float *p;
  int64_t n;
} PartBuf;

static void part_free(void *v) {
  PartBuf *b = v;
  free(b->p);
  free(b);
}

static void part_key(void) {
  if (pthread_key_create(&g_part_key, part_free) != 0) {
    fprintf(stderr, "error: cannot create the GEMM scratch key\n");
    _Exit(RT_EXIT_FAIL);
  }
}

static float *part_scratch(int64_t n) {
  pthread_once(&g_part_once, part_key);
  PartBuf *b = pthread_getspecific(g_part_key);
  if (!b) {
    b = calloc(1, sizeof *b);
    if (!b || pthread_setspecific(g_part_key, b) != 0) goto oom;
  }
  if (b->n < n) {
    float *p = realloc(b->p, sizeof(float) * (size_t)n);
    if (!p) goto oom;
    b->p = p, b->n = n;
  }
  return b->p;
oom:
  fprintf(stderr, "error: out of memory for a matrix product's %lld partial sums\n", (long long)n);
  fflush(stderr);
  _Exit(RT_EXIT_FAIL);
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
  Gemm g = {kernel, ta != 0, tb != 0, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c, RT_CUT_M, 0, 0, 0, 0, NULL, ep, ctx};
  int64_t extra_k = ep ? GEMM_EP_K : 0;
  if (ep && whole_columns) g.cut = RT_CUT_N, g.nblocks = blocks_along(n, m, n, k + extra_k);
  else g.nblocks = rt_gemm_cut(ta, tb, m, n, k, extra_k, &g.cut);
  g.side = g.cut == RT_CUT_M ? m : g.cut == RT_CUT_N ? n : k;
  g.sub = g.nblocks / 2, g.sub_rows = m >= n;
  return g;
}

/* Sums a K cut's partial products into the count products' Cs. */
static void sum_all_parts(const Gemm *g, int64_t count, int64_t stride_c) {
  SumParts s = {g, stride_c};
  nnrt_parallel_for(sum_parts, &s, count * g->m, (GEMM_SUM_GRAIN + g->n - 1) / g->n);
}

/* Scratch for count products' partials, when the cut is along K. */
static void take_parts(Gemm *g, int64_t count) {
  if (g->cut != RT_CUT_K) return;
  int64_t n;
  if (rt_mul64(g->m, g->n, &n) || rt_mul64(n, count, &n)) n = INT64_MAX;
  g->part = part_scratch(n);
}

void nnrt_sgemm_ep(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc, NnrtEpilogue ep, void *ctx,
                   int32_t whole_columns) {
  Gemm g = plan(rt_gemm_kernel, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, ctx, whole_columns);
  if (m == 0 || n == 0) return;
  take_parts(&g, 1);
  nnrt_parallel_for(blocks, &g, g.nblocks, 1);
  if (g.cut == RT_CUT_K) sum_all_parts(&g, 1, 0);
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
    if (g.part) g.part += i * g.m * g.n;
    block(&g, t % g.nblocks);
  }
}

void rt_sgemm_batch_with(RtGemmKernel kernel, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b,
                         float beta, float *c, int64_t ldc, int64_t stride_c, int64_t count) {
  Batch bt = {plan(kernel, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, NULL, 0), stride_a,
              stride_b, stride_c};
  int64_t tasks;
  if (m == 0 || n == 0 || count <= 0) return;
  if (rt_mul64(count, bt.g.nblocks, &tasks)) tasks = INT64_MAX; /* unreachable: count is a tensor's matrices */
  take_parts(&bt.g, count);
  nnrt_parallel_for(batch_blocks, &bt, tasks, 1);
  if (bt.g.cut == RT_CUT_K) sum_all_parts(&bt.g, count, stride_c);
}

void nnrt_sgemm_batch(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b, float beta, float *c,
                      int64_t ldc, int64_t stride_c, int64_t count) {
  rt_sgemm_batch_with(rt_gemm_kernel, ta, tb, m, n, k, alpha, a, lda, stride_a, b, ldb, stride_b, beta, c, ldc,
                      stride_c, count);
}
