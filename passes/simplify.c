/* simplify.c — the `simplify` pass: canonicalize, fold constants, apply
 * algebraic identities, eliminate common subexpressions, then DCE (dce.c).
 *
 * Requires: valid IR. Guarantees: every function computes the same results
 * and performs the same stores, with fewer or as many nodes, numbered
 * compactly (inputs first; dce.c). "The same" is bit for bit but for two
 * things no loss or accuracy can see: x+0 and 0-x may flip the sign of a
 * zero (-0 + 0 is +0; like LLVM's nsz), and a folded exp/log/tanh/sigmoid
 * or sum is its double value rounded to f32, where f32 code may end one ulp
 * away (see fold_elementwise). Each
 * function is rebuilt node by node in one forward walk; every node added
 * goes through:
 *   - canonical order: a constant operand of a commutative op goes second,
 *     so identities look at one side only. Nothing else is reordered (the
 *     IR keeps the order the user wrote); CSE matches a+b with b+a itself;
 *   - folding, when every operand is a constant: elementwise ops (values
 *     computed by ir_interp on the f32-rounded operands, so folding means
 *     what running would), layout ops, reductions over static axes; `dim`
 *     of a static axis;
 *   - lighter operands for elementwise binary ops, which broadcast by
 *     themselves: an explicit `broadcast` operand is replaced by its source,
 *     a constant tensor by a scalar constant, when the result type stays.
 *     The backward pass is full of these (sum's and mean's gradients);
 *   - identities (exact up to the sign of a zero), applied only when the
 *     replacement has the result's type (adding a [B,10] zero tensor to an f32[]
 *     broadcasts it, so that add stays): x+0, x-0, 0-x = -x, x*1, x*-1 = -x,
 *     x/1, --x, x^1, reshape/broadcast/cast to the same type, reshape of a
 *     reshape, broadcast of a broadcast, identity and composed transposes,
 *     reshape(reduce(keepdims=1)) = reduce(keepdims=0), a reshape of a
 *     broadcast single element = its broadcast, and op(broadcast(s)) =
 *     broadcast(op(s)) for unary ops (the op then runs on the small tensor),
 *     and a sum of concats split at the same place is the concat of sums;
 *     a concat of reshapes that merge axes into the concat's axis is the
 *     reshape of their operands' concat;
 *     causal_mask over batched scores = where(a [T,S] mask, x, -inf), so
 *     that the masking fuses into softmax (masked_select).
 *     x*0 stays: it is NaN, not 0, for x = inf or NaN. Nothing is
 *     reassociated, which would change rounding;
 *   - CSE over (op, operands, attributes, type). Effects are never merged,
 *     and `global` reads are not merged across a store to that global.
 * The walk and DCE repeat while the node count falls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../ir/interp.h"
#include "passes.h"

typedef struct Rw {
  IrModule *m;
  IrFunc out;   /* the function being rebuilt */
  int *epoch;   /* per new node: stores to its global before it (global reads only) */
  int *gstores; /* per global: stores emitted so far */
  int *table;   /* CSE hash table of new ids, -1 empty */
  size_t tcap;
} Rw;

static const IrNode *N(const Rw *r, int v) { return &r->out.nodes[v]; }

static bool is_const(const Rw *r, int v, double *value) {
  if (N(r, v)->op != OP_CONST) return false;
  if (value) *value = N(r, v)->at.value;
  return true;
}

static bool const_is(const Rw *r, int v, double k) {
  double x = 0;
  return is_const(r, v, &x) && x == k;
}

static bool commutative(OpKind op) { return op_is(op, OPF_COMMUTATIVE); }

/* ---- CSE ---- */

static uint64_t mix(uint64_t h, uint64_t x) { return (h ^ x) * 0x100000001b3ull; }

static uint64_t node_hash(const IrNode *n, int epoch) {
  uint64_t h = mix(0xcbf29ce484222325ull, (uint64_t)n->op);
  if (commutative(n->op)) /* order-free, as same_node compares them */
    h = mix(h, (uint64_t)(n->args[0] < n->args[1] ? n->args[0] : n->args[1]) * 31 +
                   (uint64_t)(n->args[0] < n->args[1] ? n->args[1] : n->args[0]));
  else
    for (int i = 0; i < n->nargs; i++) h = mix(h, (uint64_t)n->args[i]);
  h = mix(h, (uint64_t)n->ty.dt);
  for (int i = 0; i < n->ty.sh.rank; i++) h = mix(h, (uint64_t)n->ty.sh.d[i]);
  h = mix(h, ir_attrs_hash(n));
  return mix(h, (uint64_t)epoch);
}

static bool same_node(const Rw *r, const IrNode *a, int ea, int b) {
  const IrNode *nb = N(r, b);
  if (a->op != nb->op || a->nargs != nb->nargs || !ir_type_eq(&a->ty, &nb->ty)) return false;
  bool swapped = commutative(a->op) && a->args[0] == nb->args[1] && a->args[1] == nb->args[0];
  for (int i = 0; i < a->nargs && !swapped; i++)
    if (a->args[i] != nb->args[i]) return false;
  return ea == r->epoch[b] && ir_attrs_eq(a, nb);
}

static int global_epoch(const Rw *r, const IrNode *n) {
  return n->op == OP_GLOBAL ? r->gstores[ir_global_find(r->m, n->at.name)] : 0;
}

/* The slot holding an equal node, or the empty slot where it would go. */
static size_t cse_slot(const Rw *r, const IrNode *n, int epoch) {
  size_t i = (size_t)node_hash(n, epoch) & (r->tcap - 1);
  while (r->table[i] >= 0 && !same_node(r, n, epoch, r->table[i])) i = (i + 1) & (r->tcap - 1);
  return i;
}

static void grow_table(Rw *r) {
  size_t old = r->tcap;
  int *t = r->table;
  r->tcap = old ? 2 * old : 256;
  r->table = malloc(r->tcap * sizeof *r->table);
  if (!r->table) unreachable("out of memory");
  memset(r->table, -1, r->tcap * sizeof *r->table);
  for (size_t i = 0; i < old; i++)
    if (t[i] >= 0) r->table[cse_slot(r, N(r, t[i]), r->epoch[t[i]])] = t[i];
  free(t);
}

/* ---- folding ---- */

/* The f32 nearest to v (ties to even), without the undefined behaviour of
 * converting an out-of-range double: past FLT_MAX + half an ulp it is inf. */
static double round_f32(double v) {
  if (fabs(v) >= 0x1.ffffffp127) return copysign(INFINITY, v);
  return (double)(float)v;
}

/* The f32 an f32 constant's value stands for (its type rounds it). */
static double const_value(const IrNode *k) { return k->ty.dt == DT_F32 ? round_f32(k->at.value) : k->at.value; }

/* Value of the elementwise op n applied to constant operands, by running it
 * through the interpreter on scalars (the operands are uniform, so is the
 * result). The operands are rounded to f32 first and the result after, as
 * the f32 code would round them: one +, -, *, / or sqrt computed in double
 * and rounded once is the f32 operation exactly (double carries more than
 * twice f32's precision), so these fold bit for bit; exp, log, tanh and
 * sigmoid fold to their double value rounded, where a backend's f32 math
 * may differ in the last bit. */
static bool fold_elementwise(const Rw *r, const IrNode *n, double *value) {
  IrNode nodes[IR_MAX_ARGS + 1];
  for (int i = 0; i < n->nargs; i++) {
    const IrNode *k = N(r, n->args[i]);
    nodes[i] = (IrNode){.op = OP_CONST, .ty = {.dt = k->ty.dt}, .at.value = const_value(k)};
  }
  nodes[n->nargs] = *n;
  nodes[n->nargs].ty.sh.rank = 0;
  for (int i = 0; i < n->nargs; i++) nodes[n->nargs].args[i] = i;
  int ret = n->nargs;
  IrFunc f = {.name = "fold", .nodes = nodes, .n = n->nargs + 1, .rets = &ret, .nrets = 1, .mod = r->m};
  double out[1];
  char err[128];
  if (!ir_interp(&f, NULL, NULL, NULL, (double *const[]){out}, err, sizeof err)) return false;
  *value = n->ty.dt == DT_F32 ? round_f32(out[0]) : out[0];
  return true;
}

/* Folds n when its value is a constant; returns whether it did. */
static bool fold(const Rw *r, const IrNode *n, double *value) {
  if (n->op == OP_DIM) {
    int64_t d = N(r, n->args[0])->ty.sh.d[n->at.axis];
    return !IR_IS_SYM(d) && (*value = (double)d, true);
  }
  if (n->nargs == 0) return false;
  for (int i = 0; i < n->nargs; i++)
    if (!is_const(r, n->args[i], NULL)) return false;
  double c = const_value(N(r, n->args[0]));
  if (op_is(n->op, OPF_ELEMWISE)) return fold_elementwise(r, n, value);
  /* A uniform tensor moved around, or its max or mean, is the constant; a
   * sum is count * c (exact, where an f32 loop would round as it adds). */
  if (op_is(n->op, OPF_LAYOUT) || n->op == OP_MAX || n->op == OP_MEAN) return *value = c, true;
  if (n->op == OP_SUM) {
    const Shape *s = &N(r, n->args[0])->ty.sh;
    double count = 1;
    for (int j = 0; j < n->at.naxes; j++) {
      if (IR_IS_SYM(s->d[n->at.axes[j]])) return false;
      count *= (double)s->d[n->at.axes[j]];
    }
    return *value = round_f32(c * count), true;
  }
  return false;
}

/* ---- the rewrite ---- */

static int add_node(Rw *r, IrNode n);

/* A new node made by an identity, typed by its shape rule; -1 if the rule
 * rejects it (then the identity does not apply). */
static int make(Rw *r, const IrNode *from, OpKind op, int x, const Attrs *at, const Type *hint) {
  int before = r->out.n;
  if (ir_emit(&r->out, op, &x, 1, at, hint, from->loc, NULL) < 0) return -1;
  IrNode n = r->out.nodes[before];
  r->out.n = before; /* add_node appends it (or finds its twin) */
  return add_node(r, n);
}

/* The same for any operands (concat, add). */
static int make_n(Rw *r, const IrNode *from, OpKind op, const int *args, int nargs, const Attrs *at) {
  int before = r->out.n;
  if (ir_emit(&r->out, op, args, nargs, at, NULL, from->loc, NULL) < 0) return -1;
  IrNode n = r->out.nodes[before];
  r->out.n = before;
  return add_node(r, n);
}

/* Writes v as concat(*lo, *hi) along axis, split at offset k (0 < k < v's
 * size there), when v is a constant or a tree of concats with a cut there
 * or in a constant; false otherwise. New nodes go through add_node. */
static bool split_at(Rw *r, const IrNode *from, int v, int axis, int64_t k, int *lo, int *hi) {
  const IrNode *n = N(r, v);
  if (n->op == OP_CONST) {
    Type t = n->ty;
    t.sh.d[axis] = k;
    *lo = add_node(r, (IrNode){.op = OP_CONST, .ty = t, .at.value = n->at.value, .loc = n->loc, .group = -1, .slot = -1, .offset = -1});
    t.sh.d[axis] = n->ty.sh.d[axis] - k;
    *hi = add_node(r, (IrNode){.op = OP_CONST, .ty = t, .at.value = n->at.value, .loc = n->loc, .group = -1, .slot = -1, .offset = -1});
    return true;
  }
  if (n->op != OP_CONCAT || n->at.axis != axis) return false;
  int p = n->args[0], q = n->args[1];
  int64_t sp = N(r, p)->ty.sh.d[axis];
  Attrs at = {.axis = axis};
  int a, b;
  if (k == sp) return *lo = p, *hi = q, true;
  if (k < sp) {
    if (!split_at(r, from, p, axis, k, &a, &b)) return false;
    *lo = a, *hi = make_n(r, from, OP_CONCAT, (int[]){b, q}, 2, &at);
  } else {
    if (!split_at(r, from, q, axis, k - sp, &a, &b)) return false;
    *lo = make_n(r, from, OP_CONCAT, (int[]){p, a}, 2, &at), *hi = b;
  }
  return *lo >= 0 && *hi >= 0;
}

/* add(concat(p, q), b) = concat(add(p, b1), add(q, b2)) when b splits
 * where p ends (or the other way round): the gradient of several slices of
 * one tensor (an LSTM's four gates) is their zero-padded pieces summed;
 * this turns the sum into one concat of the pieces, as the zeros drop out
 * (x + 0). Same elementwise additions, so no rounding changes. */
static int add_of_concats(Rw *r, const IrNode *n) {
  for (int side = 0; side < 2; side++) {
    int a = n->args[side], b = n->args[!side];
    const IrNode *na = N(r, a);
    if (na->op != OP_CONCAT || !ir_type_eq(&na->ty, &n->ty) || !ir_type_eq(&N(r, b)->ty, &n->ty)) continue;
    if (N(r, b)->op != OP_CONCAT) continue;
    int axis = na->at.axis, p = na->args[0], q = na->args[1], b1, b2;
    if (!split_at(r, n, b, axis, N(r, p)->ty.sh.d[axis], &b1, &b2)) continue;
    int lo = side ? make_n(r, n, OP_ADD, (int[]){b1, p}, 2, NULL) : make_n(r, n, OP_ADD, (int[]){p, b1}, 2, NULL);
    int hi = side ? make_n(r, n, OP_ADD, (int[]){b2, q}, 2, NULL) : make_n(r, n, OP_ADD, (int[]){q, b2}, 2, NULL);
    if (lo < 0 || hi < 0) return -1;
    return make_n(r, n, OP_CONCAT, (int[]){lo, hi}, 2, &(Attrs){.axis = axis});
  }
  return -1;
}

/* concat(reshape(p), reshape(q)) along axis k = reshape(concat(p, q))
 * along k when both reshapes merge axes k..k+m-1 of p and q into axis k and
 * p and q agree on every axis but k: element (.., i, j, ..) of the merged
 * axis is (.., i * inner + j, ..) either way. The gradient of heads merged
 * back into a layer (attention's q, k and v: [B, T, H, Dh] -> [B, T, H Dh],
 * concatenated into the fused projection's [B, T, 3 H Dh]) then
 * concatenates the heads' transposed views straight away, where the
 * reshapes made a copy of each first (a merge of transposed axes is no
 * view). The same elements in the same places: nothing changes but the
 * copies. */
static int concat_of_reshapes(Rw *r, const IrNode *n) {
  const IrNode *a = N(r, n->args[0]), *b = N(r, n->args[1]);
  if (a->op != OP_RESHAPE || b->op != OP_RESHAPE) return -1;
  const Shape *ps = &N(r, a->args[0])->ty.sh, *qs = &N(r, b->args[0])->ty.sh, *as = &a->ty.sh;
  int k = n->at.axis, m = ps->rank - as->rank + 1;
  if (qs->rank != ps->rank || m < 2) return -1;
  for (int i = 0; i < ps->rank; i++) {
    bool merged = i >= k && i < k + m;
    int at = i < k ? i : i - m + 1; /* the result axis it lands on */
    if (i != k && ps->d[i] != qs->d[i]) return -1;
    if (!merged && (ps->d[i] != as->d[at] || qs->d[i] != b->ty.sh.d[at])) return -1;
  }
  int c = make_n(r, n, OP_CONCAT, (int[]){a->args[0], b->args[0]}, 2, &(Attrs){.axis = k});
  return c < 0 ? -1 : make(r, n, OP_RESHAPE, c, NULL, &n->ty);
}

/* Replacement value for n by an identity, or -1. */
/* A constant of type ty made by an identity. */
static int make_const(Rw *r, const IrNode *from, double value, const Type *ty) {
  int before = r->out.n;
  if (ir_emit(&r->out, OP_CONST, NULL, 0, &(Attrs){.value = value}, ty, from->loc, NULL) < 0) return -1;
  IrNode n = r->out.nodes[before];
  r->out.n = before;
  return add_node(r, n);
}

/* causal_mask(x) over a batch of [T, S] score matrices (rank >= 3, T and S
 * static) = where(m, x, value), m = causal_mask(1 [T, S], value 0): 1 on
 * and below the diagonal, 0 above. Exact: where picks x or the value as
 * causal_mask does (a NaN above the diagonal is masked, as PyTorch's
 * masked_fill masks it). But where is elementwise, so it runs inside the
 * softmax kernel that reads the scores (and the mask of the gradient
 * inside softmax's gradient), where causal_mask was a kernel of its own
 * writing all B*H*T*S scores once more; m is one [T, S] kernel, shared by
 * every layer through CSE. */
static int masked_select(Rw *r, const IrNode *n) {
  const Shape *s = &n->ty.sh;
  if (s->rank < 3 || s->d[s->rank - 2] < 0 || s->d[s->rank - 1] < 0) return -1;
  Type mt = {.dt = n->ty.dt, .sh = {.rank = 2, .d = {s->d[s->rank - 2], s->d[s->rank - 1]}}};
  Type st = {.dt = n->ty.dt, .sh = {.rank = 0}};
  int one = make_const(r, n, 1, &mt);
  int m = one >= 0 ? make(r, n, OP_CAUSAL_MASK, one, &(Attrs){.value = 0}, NULL) : -1;
  int v = make_const(r, n, n->at.value, &st);
  return m >= 0 && v >= 0 ? make_n(r, n, OP_WHERE, (int[]){m, n->args[0], v}, 3, NULL) : -1;
}

static int identity(Rw *r, const IrNode *n) {
  int a = n->args[0], b = n->nargs > 1 ? n->args[1] : -1;
  bool same_a = ir_type_eq(&N(r, a)->ty, &n->ty), same_b = b >= 0 && ir_type_eq(&N(r, b)->ty, &n->ty);
  const IrNode *na = N(r, a);
  /* op(broadcast(s)) = broadcast(op(s)) for a unary elementwise op. */
  if (op_is(n->op, OPF_ELEMWISE) && !op_is(n->op, OPF_TYPED) && n->nargs == 1 && na->op == OP_BROADCAST) {
    int u = make(r, n, n->op, na->args[0], &n->at, NULL);
    return u >= 0 ? make(r, n, OP_BROADCAST, u, NULL, &n->ty) : -1;
  }
  switch (n->op) {
  case OP_ADD:
    if (const_is(r, b, 0) && same_a) return a;
    return add_of_concats(r, n);
  case OP_SUB:
    if (const_is(r, b, 0) && same_a) return a;
    return const_is(r, a, 0) && same_b ? make(r, n, OP_NEG, b, NULL, NULL) : -1;
  case OP_MUL:
    if (const_is(r, b, 1) && same_a) return a;
    return const_is(r, b, -1) && same_a ? make(r, n, OP_NEG, a, NULL, NULL) : -1;
  case OP_DIV: return const_is(r, b, 1) && same_a ? a : -1;
  case OP_NEG: return na->op == OP_NEG ? na->args[0] : -1;
  case OP_POW: return n->at.value == 1 ? a : -1;
  case OP_CAST: return same_a ? a : -1;
  case OP_RESHAPE:
    if (same_a) return a;
    if (na->op == OP_RESHAPE) return make(r, n, OP_RESHAPE, na->args[0], NULL, &n->ty);
    if (na->op == OP_BROADCAST && ir_numel_static(&N(r, na->args[0])->ty.sh) == 1)
      return make(r, n, OP_BROADCAST, na->args[0], NULL, &n->ty);
    if (op_is(na->op, OPF_REDUCE) && na->at.keepdims) {
      Attrs at = na->at;
      at.keepdims = 0;
      Type t;
      char err[256];
      if (ir_ops[na->op].shape(r->m, &N(r, na->args[0])->ty, 1, &at, &t, err, sizeof err) && ir_type_eq(&t, &n->ty))
        return make(r, n, na->op, na->args[0], &at, NULL);
    }
    return -1;
  case OP_BROADCAST:
    if (same_a) return a;
    return na->op == OP_BROADCAST ? make(r, n, OP_BROADCAST, na->args[0], NULL, &n->ty) : -1;
  case OP_TRANSPOSE: {
    bool ident = true;
    for (int i = 0; i < n->at.naxes; i++) ident &= n->at.axes[i] == i;
    if (ident) return a;
    if (na->op != OP_TRANSPOSE) return -1;
    /* y dim i = inner dim q[i] = x dim p[q[i]] */
    Attrs at = {.naxes = n->at.naxes};
    for (int i = 0; i < at.naxes; i++) at.axes[i] = na->at.axes[n->at.axes[i]];
    return make(r, n, OP_TRANSPOSE, na->args[0], &at, NULL);
  }
  case OP_SUM:
  case OP_MEAN:
  case OP_MAX: return n->at.naxes == 0 && same_a ? a : -1;
  case OP_CAUSAL_MASK: return masked_select(r, n);
  case OP_CONCAT: return concat_of_reshapes(r, n);
  default: return -1;
  }
}

/* An elementwise binary op broadcasts by itself: an operand that is an
 * explicit broadcast can be replaced by its source, and a constant operand
 * by a scalar constant, when the result type stays the same. */
static void lighten_operands(Rw *r, IrNode *n) {
  for (int i = 0; i < 2; i++) {
    const IrNode *b = N(r, n->args[i]);
    bool bc = b->op == OP_BROADCAST, k = b->op == OP_CONST && b->ty.sh.rank > 0;
    if (!bc && !k) continue;
    Type in[2] = {N(r, n->args[0])->ty, N(r, n->args[1])->ty}, out;
    in[i] = bc ? N(r, b->args[0])->ty : (Type){.dt = b->ty.dt};
    char err[256];
    if (!ir_ops[n->op].shape(r->m, in, 2, &n->at, &out, err, sizeof err) || !ir_type_eq(&out, &n->ty)) continue;
    if (bc) n->args[i] = b->args[0];
    else
      n->args[i] =
          add_node(r, (IrNode){.op = OP_CONST, .ty = in[i], .at.value = b->at.value, .loc = b->loc, .group = -1, .slot = -1, .offset = -1});
  }
}

/* Adds n (operands already new ids) to the rebuilt function, or returns the
 * value that replaces it. */
static int add_node(Rw *r, IrNode n) {
  n.group = n.slot = n.offset = -1; /* a rewritten graph voids any fusion and memory plan */
  if (commutative(n.op) && is_const(r, n.args[0], NULL) && !is_const(r, n.args[1], NULL)) {
    int t = n.args[0];
    n.args[0] = n.args[1];
    n.args[1] = t;
  }
  double value;
  if (!op_is(n.op, OPF_EFFECT) && n.op != OP_CONST && fold(r, &n, &value)) {
    n = (IrNode){.op = OP_CONST, .ty = n.ty, .at.value = value, .loc = n.loc, .name = n.name, .group = -1, .slot = -1, .offset = -1};
  }
  if (op_is(n.op, OPF_ELEMWISE) && n.nargs == 2) lighten_operands(r, &n);
  if (n.nargs > 0 && !op_is(n.op, OPF_EFFECT)) {
    int v = identity(r, &n);
    if (v >= 0) return v;
  }
  bool cse = !op_is(n.op, OPF_EFFECT) && n.op != OP_INPUT;
  int epoch = global_epoch(r, &n);
  if (cse) {
    if ((size_t)(r->out.n + 1) * 2 > r->tcap) grow_table(r);
    size_t slot = cse_slot(r, &n, epoch);
    if (r->table[slot] >= 0) return r->table[slot];
    r->table[slot] = r->out.n;
  }
  int v = ir_append(&r->out, &n);
  r->epoch = realloc(r->epoch, (size_t)r->out.cap * sizeof *r->epoch);
  if (!r->epoch) unreachable("out of memory");
  r->epoch[v] = epoch;
  if (n.op == OP_STORE) r->gstores[ir_global_find(r->m, n.at.name)]++;
  return v;
}

static void simplify_func(IrModule *m, IrFunc *f) {
  Rw r = {.m = m, .out = {.name = f->name, .mod = m}};
  int *map = malloc(((size_t)f->n + 1) * sizeof *map);
  r.gstores = calloc((size_t)m->nglobals + 1, sizeof *r.gstores);
  if (!map || !r.gstores) unreachable("out of memory");
  for (int i = 0; i < f->n; i++) {
    IrNode n = f->nodes[i];
    for (int a = 0; a < n.nargs; a++) n.args[a] = map[n.args[a]];
    map[i] = add_node(&r, n);
  }
  for (int k = 0; k < f->nrets; k++) f->rets[k] = map[f->rets[k]];
  f->nodes = r.out.nodes;
  f->n = r.out.n;
  f->cap = r.out.cap;
  free(map);
  free(r.gstores);
  free(r.epoch);
  free(r.table);
}

bool pass_simplify(IrModule *m, PassCtx *ctx) {
  (void)ctx;
  for (int i = 0; i < m->nfuncs; i++) {
    IrFunc *f = m->funcs[i];
    for (int round = 0; round < 8; round++) {
      int before = f->n;
      simplify_func(m, f);
      pass_dce_func(f);
      if (f->n >= before) break;
    }
  }
  return true;
}
