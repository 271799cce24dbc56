/* fuse.c — vertical fusion: assigns IrNode.group so that chains of
 * elementwise ops run as one loop nest and their intermediate values never
 * touch memory.
 *
 * Requires: a valid module (operands precede their users). Groups from an
 * earlier run are discarded.
 * Guarantees the rule of ir/groups.c (which decides what may join a group;
 * the verifier checks it and the backends trust it), here in the words of
 * what this pass builds. For every group (group ids are dense from 0 per
 * function; -1 marks a node alone):
 *   - it has one root: an elementwise op, a reduction (sum/mean/max) or a
 *     softmax/log_softmax; every other member is elementwise;
 *   - the group's domain is the root's shape (elementwise root) or the
 *     root's operand's shape (reduction, softmax: the fused members are its
 *     prologue, evaluated at every input index); every member's shape
 *     broadcasts to the domain, so a scalar or a bias row computed inside
 *     the group is evaluated once per loop level that needs it;
 *   - no member but the root is read outside the group, except by stores
 *     (an elementwise group writes a stored member straight to the global:
 *     the Adam update is one group that reads w, g, m, v and writes w, m,
 *     v), and such stored members have the domain's shape; stores of a
 *     group's values carry its id (they are not computed, only attached);
 *   - groups can be ordered: since only the root is read by other nodes,
 *     no path leaves a group and comes back into it.
 * Free nodes (input, global, const, dim, and the layout ops: reshape,
 * transpose, broadcast, slice) are never grouped: the backend inlines constants and folds views into
 * its indexing anyway. Matmul and onehot stay alone.
 *
 * The walk goes from the last node to the first: when a node is reached all
 * its users already have their groups, and it joins theirs if they agree.
 * dim users do not count as uses (they read only a shape). */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef struct Fuse {
  IrFunc *f;
  int *nuse, **use; /* users of each node */
  bool *returned;
  IrGroup *grp; /* per group */
} Fuse;

/* The group node v may join, or -1: all its (non-dim) users are in one
 * group, and that group admits it (ir_group_admits: it broadcasts to the
 * domain, and if stored or returned it has the domain's shape in an
 * elementwise group). */
static int join_target(const Fuse *F, int v) {
  const IrNode *nd = &F->f->nodes[v];
  if (!op_is(nd->op, OPF_ELEMWISE)) return -1;
  int g = -1, nstores = 0;
  for (int i = 0; i < F->nuse[v]; i++) {
    const IrNode *u = &F->f->nodes[F->use[v][i]];
    if (u->op == OP_DIM) continue;
    if (u->op == OP_STORE) {
      nstores++;
      continue;
    }
    if (u->group < 0 || (g >= 0 && u->group != g)) return -1;
    g = u->group;
  }
  char why[200];
  if (g < 0 || !ir_group_admits(&F->grp[g], nd, nstores || F->returned[v], why, sizeof why)) return -1;
  return g;
}

/* Horizontal fusion: every elementwise group whose values nothing but
 * stores read (each parameter's optimizer update) joins the first such
 * group, as one more part; the parts run as one dispatch. They are
 * independent: nothing reads them, so no path leads from one to another. */
static void merge_sinks(Fuse *F, int ngroups) {
  IrFunc *f = F->f;
  bool *sink = malloc((size_t)ngroups + 1);
  if (!sink) unreachable("out of memory");
  for (int g = 0; g < ngroups; g++)
    sink[g] = F->grp[g].kind == IR_GK_EW;
  for (int v = 0; v < f->n; v++) {
    int g = f->nodes[v].group;
    if (g < 0 || f->nodes[v].op == OP_STORE) continue;
    if (F->returned[v]) sink[g] = false;
    for (int i = 0; i < F->nuse[v]; i++) {
      const IrNode *u = &f->nodes[F->use[v][i]];
      if (u->op != OP_STORE && u->op != OP_DIM && u->group != g) sink[g] = false;
    }
  }
  int target = -1;
  for (int g = 0; g < ngroups; g++)
    if (sink[g] && target < 0) target = g;
  for (int v = 0; v < f->n && target >= 0; v++) {
    int g = f->nodes[v].group;
    if (g < 0 || g == target || !sink[g]) continue;
    f->nodes[v].group = target;
    F->grp[target].nmem++;
  }
  free(sink);
}

static void fuse_func(IrFunc *f, bool vertical, bool horizontal) {
  ir_func_forget_memory(f); /* the kernels change, and with them what lives where */
  int n = f->n;
  Fuse F = {.f = f};
  F.nuse = calloc((size_t)n + 1, sizeof *F.nuse);
  F.use = calloc((size_t)n + 1, sizeof *F.use);
  F.returned = calloc((size_t)n + 1, 1);
  F.grp = calloc((size_t)n + 1, sizeof *F.grp);
  int *fill = calloc((size_t)n + 1, sizeof *fill), *renum = calloc((size_t)n + 1, sizeof *renum);
  if (!F.nuse || !F.use || !F.returned || !F.grp || !fill || !renum)
    unreachable("out of memory");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < f->nodes[i].nargs; j++)
      F.nuse[f->nodes[i].args[j]]++;
  for (int i = 0; i < n; i++) {
    F.use[i] = malloc(sizeof(int) * (size_t)(F.nuse[i] + 1));
    if (!F.use[i]) unreachable("out of memory");
  }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < f->nodes[i].nargs; j++) {
      int a = f->nodes[i].args[j];
      F.use[a][fill[a]++] = i;
    }
  for (int r = 0; r < f->nrets; r++)
    F.returned[f->rets[r]] = true;

  int ngroups = 0;
  for (int v = n - 1; v >= 0; v--) {
    IrNode *nd = &f->nodes[v];
    nd->group = -1;
    if (!op_is(nd->op, OPF_ELEMWISE) && !ir_group_root_op(nd->op)) continue;
    int g = vertical ? join_target(&F, v) : -1;
    if (g < 0) F.grp[g = ngroups++] = ir_group_start(f, v);
    nd->group = g;
    F.grp[g].nmem++;
  }
  if (horizontal) merge_sinks(&F, ngroups);
  /* Stores ride with the elementwise group that computes their value (which
   * admitted it with the domain's shape). */
  for (int s = 0; s < n; s++) {
    IrNode *st = &f->nodes[s];
    if (st->op != OP_STORE) continue;
    int g = f->nodes[st->args[0]].group;
    st->group = g >= 0 && F.grp[g].kind == IR_GK_EW ? g : -1;
  }
  /* A group of one is no group: renumber the rest densely in node order. */
  int next = 0;
  for (int g = 0; g < ngroups; g++)
    renum[g] = -1;
  for (int i = 0; i < n; i++) {
    int g = f->nodes[i].group;
    if (g < 0) continue;
    if (F.grp[g].nmem < 2) {
      f->nodes[i].group = -1;
      continue;
    }
    if (renum[g] < 0) renum[g] = next++;
    f->nodes[i].group = renum[g];
  }
  for (int i = 0; i < n; i++)
    free(F.use[i]);
  free(F.nuse), free(F.use), free(F.returned), free(F.grp);
  free(fill), free(renum);
}

/* --fuse=<kinds>: a comma list of the fusions to do, from vertical and
 * horizontal (default: both). */
bool pass_fuse(IrModule *m, PassCtx *ctx) {
  const char *opt = pass_option(ctx, "fuse");
  bool vertical = !opt, horizontal = !opt;
  for (const char *p = opt; p && *p;) {
    size_t len = strcspn(p, ",");
    if (len == 8 && !strncmp(p, "vertical", len)) vertical = true;
    else if (len == 10 && !strncmp(p, "horizontal", len)) horizontal = true;
    else if (len) {
      diag_fatal(ctx->diag, "--fuse: unknown fusion '%.*s' (expected vertical, horizontal or both, comma-separated)",
                 (int)len, p);
      return false;
    }
    p += len + (p[len] == ',');
  }
  for (int i = 0; i < m->nfuncs; i++)
    fuse_func(m->funcs[i], vertical, horizontal);
  return true;
}
