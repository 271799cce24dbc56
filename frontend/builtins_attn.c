/* builtins_attn.c — attention and masks: the comparisons (lt, le, gt, ge,
 * eq, ne), where, masked mean pooling and the multihead_attention layer.
 * A table of their own, searched after builtins.c's (fe_builtin_find).
 *
 * Masks are f32 tensors of 0.0 and 1.0: what the comparison ops give and
 * what where, mul and sum take (docs/language.md, "Masks"). Token ids (i32)
 * become such a mask by comparing them, as floats, with the padding id.
 *
 * multihead_attention runs all heads as one batched product: the q, k, v
 * projections come out of one GEMM as [B, T, 3D]; each of q, k, v is viewed
 * as [B, T, H, dh] and transposed to [B, H, T, dh], and the scores are one
 * 4-d matmul [B, H, T, dh] x [B, H, dh, T] -> [B, H, T, T], a batch of B*H
 * products over the two leading axes (ir/shape.c, shape_matmul). */
#include <math.h>

#include "lower.h"

static const Type *ty(Lower *L, int v) { return fe_type(L, v); }

/* lt(a, b), ..., ne(a, b): 1.0 where the comparison holds. Integer operands
 * (token ids) are compared as floats, exact below 2^24. */
static int lower_compare(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int x = fe_to_f32(L, a[0].v, a[0].loc), y = x < 0 ? FE_ERR : fe_to_f32(L, a[1].v, a[1].loc);
  return y < 0 ? FE_ERR : fe_emit2(L, b->op, x, y, call->loc);
}

/* where(cond, a, b): a where cond != 0, else b, broadcast together. */
static int lower_where(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int c = fe_to_f32(L, a[0].v, a[0].loc);
  return c < 0 ? FE_ERR : fe_emit(L, b->op, (int[]){c, a[1].v, a[2].v}, 3, NULL, NULL, call->loc);
}

/* The keep mask of token ids [B, T] against x [B, T, ...]: 1.0 where the
 * id is not the padding id (`pad`, 0 when not given), as f32 [B, T];
 * FE_ERR after reporting a mismatch. */
static int keep_mask(Lower *L, const char *what, const BArg *tokens, const BArg *pad_arg, const Type *x) {
  const Type *t = ty(L, tokens->v);
  int64_t pad = pad_arg->present ? pad_arg->i : 0;
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (t->sh.rank != 2 || t->sh.d[0] != x->sh.d[0] || t->sh.d[1] != x->sh.d[1]) {
    diag_error(L->d, tokens->loc, "%s's mask must be token ids [batch, steps] matching x, got %s for x %s", what,
               fe_type_str(L, t, b1), fe_type_str(L, x, b2));
    return FE_ERR;
  }
  int ids = fe_to_f32(L, tokens->v, tokens->loc);
  return ids < 0 ? FE_ERR : fe_emit2(L, OP_NE, ids, fe_scalar(L, (double)pad, tokens->loc), tokens->loc);
}

/* `pad:` only means something with `mask:`; false after reporting it alone. */
static bool mask_given(Lower *L, const char *what, const BArg *mask, const BArg *pad) {
  if (!pad->present || mask->present) return true;
  diag_error(L->d, pad->loc, "%s: pad: is the padding id of mask:, which is not given", what);
  return false;
}

/* mask [B, T] with axes of size 1 at the positions ones[] lists (of a
 * rank-`rank` result), to broadcast against a bigger tensor. */
static int expand(Lower *L, int mask, int rank, const int *ones, int nones, Loc loc) {
  const Shape *s = &ty(L, mask)->sh;
  Type t = {.dt = DT_F32, .sh = {.rank = rank}};
  for (int i = 0, k = 0; i < rank; i++) {
    bool one = false;
    for (int j = 0; j < nones; j++)
      one |= ones[j] == i;
    t.sh.d[i] = one ? 1 : s->d[k++];
  }
  return fe_emit(L, OP_RESHAPE, &mask, 1, NULL, &t, loc);
}

/* mean_pool(x [B, T, D], mask: tokens [B, T], pad: 0) -> [B, D]: the mean
 * over the steps whose token is not `pad`; a row of padding alone gives 0.
 * Without a mask, the mean over all steps. */
static int lower_mean_pool(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  const Type *t = ty(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  Loc loc = call->loc;
  if (t->dt != DT_F32 || t->sh.rank != 3) {
    diag_error(L->d, a[0].loc, "mean_pool expects a sequence f32[batch, steps, features], got %s",
               fe_type_str(L, t, buf));
    return FE_ERR;
  }
  if (!mask_given(L, "mean_pool", &a[1], &a[2])) return FE_ERR;
  Attrs over_steps = {.naxes = 1, .axes = {1}};
  if (!a[1].present) return fe_emit(L, OP_MEAN, &a[0].v, 1, &over_steps, NULL, loc);
  int keep = keep_mask(L, "mean_pool", &a[1], &a[2], t);
  if (keep < 0) return FE_ERR;
  keep = expand(L, keep, 3, (int[]){2}, 1, loc); /* [B, T, 1] */
  int sum = fe_emit(L, OP_SUM, (int[]){fe_emit2(L, OP_MUL, a[0].v, keep, loc)}, 1, &over_steps, NULL, loc);
  int count = fe_emit(L, OP_SUM, &keep, 1, &over_steps, NULL, loc); /* [B, 1] */
  int one = fe_scalar(L, 1, loc);
  int some = fe_emit2(L, OP_GT, count, fe_scalar(L, 0, loc), loc);
  int denom = fe_emit(L, OP_WHERE, (int[]){some, count, one}, 3, NULL, NULL, loc);
  return sum < 0 || denom < 0 ? FE_ERR : fe_emit2(L, OP_DIV, sum, denom, loc);
}

/* [B, T, D] viewed as [B, H, T, dh] (heads split off the features). */
static int split_heads(Lower *L, int x, int64_t H, Loc loc) {
  const Shape *s = &ty(L, x)->sh;
  Type t = {.dt = DT_F32, .sh = {.rank = 4, .d = {s->d[0], s->d[1], H, s->d[2] / H}}};
  int v = fe_emit(L, OP_RESHAPE, &x, 1, NULL, &t, loc);
  return fe_emit(L, OP_TRANSPOSE, &v, 1, &(Attrs){.naxes = 4, .axes = {0, 2, 1, 3}}, NULL, loc);
}

/* Scores of a padded key: finite, so that a query whose keys are all masked
 * gets uniform weights (then zeroed) instead of softmax's 0/0 = NaN; any
 * other query's weight on it is exp(-1e30 - max) = 0 exactly, as with -inf. */
#define MASKED_SCORE (-1e30)

/* multihead_attention(x [B, T, D], heads: H, causal: false, mask: tokens,
 * pad: 0, name) -> [B, T, D]: torch.nn.MultiheadAttention's self-attention
 * (batch_first, no dropout). Parameters <name>.wqkv [D, 3D] (the transpose
 * of torch's in_proj_weight: q, k, v columns in that order), .bqkv [3D]
 * (in_proj_bias), .wo [D, D] (out_proj.weight transposed) and .bo [D]. */
static int lower_mha(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  const Type *t = ty(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  int64_t H = a[1].i, D = t->sh.rank == 3 ? t->sh.d[2] : 0;
  bool ok = true;
  if (t->dt != DT_F32 || t->sh.rank != 3 || IR_IS_SYM(t->sh.d[2])) {
    diag_error(L->d, a[0].loc,
               "multihead_attention expects a sequence f32[batch, steps, features] with static features, got %s",
               fe_type_str(L, t, buf));
    ok = false;
  } else if (H <= 0 || D % H) {
    diag_error(L->d, a[1].loc, "heads must be a positive divisor of the %lld features, got %lld", (long long)D,
               (long long)H);
    ok = false;
  } else if (D > 65536) {
    diag_error(L->d, a[0].loc, "multihead_attention supports at most 65536 features, got %lld", (long long)D);
    ok = false;
  }
  ok = mask_given(L, "multihead_attention", &a[3], &a[4]) && ok;
  int keep = ok && a[3].present ? keep_mask(L, "multihead_attention", &a[3], &a[4], t) : 0;
  const char *name = ok && keep >= 0 ? fe_layer_name(L, &a[5], "multihead_attention") : NULL;
  if (!name) return FE_ERR;
  Loc loc = call->loc;
  FeInit glorot = {.kind = NNRT_INIT_GLOROT_UNIFORM}, zeros = {.kind = NNRT_INIT_ZEROS};
  int wqkv = fe_layer_param(L, name, "wqkv", (Shape){.rank = 2, .d = {D, 3 * D}}, glorot, loc);
  int bqkv = fe_layer_param(L, name, "bqkv", (Shape){.rank = 1, .d = {3 * D}}, zeros, loc);
  int wo = fe_layer_param(L, name, "wo", (Shape){.rank = 2, .d = {D, D}}, glorot, loc);
  int bo = fe_layer_param(L, name, "bo", (Shape){.rank = 1, .d = {D}}, zeros, loc);
  int qkv = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MATMUL, a[0].v, wqkv, loc), bqkv, loc); /* [B, T, 3D] */
  if (qkv < 0) return FE_ERR;
  int part[3];
  for (int i = 0; i < 3; i++) {
    Attrs at = {.axis = 2, .start = (int)(i * D), .end = (int)((i + 1) * D)};
    part[i] = split_heads(L, fe_emit(L, OP_SLICE, &qkv, 1, &at, NULL, loc), H, loc);
  }
  /* torch scales q by 1/sqrt(dh) before the product */
  int q = fe_emit2(L, OP_MUL, part[0], fe_scalar(L, 1 / sqrt((double)(D / H)), loc), loc);
  int s = fe_emit(L, OP_MATMUL, (int[]){q, part[1]}, 2, &(Attrs){.tb = 1}, NULL, loc); /* [B, H, T, T] */
  if (a[2].b) s = fe_emit(L, OP_CAUSAL_MASK, &s, 1, &(Attrs){.value = -INFINITY}, NULL, loc);
  if (a[3].present) {
    keep = expand(L, keep, 4, (int[]){1, 2}, 2, loc); /* [B, 1, 1, T]: per key */
    s = fe_emit(L, OP_WHERE, (int[]){keep, s, fe_scalar(L, MASKED_SCORE, loc)}, 3, NULL, NULL, loc);
  }
  int w = fe_emit(L, OP_SOFTMAX, &s, 1, &(Attrs){.axis = 3}, NULL, loc);
  /* a query with no key left: zero weights, so its output is the bias bo */
  if (a[3].present) w = fe_emit2(L, OP_MUL, w, keep, loc);
  int o = fe_emit(L, OP_MATMUL, (int[]){w, part[2]}, 2, &(Attrs){0}, NULL, loc); /* [B, H, T, dh] */
  o = fe_emit(L, OP_TRANSPOSE, &o, 1, &(Attrs){.naxes = 4, .axes = {0, 2, 1, 3}}, NULL, loc);
  o = fe_emit(L, OP_RESHAPE, &o, 1, NULL, t, loc);
  int y = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MATMUL, o, wo, loc), bo, loc);
  if (y < 0) return FE_ERR;
  fe_add_layer(L, name, "multihead_attention", y, 4 * D * D + 4 * D, loc);
  return y;
}

#define TWO                                                                                                            \
  {"a", P_TENSOR, FE_REQUIRED, NULL}, { "b", P_TENSOR, FE_REQUIRED, NULL }

const Builtin fe_attn_builtins[] = {
    {"eq", OP_EQ, 0, 0, {TWO}, lower_compare},
    {"ne", OP_NE, 0, 0, {TWO}, lower_compare},
    {"lt", OP_LT, 0, 0, {TWO}, lower_compare},
    {"le", OP_LE, 0, 0, {TWO}, lower_compare},
    {"gt", OP_GT, 0, 0, {TWO}, lower_compare},
    {"ge", OP_GE, 0, 0, {TWO}, lower_compare},
    {"where", OP_WHERE, 0, 0, {{"cond", P_TENSOR, FE_REQUIRED, NULL}, TWO}, lower_where},
    {"mean_pool",
     OP_COUNT,
     B_LAYER,
     0,
     {{"x", P_TENSOR, FE_REQUIRED, NULL}, {"mask", P_TENSOR, FE_OPTIONAL, NULL}, {"pad", P_INT, FE_OPTIONAL, NULL}},
     lower_mean_pool},
    {"multihead_attention",
     OP_COUNT,
     0,
     0,
     {{"x", P_TENSOR, FE_REQUIRED, NULL},
      {"heads", P_INT, FE_REQUIRED, NULL},
      {"causal", P_BOOL, "false", NULL},
      {"mask", P_TENSOR, FE_OPTIONAL, NULL},
      {"pad", P_INT, FE_OPTIONAL, NULL},
      {"name", P_STR, FE_OPTIONAL, NULL}},
     lower_mha},
};
const int fe_attn_nbuiltins = (int)(sizeof fe_attn_builtins / sizeof *fe_attn_builtins);
