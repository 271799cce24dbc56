/* groups.c — what a fusion group may be: the one rule that the fuse pass
 * forms groups by, the verifier checks hand-written groups against, and the
 * kernel plan (codegen/plan.c) trusts without deciding again.
 *
 * A group is the set of nodes of one function sharing an IrNode.group id
 * >= 0; it runs as one kernel (docs/ir.md, "Fusion groups"). Its kind comes
 * from its non-elementwise members, the roots:
 *   elementwise  no root; the domain is the shape of the values the group
 *                exports, which all have exactly that shape;
 *   reduction    one root, a reduction; the elementwise members are its
 *                prologue, evaluated at every index of the root's operand
 *                (the domain), and only the root is exported;
 *   row          roots that each work row by row along one axis, the row
 *                axis, of one operand shape, the domain: softmax and
 *                log_softmax along it, reductions over it alone (layernorm's
 *                means, cross-entropy's row sum, softmax's gradient). Each
 *                row is one unit of work: the kernel makes as many passes
 *                over it as the chain of roots needs (a member may read a
 *                root, as `x - mean(x)` does), all while the row is in
 *                cache. Any member may be exported, with the domain's shape
 *                or with one value per row (the domain with the row axis 1,
 *                or without it); a reduction without keepdims is only
 *                exported, never read inside (its values are not indexed
 *                like the domain's). A group without roots whose exports
 *                include per-row values is a row group too;
 *   GEMM         the root is a matmul computed as one GEMM: [M,N], or
 *                [G,M,K] x [K,N] as one GEMM of G*M rows (a batch of
 *                products, 3-d by 3-d, is a loop of GEMMs and roots
 *                nothing), or an int8 qmatmul (its rows: every axis of a
 *                but the last; qconv2d's NCHW tiles are not rectangles of
 *                rows x the last axis, so it roots nothing); the elementwise members are its epilogue,
 *                evaluated over each block of the product right after the
 *                block is computed; the domain is the product's shape; the
 *                root and any member may be exported, a member with exactly
 *                the domain's shape; and no member is an operand of the
 *                root (the epilogue runs after the product, never before).
 *                One more root may join: a sum over every axis but the last
 *                of a value of the domain's shape (a bias gradient), summed
 *                block by block (the blocks are then whole columns), which
 *                no member reads (not under a qmatmul, whose epilogue
 *                runs on blocks of whole rows);
 * and for every kind: every member broadcasts to the domain (a bias row or a
 * scalar in a group is evaluated once per loop level that needs it); a store
 * carrying the id stores a member of the group; and the groups can be
 * ordered (no path leaves a group and comes back into it).
 * A group may have several parts: pieces not joined by any operand edge
 * (horizontal fusion). Each part follows the rule above on its own, with
 * its own roots and domain; the order rule makes them independent, and they
 * run as one dispatch (the optimizer update of every parameter at once).
 * A GEMM group has one part: its dispatch is the GEMM's own.
 * A value is exported when something outside the group reads it (dim nodes
 * read only a shape and do not count), a store writes it, or it is returned.
 *
 * The order of kernels (ir_group_schedule) is part of the same rule: a
 * topological order of the units (a group, or a node alone) that keeps the
 * node order wherever it can. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

int ir_group_count(const IrFunc *f) {
  int n = 0;
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].group >= n) n = f->nodes[i].group + 1;
  return n;
}

bool ir_group_root_op(OpKind op) { return op_is(op, OPF_REDUCE | OPF_ROWWISE) || ir_group_gemm_op(op); }

bool ir_group_gemm_op(OpKind op) { return op_is(op, OPF_CONTRACT) || op == OP_QMATMUL; }

bool ir_group_can_root(const IrFunc *f, int v, char *why, size_t len) {
  const IrNode *nd = &f->nodes[v];
  if (op_is(nd->op, OPF_CONTRACT) && f->nodes[nd->args[1]].ty.sh.rank != 2)
    return snprintf(why, len, "a batch of products (3-d by 3-d) is a loop of GEMMs and cannot root a group"), false;
  return true;
}

int ir_group_row_axis(const IrFunc *f, int v) {
  const IrNode *nd = &f->nodes[v];
  if (op_is(nd->op, OPF_ROWWISE)) return nd->at.axis;
  if (op_is(nd->op, OPF_REDUCE) && nd->at.naxes == 1) return nd->at.axes[0];
  return -1;
}

IrGroup ir_group_start(const IrFunc *f, int v) {
  const IrNode *nd = &f->nodes[v];
  IrGroup g = {.kind = IR_GK_EW, .root = -1, .axis = -1, .domain = nd->ty.sh};
  if (ir_group_gemm_op(nd->op)) {
    g.kind = IR_GK_GEMM; /* the epilogue runs over the product itself */
    g.root = v;
  } else if (ir_group_root_op(nd->op)) {
    g.kind = op_is(nd->op, OPF_REDUCE) ? IR_GK_REDUCE : IR_GK_ROW;
    g.root = v;
    g.axis = ir_group_row_axis(f, v);
    g.domain = f->nodes[nd->args[0]].ty.sh;
  }
  return g;
}

/* Is s one value per row of dom along axis: dom with that axis 1, or
 * without it? */
static bool per_row(const Shape *s, const Shape *dom, int axis) {
  if (axis < 0 || axis >= dom->rank) return false;
  if (s->rank == dom->rank) {
    for (int d = 0; d < dom->rank; d++)
      if (s->d[d] != (d == axis ? 1 : dom->d[d])) return false;
    return true;
  }
  if (s->rank != dom->rank - 1) return false;
  for (int d = 0, j = 0; d < dom->rank; d++)
    if (d != axis && s->d[j++] != dom->d[d]) return false;
  return true;
}

/* The axis along which s is one value per row of dom (the one dim where
 * s has 1 and dom does not), or -1. */
static int row_axis_of(const Shape *s, const Shape *dom) {
  if (s->rank != dom->rank) return -1;
  int axis = -1;
  for (int d = 0; d < dom->rank; d++)
    if (s->d[d] != dom->d[d]) {
      if (axis >= 0 || s->d[d] != 1) return -1;
      axis = d;
    }
  return axis;
}

/* Is v a sum over every axis of the domain but the last (a bias gradient
 * over the rows of a GEMM's product)? */
static bool sums_rows(const IrFunc *f, const IrGroup *g, int v) {
  const IrNode *nd = &f->nodes[v];
  if (nd->op != OP_SUM || nd->at.naxes != g->domain.rank - 1) return false;
  for (int j = 0; j < nd->at.naxes; j++)
    if (nd->at.axes[j] != j) return false;
  return true;
}

static bool admits_root(const IrFunc *f, const IrGroup *g, int v, char *why, size_t len) {
  const IrNode *nd = &f->nodes[v];
  if (g->kind == IR_GK_GEMM) {
    if (f->nodes[g->root].op == OP_QMATMUL)
      return snprintf(why, len, "qmatmul's epilogue runs on blocks of rows, so it takes no reduction"), false;
    if (!sums_rows(f, g, v))
      return snprintf(why, len,
                      "a matmul's epilogue takes one kind of reduction: a sum over every axis but the last (a bias "
                      "gradient)"),
             false;
    if (!ir_shape_eq(&f->nodes[nd->args[0]].ty.sh, &g->domain))
      return snprintf(why, len, "its operand does not have the product's shape"), false;
    return true;
  }
  int axis = ir_group_row_axis(f, v);
  if (axis < 0)
    return snprintf(why, len, "only a softmax or a reduction over one axis may join a group as a further root"), false;
  if (g->kind == IR_GK_REDUCE && g->axis < 0)
    return snprintf(why, len, "the group's reduction is over several axes, so it has no rows to share"), false;
  if (g->axis >= 0 && axis != g->axis)
    return snprintf(why, len, "it works along axis %d, but the group's rows run along axis %d", axis, g->axis), false;
  if (!ir_shape_eq(&f->nodes[nd->args[0]].ty.sh, &g->domain))
    return snprintf(why, len, "its operand does not have the group's domain shape"), false;
  return true;
}

bool ir_group_admits(const IrFunc *f, const IrGroup *g, int v, bool exported, char *why, size_t len) {
  const IrNode *nd = &f->nodes[v];
  if (op_is(nd->op, OPF_REDUCE | OPF_ROWWISE)) return admits_root(f, g, v, why, len);
  if (!op_is(nd->op, OPF_ELEMWISE))
    return snprintf(why, len, "%s is neither elementwise nor a root the group can take", ir_ops[nd->op].mnemonic), false;
  if (!ir_broadcasts_to(&nd->ty.sh, &g->domain))
    return snprintf(why, len, "its shape does not broadcast to the group's domain"), false;
  if (g->kind == IR_GK_GEMM)
    for (int j = 0; j < f->nodes[g->root].nargs; j++)
      if (f->nodes[g->root].args[j] == v)
        return snprintf(why, len, "it is an operand of the group's matmul, but an epilogue runs after the product"),
               false;
  if (!exported || ir_shape_eq(&nd->ty.sh, &g->domain)) {
    if (exported && g->kind == IR_GK_REDUCE && g->axis < 0)
      return snprintf(why, len, "it is read outside the group, but only the root of a reduction over several axes may be"),
             false;
    return true;
  }
  int axis = g->axis >= 0 ? g->axis : g->kind == IR_GK_EW ? row_axis_of(&nd->ty.sh, &g->domain) : -1;
  if (g->kind == IR_GK_GEMM)
    return snprintf(why, len, "it is read outside the group but does not have the domain's shape"), false;
  if (per_row(&nd->ty.sh, &g->domain, axis)) return true;
  return snprintf(why, len,
                  "it is read outside the group but has neither the domain's shape nor one value per row of it"),
         false;
}

void ir_group_add(const IrFunc *f, IrGroup *g, int v, bool exported) {
  const IrNode *nd = &f->nodes[v];
  g->nmem++;
  if (g->kind == IR_GK_GEMM) return; /* a bias gradient joins the epilogue */
  if (op_is(nd->op, OPF_REDUCE | OPF_ROWWISE)) {
    g->axis = ir_group_row_axis(f, v);
    if (g->root < 0) g->root = v;
    g->kind = IR_GK_ROW;
  } else if (exported && g->kind == IR_GK_REDUCE) {
    g->kind = IR_GK_ROW; /* the prologue's value is wanted too: rows make the passes */
  } else if (exported && g->kind == IR_GK_EW && !ir_shape_eq(&nd->ty.sh, &g->domain)) {
    g->kind = IR_GK_ROW;
    g->axis = row_axis_of(&nd->ty.sh, &g->domain);
  }
}

/* Which nodes are exported: read by a node of another group or alone (dim
 * excluded), stored, or returned. */
static void exported_flags(const IrFunc *f, bool *exported) {
  for (int i = 0; i < f->n; i++) {
    const IrNode *u = &f->nodes[i];
    if (u->op == OP_DIM) continue;
    for (int j = 0; j < u->nargs; j++) {
      int a = u->args[j];
      if (u->op == OP_STORE || f->nodes[a].group < 0 || f->nodes[a].group != u->group) exported[a] = true;
    }
  }
  for (int r = 0; r < f->nrets; r++)
    exported[f->rets[r]] = true;
}

static bool group_error(Diag *d, const IrFunc *f, int v, const char *fmt, const char *why) {
  if (!d) return false;
  const IrNode *nd = &f->nodes[v];
  char me[64];
  if (nd->name && *nd->name)
    snprintf(me, sizeof me, "%%%s", nd->name);
  else
    snprintf(me, sizeof me, "%%%d", v);
  diag_error(d, nd->loc, "verify: %s: %s (%s) in group %d: %s%s", f->name, me, ir_ops[nd->op].mnemonic, nd->group, fmt,
             why);
  return false;
}

static int find(int *up, int x) {
  while (up[x] != x)
    x = up[x] = up[up[x]];
  return x;
}

/* Parts: the connected pieces of each group (members joined by operand
 * edges), numbered densely in node order; a store is in its value's part. */
static int split_parts(const IrFunc *f, int *part_of) {
  int n = f->n;
  int *up = malloc(sizeof(int) * (size_t)(n + 1)), *id = malloc(sizeof(int) * (size_t)(n + 1));
  if (!up || !id) unreachable("out of memory");
  for (int i = 0; i < n; i++)
    up[i] = i, id[i] = -1;
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &f->nodes[i];
    if (nd->group < 0 || nd->op == OP_STORE) continue;
    for (int j = 0; j < nd->nargs; j++) {
      int a = nd->args[j];
      if (f->nodes[a].group == nd->group) up[find(up, a)] = find(up, i);
    }
  }
  int np = 0;
  for (int i = 0; i < n; i++) {
    const IrNode *nd = &f->nodes[i];
    part_of[i] = -1;
    if (nd->group < 0 || nd->group > n) continue;
    int r = find(up, nd->op == OP_STORE ? nd->args[0] : i);
    if (nd->op == OP_STORE && f->nodes[nd->args[0]].group != nd->group) r = i; /* reported by the caller */
    if (id[r] < 0) id[r] = np++;
    part_of[i] = id[r];
  }
  free(up), free(id);
  return np;
}

int ir_groups_check(const IrFunc *f, IrGroup *parts, int *part_of, Diag *d) {
  bool ok = true;
  bool *exported = calloc((size_t)f->n + 1, 1);
  bool *have = calloc((size_t)f->n + 1, 1);
  IrGroup *own = parts ? NULL : calloc((size_t)f->n + 1, sizeof *own);
  int *own_of = part_of ? NULL : malloc(sizeof(int) * (size_t)(f->n + 1));
  if (!exported || !have || (!parts && !own) || (!part_of && !own_of)) unreachable("out of memory");
  if (!parts) parts = own;
  if (!part_of) part_of = own_of;
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].group < -1 || f->nodes[i].group > f->n)
      ok = group_error(d, f, i, "group ids are -1 (none) or from 0 to the node count", "");
  int np = ok ? split_parts(f, part_of) : 0;
  exported_flags(f, exported);
  /* A part's first root (in node order) starts it; further roots join it
   * as members (ir_group_admits: a row group's). */
  for (int i = 0; i < f->n && ok; i++) {
    const IrNode *nd = &f->nodes[i];
    int q = part_of[i];
    if (q < 0 || nd->op == OP_STORE || !ir_group_root_op(nd->op) || have[q]) continue;
    have[q] = true;
    parts[q] = ir_group_start(f, i);
    char why[200];
    if (!ir_group_can_root(f, i, why, sizeof why)) ok = group_error(d, f, i, "", why);
  }
  /* Parts without a root: their domain is the shape every member
   * broadcasts to, which must be one of theirs (the rule then requires the
   * exported ones to have it, or one value per row of it). */
  for (int i = 0; i < f->n && ok; i++) {
    const IrNode *nd = &f->nodes[i];
    int q = part_of[i];
    if (q < 0 || nd->op == OP_STORE || !op_is(nd->op, OPF_ELEMWISE)) continue;
    if (!have[q]) {
      have[q] = true;
      parts[q] = ir_group_start(f, i);
    } else if (parts[q].root < 0 && ir_broadcasts_to(&parts[q].domain, &nd->ty.sh)) {
      parts[q].domain = nd->ty.sh;
    }
  }
  /* A member that reads a root makes a reduction's group a row group: the
   * root's value is known after a pass over the row. */
  for (int i = 0; i < f->n && ok; i++) {
    const IrNode *nd = &f->nodes[i];
    int q = part_of[i];
    if (q < 0 || nd->op == OP_STORE || !have[q]) continue;
    for (int j = 0; j < nd->nargs && ok; j++) {
      const IrNode *a = &f->nodes[nd->args[j]];
      if (part_of[nd->args[j]] != q || !op_is(a->op, OPF_REDUCE)) continue;
      if (!a->at.keepdims)
        ok = group_error(d, f, i, "it reads a reduction of its own group without keepdims, ",
                         "whose values are one per row, not indexed like the domain (keep the dims, or export it)");
      else if (parts[q].kind == IR_GK_GEMM)
        ok = group_error(d, f, i, "it reads the sum over the rows of the group's product, ",
                         "which is complete only after the GEMM's last block");
      else if (parts[q].kind == IR_GK_REDUCE && parts[q].axis < 0)
        ok = group_error(d, f, i, "it reads the group's reduction, which is over several axes: ",
                         "only a reduction along one row axis can be read inside its group");
      else if (parts[q].kind == IR_GK_REDUCE)
        parts[q].kind = IR_GK_ROW;
    }
  }
  char why[200];
  for (int i = 0; i < f->n && ok; i++) {
    const IrNode *nd = &f->nodes[i];
    int q = part_of[i];
    if (q < 0) continue;
    if (nd->op == OP_STORE) {
      if (f->nodes[nd->args[0]].group != nd->group || !have[q] || parts[q].kind != IR_GK_EW)
        ok = group_error(d, f, i, "a store in a group stores a member of an elementwise group", "");
      continue;
    }
    if (!have[q]) {
      ok = group_error(d, f, i, "a group's members are elementwise ops and at most one root", "");
      continue;
    }
    parts[q].group = nd->group;
    if (i == parts[q].root)
      parts[q].nmem++;
    else if (ir_group_admits(f, &parts[q], i, exported[i], why, sizeof why))
      ir_group_add(f, &parts[q], i, exported[i]);
    else
      ok = group_error(d, f, i, "", why);
  }
  /* A GEMM's epilogue runs inside the GEMM's own dispatch: no other part
   * can share it. */
  int *first = ok ? malloc(sizeof(int) * (size_t)(f->n + 1)) : NULL; /* per group id: a part of it */
  bool *several = ok ? calloc((size_t)f->n + 1, 1) : NULL;
  if (ok && (!first || !several)) unreachable("out of memory");
  for (int g = 0; ok && g <= f->n; g++)
    first[g] = -1;
  for (int i = 0; i < f->n && ok; i++) {
    int q = part_of[i], g = f->nodes[i].group;
    if (q < 0) continue;
    if (first[g] < 0) first[g] = q;
    else if (first[g] != q) several[g] = true;
  }
  for (int i = 0; i < f->n && ok; i++) {
    int q = part_of[i];
    if (q >= 0 && parts[q].root == i && parts[q].kind == IR_GK_GEMM && several[f->nodes[i].group])
      ok = group_error(d, f, i, "a group rooted at a matmul has one part (its epilogue runs in the GEMM's dispatch)", "");
  }
  free(first), free(several);
  free(exported), free(have), free(own), free(own_of);
  /* The order check also makes a group's parts independent: a path from
   * one part to another leaves the group and comes back into it. */
  if (ok && !ir_group_schedule(f, NULL, d)) ok = false;
  return ok ? np : -1;
}

/* ---- scheduling ---- */

/* A min-heap of units keyed by their last node. */
typedef struct Heap {
  int *k;
  int n;
  const int *key;
} Heap;

static void heap_push(Heap *h, int u) {
  int i = h->n++;
  h->k[i] = u;
  while (i > 0 && h->key[h->k[(i - 1) / 2]] > h->key[h->k[i]]) {
    int p = (i - 1) / 2, t = h->k[p];
    h->k[p] = h->k[i], h->k[i] = t, i = p;
  }
}

static int heap_pop(Heap *h) {
  int top = h->k[0];
  h->k[0] = h->k[--h->n];
  for (int i = 0;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && h->key[h->k[l]] < h->key[h->k[m]]) m = l;
    if (r < h->n && h->key[h->k[r]] < h->key[h->k[m]]) m = r;
    if (m == i) break;
    int t = h->k[m];
    h->k[m] = h->k[i], h->k[i] = t, i = m;
  }
  return top;
}

/* Units: group g is unit g; a node alone is unit ngroups + its id. */
bool ir_group_schedule(const IrFunc *f, int *rank, Diag *d) {
  int n = f->n, ng = ir_group_count(f), nu = ng + n;
  int *unit = malloc(sizeof(int) * (size_t)(n + 1)), *last = malloc(sizeof(int) * (size_t)(nu + 1));
  int *indeg = calloc((size_t)nu + 1, sizeof(int)), *nsucc = calloc((size_t)nu + 1, sizeof(int));
  int *urank = malloc(sizeof(int) * (size_t)(nu + 1)), *heap = malloc(sizeof(int) * (size_t)(nu + 1));
  if (!unit || !last || !indeg || !nsucc || !urank || !heap) unreachable("out of memory");
  for (int u = 0; u < nu; u++)
    last[u] = -1, urank[u] = -1;
  for (int i = 0; i < n; i++) {
    int g = f->nodes[i].group;
    unit[i] = g >= 0 && g < ng ? g : ng + i;
    last[unit[i]] = i;
  }
  /* Edges unit(operand) -> unit(user), as a CSR list; dim reads only a
   * shape, so it depends on nothing at run time. */
  for (int i = 0; i < n; i++) {
    if (f->nodes[i].op == OP_DIM) continue;
    for (int j = 0; j < f->nodes[i].nargs; j++) {
      int a = f->nodes[i].args[j];
      if (unit[a] != unit[i]) nsucc[unit[a]]++, indeg[unit[i]]++;
    }
  }
  int *start = malloc(sizeof(int) * (size_t)(nu + 2)), *succ, *fill = calloc((size_t)nu + 1, sizeof(int));
  if (!start || !fill) unreachable("out of memory");
  start[0] = 0;
  for (int u = 0; u < nu; u++)
    start[u + 1] = start[u] + nsucc[u];
  succ = malloc(sizeof(int) * (size_t)(start[nu] + 1));
  if (!succ) unreachable("out of memory");
  for (int i = 0; i < n; i++) {
    if (f->nodes[i].op == OP_DIM) continue;
    for (int j = 0; j < f->nodes[i].nargs; j++) {
      int a = f->nodes[i].args[j];
      if (unit[a] != unit[i]) succ[start[unit[a]] + fill[unit[a]]++] = unit[i];
    }
  }
  Heap h = {heap, 0, last};
  for (int u = 0; u < nu; u++)
    if (last[u] >= 0 && !indeg[u]) heap_push(&h, u);
  int done = 0;
  while (h.n) {
    int u = heap_pop(&h);
    urank[u] = done++;
    for (int e = start[u]; e < start[u + 1]; e++)
      if (!--indeg[succ[e]]) heap_push(&h, succ[e]);
  }
  bool ok = true;
  for (int i = 0; i < n && ok; i++)
    if (urank[unit[i]] < 0) {
      ok = false;
      group_error(d, f, i, "the groups cannot be ordered: a path leaves this group and comes back into it", "");
    }
  if (ok && rank)
    for (int i = 0; i < n; i++)
      rank[i] = urank[unit[i]];
  free(unit), free(last), free(indeg), free(nsucc), free(urank), free(heap), free(start), free(succ), free(fill);
  return ok;
}
