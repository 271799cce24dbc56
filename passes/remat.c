/* remat.c — the `remat` pass: recompute a cheap elementwise value where it
 * is read late, instead of keeping it alive until then.
 *
 * A training step reads many forward values again in the backward pass: a
 * layer norm's output (the next product's weight gradient reads it), GELU's
 * output (likewise), the normalised x-hat (the scale's gradient). Kept, each
 * one stays in the workspace from the forward to the backward pass, across
 * the memory peak. When such a value is one elementwise op of operands that
 * are alive at its late reader anyway (the backward pass reads GELU's input
 * for GELU's own gradient; a layer norm keeps x - mean and the deviation for
 * its gradient), computing it again just before that reader costs one pass
 * over its elements and frees its bytes for the whole stretch in between:
 *
 *   before:  %g = gelu %a          (read at 10 and 900; %a read at 905)
 *   after:   %g = gelu %a          (read at 10)
 *            ...
 *            %g2 = gelu %a         (new, just before 900, which reads it)
 *
 * Rule, for each elementwise node V in order: sort its readers by position
 * (a return counts as the end of the function, for operands); find the widest gap between
 * two consecutive readers that is at least min-gap nodes and where V can be
 * recomputed at the later reader L: every operand is a source (input,
 * global, const, or a layout view of them) or is read at L or later anyway
 * (so its life is not lengthened), or is itself an elementwise value that
 * can be recomputed there (a chain, up to REMAT_DEPTH deep: a layer norm's
 * `x-hat * gamma + beta` from x - mean and the deviation). The readers from
 * L on then read the new copy. An earlier copy of an operand that is alive
 * at L serves as that operand. Nothing is recomputed at a reader before the
 * gap: V keeps its first readers, so the pass never adds a kernel to a
 * stretch where V was short-lived. A value that is stored or returned lives
 * to the end anyway: it is left alone (an optimizer's update stays in
 * place).
 *
 * The copy is the same op on the same (or identically recomputed)
 * operands, so it holds the same bits; the kernels that read it may be
 * grouped differently (a reduction fused with the copy), so the step's
 * results agree with those without the pass up to f32 rounding
 * (tests/passes/remat_agree.sh).
 *
 * Requires: a valid module before fusion (a function with groups or a
 * memory plan is left alone). Guarantees: a valid module computing the same
 * values; each function's nodes renumbered (copies inserted before their
 * readers), names kept on the originals. Runs after autodiff, simplify and
 * scan-hoist (CSE would merge the copies back) and before fuse (which fuses
 * each copy into its reader where it can), in the default pipeline;
 * --disable-pass=remat skips it, --remat=min-gap:N sets the gap (default
 * REMAT_MIN_GAP nodes). */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

#define REMAT_DEPTH 4    /* how long a chain of elementwise ops is recomputed */
#define REMAT_MIN_GAP 16 /* nodes between two readers, by default */

/* An original node or a planned copy of one. */
typedef struct Val {
  int orig;  /* the node it computes (itself, for an original) */
  int pos;   /* runs at node pos: an original at its id, a copy just before
              * node pos (f->n: after the last node, before the returns) */
  int args[IR_MAX_ARGS]; /* vals */
  int *users;            /* vals reading it; -1 - r for return r */
  int nusers, cap;
  int next_copy; /* the next copy of the same original, or -1 */
} Val;

typedef struct Remat {
  const IrFunc *f;
  Val *v;
  int n, cap;
  int *first_copy; /* per original node: its first copy, or -1 */
} Remat;

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (!p) unreachable("out of memory");
  return p;
}

static void add_user(Remat *r, int v, int u) {
  Val *x = &r->v[v];
  if (x->nusers == x->cap) x->cap = x->cap ? 2 * x->cap : 4, x->users = xrealloc(x->users, sizeof(int) * (size_t)x->cap);
  x->users[x->nusers++] = u;
}

static int user_pos(const Remat *r, int u) { return u >= 0 ? r->v[u].pos : r->f->n; }

/* The last position that reads v (-1 if none). */
static int last_read(const Remat *r, int v) {
  int last = -1;
  for (int i = 0; i < r->v[v].nusers; i++)
    if (user_pos(r, r->v[v].users[i]) > last) last = user_pos(r, r->v[v].users[i]);
  return last;
}

/* Sources cost no workspace and are there all the time. */
static bool is_source(const IrFunc *f, int v) {
  const IrNode *n = &f->nodes[v];
  if (op_is(n->op, OPF_SOURCE)) return true;
  if (!op_is(n->op, OPF_LAYOUT) || op_is(n->op, OPF_RANGE | OPF_GATHER)) return false;
  for (int a = 0; a < n->nargs; a++)
    if (!is_source(f, n->args[a])) return false;
  return true;
}

/* A val computing node o that is there at position at without living
 * longer: o itself or one of its copies, run before `at` and read at `at`
 * or later anyway; -1 if none. */
static int alive_at(const Remat *r, int o, int at) {
  if (is_source(r->f, o) || last_read(r, o) >= at) return o;
  for (int c = r->first_copy[o]; c >= 0; c = r->v[c].next_copy)
    if (r->v[c].pos <= at && last_read(r, c) >= at) return c;
  return -1;
}

static bool can_copy(const Remat *r, int o, int at, int depth) {
  const IrNode *n = &r->f->nodes[o];
  if (!op_is(n->op, OPF_ELEMWISE) || depth > REMAT_DEPTH) return false;
  for (int a = 0; a < n->nargs; a++)
    if (alive_at(r, n->args[a], at) < 0 && !can_copy(r, n->args[a], at, depth + 1)) return false;
  return true;
}

/* A copy of node o run at `at` (can_copy said it can be), its operands'
 * copies made first. */
static int make_copy(Remat *r, int o, int at) {
  const IrNode *n = &r->f->nodes[o];
  int args[IR_MAX_ARGS];
  for (int a = 0; a < n->nargs; a++) {
    args[a] = alive_at(r, n->args[a], at);
    if (args[a] < 0) args[a] = make_copy(r, n->args[a], at);
  }
  if (r->n == r->cap) r->cap *= 2, r->v = xrealloc(r->v, sizeof(Val) * (size_t)r->cap);
  int c = r->n++;
  r->v[c] = (Val){.orig = o, .pos = at, .next_copy = -1};
  memcpy(r->v[c].args, args, sizeof args);
  for (int a = 0; a < n->nargs; a++)
    add_user(r, args[a], c);
  int *tail = &r->first_copy[o];
  while (*tail >= 0)
    tail = &r->v[*tail].next_copy;
  *tail = c;
  return c;
}

static int cmp_int(const void *x, const void *y) { return (*(const int *)x > *(const int *)y) - (*(const int *)x < *(const int *)y); }

/* Splits node v's readers at its widest gap of at least min_gap where a
 * copy can serve the later ones. */
static void remat_node(Remat *r, int v, int min_gap) {
  Val *x = &r->v[v];
  if (x->nusers < 2 || !op_is(r->f->nodes[v].op, OPF_ELEMWISE)) return;
  /* A value stored or returned lives to the end anyway (and a store of the
   * value itself can update its global in place). */
  for (int i = 0; i < x->nusers; i++)
    if (x->users[i] < 0 || op_is(r->f->nodes[r->v[x->users[i]].orig].op, OPF_EFFECT)) return;
  int *pos = xrealloc(NULL, sizeof(int) * (size_t)x->nusers);
  for (int i = 0; i < x->nusers; i++)
    pos[i] = user_pos(r, x->users[i]);
  qsort(pos, (size_t)x->nusers, sizeof *pos, cmp_int);
  int at = -1, best = min_gap - 1;
  for (int i = 1; i < x->nusers; i++)
    if (pos[i] - pos[i - 1] > best && can_copy(r, v, pos[i], 0)) best = pos[i] - pos[i - 1], at = pos[i];
  free(pos);
  if (at < 0) return;
  int c = make_copy(r, v, at);
  x = &r->v[v]; /* make_copy may move the array */
  int kept = 0;
  for (int i = 0; i < x->nusers; i++) {
    int u = x->users[i];
    if (user_pos(r, u) < at) {
      x->users[kept++] = u;
      continue;
    }
    if (u >= 0)
      for (int a = 0; a < r->f->nodes[r->v[u].orig].nargs; a++)
        r->v[u].args[a] = r->v[u].args[a] == v ? c : r->v[u].args[a];
    add_user(r, c, u);
    x = &r->v[v];
  }
  x->nusers = kept;
}

/* Rebuilds f with the copies inserted before their positions. */
static void rebuild(Remat *r, IrFunc *f, int *ret_val) {
  int n0 = f->n;
  int ncopies = r->n - n0;
  /* Copies by position, in creation order there (operands first). */
  int *order = xrealloc(NULL, sizeof(int) * (size_t)(ncopies + 1));
  int k = 0;
  for (int c = n0; c < r->n; c++)
    order[k++] = c;
  /* A stable insertion sort by position: few copies, and creation order
   * must hold among those at one position. */
  for (int i = 1; i < k; i++) {
    int c = order[i], j = i;
    for (; j > 0 && r->v[order[j - 1]].pos > r->v[c].pos; j--)
      order[j] = order[j - 1];
    order[j] = c;
  }
  int *map = xrealloc(NULL, sizeof(int) * (size_t)r->n);
  IrFunc out = {.name = f->name, .mod = f->mod};
  int next = 0;
  for (int p = 0; p <= n0; p++) {
    for (; next < k && r->v[order[next]].pos == p; next++) {
      int c = order[next];
      IrNode nd = f->nodes[r->v[c].orig];
      for (int a = 0; a < nd.nargs; a++)
        nd.args[a] = map[r->v[c].args[a]];
      nd.name = NULL, nd.group = -1, nd.slot = -1, nd.offset = -1;
      map[c] = ir_append(&out, &nd);
    }
    if (p == n0) break;
    IrNode nd = f->nodes[p];
    for (int a = 0; a < nd.nargs; a++)
      nd.args[a] = map[r->v[p].args[a]];
    map[p] = ir_append(&out, &nd);
  }
  for (int i = 0; i < f->nrets; i++)
    f->rets[i] = map[ret_val[i]];
  f->nodes = out.nodes, f->n = out.n, f->cap = out.cap;
  free(order);
  free(map);
}

static int remat_func(IrFunc *f, int min_gap) {
  if (!pass_func_unfused(f) || f->n == 0) return 0;
  Remat r = {.f = f, .n = f->n, .cap = 2 * f->n + 8};
  r.v = xrealloc(NULL, sizeof(Val) * (size_t)r.cap);
  r.first_copy = xrealloc(NULL, sizeof(int) * (size_t)f->n);
  for (int i = 0; i < f->n; i++) {
    r.v[i] = (Val){.orig = i, .pos = i, .next_copy = -1};
    r.first_copy[i] = -1;
    memcpy(r.v[i].args, f->nodes[i].args, sizeof r.v[i].args);
  }
  for (int i = 0; i < f->n; i++)
    for (int a = 0; a < f->nodes[i].nargs; a++)
      add_user(&r, f->nodes[i].args[a], i);
  for (int k = 0; k < f->nrets; k++)
    add_user(&r, f->rets[k], -1 - k);
  for (int i = 0; i < f->n; i++)
    remat_node(&r, i, min_gap);
  int ncopies = r.n - f->n;
  if (ncopies) {
    /* Each return reads the val whose user list holds it. */
    int *ret_val = xrealloc(NULL, sizeof(int) * (size_t)(f->nrets + 1));
    for (int v = 0; v < r.n; v++)
      for (int u = 0; u < r.v[v].nusers; u++)
        if (r.v[v].users[u] < 0) ret_val[-1 - r.v[v].users[u]] = v;
    rebuild(&r, f, ret_val);
    free(ret_val);
  }
  for (int v = 0; v < r.n; v++)
    free(r.v[v].users);
  free(r.v);
  free(r.first_copy);
  return ncopies;
}

bool remat_check_option(const char *value, char *err, size_t errsize) {
  if (!strncmp(value, "min-gap:", 8)) {
    char *end;
    long g = strtol(value + 8, &end, 10);
    if (end != value + 8 && !*end && g >= 1 && g <= 1000000) return true;
  }
  snprintf(err, errsize, "--remat takes min-gap:N (N nodes, 1 to 1000000), not '%s'", value);
  return false;
}

bool pass_remat(IrModule *m, PassCtx *ctx) {
  const char *opt = pass_option(ctx, "remat");
  int min_gap = REMAT_MIN_GAP;
  if (opt) {
    char err[160];
    if (!remat_check_option(opt, err, sizeof err)) {
      diag_fatal(ctx->diag, "%s", err);
      return false;
    }
    min_gap = (int)strtol(opt + 8, NULL, 10);
  }
  for (int i = 0; i < m->nfuncs; i++)
    if (!ir_func_is_scan_body(m, m->funcs[i])) remat_func(m->funcs[i], min_gap);
  return true;
}
