/* prune_axes.c — structured pruning's analysis: the unit groups of a
 * module (prune_axes.h).
 *
 * A group grows from a seed, the output axis of a weight, by a worklist:
 * for each (value, axis) in it, the node that defines the value and every
 * node that reads it say which of their other operands' and result's axes
 * run along the same units (ps_node below, one rule per kind of op, from
 * ops.def's flags where a flag decides). A global in the group brings in
 * every read and store of it in every function. The relation is symmetric
 * (each rule answers from any of its ports), so a group is the closure of
 * its seed, whichever member it is found from.
 *
 * An op the rules do not understand on the units' path (a softmax or a
 * sum over them, a concat or a reshape that mixes them, a function input,
 * a value a function returns: the logits) marks the group ineligible and
 * says why. The walk goes on past the other nodes, so the weights it
 * reaches seed no group of their own; a group that meets a member of
 * another is ineligible too, so an eligible group is always whole.
 *
 * Requires: a verified module. Changes nothing. */
#include "prune_axes.h"

#include <stdarg.h>
#include <string.h>

typedef struct Ctx {
  Arena *a;
  const IrModule *m;
  int **use_at, **uses; /* per function: users of value v are uses[use_at[v] .. use_at[v+1]), node*IR_MAX_ARGS+port */
  int **slot;           /* per function: group of (value, axis) at [v*IR_MAX_RANK+axis], -1: none */
  int *gslot;           /* the same for globals */
  PsGroup *g;           /* the group being grown */
  int gi;
  /* Units that a slice showed to be blocks of fewer (an LSTM's four gates
   * of H units each, seen from the [in, 4H] weight): 0, or the unit count
   * to grow the group again with. */
  int64_t retry_n;
} Ctx;

/* ---- the group ---- */

/* Marks the group ineligible (the first reason stays), naming the node
 * (fn, v) or, with fn < 0, global v. */
static void fail(Ctx *c, int fn, int v, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void fail(Ctx *c, int fn, int v, const char *fmt, ...) {
  if (c->g->why) return;
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (fn < 0) {
    c->g->why = arena_printf(c->a, "@%s: %s", c->m->globals[v].name, why);
    return;
  }
  const IrFunc *f = c->m->funcs[fn];
  const IrNode *n = &f->nodes[v];
  c->g->why = n->name ? arena_printf(c->a, "%s: %%%s = %s: %s", f->name, n->name, ir_ops[n->op].mnemonic, why)
                      : arena_printf(c->a, "%s: %%%d = %s: %s", f->name, v, ir_ops[n->op].mnemonic, why);
}

/* Adds (fn, id, axis) in the layout (outer, inner) to the group: once; a
 * second layout, or a size that is not outer n inner, is an inconsistency
 * the rewrite could not honour. */
static void add(Ctx *c, int fn, int id, int axis, int64_t outer, int64_t inner, bool consumes) {
  PsGroup *g = c->g;
  const Type *t = fn < 0 ? &c->m->globals[id].ty : &c->m->funcs[fn]->nodes[id].ty;
  int *s = fn < 0 ? &c->gslot[id * IR_MAX_RANK + axis] : &c->slot[fn][id * IR_MAX_RANK + axis];
  if (*s == c->gi) {
    for (int k = 0; k < g->nmem; k++) {
      const PsMember *p = &g->mem[k];
      if (p->fn == fn && p->id == id && p->axis == axis && (p->outer != outer || p->inner != inner))
        fail(c, fn, id, "the units reach axis %d in two layouts", axis);
    }
    return;
  }
  if (*s >= 0) { /* another group's, found ineligible before reaching this one */
    fail(c, fn, id, "axis %d belongs to another group of units", axis);
    return;
  }
  *s = c->gi;
  ARENA_GROW(c->a, g->mem, g->nmem, g->cap, 16);
  g->mem[g->nmem++] =
      (PsMember){.fn = fn, .id = id, .axis = axis, .outer = outer, .inner = inner, .consumes = consumes};
  if (axis >= t->sh.rank || t->sh.d[axis] != outer * g->n * inner)
    fail(c, fn, id, "axis %d is not %lld x %lld units x %lld", axis, (long long)outer, (long long)g->n,
         (long long)inner);
}

/* ---- the rules, node by node ---- */

/* What a rule knows of the port it is asked from: operand `port` (-1: the
 * node's result) of node v of function fn carries the units along `axis`. */
typedef struct Port {
  int fn, v, port, axis;
  int64_t outer, inner;
  bool consumes;
} Port;

static const Type *port_type(const Ctx *c, const Port *p, int port) {
  const IrNode *n = &c->m->funcs[p->fn]->nodes[p->v];
  return &c->m->funcs[p->fn]->nodes[port < 0 ? p->v : n->args[port]].ty;
}

/* The units continue on `port` of the same node along `axis`. */
static void to(Ctx *c, const Port *p, int port, int axis, int64_t outer, int64_t inner, bool consumes) {
  const IrNode *n = &c->m->funcs[p->fn]->nodes[p->v];
  add(c, p->fn, port < 0 ? p->v : n->args[port], axis, outer, inner, consumes);
}

static void same(Ctx *c, const Port *p, int port, int axis) { to(c, p, port, axis, p->outer, p->inner, p->consumes); }

/* Elementwise ops and broadcast: operands align on the right with the
 * result; an operand whose dim there is 1 (stretched) does not carry the
 * units. */
static void rule_aligned(Ctx *c, const Port *p) {
  const IrNode *n = &c->m->funcs[p->fn]->nodes[p->v];
  int r = n->ty.sh.rank;
  int ra = p->port < 0 ? p->axis : p->axis + r - port_type(c, p, p->port)->sh.rank;
  same(c, p, -1, ra);
  for (int k = 0; k < n->nargs; k++) {
    const Shape *s = &port_type(c, p, k)->sh;
    int ka = ra - (r - s->rank);
    if (ka >= 0 && s->d[ka] != 1) same(c, p, k, ka);
  }
}

/* Reductions: an axis reduced over sums the units (not understood); the
 * others map to the result's axes. */
static void rule_reduce(Ctx *c, const Port *p) {
  const IrNode *n = &c->m->funcs[p->fn]->nodes[p->v];
  const Attrs *at = &n->at;
  int xa = p->axis;
  if (p->port < 0 && !at->keepdims) /* the result's axis back to the operand's */
    for (int k = 0; k < at->naxes; k++)
      if (at->axes[k] <= xa) xa++;
  for (int k = 0; k < at->naxes; k++)
    if (at->axes[k] == xa) {
      fail(c, p->fn, p->v, "a %s over the units", ir_ops[n->op].mnemonic);
      return;
    }
  int ra = xa;
  if (!at->keepdims)
    for (int k = 0; k < at->naxes; k++)
      ra -= at->axes[k] < xa;
  same(c, p, 0, xa);
  same(c, p, -1, ra);
}

/* matmul's axes by role: the batch axes G (shared), M (a's rows), K (the
 * contraction), N (b's columns). The units crossing K leave the layer: the
 * operand on the other side consumes them (a weight's rows). */
enum { ROLE_G, ROLE_M, ROLE_K, ROLE_N };
typedef struct MmAxes {
  int ra, rb, r, g;   /* ranks; leading batch axes shared by all three (g) or by a and the result only */
  bool batch;         /* a batch of products: b has the batch axes too */
  int am, ak, bk, bn; /* axes of M, K in a, of K, N in b */
} MmAxes;

static MmAxes mm_axes(const Ctx *c, const Port *p) {
  const IrNode *n = &c->m->funcs[p->fn]->nodes[p->v];
  MmAxes x = {.ra = port_type(c, p, 0)->sh.rank, .rb = port_type(c, p, 1)->sh.rank, .r = n->ty.sh.rank};
  x.batch = x.ra == x.rb && x.ra >= 3;
  x.g = x.ra - 2;
  x.am = n->at.ta ? x.ra - 1 : x.ra - 2, x.ak = n->at.ta ? x.ra - 2 : x.ra - 1;
  x.bk = n->at.tb ? x.rb - 1 : x.rb - 2, x.bn = n->at.tb ? x.rb - 2 : x.rb - 1;
  return x;
}

static void rule_matmul(Ctx *c, const Port *p) {
  MmAxes x = mm_axes(c, p);
  int role, gi = -1;
  if (p->port == 0)
    role = p->axis == x.am ? ROLE_M : p->axis == x.ak ? ROLE_K : (gi = p->axis, ROLE_G);
  else if (p->port == 1)
    role = p->axis == x.bk ? ROLE_K : p->axis == x.bn ? ROLE_N : (gi = p->axis, ROLE_G);
  else
    role = p->axis == x.r - 2 ? ROLE_M : p->axis == x.r - 1 ? ROLE_N : (gi = p->axis, ROLE_G);
  switch (role) {
  case ROLE_G:
    same(c, p, 0, gi), same(c, p, -1, gi);
    if (x.batch) same(c, p, 1, gi);
    break;
  case ROLE_M:
    same(c, p, 0, x.am), same(c, p, -1, x.r - 2);
    break;
  case ROLE_N:
    same(c, p, 1, x.bn), same(c, p, -1, x.r - 1);
    break;
  case ROLE_K: /* the contraction: the units end here */
    to(c, p, 0, x.ak, p->outer, p->inner, false);
    to(c, p, 1, x.bk, p->outer, p->inner, true);
    break;
  }
}

/* conv2d x [N,C,H,W] * w [F,C,K,K] -> [N,F,OH,OW]: the batch passes, the
 * filters F are the result's channels, C is the contraction (the next
 * conv's input channels), and the window axes are not units. */
static void rule_conv2d(Ctx *c, const Port *p) {
  if (p->axis >= 2) {
    fail(c, p->fn, p->v, "the units run along a window axis");
    return;
  }
  if (p->port == 0 && p->axis == 0)
    same(c, p, -1, 0);
  else if (p->port < 0 && p->axis == 0)
    same(c, p, 0, 0);
  else if ((p->port == 1 && p->axis == 0) || (p->port < 0 && p->axis == 1))
    same(c, p, 1, 0), same(c, p, -1, 1);
  else
    to(c, p, 0, 1, p->outer, p->inner, false), to(c, p, 1, 1, p->outer, p->inner, true);
}

/* The trailing product of a shape from axis k on (1 past the last), or -1
 * when a dim there is symbolic. */
static int64_t trailing(const Shape *s, int k) {
  int64_t t = 1;
  for (int i = k; i < s->rank; i++) {
    if (IR_IS_SYM(s->d[i])) return -1;
    t *= s->d[i];
  }
  return t;
}

/* reshape keeps the row-major order: unit u of the known side is a run of
 * stride S = inner x (the dims after its axis) in the flat index, n of them
 * in a block; on the other side it is the axis b whose trailing product
 * T divides S and whose block T d[b] holds whole blocks of n units. */
static void rule_reshape(Ctx *c, const Port *p) {
  const Shape *from = &port_type(c, p, p->port)->sh, *other = &port_type(c, p, p->port < 0 ? 0 : -1)->sh;
  int64_t t = trailing(from, p->axis + 1), n = c->g->n;
  if (t < 0) {
    fail(c, p->fn, p->v, "a reshape with symbolic dims after the units");
    return;
  }
  int64_t stride = p->inner * t;
  for (int b = other->rank - 1; b >= 0; b--) {
    int64_t tb = trailing(other, b + 1);
    if (tb < 0 || IR_IS_SYM(other->d[b]) || tb > stride) break;
    if (stride % tb == 0 && (tb * other->d[b]) % (n * stride) == 0) {
      int64_t inner = stride / tb;
      to(c, p, p->port < 0 ? 0 : -1, b, other->d[b] / (n * inner), inner, p->consumes);
      return;
    }
  }
  fail(c, p->fn, p->v, "a reshape that mixes the units with another axis");
}

static int64_t gcd(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b, b = t;
  }
  return a;
}

/* slice along the units' axis: whole blocks of n units (an LSTM's gate)
 * are understood; the rewrite scales start and end. */
static void rule_slice(Ctx *c, const Port *p) {
  const IrNode *n = &c->m->funcs[p->fn]->nodes[p->v];
  if (p->axis != n->at.axis) {
    same(c, p, p->port < 0 ? 0 : -1, p->axis);
    return;
  }
  int64_t blk = c->g->n * p->inner;
  if (n->at.start % blk || n->at.end % blk) {
    /* Blocks of b = gcd(start, end, length) elements: the units may be
     * b / inner, repeated (the gates); the seed then tries those. */
    int64_t b = gcd(gcd(n->at.start, n->at.end), port_type(c, p, 0)->sh.d[p->axis]), units = b / p->inner;
    if (!c->retry_n && b % p->inner == 0 && units >= 1 && units < c->g->n && c->g->n % units == 0) c->retry_n = units;
    fail(c, p->fn, p->v, "a slice of part of the units");
    return;
  }
  const Type *x = port_type(c, p, 0);
  to(c, p, 0, p->axis, x->sh.d[p->axis] / blk, p->inner, p->consumes);
  to(c, p, -1, p->axis, (n->at.end - n->at.start) / blk, p->inner, p->consumes);
}

/* The units along an axis that ops on `lo`.. of this rank do not touch:
 * the same axis on operand 0 and the result; from `lo` on they are the
 * op's own axes (a window, a class, a mask), which are not understood. */
static void rule_pass_below(Ctx *c, const Port *p, int lo, const char *what) {
  if (p->axis >= lo) {
    fail(c, p->fn, p->v, "the units run along %s", what);
    return;
  }
  same(c, p, 0, p->axis), same(c, p, -1, p->axis);
}

/* ---- scans: a body's inputs and results are its scans' operands and
 * results (docs/ir.md, "Scan"); a sequence's axis 0 and a stacked
 * output's are time, the body's axes are the rest ---- */

/* Calls link(c, fn, v, ...) for each scan node of the module that runs
 * function `body`. */
static void each_scan(Ctx *c, int body, int k, int axis, const PsMember *like,
                      void (*link)(Ctx *, int, int, int, int, const PsMember *)) {
  const char *name = c->m->funcs[body]->name;
  for (int fn = 0; fn < c->m->nfuncs; fn++)
    for (int v = 0; v < c->m->funcs[fn]->n; v++) {
      const IrNode *n = &c->m->funcs[fn]->nodes[v];
      if (n->op == OP_SCAN && !strcmp(n->at.body, name)) link(c, fn, v, k, axis, like);
    }
}

static int body_index(const Ctx *c, const IrNode *scan) {
  for (int fn = 0; fn < c->m->nfuncs; fn++)
    if (!strcmp(c->m->funcs[fn]->name, scan->at.body)) return fn;
  unreachable("a scan without its body (the verifier checks it)");
}

/* The scan (fn, v) has the units along `axis` (the body's) on its input k
 * (results: false) or its result k (results: true). A carry is both: its
 * operand, body input, body result and final value (scan_out) all carry
 * them; a sequence's operand has them one axis further, as does a
 * stacked output's scan_out. */
static void link_scan(Ctx *c, int fn, int v, int k, int axis, const PsMember *like, bool results) {
  const IrFunc *f = c->m->funcs[fn];
  const IrNode *n = &f->nodes[v];
  int body = body_index(c, n);
  const IrFunc *bf = c->m->funcs[body];
  bool carry = k < n->at.ncarry, seq = !results && !carry && k < n->at.ncarry + n->at.nseq;
  if (carry || !results) {
    add(c, fn, n->args[k], seq ? axis + 1 : axis, like->outer, like->inner, like->consumes);
    for (int i = 0; i < bf->n; i++)
      if (bf->nodes[i].op == OP_INPUT && bf->nodes[i].at.index == k)
        add(c, body, i, axis, like->outer, like->inner, like->consumes);
  }
  if (carry || results) {
    add(c, body, bf->rets[k], axis, like->outer, like->inner, like->consumes);
    for (int u = c->use_at[fn][v]; u < c->use_at[fn][v + 1]; u++) {
      int o = c->uses[fn][u] / IR_MAX_ARGS;
      if (f->nodes[o].op == OP_SCAN_OUT && f->nodes[o].at.index == k)
        add(c, fn, o, carry ? axis : axis + 1, like->outer, like->inner, like->consumes);
    }
  }
}

static void link_input(Ctx *c, int fn, int v, int k, int axis, const PsMember *like) {
  link_scan(c, fn, v, k, axis, like, false);
}

static void link_ret(Ctx *c, int fn, int v, int k, int axis, const PsMember *like) {
  link_scan(c, fn, v, k, axis, like, true);
}

static void rule_scan(Ctx *c, const Port *p) {
  const IrNode *n = &c->m->funcs[p->fn]->nodes[p->v];
  PsMember like = {.outer = p->outer, .inner = p->inner, .consumes = p->consumes};
  if (n->op == OP_SCAN) {
    bool seq = p->port >= n->at.ncarry && p->port < n->at.ncarry + n->at.nseq;
    if (seq && p->axis == 0) {
      fail(c, p->fn, p->v, "the units run along the time axis");
      return;
    }
    link_input(c, p->fn, p->v, p->port, seq ? p->axis - 1 : p->axis, &like);
    return;
  }
  int scan = n->args[0], r = n->at.index; /* scan_out, as its result */
  bool stacked = r >= c->m->funcs[p->fn]->nodes[scan].at.ncarry;
  if (stacked && p->axis == 0) {
    fail(c, p->fn, p->v, "the units run along the time axis");
    return;
  }
  link_ret(c, p->fn, scan, r, stacked ? p->axis - 1 : p->axis, &like);
}

static void ps_node(Ctx *c, const Port *p) {
  const IrFunc *f = c->m->funcs[p->fn];
  const IrNode *n = &f->nodes[p->v];
  int r = n->ty.sh.rank;
  switch (n->op) {
  case OP_INPUT:
    if (ir_func_is_scan_body(c->m, f)) {
      PsMember like = {.outer = p->outer, .inner = p->inner, .consumes = p->consumes};
      each_scan(c, p->fn, n->at.index, p->axis, &like, link_input);
      return;
    }
    fail(c, p->fn, p->v, "an input of the function");
    return;
  case OP_SCAN:
  case OP_SCAN_OUT:
    rule_scan(c, p);
    return;
  case OP_CONST:
    return; /* a filled tensor: only its type changes */
  case OP_GLOBAL:
  case OP_STORE: {
    int g = ir_global_find(c->m, n->at.name);
    if (c->m->globals[g].kind == GLOBAL_STATE) {
      fail(c, p->fn, p->v, "state, not a model's parameter");
      return;
    }
    add(c, -1, g, p->axis, p->outer, p->inner, p->consumes);
    return;
  }
  case OP_DIM:
    if (n->at.axis == p->axis) fail(c, p->fn, p->v, "reads the number of units");
    return;
  case OP_DROPOUT:
    if (p->port > 0) return;
    same(c, p, 0, p->axis), same(c, p, -1, p->axis);
    return;
  case OP_MATMUL:
    rule_matmul(c, p);
    return;
  case OP_CONV2D:
    rule_conv2d(c, p);
    return;
  case OP_MAXPOOL2D:
  case OP_AVGPOOL2D:
    rule_pass_below(c, p, 2, "a window axis");
    return;
  case OP_RESHAPE:
    rule_reshape(c, p);
    return;
  case OP_SLICE:
    rule_slice(c, p);
    return;
  case OP_BROADCAST:
    rule_aligned(c, p);
    return;
  case OP_TRANSPOSE:
    if (p->port < 0) {
      same(c, p, 0, n->at.axes[p->axis]), same(c, p, -1, p->axis);
      return;
    }
    for (int i = 0; i < n->at.naxes; i++)
      if (n->at.axes[i] == p->axis) same(c, p, -1, i);
    same(c, p, 0, p->axis);
    return;
  case OP_CONCAT:
    if (p->axis == n->at.axis) {
      fail(c, p->fn, p->v, "a concat along the units");
      return;
    }
    same(c, p, 0, p->axis), same(c, p, 1, p->axis), same(c, p, -1, p->axis);
    return;
  case OP_CAUSAL_MASK:
    rule_pass_below(c, p, r - 2, "the mask's axes");
    return;
  case OP_ONEHOT:
    rule_pass_below(c, p, r - 1, "the classes");
    return;
  case OP_EMBEDDING:
    if (p->port == 1) {
      p->axis == 1 ? same(c, p, -1, r - 1) : fail(c, p->fn, p->v, "the units are table rows");
      return;
    }
    if (p->port < 0 && p->axis == r - 1) {
      same(c, p, 1, 1), same(c, p, -1, r - 1);
      return;
    }
    same(c, p, 0, p->axis), same(c, p, -1, p->axis);
    return;
  default:
    break;
  }
  if (op_is(n->op, OPF_ELEMWISE)) {
    rule_aligned(c, p);
    return;
  }
  if (op_is(n->op, OPF_REDUCE)) {
    rule_reduce(c, p);
    return;
  }
  if (op_is(n->op, OPF_ROWWISE)) {
    if (n->at.axis == p->axis) {
      fail(c, p->fn, p->v, "a %s over the units", ir_ops[n->op].mnemonic);
      return;
    }
    same(c, p, 0, p->axis), same(c, p, -1, p->axis);
    return;
  }
  fail(c, p->fn, p->v, "not understood by structured pruning");
}

/* ---- the closure ---- */

/* Member k's neighbours: a value's definition, readers and return; a
 * global's reads and stores in every function. */
static void expand(Ctx *c, int k) {
  PsMember mb = c->g->mem[k];
  if (mb.fn < 0) {
    const char *name = c->m->globals[mb.id].name;
    for (int fn = 0; fn < c->m->nfuncs; fn++) {
      const IrFunc *f = c->m->funcs[fn];
      for (int v = 0; v < f->n; v++) {
        const IrNode *n = &f->nodes[v];
        if (n->op == OP_GLOBAL && !strcmp(n->at.name, name)) add(c, fn, v, mb.axis, mb.outer, mb.inner, mb.consumes);
        if (n->op == OP_STORE && !strcmp(n->at.name, name))
          add(c, fn, n->args[0], mb.axis, mb.outer, mb.inner, mb.consumes);
      }
    }
    return;
  }
  const IrFunc *f = c->m->funcs[mb.fn];
  Port p = {.fn = mb.fn,
            .v = mb.id,
            .port = -1,
            .axis = mb.axis,
            .outer = mb.outer,
            .inner = mb.inner,
            .consumes = mb.consumes};
  ps_node(c, &p);
  for (int u = c->use_at[mb.fn][mb.id]; u < c->use_at[mb.fn][mb.id + 1]; u++) {
    p.v = c->uses[mb.fn][u] / IR_MAX_ARGS, p.port = c->uses[mb.fn][u] % IR_MAX_ARGS;
    ps_node(c, &p);
  }
  bool body = ir_func_is_scan_body(c->m, f);
  for (int r = 0; r < f->nrets; r++)
    if (f->rets[r] == mb.id && body)
      each_scan(c, mb.fn, r, mb.axis, &mb, link_ret);
    else if (f->rets[r] == mb.id)
      fail(c, mb.fn, mb.id, "returned by %s (a model output keeps its size)", f->name);
}

static void index_uses(Ctx *c) {
  const IrModule *m = c->m;
  c->use_at = arena_alloc(c->a, (size_t)(m->nfuncs + 1) * sizeof *c->use_at);
  c->uses = arena_alloc(c->a, (size_t)(m->nfuncs + 1) * sizeof *c->uses);
  c->slot = arena_alloc(c->a, (size_t)(m->nfuncs + 1) * sizeof *c->slot);
  for (int fn = 0; fn < m->nfuncs; fn++) {
    const IrFunc *f = m->funcs[fn];
    int *at = arena_alloc(c->a, (size_t)(f->n + 2) * sizeof *at), total = 0;
    for (int v = 0; v < f->n; v++)
      for (int k = 0; k < f->nodes[v].nargs; k++)
        at[f->nodes[v].args[k] + 1]++, total++;
    for (int v = 0; v < f->n; v++)
      at[v + 1] += at[v];
    int *fill = arena_alloc(c->a, (size_t)(f->n + 1) * sizeof *fill),
        *uses = arena_alloc(c->a, (size_t)(total + 1) * sizeof *uses);
    memcpy(fill, at, (size_t)f->n * sizeof *fill);
    for (int v = 0; v < f->n; v++)
      for (int k = 0; k < f->nodes[v].nargs; k++)
        uses[fill[f->nodes[v].args[k]]++] = v * IR_MAX_ARGS + k;
    c->use_at[fn] = at, c->uses[fn] = uses;
    c->slot[fn] = arena_alloc(c->a, (size_t)(f->n * IR_MAX_RANK + 1) * sizeof(int));
    memset(c->slot[fn], -1, (size_t)(f->n * IR_MAX_RANK) * sizeof(int));
  }
  c->gslot = arena_alloc(c->a, (size_t)(m->nglobals * IR_MAX_RANK + 1) * sizeof(int));
  memset(c->gslot, -1, (size_t)(m->nglobals * IR_MAX_RANK) * sizeof(int));
}

/* Frees the slots of the group being grown, to grow it again. */
static void unclaim(Ctx *c) {
  for (int k = 0; k < c->g->nmem; k++) {
    const PsMember *mb = &c->g->mem[k];
    if (mb->fn < 0)
      c->gslot[mb->id * IR_MAX_RANK + mb->axis] = -1;
    else
      c->slot[mb->fn][mb->id * IR_MAX_RANK + mb->axis] = -1;
  }
}

/* The seed a node offers: the output axis of the param weight it reads (a
 * matmul's 2-d right operand, a conv2d's filters), or -1. */
static int seed_of(const IrModule *m, const IrFunc *f, const IrNode *n, int *axis) {
  if (n->op != OP_MATMUL && n->op != OP_CONV2D) return -1;
  const IrNode *w = &f->nodes[n->args[1]];
  if (w->op != OP_GLOBAL) return -1;
  int g = ir_global_find(m, w->at.name);
  if (m->globals[g].kind != GLOBAL_PARAM) return -1;
  if (n->op == OP_CONV2D)
    *axis = 0;
  else if (w->ty.sh.rank == 2 && f->nodes[n->args[0]].ty.sh.rank >= 2)
    *axis = n->at.tb ? 0 : 1;
  else
    return -1;
  return g;
}

PsGroup *ps_find_groups(Arena *a, const IrModule *m, int *ngroups) {
  Ctx c = {.a = a, .m = m};
  index_uses(&c);
  PsGroup *gs = NULL;
  int n = 0, cap = 0;
  for (int fn = 0; fn < m->nfuncs; fn++) {
    const IrFunc *f = m->funcs[fn];
    for (int v = 0; v < f->n; v++) {
      int axis, g = seed_of(m, f, &f->nodes[v], &axis);
      if (g < 0 || c.gslot[g * IR_MAX_RANK + axis] >= 0) continue;
      ARENA_GROW(a, gs, n, cap, 8);
      c.g = &gs[n];
      c.gi = n++;
      int64_t units = m->globals[g].ty.sh.d[axis];
      for (;;) {
        *c.g = (PsGroup){.n = units, .seed = g, .seed_axis = axis};
        c.retry_n = 0;
        add(&c, -1, g, axis, m->globals[g].ty.sh.d[axis] / units, 1, false);
        for (int k = 0; k < c.g->nmem; k++)
          expand(&c, k); /* grows as it goes */
        if (!c.g->why || !c.retry_n) break;
        unclaim(&c); /* fewer units, repeated in blocks (gates): again */
        units = c.retry_n;
      }
    }
  }
  *ngroups = n;
  return gs;
}
