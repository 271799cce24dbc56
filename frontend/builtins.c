/* builtins.c — the builtin functions of .nn: one table (name, IR op, flags,
 * parameters with defaults, lowering callback) and the callbacks.
 *
 * Adding a builtin is one table row, plus a callback when none of the shared
 * ones (unary op, row-wise op, reduction) fits. Arguments arrive bound and
 * read (bind.c): callbacks see tensors as IR values and attributes as
 * numbers, and only check what depends on the operand types. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

static const Type *ty(Lower *L, int v) { return fe_type(L, v); }

/* ---- shared callbacks ---- */

/* relu(x), exp(x), ...: one elementwise op. */
static int lower_unary(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  return fe_emit1(L, b->op, a[0].v, call->loc);
}

/* matmul(a, b) */
static int lower_binary(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  return fe_emit2(L, b->op, a[0].v, a[1].v, call->loc);
}

/* softmax(x, axis: -1), log_softmax(x, axis: -1) */
static int lower_rowwise(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int axis = fe_norm_axis(L, a[1].i, ty(L, a[0].v)->sh.rank, a[1].loc);
  if (axis < 0) return FE_ERR;
  Attrs at = {.axis = axis};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

/* Reduces over the given axes (none given: all of them). */
int fe_reduce(Lower *L, OpKind op, int x, const BArg *axes, bool keepdims, Loc loc) {
  int rank = ty(L, x)->sh.rank;
  Attrs at = {.keepdims = keepdims};
  bool on[IR_MAX_RANK] = {0};
  for (int i = 0; i < (axes && axes->present ? axes->n : rank); i++) {
    int ax = axes && axes->present ? fe_norm_axis(L, axes->list[i], rank, axes->loc) : i;
    if (ax < 0) return FE_ERR;
    if (on[ax]) {
      diag_error(L->d, axes->loc, "axis %d is given twice", ax);
      return FE_ERR;
    }
    on[ax] = true;
  }
  /* The IR wants the axes ascending. */
  for (int i = 0; i < rank; i++)
    if (on[i]) at.axes[at.naxes++] = i;
  return fe_emit(L, op, &x, 1, &at, NULL, loc);
}

/* sum/mean/max(x, axis: int | [ints], keepdims: false) */
static int lower_reduce(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  return fe_reduce(L, b->op, a[0].v, &a[1], a[2].b, call->loc);
}

int fe_reshape_to(Lower *L, int x, const Shape *s, Loc loc) {
  Type t = {.dt = ty(L, x)->dt, .sh = *s};
  return fe_emit(L, OP_RESHAPE, &x, 1, NULL, &t, loc);
}

/* ---- layout ---- */

/* Solves reshape's -1: the static sizes must divide, and the symbolic dims
 * must match, except that one left-over sym may be the -1 itself. */
static bool infer_dim(Lower *L, const Shape *from, BArg *shape, Loc loc) {
  int64_t pf = 1, pt = 1;
  int nsym = L->m->nsyms, *cnt = arena_alloc(L->a, (size_t)(nsym + 1) * sizeof *cnt);
  for (int i = 0; i < from->rank; i++) {
    if (IR_IS_SYM(from->d[i])) cnt[IR_SYM_INDEX(from->d[i])]++;
    else pf *= from->d[i];
  }
  for (int i = 0; i < shape->n; i++) {
    if (i == shape->infer) continue;
    if (IR_IS_SYM(shape->list[i])) cnt[IR_SYM_INDEX(shape->list[i])]--;
    else pt *= shape->list[i];
  }
  int left = -1, nleft = 0;
  bool ok = true;
  for (int k = 0; k < nsym; k++) {
    if (cnt[k] < 0) ok = false;
    if (cnt[k] > 0) nleft += cnt[k], left = k;
  }
  if (ok && nleft == 0 && pf % pt == 0) {
    shape->list[shape->infer] = pf / pt;
    return true;
  }
  if (ok && nleft == 1 && pf == pt) {
    shape->list[shape->infer] = IR_SYM(left);
    return true;
  }
  diag_error(L->d, loc, "cannot infer the -1 dimension of this reshape");
  return false;
}

/* reshape(x, [B, 784]): same elements, new shape; one dim may be -1 */
static int lower_reshape(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  if (a[1].infer >= 0 && !infer_dim(L, &ty(L, a[0].v)->sh, &a[1], a[1].loc)) return FE_ERR;
  Shape s = {.rank = a[1].n};
  memcpy(s.d, a[1].list, sizeof(int64_t) * (size_t)s.rank);
  return fe_reshape_to(L, a[0].v, &s, call->loc);
}

/* flatten(x): [d0, d1, ...] → [d0, d1 * ...]; the batch axis stays */
static int lower_flatten(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  const Type *t = ty(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  if (t->sh.rank < 1) {
    diag_error(L->d, call->loc, "flatten needs a tensor with a batch axis, got %s", fe_type_str(L, t, buf));
    return FE_ERR;
  }
  Shape s = {.rank = 2, .d = {t->sh.d[0], 1}};
  for (int i = 1; i < t->sh.rank; i++) {
    if (IR_IS_SYM(t->sh.d[i])) {
      diag_error(L->d, call->loc, "flatten needs static dimensions after the first, got %s", fe_type_str(L, t, buf));
      return FE_ERR;
    }
    s.d[1] *= t->sh.d[i];
  }
  return fe_reshape_to(L, a[0].v, &s, call->loc);
}

/* transpose(x, perm) — default: reverse the axes */
static int lower_transpose(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int rank = ty(L, a[0].v)->sh.rank;
  Attrs at = {0};
  if (!a[1].present) {
    at.naxes = rank;
    for (int i = 0; i < rank; i++) at.axes[i] = rank - 1 - i;
  } else {
    at.naxes = a[1].n;
    for (int i = 0; i < a[1].n; i++)
      if ((at.axes[i] = fe_norm_axis(L, a[1].list[i], rank, a[1].loc)) < 0) return FE_ERR;
  }
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

/* concat(a, b, axis: -1): a, then b, along axis (static sizes there) */
static int lower_concat(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  Attrs at = {.axis = fe_norm_axis(L, a[2].i, ty(L, a[0].v)->sh.rank, a[2].loc)};
  if (at.axis < 0) return FE_ERR;
  return fe_emit(L, b->op, (int[]){a[0].v, a[1].v}, 2, &at, NULL, call->loc);
}

/* The axis of x named by arg, which must have a static size (in *d). */
static int static_axis(Lower *L, const BArg *x, const BArg *arg, const char *what, int64_t *d) {
  const Type *t = ty(L, x->v);
  char buf[IR_TYPE_STRLEN];
  int axis = fe_norm_axis(L, arg->i, t->sh.rank, arg->loc);
  if (axis < 0) return -1;
  *d = t->sh.d[axis];
  if (IR_IS_SYM(*d)) {
    diag_error(L->d, arg->loc, "%s needs a static size along axis %d, got %s", what, axis, fe_type_str(L, t, buf));
    return -1;
  }
  return axis;
}

/* slice(x, axis, start, end): [start, end) along axis; a negative start or
 * end counts from the end, as in Python */
static int lower_slice(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int64_t d;
  int axis = static_axis(L, &a[0], &a[1], "slice", &d);
  if (axis < 0) return FE_ERR;
  int64_t start = a[2].i, end = a[3].i;
  if (start < 0) start += d;
  if (end < 0) end += d;
  if (start < 0 || start >= end || end > d) {
    diag_error(L->d, call->loc, "slice [%lld, %lld) is empty or outside the %lld elements of axis %d",
               (long long)a[2].i, (long long)a[3].i, (long long)d, axis);
    return FE_ERR;
  }
  Attrs at = {.axis = axis, .start = (int)start, .end = (int)end};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

/* split(x, parts, index, axis: -1): the index-th of `parts` equal pieces
 * along axis, a slice (the language has no tuples: one call per piece,
 * e.g. q, k and v of one projection) */
static int lower_split(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int64_t d, parts = a[1].i, index = a[2].i;
  int axis = static_axis(L, &a[0], &a[3], "split", &d);
  if (axis < 0) return FE_ERR;
  if (parts < 1 || d % parts) {
    diag_error(L->d, a[1].loc, "split: %lld parts do not divide the %lld elements of axis %d", (long long)parts,
               (long long)d, axis);
    return FE_ERR;
  }
  if (index < 0 || index >= parts) {
    diag_error(L->d, a[2].loc, "split: index %lld is not in [0, %lld)", (long long)index, (long long)parts);
    return FE_ERR;
  }
  int64_t n = d / parts;
  Attrs at = {.axis = axis, .start = (int)(index * n), .end = (int)(index * n + n)};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

/* causal_mask(x [.., T, S]): -inf where column > row, for attention scores
 * before a softmax over the last axis */
static int lower_causal_mask(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  Attrs at = {.value = -INFINITY};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

/* pow(x, p), leaky_relu(x, alpha:), elu(x, alpha:): one elementwise op
 * whose attribute value is the second argument. */
static int lower_unary_value(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  Attrs at = {.value = a[1].num};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

int fe_to_f32(Lower *L, int x, Loc loc) {
  if (ty(L, x)->dt == DT_F32) return x;
  Type t = *ty(L, x);
  t.dt = DT_F32;
  return fe_emit(L, OP_CAST, &x, 1, NULL, &t, loc);
}

/* float(x): i32 → f32 */
static int lower_float(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  return fe_to_f32(L, a[0].v, call->loc);
}

/* onehot(labels i32 [..], classes): f32 [.., classes], 1 at each label's
 * index. Labels outside [0, classes) stop the program (nnrt_fail_label),
 * never index out of bounds. */
static int lower_onehot(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  const Type *t = ty(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  if (t->dt != DT_I32 || t->sh.rank >= IR_MAX_RANK) {
    diag_error(L->d, a[0].loc, "onehot expects integer labels (i32) of rank below %d, got %s", IR_MAX_RANK,
               fe_type_str(L, t, buf));
    return FE_ERR;
  }
  if (a[1].i < 1 || a[1].i > (1 << 24)) {
    diag_error(L->d, a[1].loc, "classes must be an integer from 1 to 16777216, got %lld", (long long)a[1].i);
    return FE_ERR;
  }
  Type out = {.dt = DT_F32, .sh = t->sh};
  out.sh.d[out.sh.rank++] = a[1].i;
  return fe_emit(L, b->op, &a[0].v, 1, NULL, &out, call->loc);
}

/* ---- layers ---- */

static bool is_identifier(const char *s) {
  if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

/* Creates parameter <layer>.<suffix> with its initialiser's fans already
 * set, and loads it. */
int fe_layer_param_init(Lower *L, const char *layer, const char *suffix, Shape sh, FeInit init, Loc loc) {
  const char *name = arena_printf(L->a, "%s.%s", layer, suffix);
  if (init.kind == NNRT_INIT_UNIT_FORGET && !(init.a > 0)) { /* set by lstm for its biases */
    diag_error(L->d, loc, "unit_forget_bias initialises the biases of an lstm, not %s", name);
    return FE_ERR;
  }
  int g = ir_global_add(L->m, (IrGlobal){.name = name, .kind = GLOBAL_PARAM, .ty = {.dt = DT_F32, .sh = sh},
                                          .init = init.kind, .init_a = init.a, .init_b = init.b, .loc = loc});
  int v = ir_global_ref(L->f, g, loc);
  L->f->nodes[v].name = fe_unique_name(L, name);
  return v;
}

/* The same, with fans read off a [.., in, out] shape (dense, bias). */
int fe_layer_param(Lower *L, const char *layer, const char *suffix, Shape sh, FeInit init, Loc loc) {
  fe_init_fans(&init, &sh);
  return fe_layer_param_init(L, layer, suffix, sh, init, loc);
}

/* The layer's name: given (an identifier not taken yet) or made up. */
const char *fe_layer_name(Lower *L, const BArg *a, const char *kind) {
  if (!a->present) return fe_auto_layer_name(L, kind);
  if (!is_identifier(a->s)) {
    diag_error(L->d, a->loc, "a layer name must be an identifier, got \"%s\"", a->s);
    return NULL;
  }
  const char *name = fe_prefixed(L, a->s); /* inside a def: block_2.attn */
  if (fe_layer_name_taken(L, name)) {
    diag_error(L->d, a->loc, "the layer name '%s' is already taken", name);
    return NULL;
  }
  return name;
}

/* The activation a layer's `activation:` names (FE_ACTIVATIONS), applied
 * to y as the builtin of that name with its defaults (leaky_relu's alpha
 * 0.01, elu's 1); softmax over `axis`. "none": y itself. */
int fe_activation(Lower *L, const char *name, int y, int axis, Loc loc) {
  if (y < 0 || !strcmp(name, "none")) return y;
  const Builtin *act = fe_builtin_find(name);
  if (!act) unreachable("an activation choice that is no builtin");
  Attrs at = {.axis = axis};
  if (ir_ops[act->op].attrs & A_VALUE) at.value = strtod(act->params[1].def, NULL); /* alpha's default */
  return fe_emit(L, act->op, &y, 1, &at, NULL, loc);
}

/* dense(x [B, in] or [B, T, in], units, activation, use_bias, init,
 * bias_init, name): x @ w + b with w: [in, units], b: [units], then the
 * activation; over a sequence, the same weights at every step. */
static int lower_dense(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  int x = a[0].v;
  const Type *t = ty(L, x);
  char buf[IR_TYPE_STRLEN];
  bool ok = true;
  if (a[1].i <= 0) {
    diag_error(L->d, a[1].loc, "units must be a positive integer, got %lld", (long long)a[1].i);
    ok = false;
  } else if ((t->sh.rank == 2 || t->sh.rank == 3) && !IR_IS_SYM(t->sh.d[t->sh.rank - 1]) &&
             t->sh.d[t->sh.rank - 1] > FE_MAX_ELEMS / a[1].i) {
    diag_error(L->d, a[1].loc, "this layer would be too large (more than 2^40 weights)");
    ok = false;
  }
  int last = t->sh.rank - 1;
  if (t->dt != DT_F32 || (t->sh.rank != 2 && t->sh.rank != 3)) {
    diag_error(L->d, a[0].loc, "dense expects [batch, features] or [batch, steps, features], got %s%s",
               fe_type_str(L, t, buf), t->sh.rank > 3 ? " (flatten it first)" : "");
    ok = false;
  } else if (IR_IS_SYM(t->sh.d[last])) {
    diag_error(L->d, a[0].loc, "dense needs a static number of input features, got %s", fe_type_str(L, t, buf));
    ok = false;
  }
  const char *name = fe_layer_name(L, &a[6], "dense"); /* even after an error: the numbering stays as written */
  if (!ok || !name) return FE_ERR;

  int64_t in = t->sh.d[last], units = a[1].i;
  Loc loc = call->loc;
  int w = fe_layer_param(L, name, "w", (Shape){.rank = 2, .d = {in, units}}, a[4].init, loc);
  int y = fe_emit2(L, OP_MATMUL, x, w, loc);
  if (a[3].b) y = fe_emit2(L, OP_ADD, y, fe_layer_param(L, name, "b", (Shape){.rank = 1, .d = {units}}, a[5].init, loc), loc);
  y = fe_activation(L, a[2].s, y, last, loc); /* softmax over the units */
  fe_add_layer(L, name, "dense", y, in * units + (a[3].b ? units : 0), loc);
  return y;
}

/* ---- normalisation ---- */

/* (x - mean) / sqrt(var + eps) over one axis, var the biased variance, as
 * torch.nn.functional.layer_norm: plain reductions and elementwise ops, so
 * autodiff needs no rule of its own and the elementwise parts fuse. The
 * variance is taken of the centred values (not E[x^2] - E[x]^2), which
 * cancels badly when the mean is large. */
static int layernorm(Lower *L, const BArg *x, int64_t axis, double eps, Loc aloc, Loc loc) {
  const Type *t = ty(L, x->v);
  char buf[IR_TYPE_STRLEN];
  if (t->dt != DT_F32 || t->sh.rank < 1) {
    diag_error(L->d, x->loc, "layer normalisation expects a float tensor with at least one axis, got %s",
               fe_type_str(L, t, buf));
    return FE_ERR;
  }
  BArg ax = {.present = true, .n = 1, .list = {axis}, .loc = aloc};
  int mu = fe_reduce(L, OP_MEAN, x->v, &ax, true, loc);
  if (mu < 0) return FE_ERR;
  int d = fe_emit2(L, OP_SUB, x->v, mu, loc);
  int var = fe_reduce(L, OP_MEAN, fe_emit2(L, OP_MUL, d, d, loc), &ax, true, loc);
  if (var < 0) return FE_ERR;
  int sd = fe_emit1(L, OP_SQRT, fe_emit2(L, OP_ADD, var, fe_scalar(L, eps, loc), loc), loc);
  return fe_emit2(L, OP_DIV, d, sd, loc);
}

static bool check_eps(Lower *L, const BArg *eps) {
  if (eps->num > 0 && eps->num <= 1) return true;
  diag_error(L->d, eps->loc, "eps must be in (0, 1], got %g", eps->num);
  return false;
}

/* layernorm(x, axis: -1, eps: 1e-5): normalised, no parameters */
static int lower_layernorm(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  if (!check_eps(L, &a[2])) return FE_ERR;
  return layernorm(L, &a[0], a[1].i, a[2].num, a[1].loc, call->loc);
}

/* layer_norm(x [.., D], eps: 1e-5, name): torch.nn.LayerNorm(D) over the
 * last axis, layernorm(x) * gamma + beta with <name>.gamma [D] ones and
 * <name>.beta [D] zeros. */
static int lower_layer_norm(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  const Type *t = ty(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  if (t->sh.rank >= 1 && IR_IS_SYM(t->sh.d[t->sh.rank - 1])) {
    diag_error(L->d, a[0].loc, "layer_norm needs a static last axis, got %s", fe_type_str(L, t, buf));
    return FE_ERR;
  }
  if (!check_eps(L, &a[1])) return FE_ERR;
  Loc loc = call->loc;
  int y = layernorm(L, &a[0], -1, a[1].num, loc, loc);
  const char *name = y >= 0 ? fe_layer_name(L, &a[2], "layer_norm") : NULL;
  if (!name) return FE_ERR;
  int64_t D = ty(L, a[0].v)->sh.d[ty(L, a[0].v)->sh.rank - 1];
  Shape sd = {.rank = 1, .d = {D}};
  int gamma = fe_layer_param(L, name, "gamma", sd, (FeInit){.kind = NNRT_INIT_ONES}, loc);
  int beta = fe_layer_param(L, name, "beta", sd, (FeInit){.kind = NNRT_INIT_ZEROS}, loc);
  y = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MUL, y, gamma, loc), beta, loc);
  if (y < 0) return FE_ERR;
  fe_add_layer(L, name, "layer_norm", y, 2 * D, loc);
  return y;
}

/* ---- the table ---- */

#define X {"x", P_TENSOR, FE_REQUIRED, NULL}
#define AXIS_LAST {"axis", P_INT, "-1", NULL}
#define REDUCE_PARAMS {X, {"axis", P_AXES, FE_OPTIONAL, NULL}, {"keepdims", P_BOOL, "false", NULL}}

static const Builtin builtins[] = {
    /* elementwise */
    {"relu", OP_RELU, B_LAYER, 0, {X}, lower_unary},
    {"sigmoid", OP_SIGMOID, B_LAYER, 0, {X}, lower_unary},
    {"tanh", OP_TANH, B_LAYER, 0, {X}, lower_unary},
    {"gelu", OP_GELU, B_LAYER, 0, {X}, lower_unary},
    {"leaky_relu", OP_LEAKY_RELU, B_LAYER, 0, {X, {"alpha", P_NUM, "0.01", NULL}}, lower_unary_value},
    {"elu", OP_ELU, B_LAYER, 0, {X, {"alpha", P_NUM, "1.0", NULL}}, lower_unary_value},
    {"silu", OP_SILU, B_LAYER, 0, {X}, lower_unary},
    {"swish", OP_SILU, B_LAYER, 0, {X}, lower_unary},
    {"softplus", OP_SOFTPLUS, B_LAYER, 0, {X}, lower_unary},
    {"exp", OP_EXP, 0, 0, {X}, lower_unary},
    {"log", OP_LOG, 0, 0, {X}, lower_unary},
    {"sqrt", OP_SQRT, 0, 0, {X}, lower_unary},
    {"neg", OP_NEG, 0, 0, {X}, lower_unary},
    {"pow", OP_POW, 0, 0, {X, {"p", P_NUM, FE_REQUIRED, NULL}}, lower_unary_value},
    {"float", OP_CAST, 0, 0, {X}, lower_float},
    /* row-wise */
    {"softmax", OP_SOFTMAX, B_LAYER, 0, {X, AXIS_LAST}, lower_rowwise},
    {"log_softmax", OP_LOG_SOFTMAX, B_LAYER, 0, {X, AXIS_LAST}, lower_rowwise},
    /* normalisation */
    {"layernorm", OP_COUNT, 0, 0, {X, AXIS_LAST, {"eps", P_NUM, "1e-5", NULL}}, lower_layernorm},
    {"layer_norm",
     OP_COUNT,
     0,
     0,
     {X, {"eps", P_NUM, "1e-5", NULL}, {"name", P_STR, FE_OPTIONAL, NULL}},
     lower_layer_norm},
    /* reductions: no axis = all axes */
    {"sum", OP_SUM, 0, 0, REDUCE_PARAMS, lower_reduce},
    {"mean", OP_MEAN, 0, 0, REDUCE_PARAMS, lower_reduce},
    {"max", OP_MAX, 0, 0, REDUCE_PARAMS, lower_reduce},
    /* layout and contraction */
    {"reshape", OP_RESHAPE, B_LAYER, 0, {X, {"shape", P_SHAPE, FE_REQUIRED, NULL}}, lower_reshape},
    {"flatten", OP_RESHAPE, B_LAYER, 0, {X}, lower_flatten},
    {"transpose", OP_TRANSPOSE, 0, 0, {X, {"perm", P_AXES, FE_OPTIONAL, NULL}}, lower_transpose},
    {"concat",
     OP_CONCAT,
     0,
     0,
     {{"a", P_TENSOR, FE_REQUIRED, NULL}, {"b", P_TENSOR, FE_REQUIRED, NULL}, AXIS_LAST},
     lower_concat},
    {"slice",
     OP_SLICE,
     0,
     0,
     {X, {"axis", P_INT, FE_REQUIRED, NULL}, {"start", P_INT, FE_REQUIRED, NULL}, {"end", P_INT, FE_REQUIRED, NULL}},
     lower_slice},
    {"split",
     OP_SLICE,
     0,
     0,
     {X, {"parts", P_INT, FE_REQUIRED, NULL}, {"index", P_INT, FE_REQUIRED, NULL}, AXIS_LAST},
     lower_split},
    {"causal_mask", OP_CAUSAL_MASK, 0, 0, {X}, lower_causal_mask},
    {"matmul", OP_MATMUL, 0, 0, {{"a", P_TENSOR, FE_REQUIRED, NULL}, {"b", P_TENSOR, FE_REQUIRED, NULL}}, lower_binary},
    {"onehot",
     OP_ONEHOT,
     0,
     0,
     {{"labels", P_TENSOR, FE_REQUIRED, NULL}, {"classes", P_INT, FE_REQUIRED, NULL}},
     lower_onehot},
    /* layers: create their parameters; Keras's defaults */
    {"dense",
     OP_COUNT,
     0,
     0,
     {X,
      {"units", P_INT, FE_REQUIRED, NULL},
      {"activation", P_CHOICE, "none", FE_ACTIVATIONS "|softmax|none"},
      {"use_bias", P_BOOL, "true", NULL},
      {"init", P_INIT, "glorot_uniform", NULL},
      {"bias_init", P_INIT, "zeros", NULL},
      {"name", P_STR, FE_OPTIONAL, NULL}},
     lower_dense},
    {"embedding",
     OP_COUNT,
     0,
     0,
     {{"ids", P_TENSOR, FE_REQUIRED, NULL},
      {"vocab", P_INT, FE_REQUIRED, NULL},
      {"dim", P_INT, FE_REQUIRED, NULL},
      {"init", P_INIT, "uniform", NULL},
      {"name", P_STR, FE_OPTIONAL, NULL}},
     fe_lower_embedding},
    /* training only: the identity in forward and eval_step */
    {"dropout", OP_DROPOUT, B_LAYER, 0, {X, {"rate", P_NUM, FE_REQUIRED, NULL}}, fe_lower_dropout},
};
#define NBUILTINS ((int)(sizeof builtins / sizeof *builtins))

/* The tables: this file's, the losses (builtins_loss.c), the recurrent
 * layers (builtins_rnn.c), the convolution, pooling and normalisation
 * layers (builtins_layers.c), attention and the masks (builtins_attn.c). */
static const struct {
  const Builtin *tab;
  const int *n;
} tables[] = {{builtins, &(const int){NBUILTINS}},
              {fe_loss_builtins, &fe_loss_nbuiltins},
              {fe_rnn_builtins, &fe_rnn_nbuiltins},
              {fe_layer_builtins, &fe_layer_nbuiltins},
              {fe_attn_builtins, &fe_attn_nbuiltins}};
#define NTABLES ((int)(sizeof tables / sizeof *tables))

const Builtin *fe_builtin_find(const char *name) {
  for (int t = 0; t < NTABLES; t++)
    for (int i = 0; i < *tables[t].n; i++)
      if (!strcmp(tables[t].tab[i].name, name)) return &tables[t].tab[i];
  return NULL;
}

const char **fe_builtin_names(Arena *a, int *n) {
  int total = 0;
  for (int t = 0; t < NTABLES; t++) total += *tables[t].n;
  const char **names = arena_alloc(a, sizeof *names * (size_t)(total + 1));
  *n = 0;
  for (int t = 0; t < NTABLES; t++)
    for (int i = 0; i < *tables[t].n; i++) names[(*n)++] = tables[t].tab[i].name;
  return names;
}

int fe_lower_call(Lower *L, const Expr *call) {
  const Builtin *b = fe_builtin_find(call->name);
  if (!b) {
    int n;
    const char **names = fe_callable_names(L, &n);
    const char *near = fe_suggest(call->name, names, n);
    if (fe_is_value_name(L, call->name))
      diag_error(L->d, call->loc, "'%s' is a tensor, not a function", call->name);
    else if (near)
      diag_error(L->d, call->loc, "unknown function '%s'; did you mean '%s'?", call->name, near);
    else
      diag_error(L->d, call->loc, "unknown function '%s'", call->name);
    return FE_ERR;
  }
  BArg args[FE_MAX_PARAMS];
  if (!fe_bind(L, b->name, b->params, call, args)) return FE_ERR;
  int v = b->lower(L, b, call, args);
  if (v < 0) return FE_ERR;
  if ((b->flags & B_LOSS) && !L->task_set) {
    L->task = b->task;
    L->task_set = true;
  }
  if ((b->flags & B_LAYER) && !L->in_loss) fe_add_layer(L, fe_auto_layer_name(L, b->name), b->name, v, 0, call->loc);
  return v;
}
