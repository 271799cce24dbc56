/* rt_prune.c — magnitude pruning while training (nnc --prune=unstructured).
 *
 * The compiled functions read each pruned weight as w * mask (the mask is
 * the NNRT_MASK global `<w>.mask`), so the gradient is zero where the mask
 * is zero. This file owns the masks' values: on the gradual schedule of Zhu
 * & Gupta ("To prune, or not to prune", 2017) the target sparsity of step t
 * is
 *     s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3,   s_i = 0,
 * t0 = start, t0 + n dt = end, and the masks are recomputed every dt steps
 * from start to end (and at end itself, which need not be a multiple): in
 * each pruned weight the k = round(s_t numel) entries of least |w| get mask
 * 0, exactly k (ties: an entry pruned already first, then the lower index,
 * so a mask only ever loses ones while the sparsity grows). At those entries
 * the weight and its optimizer state (`<w>.m`, `<w>.v`, `<w>.momentum`,
 * `<w>.square_avg`, whichever exist) are set to zero: with a zero gradient
 * every optimizer then keeps them exactly zero (Adam's update of a zero
 * moment is zero, weight decay of a zero weight too).
 *
 * The schedule is a function of the global step alone, so a resumed run
 * recomputes the masks at the same steps as one that never stopped, and the
 * masks themselves ride in the checkpoint like parameters. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "nnrt_prune.h"
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The optimizer state that follows its weight entry by entry (passes/optim.c). */
static const char *const state_suffix[RT_PRUNE_NSTATE] = {".m", ".v", ".momentum", ".square_avg"};

static int32_t find_global(const NnrtModel *m, const char *name, size_t len, int kind) {
  for (int32_t k = 0; k < m->n_globals; k++)
    if (m->globals[k].kind == kind && strlen(m->globals[k].name) == len && !strncmp(m->globals[k].name, name, len))
      return k;
  return -1;
}

static int64_t resolve(NnrtPruneAt a, int64_t total) {
  return a.frac ? (int64_t)llround(a.v * (double)total) : (int64_t)a.v;
}

int rt_prune_init(RtPrune *p, const NnrtModel *m, const RtGlobals *g, int64_t total_steps, RtError *e) {
  memset(p, 0, sizeof *p);
  if (!m->prune) return 0;
  NnrtPruneSpec spec;
  char err[1024];
  if (nnrt_prune_parse(m->prune, &spec, err, sizeof err))
    return rt_fail(e, RT_EXIT_FAIL, "the model's pruning schedule: %s", err);
  if (spec.structured) return 0; /* done by the compiler: nothing to schedule */
  p->sparsity = spec.sparsity;
  p->start = resolve(spec.start, total_steps);
  p->end = resolve(spec.end, total_steps);
  p->every = resolve(spec.every, total_steps);
  if (p->every < 1) p->every = 1;
  /* A schedule that ends with training or after it would never reach its
   * sparsity: its last recompute is before the last step. */
  if (p->end > total_steps - 1) p->end = total_steps - 1;
  if (p->end <= p->start)
    return rt_fail(e, RT_EXIT_USAGE,
                   "the pruning schedule (%s) starts at step %" PRId64 " but ends at step %" PRId64
                   " of %" PRId64 "; train longer (--epochs) or rebuild with other start= and end=",
                   m->prune, p->start, p->end, total_steps);
  int64_t most = 0;
  for (int32_t k = 0; k < m->n_globals; k++) {
    if (m->globals[k].kind != NNRT_MASK) continue;
    if (p->n == RT_PRUNE_MAX) return rt_fail(e, RT_EXIT_FAIL, "more than %d pruned weights", RT_PRUNE_MAX);
    RtPruneLayer *l = &p->layer[p->n++];
    const char *name = m->globals[k].name;
    size_t len = strlen(name) - strlen(".mask");
    l->mask = k;
    l->param = find_global(m, name, len, NNRT_PARAM);
    if (l->param < 0 || g->numel[l->param] != g->numel[k])
      return rt_fail(e, RT_EXIT_FAIL, "mask '%s' has no parameter of its shape (a compiler bug)", name);
    for (int s = 0; s < RT_PRUNE_NSTATE; s++) {
      char sname[512];
      snprintf(sname, sizeof sname, "%.*s%s", (int)len, name, state_suffix[s]);
      l->state[s] = find_global(m, sname, strlen(sname), NNRT_STATE);
      if (l->state[s] >= 0 && g->numel[l->state[s]] != g->numel[k]) l->state[s] = -1;
    }
    if (g->numel[k] > most) most = g->numel[k];
  }
  p->order = rt_alloc((size_t)most * sizeof *p->order, "pruning order", e);
  return p->order || most == 0 ? 0 : -1;
}

void rt_prune_free(RtPrune *p) {
  rt_free(p->order);
  p->order = NULL;
}

double rt_prune_target(const RtPrune *p, int64_t t) {
  if (t <= p->start) return 0;
  if (t >= p->end) return p->sparsity;
  double r = 1 - (double)(t - p->start) / (double)(p->end - p->start);
  return p->sparsity * (1 - r * r * r);
}

/* Sorted by |w| (NaN last), entries pruned already first, then index. */
static int by_magnitude(const void *a, const void *b) {
  const RtPruneEntry *x = a, *y = b;
  if (x->mag != y->mag) return x->mag < y->mag ? -1 : 1;
  if (x->kept != y->kept) return x->kept - y->kept;
  return (x->index > y->index) - (x->index < y->index);
}

static void prune_layer(RtPrune *p, const RtPruneLayer *l, RtGlobals *g, double sparsity) {
  int64_t n = g->numel[l->mask];
  float *w = g->ptr[l->param], *mask = g->ptr[l->mask];
  for (int64_t i = 0; i < n; i++)
    p->order[i] = (RtPruneEntry){isnan(w[i]) ? INFINITY : fabsf(w[i]), mask[i] != 0, i};
  qsort(p->order, (size_t)n, sizeof *p->order, by_magnitude);
  int64_t k = (int64_t)llround(sparsity * (double)n);
  for (int64_t j = 0; j < n; j++) {
    int64_t i = p->order[j].index;
    mask[i] = j < k ? 0.0f : 1.0f;
    if (j >= k) continue;
    w[i] = 0;
    for (int s = 0; s < RT_PRUNE_NSTATE; s++)
      if (l->state[s] >= 0) ((float *)g->ptr[l->state[s]])[i] = 0;
  }
}

int rt_prune_due(const RtPrune *p, int64_t t) {
  return p->n && t >= p->start && t <= p->end && ((t - p->start) % p->every == 0 || t == p->end);
}

int rt_prune_step(RtPrune *p, RtGlobals *g, int64_t t) {
  if (!rt_prune_due(p, t)) return 0;
  double s = rt_prune_target(p, t);
  for (int i = 0; i < p->n; i++)
    prune_layer(p, &p->layer[i], g, s);
  return 1;
}

/* "sparsity: dense_1.w 0.900 - dense_2.w 0.900 - all 0.900": the fraction
 * of zeros in each pruned weight as the model reads it (w * mask: a zero
 * of either), and in all of them. */
void rt_prune_report(FILE *f, const NnrtModel *m, const RtGlobals *g) {
  int64_t zeros = 0, total = 0;
  int any = 0;
  for (int32_t k = 0; k < m->n_globals; k++) {
    if (m->globals[k].kind != NNRT_MASK) continue;
    const char *name = m->globals[k].name;
    size_t len = strlen(name) - strlen(".mask");
    int32_t p = find_global(m, name, len, NNRT_PARAM);
    const float *mask = g->ptr[k], *w = p >= 0 ? g->ptr[p] : mask;
    int64_t z = 0, n = g->numel[k];
    for (int64_t i = 0; i < n; i++)
      z += mask[i] == 0 || w[i] == 0;
    fprintf(f, "%s%.*s %.3f", any ? " - " : "sparsity: ", (int)len, name, n ? (double)z / (double)n : 0.0);
    zeros += z, total += n, any = 1;
  }
  if (any) fprintf(f, " - all %.3f\n", total ? (double)zeros / (double)total : 0.0);
}
