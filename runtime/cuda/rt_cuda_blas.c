/* rt_cuda_blas.c — nnrt_cu_sgemm, nnrt_cu_sgemm_batch and nnrt_cu_sgemm_ep
 * (nnrt_abi.h) on cuBLASLt, loaded with dlopen (libcublasLt.so.13).
 *
 * The ABI's products are row-major; cuBLASLt's are column-major. A row-major
 * m x n matrix with row stride ld is the column-major n x m matrix with
 * leading dimension ld, its transpose, so C = op(A) op(B) is computed as
 * C^T = op(B)^T op(A)^T: cuBLASLt's first operand is B (transposed when tb
 * says so), its second A, and its result n x m: no data moves.
 *
 * CUBLAS_COMPUTE_32F: f32 products with f32 accumulation, which match the
 * CPU backend within f32 rounding; TF32 tensor cores (fewer mantissa bits)
 * only when the binary was built with --tf32 (NnrtCuda.tf32).
 *
 * cuBLASLt's heuristic assumes 256-byte aligned matrices unless told
 * otherwise, and the runtime's buffers are 64-byte aligned slices (views
 * and batch strides less), so each product tells it the alignment its
 * pointers and strides have.
 *
 * nnrt_cu_sgemm_ep's epilogues (NNRT_CU_EP_*) are cuBLASLt's own
 * (CUBLASLT_MATMUL_DESC_EPILOGUE, the same numbers): in the transposed view
 * above, the ABI's bias per column of C is cuBLASLt's bias per row of D (its
 * length is D's rows, n), the ABI's aux with row stride ldaux is cuBLASLt's
 * column-major aux with leading dimension ldaux (bits for ReLU's mask,
 * floats for GELU's input), and a bias gradient summed down C's columns is
 * cuBLASLt's sum along D's rows: no data moves for them either. The bias
 * and aux pointers change from call to call, so they are set on the kept
 * descriptor before each cublasLtMatmul (a host-side write, fine while a
 * graph is captured); the heuristic reads their alignment, which is part of
 * the key.
 *
 * A product's descriptors and algorithm depend only on its shape,
 * epilogue and those alignments, so they are made once per shape and kept (PLANS of them, the oldest replaced):
 * a step's products then cost one cublasLtMatmul each, and none of the
 * host-side setup happens while a CUDA Graph is being captured, since the
 * first run of a step is never captured (rt_cuda_graph.c). */
#define _POSIX_C_SOURCE 200809L
#include "rt_cuda.h"
#include <dlfcn.h>
#include <string.h>

enum { PLANS = 64 };
#define LT_WORKSPACE ((size_t)32 << 20) /* NVIDIA's advice for Hopper */

typedef struct Shape {
  int32_t ta, tb;
  int64_t m, n, k, lda, ldb, ldc, sa, sb, sc, count;
  uint32_t align_a, align_b, align_c, pad; /* bytes, powers of two up to 256 */
  int32_t ep;                              /* NNRT_CU_EP_*, 0: none */
  uint32_t align_bias, align_aux;          /* as align_a, of nnrt_cu_sgemm_ep's vectors */
  int32_t pad2;
  int64_t ldaux;
} Shape;

/* The alignment of a matrix at p whose batch members are stride elements
 * apart: the largest power of two up to 256 dividing both. */
static uint32_t alignment(const void *p, int64_t stride) {
  uint64_t bits = (uint64_t)(uintptr_t)p | (uint64_t)stride * sizeof(float) | 256;
  return (uint32_t)(bits & (~bits + 1));
}

typedef struct Plan {
  Shape key;
  int used;
  RtLtMatmulDesc desc;
  RtLtMatrixLayout a, b, c; /* cuBLASLt's first operand (our B), second (our A), result */
  RtLtMatmulAlgo algo;
} Plan;

static Plan g_plans[PLANS];
static int g_next; /* the slot a new plan takes when all are used */

static void plan_free(Plan *p) {
  if (!p->used) return;
  if (p->desc) rt_cu.lt.MatmulDescDestroy(p->desc);
  if (p->a) rt_cu.lt.MatrixLayoutDestroy(p->a);
  if (p->b) rt_cu.lt.MatrixLayoutDestroy(p->b);
  if (p->c) rt_cu.lt.MatrixLayoutDestroy(p->c);
  memset(p, 0, sizeof *p);
}

int rt_cu_blas_open(RtError *e) {
  static const char *const names[] = {"libcublasLt.so.13", "libcublasLt.so", NULL};
  char why[512] = "";
  if (!rt_cu.liblt)
    for (int i = 0; names[i] && !rt_cu.liblt; i++)
      if (!(rt_cu.liblt = dlopen(names[i], RTLD_NOW | RTLD_LOCAL)) && !why[0])
        snprintf(why, sizeof why, "%s", dlerror());
  if (!rt_cu.liblt)
    return rt_fail(e, RT_EXIT_FAIL,
                   "no CUDA device: cannot load cuBLASLt (%s); install the CUDA 13 cuBLAS libraries or add their "
                   "directory to LD_LIBRARY_PATH",
                   why);
  const char *missing = rt_cuda_dlsyms(rt_cu.liblt, rt_cu_lt_syms, rt_cu_n_lt_syms, &rt_cu.lt);
  if (missing) return rt_fail(e, RT_EXIT_FAIL, "no CUDA device: cuBLASLt lacks %s (it is too old)", missing);
  RtBlasStatus st = rt_cu.lt.Create(&rt_cu.lt_handle);
  if (st) return rt_fail(e, RT_EXIT_FAIL, "cublasLtCreate: %s", rt_cu.lt.GetStatusName(st));
  RtCUresult r = rt_cu.cu.MemAlloc(&rt_cu.lt_ws, LT_WORKSPACE);
  if (r) {
    char buf[256];
    return rt_fail(e, RT_EXIT_FAIL, "cannot allocate cuBLASLt's workspace (32 MB): %s",
                   rt_cu_strerror(r, buf, sizeof buf));
  }
  rt_cu.lt_ws_bytes = LT_WORKSPACE;
  memset(g_plans, 0, sizeof g_plans);
  g_next = 0;
  return 0;
}

void rt_cu_blas_close(void) {
  for (int i = 0; i < PLANS; i++)
    plan_free(&g_plans[i]);
  if (rt_cu.lt_ws) rt_cu.cu.MemFree(rt_cu.lt_ws);
  if (rt_cu.lt_handle) rt_cu.lt.Destroy(rt_cu.lt_handle);
  rt_cu.lt_ws = 0;
  rt_cu.lt_handle = NULL;
}

/* A column-major rows x cols layout with leading dimension ld, batched. */
static RtBlasStatus layout(RtLtMatrixLayout *l, int64_t rows, int64_t cols, int64_t ld, int64_t count, int64_t stride) {
  RtBlasStatus st = rt_cu.lt.MatrixLayoutCreate(l, RT_CUDA_R_32F, (uint64_t)rows, (uint64_t)cols, ld);
  if (st || count <= 1) return st;
  int32_t n = (int32_t)count;
  if ((st = rt_cu.lt.MatrixLayoutSetAttribute(*l, RT_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &n, sizeof n))) return st;
  return rt_cu.lt.MatrixLayoutSetAttribute(*l, RT_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride);
}

/* The plan for shape s: found, or made (NULL, error recorded, on failure). */
static const Plan *plan_for(const Shape *s) {
  for (int i = 0; i < PLANS; i++)
    if (g_plans[i].used && memcmp(&g_plans[i].key, s, sizeof *s) == 0) return &g_plans[i];
  Plan *p = &g_plans[g_next];
  g_next = (g_next + 1) % PLANS;
  plan_free(p);
  p->used = 1;
  p->key = *s;
  int compute = rt_cu.m->cuda->tf32 ? RT_CUBLAS_COMPUTE_32F_FAST_TF32 : RT_CUBLAS_COMPUTE_32F;
  int32_t op_first = s->tb ? RT_CUBLAS_OP_T : RT_CUBLAS_OP_N, op_second = s->ta ? RT_CUBLAS_OP_T : RT_CUBLAS_OP_N;
  RtLtMatmulPreference pref = NULL;
  RtLtHeuristicResult res;
  int found = 0;
  const char *step = "cublasLtMatmulDescCreate";
  RtBlasStatus st = rt_cu.lt.MatmulDescCreate(&p->desc, compute, RT_CUDA_R_32F);
  if (!st && (step = "setting TRANSA", 1))
    st = rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_TRANSA, &op_first, sizeof op_first);
  if (!st && (step = "setting TRANSB", 1))
    st = rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_TRANSB, &op_second, sizeof op_second);
  /* Stored shapes (column-major): our B is n x k (k x n when tb), our A
   * k x m (m x k when ta), the result n x m. */
  if (s->ep) {
    uint32_t ep = (uint32_t)s->ep;
    if (!st && (step = "setting EPILOGUE", 1))
      st = rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep);
    if (!st && s->ldaux && (step = "setting EPILOGUE_AUX_LD", 1))
      st =
          rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &s->ldaux, sizeof s->ldaux);
    /* The heuristic reads the pointers' alignment: the key's, 256-byte
     * aligned addresses standing for the real ones (set per call). */
    const void *bias = s->align_bias ? (const void *)(uintptr_t)s->align_bias : NULL;
    const void *aux = s->align_aux ? (const void *)(uintptr_t)s->align_aux : NULL;
    if (!st && bias && (step = "setting BIAS_POINTER", 1))
      st = rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    if (!st && aux && (step = "setting EPILOGUE_AUX_POINTER", 1))
      st = rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux);
  }
  if (!st && (step = "cublasLtMatrixLayoutCreate", 1))
    st = layout(&p->a, s->tb ? s->k : s->n, s->tb ? s->n : s->k, s->ldb, s->count, s->sb);
  if (!st) st = layout(&p->b, s->ta ? s->m : s->k, s->ta ? s->k : s->m, s->lda, s->count, s->sa);
  if (!st) st = layout(&p->c, s->n, s->m, s->ldc, s->count, s->sc);
  if (!st && (step = "cublasLtMatmulPreferenceCreate", 1)) st = rt_cu.lt.MatmulPreferenceCreate(&pref);
  uint64_t ws = rt_cu.lt_ws_bytes;
  if (!st)
    st = rt_cu.lt.MatmulPreferenceSetAttribute(pref, RT_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
  /* cuBLASLt's A is our B, its B our A; C and D are our C. */
  const uint32_t align[4] = {s->align_b, s->align_a, s->align_c, s->align_c};
  for (int i = 0; i < 4 && !st; i++)
    st = rt_cu.lt.MatmulPreferenceSetAttribute(pref, RT_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + i, &align[i],
                                               sizeof align[i]);
  if (!st && (step = "cublasLtMatmulAlgoGetHeuristic", 1))
    st = rt_cu.lt.MatmulAlgoGetHeuristic(rt_cu.lt_handle, p->desc, p->a, p->b, p->c, p->c, pref, 1, &res, &found);
  if (pref) rt_cu.lt.MatmulPreferenceDestroy(pref);
  if (!st && found < 1) step = "cublasLtMatmulAlgoGetHeuristic (no algorithm for this shape)";
  if (st || found < 1) {
    rt_cu_record("the matrix product %lld x %lld x %lld (ta %d, tb %d, batch %lld%s%s) after kernel %s: %s: %s%s",
                 (long long)s->m, (long long)s->n, (long long)s->k, s->ta, s->tb, (long long)s->count,
                 s->ep ? ", cuBLASLt epilogue " : "", s->ep ? nnrt_cu_ep_name(s->ep) : "",
                 rt_cu.last_kernel >= 0 ? rt_cu.m->cuda->kernels[rt_cu.last_kernel].name : "(none)", step,
                 st ? rt_cu.lt.GetStatusName(st) : "CUBLAS_STATUS_NOT_SUPPORTED",
                 s->ep ? " (nnc build --target=cuda --no-lt-epilogue runs epilogues as kernels)" : "");
    plan_free(p);
    return NULL;
  }
  p->algo = res.algo;
  return p;
}

static void gemm(Shape *s, float alpha, const float *a, const float *b, float beta, float *c, void *bias, void *aux) {
  if (rt_cu.failed || s->m <= 0 || s->n <= 0 || s->count <= 0) return;
  s->align_a = alignment(a, s->sa), s->align_b = alignment(b, s->sb), s->align_c = alignment(c, s->sc);
  if (s->k <= 0) {
    rt_cu_record("the matrix product %lld x %lld x 0 has no terms (a compiler bug: the plan should not call it)",
                 (long long)s->m, (long long)s->n);
    return;
  }
  s->align_bias = bias ? alignment(bias, 0) : 0, s->align_aux = aux ? alignment(aux, 0) : 0;
  const Plan *p = plan_for(s);
  if (!p) return;
  RtBlasStatus st = 0;
  if (bias) st = rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
  if (!st && aux)
    st = rt_cu.lt.MatmulDescSetAttribute(p->desc, RT_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof aux);
  if (!st)
    st = rt_cu.lt.Matmul(rt_cu.lt_handle, p->desc, &alpha, b, p->a, a, p->b, &beta, c, p->c, c, p->c, &p->algo,
                         (void *)(uintptr_t)rt_cu.lt_ws, rt_cu.lt_ws_bytes, rt_cu.compute);
  if (st)
    rt_cu_record(
        "the matrix product %lld x %lld x %lld (ta %d, tb %d, batch %lld%s%s) after kernel %s: cublasLtMatmul: %s",
        (long long)s->m, (long long)s->n, (long long)s->k, s->ta, s->tb, (long long)s->count,
        s->ep ? ", cuBLASLt epilogue " : "", s->ep ? nnrt_cu_ep_name(s->ep) : "",
        rt_cu.last_kernel >= 0 ? rt_cu.m->cuda->kernels[rt_cu.last_kernel].name : "(none)", rt_cu.lt.GetStatusName(st));
}

/* One product's key before the pointers' alignments (gemm sets those). */
static Shape shape_of(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
  Shape s = {.ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldc = ldc, .count = 1};
  return s;
}

void nnrt_cu_sgemm(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  Shape s = shape_of(ta, tb, m, n, k, lda, ldb, ldc);
  gemm(&s, alpha, a, b, beta, c, NULL, NULL);
}

void nnrt_cu_sgemm_batch(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                         int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b, float beta,
                         float *c, int64_t ldc, int64_t stride_c, int64_t count) {
  if (count > INT32_MAX) {
    rt_cu_record("a batch of %lld matrix products is more than cuBLASLt takes", (long long)count);
    return;
  }
  Shape s = shape_of(ta, tb, m, n, k, lda, ldb, ldc);
  s.sa = stride_a, s.sb = stride_b, s.sc = stride_c, s.count = count;
  gemm(&s, alpha, a, b, beta, c, NULL, NULL);
}

void nnrt_cu_sgemm_ep(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int32_t ep, float *bias,
                      void *aux, int64_t ldaux) {
  if (!nnrt_cu_ep_name(ep)) {
    rt_cu_record("nnrt_cu_sgemm_ep: unknown epilogue %d (a compiler bug)", (int)ep);
    return;
  }
  Shape s = shape_of(ta, tb, m, n, k, lda, ldb, ldc);
  s.ep = ep, s.ldaux = aux ? ldaux : 0;
  gemm(&s, alpha, a, b, beta, c, bias, aux);
}
