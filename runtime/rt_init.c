/* rt_init.c — the globals (parameters and optimizer state): one allocation
 * sliced per global, each slice RT_ALIGN-aligned so generated vector code can
 * use aligned loads, and their initialisation from NNRT_INIT_*.
 *
 * Init element i of global k uses u32 number i of the Philox stream
 * (seed, stream k, RT_RNG_INIT) — for normals, numbers 2j and 2j+1 give
 * elements 2j and 2j+1 — so a parameter's initial value depends only on the
 * seed, its index and its position, never on other globals or threads. */
#include "nnrt.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t rt_tensor_numel(const NnrtTensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0 || rt_mul64(n, t->dims[i], &n)) return -1;
  return n;
}

int rt_globals_alloc(RtGlobals *g, const NnrtModel *m, RtError *e) {
  memset(g, 0, sizeof *g);
  g->n = m->n_globals;
  size_t n = m->n_globals > 0 ? (size_t)m->n_globals : 1;
  g->ptr = rt_alloc(n * sizeof *g->ptr, "global table", e);
  g->numel = rt_alloc(n * sizeof *g->numel, "global table", e);
  if (!g->ptr || !g->numel) return rt_globals_free(g), -1;
  size_t total = 0;
  for (int32_t i = 0; i < m->n_globals; i++) {
    const NnrtTensor *t = &m->globals[i];
    int64_t numel = rt_tensor_numel(t);
    if (numel < 0 || t->rank < 0 || t->rank > NNRT_MAX_RANK || !rt_dtype_size(t->dtype)) {
      rt_globals_free(g);
      return rt_fail(e, RT_EXIT_FAIL, "model bug: global '%s' has a bad shape or dtype", t->name);
    }
    g->numel[i] = numel;
    size_t bytes = (size_t)numel * rt_dtype_size(t->dtype);
    total += (bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
  }
  g->bytes = total;
  g->base = rt_alloc(total, "model parameters", e);
  if (!g->base) return rt_globals_free(g), -1;
  char *at = g->base;
  for (int32_t i = 0; i < m->n_globals; i++) {
    g->ptr[i] = at;
    size_t bytes = (size_t)g->numel[i] * rt_dtype_size(m->globals[i].dtype);
    at += (bytes + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN;
  }
  return 0;
}

void rt_globals_free(RtGlobals *g) {
  rt_free(g->base);
  rt_free(g->ptr);
  rt_free(g->numel);
  memset(g, 0, sizeof *g);
}

/* Uniform on [lo, hi). */
static void fill_uniform(float *p, int64_t n, RtRng *r, double lo, double hi) {
  for (int64_t i = 0; i < n; i++)
    p[i] = (float)(lo + (hi - lo) * rt_u32_to_unit(rt_rng_u32(r)));
}

static void fill_normal(float *p, int64_t n, RtRng *r, double mean, double std) {
  for (int64_t i = 0; i < n; i += 2) {
    uint32_t a = rt_rng_u32(r), b = rt_rng_u32(r);
    float z0, z1;
    rt_box_muller(a, b, &z0, &z1);
    p[i] = (float)(mean + std * z0);
    if (i + 1 < n) p[i + 1] = (float)(mean + std * z1);
  }
}

/* Keras's Orthogonal: a normal [rows, cols] matrix (rows = n / cols), its
 * longer side's vectors orthonormalised (QR with R's diagonal made
 * positive, which is what Gram-Schmidt gives), in double precision. */
static int fill_orthogonal(float *p, int64_t n, int64_t cols, RtRng *r) {
  int64_t rows = n / cols, m = rows > cols ? rows : cols, k = rows > cols ? cols : rows;
  double *a = malloc(sizeof(double) * (size_t)n);
  float *z = malloc(sizeof(float) * (size_t)(n + 1));
  if (!a || !z) return free(a), free(z), -1;
  fill_normal(z, n, r, 0.0, 1.0);
  /* a holds k vectors of length m, vector j at a[j*m ..]: the columns of
   * the tall matrix (rows of the wide one, read as its transpose). */
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++)
      if (rows >= cols) a[j * m + i] = z[i * cols + j];
      else a[i * m + j] = z[i * cols + j];
  for (int64_t j = 0; j < k; j++) {
    double *v = a + j * m;
    for (int64_t q = 0; q < j; q++) {
      const double *u = a + q * m;
      double dot = 0;
      for (int64_t i = 0; i < m; i++) dot += u[i] * v[i];
      for (int64_t i = 0; i < m; i++) v[i] -= dot * u[i];
    }
    double norm = 0;
    for (int64_t i = 0; i < m; i++) norm += v[i] * v[i];
    norm = sqrt(norm);
    for (int64_t i = 0; i < m; i++) v[i] = norm > 0 ? v[i] / norm : 0;
  }
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) p[i * cols + j] = (float)(rows >= cols ? a[j * m + i] : a[i * m + j]);
  free(a);
  free(z);
  return 0;
}

int rt_globals_init(RtGlobals *g, const NnrtModel *m, uint64_t seed, RtError *e) {
  for (int32_t k = 0; k < m->n_globals; k++) {
    const NnrtTensor *t = &m->globals[k];
    int64_t n = g->numel[k];
    size_t bytes = (size_t)n * rt_dtype_size(t->dtype);
    /* State starts at zero but for the seed (dropout's key), which is the
     * run's, so --seed changes the masks as it changes everything else. */
    int init = t->kind == NNRT_STATE && t->init != NNRT_INIT_SEED ? NNRT_INIT_ZEROS : t->init;
    if (init == NNRT_INIT_SEED) {
      if (t->dtype != NNRT_I32 || n != 2)
        return rt_fail(e, RT_EXIT_FAIL, "model bug: seed global '%s' is not i32[2]", t->name);
      ((uint32_t *)g->ptr[k])[0] = (uint32_t)seed;
      ((uint32_t *)g->ptr[k])[1] = (uint32_t)(seed >> 32);
      continue;
    }
    if (init == NNRT_INIT_ZEROS) {
      memset(g->ptr[k], 0, bytes);
      continue;
    }
    /* The random initialisers below draw f32 values. */
    if (t->dtype != NNRT_F32) {
      if (init != NNRT_INIT_ONES)
        return rt_fail(e, RT_EXIT_FAIL, "model bug: %s global '%s' has a random initialiser", rt_dtype_name(t->dtype),
                       t->name);
      for (int64_t i = 0; i < n; i++)
        rt_dtype_set(t->dtype, g->ptr[k], i, 1);
      continue;
    }
    float *p = g->ptr[k];
    RtRng r;
    rt_rng_init(&r, seed, (uint32_t)k, RT_RNG_INIT);
    double a = t->init_a, b = t->init_b;
    switch (init) {
    case NNRT_INIT_ONES:
      for (int64_t i = 0; i < n; i++)
        p[i] = 1.0f;
      break;
    case NNRT_INIT_NORMAL:
      fill_normal(p, n, &r, a, b);
      break;
    case NNRT_INIT_UNIFORM:
      fill_uniform(p, n, &r, a, b);
      break;
    case NNRT_INIT_HE_NORMAL:
      if (!(a > 0)) return rt_fail(e, RT_EXIT_FAIL, "model bug: he_normal '%s' has fan_in %g", t->name, a);
      fill_normal(p, n, &r, 0.0, sqrt(2.0 / a));
      break;
    case NNRT_INIT_GLOROT_UNIFORM: {
      if (!(a + b > 0))
        return rt_fail(e, RT_EXIT_FAIL, "model bug: glorot_uniform '%s' has fans %g, %g", t->name, a, b);
      double lim = sqrt(6.0 / (a + b));
      fill_uniform(p, n, &r, -lim, lim);
      break;
    }
    case NNRT_INIT_ORTHOGONAL: {
      int64_t cols = t->rank ? t->dims[t->rank - 1] : 1;
      if (cols < 1 || fill_orthogonal(p, n, cols, &r) < 0)
        return rt_fail(e, RT_EXIT_FAIL, "cannot initialise '%s' (orthogonal): out of memory", t->name);
      break;
    }
    case NNRT_INIT_UNIT_FORGET:
      for (int64_t i = 0; i < n; i++) p[i] = i >= (int64_t)a && i < 2 * (int64_t)a ? 1.0f : 0.0f;
      break;
    default:
      return rt_fail(e, RT_EXIT_FAIL, "model bug: global '%s' has unknown initialiser %d", t->name, init);
    }
  }
  return 0;
}

int32_t rt_globals_find_nonfinite(const RtGlobals *g, const NnrtModel *m) {
  for (int32_t k = 0; k < m->n_globals; k++) {
    if (m->globals[k].dtype != NNRT_F32) continue;
    const float *p = g->ptr[k];
    for (int64_t i = 0; i < g->numel[k]; i++)
      if (!isfinite(p[i])) return k;
  }
  return -1;
}
