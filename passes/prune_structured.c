/* prune_structured.c — structured pruning (--prune=structured:R): whole
 * hidden units of dense layers and whole output channels of convolutions
 * go, and every shape that runs along them shrinks, so the pruned model
 * does less work (not a mask: smaller GEMMs and convolutions).
 *
 * The units are found by dataflow (prune_axes.c): each unit group is the
 * output axis of a weight and everything that runs along it up to the
 * contraction that sums over it. A group whose path meets an op the
 * analysis does not understand (a softmax or a sum over the units, a
 * model output: the logits) stays whole, and the report says which op.
 *
 * Criterion, per group: the L2 norm of each unit's incoming weights, the
 * slices of every param global of the group but those that consume the
 * units (the next layer's rows, a next conv's input channels): a dense
 * unit's weight column and its bias, a conv channel's filter and bias (and
 * a batch_norm's gamma and beta on it). round(R n) units with the smallest
 * norms go (ties: the later unit goes), at least one stays.
 *
 * Rewrite: every member of the group, in every function, loses the units'
 * slices: each global's type and data (and the fans of its glorot/he
 * initialiser), each value's type (reshape and broadcast targets are their
 * types), a slice's bounds along the units.
 *
 * Requires: the trained weights in IrGlobal.data (nnc build --checkpoint);
 * runs before autodiff, which then makes optimizer state of the new
 * shapes. Guarantees: a module that verifies, computing what the model
 * computes with the units' outputs removed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prune.h"
#include "prune_axes.h"

typedef struct Unit {
  double norm;
  int64_t index;
} Unit;

static int by_norm(const void *pa, const void *pb) {
  const Unit *a = pa, *b = pb;
  if (a->norm != b->norm) return a->norm < b->norm ? -1 : 1;
  return a->index < b->index ? 1 : a->index > b->index ? -1 : 0; /* the later unit goes first */
}

/* The element count before axis `axis` and after it, of a static shape. */
static void split_at(const Shape *s, int axis, int64_t *pre, int64_t *post) {
  *pre = *post = 1;
  for (int i = 0; i < axis; i++)
    *pre *= s->d[i];
  for (int i = axis + 1; i < s->rank; i++)
    *post *= s->d[i];
}

/* Squared L2 norms per unit of global member mb, added into sq[]. */
static void add_norms(const IrGlobal *g, const PsMember *mb, int64_t n, double *sq) {
  int64_t pre, post, len = g->ty.sh.d[mb->axis];
  split_at(&g->ty.sh, mb->axis, &pre, &post);
  for (int64_t p = 0; p < pre; p++)
    for (int64_t i = 0; i < len; i++) {
      int64_t u = i / mb->inner % n;
      for (int64_t q = 0; q < post; q++) {
        double v = ir_data_get(g->ty.dt, g->data, (p * len + i) * post + q);
        sq[u] += v * v;
      }
    }
}

/* The new data of global g, keeping along member mb's axis only the units
 * in keep[0..nk) (ascending). */
static void *slice_data(Arena *a, const IrGlobal *g, const PsMember *mb, int64_t n, const int64_t *keep, int64_t nk) {
  int64_t pre, post, len = g->ty.sh.d[mb->axis], nlen = mb->outer * nk * mb->inner;
  split_at(&g->ty.sh, mb->axis, &pre, &post);
  size_t row = (size_t)(post * ir_dtype_size(g->ty.dt));
  char *out = arena_alloc(a, (size_t)(pre * nlen) * row + 1);
  const char *in = g->data;
  for (int64_t p = 0; p < pre; p++)
    for (int64_t j = 0; j < nlen; j++) {
      int64_t o = j / (nk * mb->inner), k = j / mb->inner % nk, i = j % mb->inner;
      int64_t from = (o * n + keep[k]) * mb->inner + i;
      memcpy(out + (size_t)(p * nlen + j) * row, in + (size_t)(p * len + from) * row, row);
    }
  return out;
}

/* glorot_uniform(fan_in, fan_out) and he_normal(fan_in) of a dense weight
 * [in, out] or a conv's [F, C, k, k]: the fan along the shrunk axis
 * shrinks with it; so does an LSTM bias's unit count. */
static void scale_fans(IrGlobal *g, int axis, double f) {
  if (g->init == NNRT_INIT_UNIT_FORGET) g->init_a = round(g->init_a * f); /* an LSTM bias [4H]: a = H */
  if (g->init != NNRT_INIT_GLOROT_UNIFORM && g->init != NNRT_INIT_HE_NORMAL) return;
  int rank = g->ty.sh.rank;
  bool fan_in = (rank == 2 && axis == 0) || (rank == 4 && axis == 1);
  bool fan_out = (rank == 2 && axis == 1) || (rank == 4 && axis == 0);
  if (fan_in) g->init_a = round(g->init_a * f);
  if (fan_out && g->init == NNRT_INIT_GLOROT_UNIFORM) g->init_b = round(g->init_b * f);
}

static void rewrite(IrModule *m, const PsGroup *gr, const int64_t *keep, int64_t nk) {
  bool *touched = arena_alloc(m->arena, (size_t)m->nfuncs + 1);
  for (int k = 0; k < gr->nmem; k++) {
    const PsMember *mb = &gr->mem[k];
    int64_t nlen = mb->outer * nk * mb->inner;
    if (mb->fn < 0) {
      IrGlobal *g = &m->globals[mb->id];
      if (g->data) g->data = slice_data(m->arena, g, mb, gr->n, keep, nk);
      scale_fans(g, mb->axis, (double)nk / (double)gr->n);
      g->ty.sh.d[mb->axis] = nlen;
      continue;
    }
    IrNode *n = &m->funcs[mb->fn]->nodes[mb->id];
    n->ty.sh.d[mb->axis] = nlen;
    touched[mb->fn] = true;
    if (n->op == OP_SLICE && n->at.axis == mb->axis) { /* whole blocks of units (prune_axes.c) */
      int64_t blk = gr->n * mb->inner, nblk = nk * mb->inner;
      n->at.start = (int)(n->at.start / blk * nblk), n->at.end = (int)(n->at.end / blk * nblk);
    }
  }
  for (int i = 0; i < m->nfuncs; i++)
    if (touched[i]) ir_func_forget_memory(m->funcs[i]);
}

/* The group's name in the report: its seed weight and axis, and the other
 * globals it shrinks. */
static void print_group(FILE *out, const IrModule *m, const PsGroup *gr) {
  fprintf(out, "@%s axis %d", m->globals[gr->seed].name, gr->seed_axis);
  const char *sep = " (with ";
  for (int k = 0; k < gr->nmem; k++) {
    const PsMember *mb = &gr->mem[k];
    if (mb->fn >= 0 || (mb->id == gr->seed && mb->axis == gr->seed_axis)) continue;
    fprintf(out, "%s@%s axis %d", sep, m->globals[mb->id].name, mb->axis);
    sep = ", ";
  }
  if (*sep == ',') fputc(')', out);
}

/* Prunes one eligible group: false after reporting missing weights. */
static bool prune_group(IrModule *m, const PsGroup *gr, double ratio, PassCtx *ctx, FILE *out) {
  double *sq = arena_alloc(m->arena, (size_t)gr->n * sizeof *sq);
  for (int k = 0; k < gr->nmem; k++) {
    const PsMember *mb = &gr->mem[k];
    if (mb->fn >= 0) continue;
    const IrGlobal *g = &m->globals[mb->id];
    if (!g->data) {
      diag_fatal(ctx->diag, "structured pruning needs the trained weights: @%s has no data (build with --checkpoint F)",
                 g->name);
      return false;
    }
    if (g->kind == GLOBAL_PARAM && !mb->consumes) add_norms(g, mb, gr->n, sq);
  }
  int64_t drop = (int64_t)llround(ratio * (double)gr->n);
  if (drop > gr->n - 1) drop = gr->n - 1;
  Unit *u = arena_alloc(m->arena, (size_t)gr->n * sizeof *u);
  for (int64_t i = 0; i < gr->n; i++)
    u[i] = (Unit){.norm = sqrt(sq[i]), .index = i};
  qsort(u, (size_t)gr->n, sizeof *u, by_norm);
  bool *gone = arena_alloc(m->arena, (size_t)gr->n);
  for (int64_t i = 0; i < drop; i++)
    gone[u[i].index] = true;
  int64_t *keep = arena_alloc(m->arena, (size_t)gr->n * sizeof *keep), nk = 0;
  for (int64_t i = 0; i < gr->n; i++)
    if (!gone[i]) keep[nk++] = i;
  if (out) {
    fprintf(out, "prune: structured: ");
    print_group(out, m, gr);
    fprintf(out, ": %lld -> %lld units", (long long)gr->n, (long long)nk);
    if (drop <= 16) { /* small layers (tests) say which */
      fputs(drop ? ", removed" : "", out);
      for (int64_t i = 0, first = 1; i < gr->n; i++)
        if (gone[i]) fprintf(out, "%s%lld", first ? " " : ", ", (long long)i), first = 0;
    }
    fputc('\n', out);
  }
  if (drop) rewrite(m, gr, keep, nk);
  return true;
}

/* Whether every member still has the size the analysis saw: pruning an
 * earlier group changes none of them unless one axis interleaves the units
 * of two groups (a reshape [B,C,D] -> [B,C*D] with both C and D units),
 * which this pass leaves alone. */
static bool sizes_hold(const IrModule *m, const PsGroup *gr) {
  for (int k = 0; k < gr->nmem; k++) {
    const PsMember *mb = &gr->mem[k];
    const Type *t = mb->fn < 0 ? &m->globals[mb->id].ty : &m->funcs[mb->fn]->nodes[mb->id].ty;
    if (t->sh.d[mb->axis] != mb->outer * gr->n * mb->inner) return false;
  }
  return true;
}

bool prune_structured(IrModule *m, double ratio, PassCtx *ctx) {
  if (!(ratio > 0 && ratio < 1)) {
    diag_fatal(ctx->diag, "--prune=structured:%g: the fraction of units to remove must be between 0 and 1 (exclusive)",
               ratio);
    return false;
  }
  bool any = false;
  for (int i = 0; i < m->nglobals; i++)
    any |= m->globals[i].data != NULL;
  if (!any) {
    diag_fatal(ctx->diag, "structured pruning needs the trained weights: build with --checkpoint F (a checkpoint of "
                          "this model)");
    return false;
  }
  FILE *out = ctx->report ? ctx->report : stderr;
  Arena *a = arena_new();
  int ng;
  PsGroup *gs = ps_find_groups(a, m, &ng);
  bool ok = true;
  for (int i = 0; i < ng && ok; i++) {
    if (gs[i].n < 2) continue;
    if (!gs[i].why && !sizes_hold(m, &gs[i])) gs[i].why = "its axis interleaves the units of another group";
    if (gs[i].why) {
      fprintf(out, "prune: structured: ");
      print_group(out, m, &gs[i]);
      fprintf(out, ": %lld units left whole: %s\n", (long long)gs[i].n, gs[i].why);
      continue;
    }
    ok = prune_group(m, &gs[i], ratio, ctx, out);
  }
  arena_free(a);
  return ok;
}
