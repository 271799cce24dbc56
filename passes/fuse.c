/* fuse.c — vertical fusion: assigns IrNode.group so that chains of
 * elementwise ops run as one loop nest and their intermediate values never
 * touch memory; GEMM epilogues: the elementwise ops that consume a matmul's
 * product (bias, activation, the activation's gradient) run on each block
 * of the product while it is still in cache.
 *
 * Requires: a valid module (operands precede their users). Groups from an
 * earlier run are discarded.
 * Guarantees the rule of ir/groups.c (which decides what may join a group;
 * the verifier checks it and the backends trust it), here in the words of
 * what this pass builds. For every group (group ids are dense from 0 per
 * function; -1 marks a node alone):
 *   - it has one root: an elementwise op, a reduction (sum/mean/max), a
 *     softmax/log_softmax, or (epilogue) a matmul computed as one GEMM;
 *     every other member is elementwise, except in a row group: there a
 *     softmax or a reduction over the last axis alone joins the group of
 *     its readers when they work on the same rows (layer norm, cross-
 *     entropy and their gradients become one kernel each, a few passes over
 *     each row while it is in cache);
 *   - the group's domain is the root's shape (elementwise root, matmul:
 *     the members are the product's epilogue) or the root's operand's shape
 *     (reduction, softmax: the fused members are its prologue, evaluated at
 *     every input index); every member's shape broadcasts to the domain, so
 *     a scalar or a bias row computed inside the group is evaluated once per
 *     loop level that needs it;
 *   - no member but the root is read outside the group, except by stores
 *     (an elementwise group writes a stored member straight to the global:
 *     the Adam update is one group that reads w, g, m, v and writes w, m,
 *     v), and such stored members have the domain's shape; stores of a
 *     group's values carry its id (they are not computed, only attached);
 *     with `shared`, elementwise and GEMM groups also export members of the
 *     domain's shape that later groups read;
 *   - groups can be ordered: no path leaves a group and comes back into it.
 * Free nodes (input, global, const, dim, and the layout ops: reshape,
 * transpose, broadcast, slice) are never grouped: the backend inlines constants and folds views into
 * its indexing anyway. Onehot stays alone, and so does a matmul unless it
 * roots an epilogue.
 *
 * The walk goes from the last node to the first: when a node is reached all
 * its users already have their groups, and it joins theirs if they agree.
 * dim users do not count as uses (they read only a shape). Two refinements:
 *   - epilogue (qepilogue for an int8 qmatmul): a matmul whose users are
 *     all in one elementwise group of the product's shape becomes that
 *     group's root (the group's kind turns GEMM), unless the group stores
 *     (an optimizer update is one dispatch with every other parameter's,
 *     writing the globals in place);
 *   - shared: an elementwise node read by several groups joins the first of
 *     them, exported to the rest (relu's input, which the backward pass
 *     reads again, stays in the forward GEMM's epilogue). This is legal when
 *     every other reader's group starts after the joined group ends (node
 *     ids increase along every path, so nothing leads back into it). */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

typedef struct Fuse {
  IrFunc *f;
  int *nuse, **use; /* users of each node */
  bool *returned;
  IrGroup *grp; /* per group */
  int *gmin, *gmax; /* per group: its lowest and highest member so far */
  bool *gstores;    /* per group: a member is stored */
  bool shared;      /* the `shared` fusion kind */
} Fuse;

/* Would v, joining group g, be read by nothing that leads back into g?
 * Every non-dim reader outside g must be in a unit that starts after g
 * ends: a node alone, or a group whose lowest member, after g's highest
 * (a path only visits increasing node ids). */
static bool readers_after(const Fuse *F, int v, int g) {
  for (int i = 0; i < F->nuse[v]; i++) {
    int u = F->use[v][i];
    const IrNode *un = &F->f->nodes[u];
    if (un->op == OP_DIM || un->op == OP_STORE || un->group == g) continue; /* a store leads nowhere */
    int start = un->group >= 0 ? F->gmin[un->group] : u;
    if (start <= F->gmax[g]) return false;
  }
  return true;
}

/* Is v, joining group g, read outside it (stored, returned, or read by
 * another unit)? Its users have their groups already. */
static bool read_outside(const Fuse *F, int v, int g) {
  if (F->returned[v]) return true;
  for (int i = 0; i < F->nuse[v]; i++) {
    const IrNode *u = &F->f->nodes[F->use[v][i]];
    if (u->op != OP_DIM && (u->op == OP_STORE || u->group != g)) return true;
  }
  return false;
}

/* The group node v may join, or -1: all its (non-dim) users are in one
 * group, and that group admits it (ir_group_admits: it broadcasts to the
 * domain, and if stored or returned it has the domain's shape in an
 * elementwise group). With `shared`, when its readers are in several
 * units, the group of its first reader that admits it exported and that
 * nothing of the other readers leads back into. */
static bool takes(const Fuse *F, int g, int v, bool exported) {
  const IrNode *nd = &F->f->nodes[v];
  /* v joins the group of (one of) its readers, which then read it inside:
   * the rule allows that of a reduction only with keepdims. */
  if (op_is(nd->op, OPF_REDUCE) && !nd->at.keepdims) return false;
  char why[200];
  if (!ir_group_admits(F->f, &F->grp[g], v, exported, why, sizeof why)) return false;
  /* Rows along the last axis only: a row kernel walks each row innermost,
   * and another axis would make that walk strided. */
  IrGroup t = F->grp[g];
  ir_group_add(F->f, &t, v, exported);
  return t.kind != IR_GK_ROW || t.axis == t.domain.rank - 1;
}

static int join_target(const Fuse *F, int v) {
  const IrNode *nd = &F->f->nodes[v];
  if (!op_is(nd->op, OPF_ELEMWISE | OPF_REDUCE | OPF_ROWWISE)) return -1;
  int g = -1, nstores = 0;
  bool one = true;
  for (int i = 0; i < F->nuse[v]; i++) {
    const IrNode *u = &F->f->nodes[F->use[v][i]];
    if (u->op == OP_DIM) continue;
    if (u->op == OP_STORE) {
      nstores++;
      continue;
    }
    if (u->group < 0 || (g >= 0 && u->group != g)) one = false;
    if (g < 0) g = u->group;
  }
  if (one) return g >= 0 && takes(F, g, v, nstores || F->returned[v]) ? g : -1;
  if (!F->shared) return -1;
  /* Users are in node order: their groups come in order of first reader. */
  for (int i = 0; i < F->nuse[v]; i++) {
    int c = F->f->nodes[F->use[v][i]].group;
    if (c < 0 || F->f->nodes[F->use[v][i]].op == OP_STORE || F->f->nodes[F->use[v][i]].op == OP_DIM) continue;
    if (takes(F, c, v, true) && readers_after(F, v, c)) return c;
  }
  return -1;
}

/* The elementwise group a matmul v may root as its epilogue, or -1: all
 * its users are in that group, which has no root yet, has the product's
 * shape as its domain, and stores nothing (ir_group_can_root: v is one
 * GEMM). */
static int gemm_target(const Fuse *F, int v) {
  const IrNode *nd = &F->f->nodes[v];
  char why[200];
  if (!ir_group_can_root(F->f, v, why, sizeof why)) return -1;
  int g = -1;
  for (int i = 0; i < F->nuse[v]; i++) {
    const IrNode *u = &F->f->nodes[F->use[v][i]];
    if (u->op == OP_DIM) continue;
    if (u->group < 0 || (g >= 0 && u->group != g)) return -1;
    g = u->group;
  }
  if (g < 0 || F->grp[g].kind != IR_GK_EW || F->gstores[g] || !ir_shape_eq(&nd->ty.sh, &F->grp[g].domain)) return -1;
  return g;
}

/* Bias gradients into epilogues: a reduction group summing over every axis
 * but the last (its root and any prologue) joins the GEMM group whose
 * values it reads, so the sums are taken block by block while each block
 * of the product is in cache (the GEMM then runs in blocks of whole
 * columns). Legal when the GEMM group admits every member, nothing of the
 * GEMM group reads the sum (its readers start after the group ends), and
 * the prologue's other operands cannot depend on the GEMM group (sources,
 * or nodes before its first member: ids increase along every path). */
static void attach_row_sums(Fuse *F, int *ngroups) {
  IrFunc *f = F->f;
  char why[200];
  for (int r = 0; r < *ngroups; r++) {
    if (F->grp[r].kind != IR_GK_REDUCE || F->grp[r].nmem < 1) continue;
    int v = F->grp[r].root, gu = -1, lone = -1;
    bool ok = true;
    /* The GEMM group: the one group read, or a matmul alone, which then
     * roots a group of its own (its epilogue the sum alone). */
    for (int m = F->gmin[r]; m <= v && ok; m++)
      for (int j = 0; f->nodes[m].group == r && j < f->nodes[m].nargs; j++) {
        int a = f->nodes[m].args[j], ga = f->nodes[a].group;
        if (ga < 0 && op_is(f->nodes[a].op, OPF_CONTRACT) && ir_group_can_root(f, a, why, sizeof why)) {
          ok = gu < 0 && (lone < 0 || lone == a); /* one matmul alone, and no GEMM group besides */
          lone = a;
        } else if (ga >= 0 && ga != r) {
          ok = F->grp[ga].kind == IR_GK_GEMM && lone < 0 && (gu < 0 || gu == ga); /* one GEMM group */
          gu = ga;
        }
      }
    if (ok && lone >= 0) {
      gu = (*ngroups)++;
      F->grp[gu] = ir_group_start(f, lone);
      F->grp[gu].nmem = 1;
      F->gmin[gu] = F->gmax[gu] = lone;
      f->nodes[lone].group = gu;
    }
    ok = ok && gu >= 0 && ir_group_admits(f, &F->grp[gu], v, true, why, sizeof why) && readers_after(F, v, gu);
    for (int m = F->gmin[r]; m <= v && ok; m++) {
      if (f->nodes[m].group != r) continue;
      if (m != v) ok = ir_group_admits(f, &F->grp[gu], m, false, why, sizeof why);
      for (int j = 0; j < f->nodes[m].nargs && ok; j++) {
        int a = f->nodes[m].args[j], ga = f->nodes[a].group;
        if (ga < 0 && !op_is(f->nodes[a].op, OPF_SOURCE) && f->nodes[a].op != OP_DIM) ok = a < F->gmin[gu];
      }
    }
    if (!ok) {
      if (lone >= 0 && gu >= 0) f->nodes[lone].group = -1, F->grp[gu].nmem = 0; /* a group of none */
      continue;
    }
    for (int m = F->gmin[r]; m <= v; m++)
      if (f->nodes[m].group == r) {
        f->nodes[m].group = gu;
        ir_group_add(f, &F->grp[gu], m, m == v);
      }
    if (v > F->gmax[gu]) F->gmax[gu] = v;
    F->grp[r].nmem = 0;
  }
}

/* Siblings: elementwise groups of one domain joined by an operand edge
 * (one reads a value the other computes) become one group, when the merged
 * group can still be ordered (ir_group_schedule: no path leaves it and
 * comes back). The backward step of a recurrent cell is the case: its
 * gate gradients all read the cell state's gradient and each other's
 * gates, so the walk above splits them into a group per gate (a value read
 * by several groups joins at most the first, under `shared`, and only when
 * no other reader starts before that group ends), five kernels and their
 * values in memory where one loop over [B, H] computes them all. The
 * merged group exports what was read outside either part; its exports all
 * have the domain's shape (both parts' did), so it follows ir/groups.c's
 * rule for an elementwise group, with one part (the edge joins them).
 * Only groups side by side merge: nothing else computes between their
 * first and last members (adjacent), so no work moves across another
 * kernel and no value lives longer.
 * Groups that store (the optimizer's updates: horizontal fusion's sinks)
 * stay as they are. Merging into the earlier group, repeated while one
 * merge enables another. */
/* Do groups a and b span a stretch of nodes where nothing else computes
 * but elementwise candidates of their domain (free nodes, dim and stores
 * aside)? Merged, a group runs where its last member's inputs are ready, so
 * merging across another kernel (a product, a reduction, a copy) would move
 * the earlier group's work, and with it the lives of its operands and
 * results, to the later one: remat's late copy of a value would join the
 * group of the value itself, undoing it (char_gpt's arena grew 24 %). A
 * cell's gate gradients are groups of one domain interleaved in one
 * stretch of the IR. */
static bool adjacent(const Fuse *F, const bool *ew, int a, int b) {
  int lo = F->gmin[a] < F->gmin[b] ? F->gmin[a] : F->gmin[b], hi = F->gmax[a] > F->gmax[b] ? F->gmax[a] : F->gmax[b];
  for (int i = lo; i <= hi; i++) {
    const IrNode *nd = &F->f->nodes[i];
    int g = nd->group;
    if (g == a || g == b || nd->op == OP_DIM || nd->op == OP_STORE || op_is(nd->op, OPF_SOURCE | OPF_LAYOUT)) continue;
    if (g < 0 || !ew[g] || !ir_shape_eq(&F->grp[g].domain, &F->grp[a].domain)) return false;
  }
  return true;
}

static void merge_siblings(Fuse *F, int ngroups) {
  IrFunc *f = F->f;
  bool *ew = malloc((size_t)ngroups + 1);
  int *saved = malloc(sizeof(int) * ((size_t)f->n + 1));
  if (!ew || !saved) unreachable("out of memory");
  for (int g = 0; g < ngroups; g++)
    ew[g] = F->grp[g].nmem > 0 && F->grp[g].kind == IR_GK_EW && !F->gstores[g];
  for (bool changed = true; changed;) {
    changed = false;
    /* Each operand edge between two candidate groups of one domain. */
    for (int v = 0; v < f->n; v++) {
      int b = f->nodes[v].group;
      if (b < 0 || !ew[b] || f->nodes[v].op == OP_STORE) continue;
      for (int j = 0; j < f->nodes[v].nargs; j++) {
        int a = f->nodes[f->nodes[v].args[j]].group;
        if (a < 0 || a == b || !ew[a] || !ir_shape_eq(&F->grp[a].domain, &F->grp[b].domain)) continue;
        int into = F->gmin[a] < F->gmin[b] ? a : b, from = into == a ? b : a;
        if (!adjacent(F, ew, into, from)) continue;
        for (int i = 0; i < f->n; i++) {
          saved[i] = f->nodes[i].group;
          if (saved[i] == from) f->nodes[i].group = into;
        }
        if (!ir_group_schedule(f, NULL, NULL)) { /* a path would leave the merged group and come back */
          for (int i = 0; i < f->n; i++) f->nodes[i].group = saved[i];
          continue;
        }
        F->grp[into].nmem += F->grp[from].nmem;
        F->grp[from].nmem = 0;
        ew[from] = false;
        if (F->gmin[from] < F->gmin[into]) F->gmin[into] = F->gmin[from];
        if (F->gmax[from] > F->gmax[into]) F->gmax[into] = F->gmax[from];
        changed = true;
        b = f->nodes[v].group;
      }
    }
  }
  free(ew);
  free(saved);
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

static void fuse_func(IrFunc *f, bool vertical, bool horizontal, bool epilogue, bool shared, bool qepilogue,
                      bool siblings) {
  ir_func_forget_memory(f); /* the kernels change, and with them what lives where */
  int n = f->n;
  Fuse F = {.f = f};
  F.nuse = calloc((size_t)n + 1, sizeof *F.nuse);
  F.use = calloc((size_t)n + 1, sizeof *F.use);
  F.returned = calloc((size_t)n + 1, 1);
  F.grp = calloc((size_t)n + 1, sizeof *F.grp);
  F.gmin = calloc((size_t)n + 1, sizeof *F.gmin);
  F.gmax = calloc((size_t)n + 1, sizeof *F.gmax);
  F.gstores = calloc((size_t)n + 1, 1);
  F.shared = shared;
  int *fill = calloc((size_t)n + 1, sizeof *fill), *renum = calloc((size_t)n + 1, sizeof *renum);
  if (!F.nuse || !F.use || !F.returned || !F.grp || !F.gmin || !F.gmax || !F.gstores || !fill || !renum)
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
    int g;
    if (ir_group_gemm_op(nd->op)) { /* an epilogue's root, or alone */
      bool wanted = nd->op == OP_QMATMUL ? qepilogue : epilogue;
      if ((g = wanted ? gemm_target(&F, v) : -1) < 0) continue;
      F.grp[g].kind = IR_GK_GEMM, F.grp[g].root = v;
      F.grp[g].nmem++;
    } else if ((g = vertical ? join_target(&F, v) : -1) >= 0) {
      ir_group_add(f, &F.grp[g], v, read_outside(&F, v, g));
    } else {
      F.grp[g = ngroups++] = ir_group_start(f, v);
      F.grp[g].nmem = 1;
      F.gmax[g] = v;
    }
    nd->group = g;
    F.gmin[g] = v;
    for (int i = 0; i < F.nuse[v]; i++)
      F.gstores[g] |= f->nodes[F.use[v][i]].op == OP_STORE;
  }
  if (epilogue) attach_row_sums(&F, &ngroups);
  if (siblings) merge_siblings(&F, ngroups);
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
  free(F.nuse), free(F.use), free(F.returned), free(F.grp), free(F.gmin), free(F.gmax), free(F.gstores);
  free(fill), free(renum);
}

/* --fuse=<kinds>: a comma list of the fusions to do. By default vertical,
 * horizontal, shared and qepilogue: shared is what lets a row group keep the values
 * its backward pass reads (layer norm's centred values and deviation,
 * cross-entropy's log-probabilities) as exports instead of splitting at
 * them. Epilogues cut kernels too (the MLP's train_step from 23 dispatches
 * to 18) but their time gain measured within the noise on the 2-core
 * machine (about 1% predicted), so they are asked for until a quiet
 * measurement says they pay. qepilogue, the same for int8 qmatmul, is on:
 * our own kernel calls it on each block of rows it has just computed (no
 * OpenBLAS blocking to work around), it saves a dispatch per layer with the
 * same bits, and it measured no slower (docs/optimize.md, "Post-training
 * int8"). */
bool pass_fuse(IrModule *m, PassCtx *ctx) {
  static const char *const kinds[] = {"vertical", "horizontal", "epilogue", "shared", "qepilogue", "siblings"};
  static const bool by_default[] = {true, true, false, true, true, true};
  enum { NKINDS = sizeof kinds / sizeof *kinds };
  const char *opt = pass_option(ctx, "fuse");
  bool on[NKINDS];
  for (int k = 0; k < NKINDS; k++)
    on[k] = !opt && by_default[k];
  for (const char *p = opt; p && *p;) {
    size_t len = strcspn(p, ",");
    int k = 0;
    while (k < NKINDS && (strlen(kinds[k]) != len || strncmp(p, kinds[k], len)))
      k++;
    if (k < NKINDS) on[k] = true;
    else if (len) {
      diag_fatal(ctx->diag,
                 "--fuse: unknown fusion '%.*s' (expected some of vertical, horizontal, epilogue, shared, "
                 "qepilogue, siblings, comma-separated)",
                 (int)len, p);
      return false;
    }
    p += len + (p[len] == ',');
  }
  for (int i = 0; i < m->nfuncs; i++)
    fuse_func(m->funcs[i], on[0], on[1], on[2], on[3], on[4], on[5]);
  return true;
}
