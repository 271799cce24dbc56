/* shape.c — shape rules, one per ops.def row: they derive an op's result
 * type from its operands (or check a declared one, for OPF_TYPED ops). The
 * builder runs them when a node is made; the verifier re-runs them. Errors
 * are phrased for the user: lowering reports them at the source expression.
 * The shape helpers of ir.h (broadcasting, reduced shapes) live here too, so
 * that passes and the frontend use the rules' own logic instead of copies. */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "ir.h"

#define RULE(name) \
  bool name(const IrModule *m, const Type *in, int nin, const Attrs *at, Type *out, char *err, size_t errlen)

bool ir_shape_fail(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
  return false;
}

static const char *ts(const IrModule *m, const Type *t, char *buf) { return ir_type_str(m, t, buf, IR_TYPE_STRLEN); }

static const char *dim_str(const IrModule *m, int64_t d, char *buf) {
  if (IR_IS_SYM(d) && m && IR_SYM_INDEX(d) < m->nsyms) snprintf(buf, 32, "%s", m->syms[IR_SYM_INDEX(d)]);
  else snprintf(buf, 32, "%lld", (long long)d);
  return buf;
}

static bool check_value_type(const Type *t, char *err, size_t errlen) {
  if (!ir_dtype_valid(t->dt)) return ir_shape_fail(err, errlen, "expected a tensor type");
  if (t->sh.rank < 0 || t->sh.rank > IR_MAX_RANK)
    return ir_shape_fail(err, errlen, "rank %d is out of range (at most %d)", t->sh.rank, IR_MAX_RANK);
  for (int i = 0; i < t->sh.rank; i++)
    if (t->sh.d[i] == 0) return ir_shape_fail(err, errlen, "dimension %d has size 0", i);
  return true;
}

static bool need_f32(const IrModule *m, const Type *t, const char *what, char *err, size_t errlen) {
  char b[IR_TYPE_STRLEN];
  if (t->dt != DT_F32) return ir_shape_fail(err, errlen, "%s expects a float tensor, got %s", what, ts(m, t, b));
  return true;
}

RULE(shape_typed) {
  (void)m, (void)in, (void)nin, (void)at;
  return check_value_type(out, err, errlen);
}

/* An integer constant holds an integer in its type's range: the value is
 * the element, not a float to be converted somewhere later. */
RULE(shape_const) {
  if (!shape_typed(m, in, nin, at, out, err, errlen)) return false;
  double v = at->value;
  if (!ir_dtype_holds(out->dt, v))
    return ir_shape_fail(err, errlen, "an integer constant (%s) needs an integer value in its range, got %.9g",
                         ir_dtype_name(out->dt), v);
  return true;
}

RULE(shape_global) {
  (void)in, (void)nin;
  int g = at->name ? ir_global_find(m, at->name) : -1;
  if (g < 0) return ir_shape_fail(err, errlen, "unknown global @%s", at->name ? at->name : "?");
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!ir_type_eq(out, &m->globals[g].ty))
    return ir_shape_fail(err, errlen, "global @%s has type %s, not %s", at->name, ts(m, &m->globals[g].ty, b1), ts(m, out, b2));
  return true;
}

RULE(shape_store) {
  (void)nin;
  int g = at->name ? ir_global_find(m, at->name) : -1;
  if (g < 0) return ir_shape_fail(err, errlen, "unknown global @%s", at->name ? at->name : "?");
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!ir_type_eq(&in[0], &m->globals[g].ty))
    return ir_shape_fail(err, errlen, "cannot store %s into @%s of type %s", ts(m, &in[0], b1), at->name, ts(m, &m->globals[g].ty, b2));
  *out = (Type){.dt = DT_VOID};
  return true;
}

RULE(shape_dim) {
  (void)m, (void)nin;
  if (at->axis < 0 || at->axis >= in[0].sh.rank)
    return ir_shape_fail(err, errlen, "axis %d is out of range for rank %d", at->axis, in[0].sh.rank);
  *out = (Type){.dt = DT_F32};
  return true;
}

/* ---- shape helpers (ir.h) ---- */

/* Walks the aligned dims of a and b; the index of the first pair that does
 * not broadcast, or -1 when all do (*o then holds the result). */
static int broadcast_walk(const Shape *a, const Shape *b, Shape *o) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  o->rank = r;
  for (int i = 0; i < r; i++) {
    int ia = a->rank - r + i, ib = b->rank - r + i;
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da == db || db == 1) o->d[i] = da;
    else if (da == 1) o->d[i] = db;
    else return i;
  }
  return -1;
}

bool ir_broadcast_shapes(const Shape *a, const Shape *b, Shape *out) { return broadcast_walk(a, b, out) < 0; }

bool ir_broadcasts_to(const Shape *s, const Shape *d) {
  Shape o;
  return s->rank <= d->rank && ir_broadcast_shapes(s, d, &o) && ir_shape_eq(&o, d);
}

Shape ir_reduced_shape(const Shape *s, const int *axes, int naxes, bool keepdims) {
  Shape o = {0};
  for (int i = 0; i < s->rank; i++) {
    bool reduced = false;
    for (int j = 0; j < naxes; j++) reduced |= axes[j] == i;
    if (!reduced) o.d[o.rank++] = s->d[i];
    else if (keepdims) o.d[o.rank++] = 1;
  }
  return o;
}

/* ---- the rules ---- */

/* ir_broadcast_shapes with the user's message on failure. */
static bool broadcast_shapes(const IrModule *m, const Shape *a, const Shape *b, Shape *o, char *err, size_t errlen) {
  int i = broadcast_walk(a, b, o);
  if (i < 0) return true;
  int r = o->rank, ia = a->rank - r + i, ib = b->rank - r + i;
  char s1[32], s2[32];
  return ir_shape_fail(err, errlen, "shapes cannot broadcast: dimension %s against %s", dim_str(m, ia >= 0 ? a->d[ia] : 1, s1),
              dim_str(m, ib >= 0 ? b->d[ib] : 1, s2));
}

RULE(shape_binary) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (in[0].dt != in[1].dt || in[0].dt != DT_F32)
    return ir_shape_fail(err, errlen, "operands must both be float tensors, got %s and %s", ts(m, &in[0], b1), ts(m, &in[1], b2));
  Shape s;
  if (!broadcast_shapes(m, &in[0].sh, &in[1].sh, &s, err, errlen)) {
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s", err);
    return ir_shape_fail(err, errlen, "%s (%s and %s)", tmp, ts(m, &in[0], b1), ts(m, &in[1], b2));
  }
  *out = (Type){.dt = DT_F32, .sh = s};
  return true;
}

/* where(cond, a, b): three float tensors broadcast together. */
RULE(shape_where) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN], b3[IR_TYPE_STRLEN];
  if (in[0].dt != DT_F32 || in[1].dt != DT_F32 || in[2].dt != DT_F32)
    return ir_shape_fail(err, errlen, "where expects three float tensors (a 0/1 mask, then the values), got %s, %s and %s",
                         ts(m, &in[0], b1), ts(m, &in[1], b2), ts(m, &in[2], b3));
  Shape s, s2;
  if (!ir_broadcast_shapes(&in[0].sh, &in[1].sh, &s) || !ir_broadcast_shapes(&s, &in[2].sh, &s2))
    return ir_shape_fail(err, errlen, "where's operands cannot broadcast together: %s, %s and %s", ts(m, &in[0], b1),
                         ts(m, &in[1], b2), ts(m, &in[2], b3));
  *out = (Type){.dt = DT_F32, .sh = s2};
  return true;
}

/* fake_quant(x, s) and fake_quant_grad(x, s, dy): float x, a scale that
 * broadcasts to x (per tensor or per channel), dy of x's type; the result
 * has x's type. The levels are integers qmin <= value (the zero point) <=
 * qmax within 2^24, so that f32 holds every level and level sum exactly. */
RULE(shape_fake_quant) {
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!need_f32(m, &in[0], "fake_quant's input", err, errlen)) return false;
  if (in[1].dt != DT_F32 || !ir_broadcasts_to(&in[1].sh, &in[0].sh))
    return ir_shape_fail(err, errlen, "fake_quant's scale must be a float tensor that broadcasts to its input %s, got %s",
                         ts(m, &in[0], b1), ts(m, &in[1], b2));
  if (nin == 3 && !ir_type_eq(&in[2], &in[0]))
    return ir_shape_fail(err, errlen, "fake_quant_grad's gradient must have its input's type %s, got %s",
                         ts(m, &in[0], b1), ts(m, &in[2], b2));
  const double lim = 16777216.0, lv[3] = {at->qmin, at->value, at->qmax};
  for (int i = 0; i < 3; i++)
    if (!(lv[i] >= -lim && lv[i] <= lim) || lv[i] != (double)(int64_t)lv[i])
      return ir_shape_fail(err, errlen, "fake_quant's qmin, qmax and zero point (value) must be integers within 2^24, "
                           "got qmin=%g qmax=%g value=%g", at->qmin, at->qmax, at->value);
  if (!(at->qmin < at->qmax && at->qmin <= at->value && at->value <= at->qmax))
    return ir_shape_fail(err, errlen, "fake_quant needs qmin < qmax and the zero point (value) between them, got "
                         "qmin=%g qmax=%g value=%g", at->qmin, at->qmax, at->value);
  *out = in[0];
  return true;
}

RULE(shape_unary) {
  (void)nin, (void)at;
  if (!need_f32(m, &in[0], "this operation", err, errlen)) return false;
  *out = in[0];
  return true;
}

RULE(shape_cast) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!check_value_type(out, err, errlen)) return false;
  Type t = in[0];
  t.dt = out->dt;
  if (!ir_type_eq(&t, out)) return ir_shape_fail(err, errlen, "cannot cast %s to %s", ts(m, &in[0], b1), ts(m, out, b2));
  return true;
}

static bool check_axes(const Attrs *at, int rank, bool perm, char *err, size_t errlen) {
  for (int i = 0; i < at->naxes; i++) {
    if (at->axes[i] < 0 || at->axes[i] >= rank)
      return ir_shape_fail(err, errlen, "axis %d is out of range for rank %d", at->axes[i], rank);
    for (int j = 0; j < i; j++)
      if (at->axes[j] == at->axes[i]) return ir_shape_fail(err, errlen, "axis %d is given twice", at->axes[i]);
    if (!perm && i && at->axes[i] < at->axes[i - 1]) return ir_shape_fail(err, errlen, "axes must be in ascending order");
  }
  return true;
}

RULE(shape_reduce) {
  (void)nin;
  if (!need_f32(m, &in[0], "a reduction", err, errlen)) return false;
  if (!check_axes(at, in[0].sh.rank, false, err, errlen)) return false;
  *out = (Type){.dt = DT_F32, .sh = ir_reduced_shape(&in[0].sh, at->axes, at->naxes, at->keepdims)};
  return true;
}

RULE(shape_rowwise) {
  (void)nin;
  if (!need_f32(m, &in[0], "softmax", err, errlen)) return false;
  if (at->axis < 0 || at->axis >= in[0].sh.rank)
    return ir_shape_fail(err, errlen, "axis %d is out of range for rank %d", at->axis, in[0].sh.rank);
  *out = in[0];
  return true;
}

/* concat(a, b) along axis: equal types but for that axis, whose sizes must
 * be static (a sum of a symbolic dim and a size is no dim). */
RULE(shape_concat) {
  (void)nin;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  const Type *a = &in[0], *b = &in[1];
  int ax = at->axis;
  if (a->dt != b->dt || a->sh.rank != b->sh.rank || ax < 0 || ax >= a->sh.rank)
    return ir_shape_fail(err, errlen, "cannot concatenate %s and %s along axis %d", ts(m, a, b1), ts(m, b, b2), ax);
  for (int i = 0; i < a->sh.rank; i++)
    if (i != ax && a->sh.d[i] != b->sh.d[i])
      return ir_shape_fail(err, errlen, "cannot concatenate %s and %s along axis %d: dimension %d differs", ts(m, a, b1),
                  ts(m, b, b2), ax, i);
  if (IR_IS_SYM(a->sh.d[ax]) || IR_IS_SYM(b->sh.d[ax]))
    return ir_shape_fail(err, errlen, "concatenation needs static sizes along axis %d, got %s and %s", ax, ts(m, a, b1),
                ts(m, b, b2));
  if (a->sh.d[ax] + b->sh.d[ax] > IR_MAX_DIM) return ir_shape_fail(err, errlen, "the concatenation is too large");
  *out = *a;
  out->sh.d[ax] += b->sh.d[ax];
  return true;
}

/* slice(x) keeps [start, end) of a static axis. */
RULE(shape_slice) {
  (void)nin;
  char b1[IR_TYPE_STRLEN];
  int ax = at->axis;
  if (ax < 0 || ax >= in[0].sh.rank) return ir_shape_fail(err, errlen, "axis %d is out of range for rank %d", ax, in[0].sh.rank);
  int64_t d = in[0].sh.d[ax];
  if (IR_IS_SYM(d)) return ir_shape_fail(err, errlen, "slice needs a static size along axis %d, got %s", ax, ts(m, &in[0], b1));
  if (at->start < 0 || at->start >= at->end || at->end > d)
    return ir_shape_fail(err, errlen, "slice [%d, %d) is empty or outside [0, %lld)", at->start, at->end, (long long)d);
  *out = in[0];
  out->sh.d[ax] = at->end - at->start;
  return true;
}

/* causal_mask(x): any float tensor of rank 2 or more, same type. */
RULE(shape_causal_mask) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN];
  if (in[0].dt != DT_F32 || in[0].sh.rank < 2)
    return ir_shape_fail(err, errlen, "causal_mask expects a float tensor of rank 2 or more, got %s", ts(m, &in[0], b1));
  *out = in[0];
  return true;
}

/* The shape of op(a) @ op(b) (ranks already checked: both 2 or more and
 * equal, or a's 3 or more and b's 2), of a's element type. */
static bool contract(const IrModule *m, const char *op, const Type *in, const Attrs *at, Type *out, char *err, size_t errlen) {
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN], s1[32], s2[32];
  int r = in[0].sh.rank, rb = in[1].sh.rank;
  /* Rank 3 or more: a batch of products over the leading axes, [G..,M,K] x
   * [G..,K,N] (attention's [B,H,T,dh] x [B,H,dh,T] is one batch of B*H), or
   * [G..,M,K] x [K,N] with one right operand for all (a dense layer over a
   * sequence: one GEMM of G*M rows). */
  if (r >= 3 && rb == 2 && at->ta)
    return ir_shape_fail(err, errlen, "%s of a %d-d by a 2-d tensor cannot transpose the %d-d one (ta=1)", op, r, r);
  int o = r - 2, ob = rb - 2;
  for (int i = 0; rb == r && i < o; i++)
    if (in[0].sh.d[i] != in[1].sh.d[i])
      return ir_shape_fail(err, errlen, "%s batch sizes differ: %s vs %s (%s @ %s)", op, dim_str(m, in[0].sh.d[i], s1),
                           dim_str(m, in[1].sh.d[i], s2), ts(m, &in[0], b1), ts(m, &in[1], b2));
  int64_t M = in[0].sh.d[o + (at->ta ? 1 : 0)], Ka = in[0].sh.d[o + (at->ta ? 0 : 1)];
  int64_t Kb = in[1].sh.d[ob + (at->tb ? 1 : 0)], N = in[1].sh.d[ob + (at->tb ? 0 : 1)];
  if (Ka != Kb)
    return ir_shape_fail(err, errlen, "%s inner dimensions differ: %s vs %s (%s @ %s)", op, dim_str(m, Ka, s1), dim_str(m, Kb, s2),
                ts(m, &in[0], b1), ts(m, &in[1], b2));
  *out = in[0];
  out->sh.d[o] = M, out->sh.d[o + 1] = N;
  return true;
}

RULE(shape_matmul) {
  (void)nin;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  int r = in[0].sh.rank, rb = in[1].sh.rank;
  if (in[0].dt != DT_F32 || in[1].dt != DT_F32 || r < 2 || (rb != r && !(r >= 3 && rb == 2)))
    return ir_shape_fail(err, errlen,
                         "matmul expects two float tensors of one rank (2 or more), or one of rank 3 or more and a 2-d one, "
                         "got %s and %s",
                         ts(m, &in[0], b1), ts(m, &in[1], b2));
  return contract(m, "matmul", in, at, out, err, errlen);
}

/* Two shapes have the same element count if their static parts multiply to
 * the same number and they hold the same symbolic dims as often. (Sizes are
 * capped far below 2^63 by the frontend, so the products do not overflow.) */
static int count_sym(const Shape *s, int64_t d) {
  int n = 0;
  for (int i = 0; i < s->rank; i++) n += s->d[i] == d;
  return n;
}

static bool same_numel(const Shape *a, const Shape *b) {
  int64_t na = 1, nb = 1;
  for (int i = 0; i < a->rank; i++) {
    if (!IR_IS_SYM(a->d[i])) na *= a->d[i];
    else if (count_sym(a, a->d[i]) != count_sym(b, a->d[i])) return false;
  }
  for (int i = 0; i < b->rank; i++) {
    if (!IR_IS_SYM(b->d[i])) nb *= b->d[i];
    else if (count_sym(a, b->d[i]) != count_sym(b, b->d[i])) return false;
  }
  return na == nb;
}

RULE(shape_reshape) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!check_value_type(out, err, errlen)) return false;
  if (out->dt != in[0].dt || !same_numel(&in[0].sh, &out->sh))
    return ir_shape_fail(err, errlen, "cannot reshape %s to %s: element counts differ", ts(m, &in[0], b1), ts(m, out, b2));
  return true;
}

RULE(shape_transpose) {
  (void)m, (void)nin;
  if (at->naxes != in[0].sh.rank)
    return ir_shape_fail(err, errlen, "transpose needs a permutation of all %d axes, got %d", in[0].sh.rank, at->naxes);
  if (!check_axes(at, in[0].sh.rank, true, err, errlen)) return false;
  Type t = in[0];
  for (int i = 0; i < at->naxes; i++) t.sh.d[i] = in[0].sh.d[at->axes[i]];
  *out = t;
  return true;
}

RULE(shape_broadcast) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!check_value_type(out, err, errlen)) return false;
  if (out->dt != in[0].dt || !ir_broadcasts_to(&in[0].sh, &out->sh))
    return ir_shape_fail(err, errlen, "cannot broadcast %s to %s", ts(m, &in[0], b1), ts(m, out, b2));
  return true;
}

RULE(shape_onehot) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!check_value_type(out, err, errlen)) return false;
  bool ok = in[0].dt == DT_I32 && out->dt == DT_F32 && out->sh.rank == in[0].sh.rank + 1 &&
            !IR_IS_SYM(out->sh.d[out->sh.rank - 1]);
  for (int i = 0; ok && i < in[0].sh.rank; i++) ok = in[0].sh.d[i] == out->sh.d[i];
  if (!ok) return ir_shape_fail(err, errlen, "onehot maps integer labels %s to floats with one more static axis, not %s", ts(m, &in[0], b1), ts(m, out, b2));
  return true;
}

/* ---- sliding windows over NCHW ---- */

int64_t ir_window_out(int64_t n, int k, int stride, int pad) {
  if (IR_IS_SYM(n)) return n;
  int64_t span = n + 2 * (int64_t)pad - k;
  return span < 0 || stride < 1 ? 0 : span / stride + 1;
}

/* x must be dt[N,C,H,W] with static C, H, W (the window arithmetic is
 * done at compile time); only the batch N may be symbolic. */
static bool need_nchw_of(const IrModule *m, const Type *t, DType dt, const char *op, const char *what, char *err,
                         size_t errlen) {
  char b[IR_TYPE_STRLEN];
  if (t->dt != dt || t->sh.rank != 4)
    return ir_shape_fail(err, errlen, "%s expects its %s as %s[N,C,H,W], got %s", op, what, ir_dtype_name(dt), ts(m, t, b));
  if (IR_IS_SYM(t->sh.d[1]) || IR_IS_SYM(t->sh.d[2]) || IR_IS_SYM(t->sh.d[3]))
    return ir_shape_fail(err, errlen, "%s needs static channels, height and width, got %s", op, ts(m, t, b));
  return true;
}

static bool need_nchw(const IrModule *m, const Type *t, const char *op, const char *what, char *err, size_t errlen) {
  return need_nchw_of(m, t, DT_F32, op, what, err, errlen);
}

/* The [N,C,OH,OW] result of window k (stride, pad) over x, or an error
 * naming the axis the window does not fit in. */
static bool window_out(const IrModule *m, const char *op, const Type *x, int k, const Attrs *at, int64_t C, Type *out,
                       char *err, size_t errlen) {
  char b[IR_TYPE_STRLEN];
  if (at->stride < 1) return ir_shape_fail(err, errlen, "%s needs a stride of at least 1, got %d", op, at->stride);
  if (at->pad < 0 || at->pad >= k) return ir_shape_fail(err, errlen, "%s needs a padding in [0, %d), got %d", op, k, at->pad);
  *out = (Type){.dt = DT_F32, .sh = {.rank = 4, .d = {x->sh.d[0], C, 0, 0}}};
  for (int i = 2; i < 4; i++) {
    out->sh.d[i] = ir_window_out(x->sh.d[i], k, at->stride, at->pad);
    if (out->sh.d[i] < 1)
      return ir_shape_fail(err, errlen, "%s: a %dx%d window (padding %d) does not fit in %s", op, k, k, at->pad, ts(m, x, b));
  }
  return true;
}

/* conv(x xt[N,C,H,W], w wt[F,C,K,K]) -> [N,F,OH,OW] (of type f32 here:
 * the caller sets its own). */
static bool conv_shape(const IrModule *m, const char *op, const Type *in, DType xt, DType wt, const Attrs *at, Type *out,
                       char *err, size_t errlen) {
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!need_nchw_of(m, &in[0], xt, op, "input", err, errlen)) return false;
  const Shape *w = &in[1].sh;
  if (in[1].dt != wt || w->rank != 4 || IR_IS_SYM(w->d[0]) || IR_IS_SYM(w->d[2]) || w->d[2] != w->d[3])
    return ir_shape_fail(err, errlen, "%s expects static square filters %s[F,C,K,K], got %s", op, ir_dtype_name(wt),
                         ts(m, &in[1], b1));
  if (w->d[1] != in[0].sh.d[1] || w->d[2] > 1000)
    return ir_shape_fail(err, errlen, "%s filters %s do not match the input %s (channels)", op, ts(m, &in[1], b1),
                ts(m, &in[0], b2));
  return window_out(m, op, &in[0], (int)w->d[2], at, w->d[0], out, err, errlen);
}

/* conv2d(x f32[N,C,H,W], w f32[F,C,K,K]) -> f32[N,F,OH,OW] */
RULE(shape_conv2d) {
  (void)nin;
  return conv_shape(m, "conv2d", in, DT_F32, DT_F32, at, out, err, errlen);
}

/* maxpool2d/avgpool2d(x f32[N,C,H,W]) -> f32[N,C,OH,OW], no padding. */
RULE(shape_pool2d) {
  (void)nin;
  if (!need_nchw(m, &in[0], "pooling", "input", err, errlen)) return false;
  if (at->kernel < 1) return ir_shape_fail(err, errlen, "pooling needs a window of at least 1, got %d", at->kernel);
  return window_out(m, "pooling", &in[0], at->kernel, at, in[0].sh.d[1], out, err, errlen);
}

/* The gradient ops: (forward operands..., dy). dy must have the forward
 * result's type; the result has the type of forward operand `res`. */
static bool window_grad(const IrModule *m, const Type *in, int nin, const Attrs *at, int res, Type *out, char *err,
                        size_t errlen) {
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  Type y;
  bool ok = nin == 3 ? shape_conv2d(m, in, 2, at, &y, err, errlen) : shape_pool2d(m, in, 1, at, &y, err, errlen);
  if (!ok) return false;
  const Type *dy = &in[nin - 1];
  if (!ir_type_eq(dy, &y))
    return ir_shape_fail(err, errlen, "the gradient %s does not match the window's result %s", ts(m, dy, b1), ts(m, &y, b2));
  *out = in[res];
  return true;
}

RULE(shape_conv2d_grad_input) { return window_grad(m, in, nin, at, 0, out, err, errlen); }
RULE(shape_conv2d_grad_weight) { return window_grad(m, in, nin, at, 1, out, err, errlen); }
RULE(shape_pool2d_grad) { return window_grad(m, in, nin, at, 0, out, err, errlen); }

/* ---- gathers and dropout ---- */

/* embedding(ids i32[...], table f32[V, D]) -> f32[..., D]: one table row per
 * id. The table is static (a parameter); the ids may have any shape. */
RULE(shape_embedding) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  const Type *ids = &in[0], *tab = &in[1];
  if (ids->dt != DT_I32 || ids->sh.rank >= IR_MAX_RANK)
    return ir_shape_fail(err, errlen, "embedding expects integer ids (i32) of rank below %d, got %s", IR_MAX_RANK,
                ts(m, ids, b1));
  if (tab->dt != DT_F32 || tab->sh.rank != 2 || IR_IS_SYM(tab->sh.d[0]) || IR_IS_SYM(tab->sh.d[1]))
    return ir_shape_fail(err, errlen, "embedding expects a static table f32[rows, dim], got %s (ids %s)", ts(m, tab, b1),
                ts(m, ids, b2));
  *out = (Type){.dt = DT_F32, .sh = ids->sh};
  out->sh.d[out->sh.rank++] = tab->sh.d[1];
  return true;
}

/* embedding_grad(ids, table, dy) -> the table's type: dy's rows summed per
 * id (the table is read for its shape only). */
RULE(shape_embedding_grad) {
  (void)nin;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  Type y;
  if (!shape_embedding(m, in, 2, at, &y, err, errlen)) return false;
  if (!ir_type_eq(&in[2], &y))
    return ir_shape_fail(err, errlen, "the gradient %s does not match the embedding's result %s", ts(m, &in[2], b1),
                ts(m, &y, b2));
  *out = in[1];
  return true;
}

/* dropout(x f32[...], seed i32[2], step f32[]) {value = rate, salt} -> x's
 * type. */
RULE(shape_dropout) {
  (void)nin;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!need_f32(m, &in[0], "dropout", err, errlen)) return false;
  if (in[1].dt != DT_I32 || in[1].sh.rank != 1 || in[1].sh.d[0] != 2 || in[2].dt != DT_F32 || in[2].sh.rank != 0)
    return ir_shape_fail(err, errlen, "dropout takes a seed i32[2] and a step f32[], got %s and %s", ts(m, &in[1], b1),
                ts(m, &in[2], b2));
  if (!(at->value >= 0 && at->value < 1)) return ir_shape_fail(err, errlen, "dropout's rate must be in [0, 1), got %g", at->value);
  if (at->salt < 0 || at->salt >= 1 << 24) return ir_shape_fail(err, errlen, "dropout's salt must be in [0, 2^24), got %d", at->salt);
  *out = in[0];
  return true;
}

/* ---- int8 inference (docs/ir.md, "Quantized ops") ---- */

/* Operand `what` (f32 or i32, per channel) must broadcast to the shape of
 * the tensor it scales, never widen it. */
static bool need_per_channel(const IrModule *m, const char *op, const char *what, const Type *t, DType dt,
                             const Type *x, char *err, size_t errlen) {
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (t->dt != dt || !ir_broadcasts_to(&t->sh, &x->sh))
    return ir_shape_fail(err, errlen, "%s expects its %s as %s broadcasting to %s, got %s", op, what, ir_dtype_name(dt),
                         ts(m, x, b1), ts(m, t, b2));
  return true;
}

/* A zero point: an integer the quantized type holds. */
static bool need_zero_point(const char *op, double z, DType dt, char *err, size_t errlen) {
  if (!ir_dtype_holds(dt, z))
    return ir_shape_fail(err, errlen, "%s needs a zero point (value) in the range of %s, got %.9g", op, ir_dtype_name(dt), z);
  return true;
}

/* quantize(x f32[...], scale f32 broadcasting to x) {value = zero point}
 * -> u8 or i8 of x's shape (declared). */
RULE(shape_quantize) {
  (void)nin;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (!check_value_type(out, err, errlen)) return false;
  if (!need_f32(m, &in[0], "quantize", err, errlen)) return false;
  if (!need_per_channel(m, "quantize", "scale", &in[1], DT_F32, &in[0], err, errlen)) return false;
  if ((out->dt != DT_U8 && out->dt != DT_I8) || !ir_shape_eq(&out->sh, &in[0].sh))
    return ir_shape_fail(err, errlen, "quantize maps %s to u8 or i8 of the same shape, not %s", ts(m, &in[0], b1),
                         ts(m, out, b2));
  return need_zero_point("quantize", at->value, out->dt, err, errlen);
}

/* dequantize(acc i32[...], comp i32, scale f32; both broadcasting to acc)
 * -> f32 of acc's shape. */
RULE(shape_dequantize) {
  (void)nin, (void)at;
  char b1[IR_TYPE_STRLEN];
  if (in[0].dt != DT_I32)
    return ir_shape_fail(err, errlen, "dequantize expects i32 sums, got %s", ts(m, &in[0], b1));
  if (!need_per_channel(m, "dequantize", "compensation", &in[1], DT_I32, &in[0], err, errlen)) return false;
  if (!need_per_channel(m, "dequantize", "scale", &in[2], DT_F32, &in[0], err, errlen)) return false;
  *out = (Type){.dt = DT_F32, .sh = in[0].sh};
  return true;
}

/* qmatmul(a u8[..,M,K], w i8[K,N]) {ta=0, tb} -> i32[..,M,N]: a is read
 * as is (the kernel streams its rows), w (static: the kernel's blocking is
 * fixed at compile time) may be stored transposed ([N,K], tb=1); a leading
 * batch of a's is one product of its rows. */
RULE(shape_qmatmul) {
  (void)nin;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (in[0].dt != DT_U8 || in[1].dt != DT_I8 || in[0].sh.rank < 2 || in[1].sh.rank != 2 || IR_IS_SYM(in[1].sh.d[0]) ||
      IR_IS_SYM(in[1].sh.d[1]))
    return ir_shape_fail(err, errlen,
                         "qmatmul expects u8 activations of rank 2 or more and static 2-d i8 weights, got %s and %s",
                         ts(m, &in[0], b1), ts(m, &in[1], b2));
  if (at->ta) return ir_shape_fail(err, errlen, "qmatmul cannot transpose its activations (ta=1)");
  if (!contract(m, "qmatmul", in, at, out, err, errlen)) return false;
  out->dt = DT_I32;
  return true;
}

/* qconv2d(x u8[N,C,H,W], w i8[F,C,K,K]) {value = x's zero point, stride,
 * pad} -> i32[N,F,OH,OW]; the padding holds the zero point. */
RULE(shape_qconv2d) {
  (void)nin;
  if (!conv_shape(m, "qconv2d", in, DT_U8, DT_I8, at, out, err, errlen)) return false;
  out->dt = DT_I32;
  return need_zero_point("qconv2d", at->value, DT_U8, err, errlen);
}
