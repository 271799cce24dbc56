/* builtins_layers.c — the convolution, pooling and normalisation layers
 * for images and sequences: conv2d, maxpool, avgpool, the global poolings,
 * conv1d and batch_norm (this file's table, searched after builtins.c's and
 * builtins_rnn.c's).
 *
 *   global_avgpool(x), global_maxpool(x)
 *       [B, C, H, W] (NCHW) -> [B, C], the mean / max over H and W;
 *       [B, T, C] (a sequence, channels last) -> [B, C], over T;
 *       as Keras's GlobalAveragePooling1D/2D (channels_first for 2-d). */
#include <string.h>

#include "lower.h"

/* The axes a global pooling reduces: H, W of NCHW, or T of [B, T, C]. */
static int global_pool(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  if (t->dt != DT_F32 || (t->sh.rank != 3 && t->sh.rank != 4)) {
    diag_error(L->d, a[0].loc, "%s expects images f32[batch, channels, height, width] or a sequence "
               "f32[batch, steps, channels], got %s", b->name, fe_type_str(L, t, buf));
    return FE_ERR;
  }
  Attrs at = t->sh.rank == 4 ? (Attrs){.naxes = 2, .axes = {2, 3}} : (Attrs){.naxes = 1, .axes = {1}};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

/* ---- conv2d and pooling over NCHW images ---- */

/* Checks an NCHW image input for a window of size k; false after an error. */
static bool check_image(Lower *L, const char *what, const BArg *x, int64_t k, int64_t pad, Loc kloc) {
  const Type *t = fe_type(L, x->v);
  char buf[IR_TYPE_STRLEN];
  if (t->dt != DT_F32 || t->sh.rank != 4) {
    diag_error(L->d, x->loc, "%s expects images f32[batch, channels, height, width], got %s", what,
               fe_type_str(L, t, buf));
    return false;
  }
  for (int i = 1; i < 4; i++)
    if (IR_IS_SYM(t->sh.d[i])) {
      diag_error(L->d, x->loc, "%s needs static channels, height and width, got %s", what, fe_type_str(L, t, buf));
      return false;
    }
  if (k < 1 || k > 1000) {
    diag_error(L->d, kloc, "the window size must be in [1, 1000], got %lld", (long long)k);
    return false;
  }
  if (k > t->sh.d[2] + 2 * pad || k > t->sh.d[3] + 2 * pad) {
    /* Channels last ([B, H, W, C], Keras's default) reads as a W of C: say
     * what nnc expects and how to get there. */
    bool last = t->sh.d[3] < k && t->sh.d[1] >= k;
    diag_error(L->d, kloc, "a %lldx%lld window is larger than the %s input %s%s%s", (long long)k, (long long)k, what,
               fe_type_str(L, t, buf), last ? "; nnc's images are NCHW, [batch, channels, height, width]: for "
                                              "channels-last input write transpose(x, [0, 3, 1, 2])" : "",
               last && !strcmp(what, "conv2d") ? " or conv2d(..., channels_last: true)" : "");
    return false;
  }
  return true;
}

/* conv2d(x [B, C, H, W], filters, kernel, stride, padding, activation,
 * use_bias, init, bias_init, name, channels_last), as Keras's Conv2D on
 * NCHW: filters w: [filters, C, kernel, kernel], bias b: [filters]. padding
 * "same" is (kernel - 1) / 2 on each side, the same size out for odd
 * kernels at stride 1 (Keras pads an even kernel unevenly; that is not
 * supported). With channels_last: true, x is [B, H, W, C] and the result
 * [B, OH, OW, filters]: transposed to and from NCHW around the same
 * convolution (the kernel stays [filters, C, k, k]). */
static int lower_conv2d(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  int64_t k = a[2].i, pad = a[4].i < 0 ? (k - 1) / 2 : a[4].i;
  bool ok = true;
  if (a[1].i <= 0 || a[1].i > 100000) {
    diag_error(L->d, a[1].loc, "filters must be a positive integer (at most 100000), got %lld", (long long)a[1].i);
    ok = false;
  }
  if (a[3].i < 1 || a[3].i > 1000) {
    diag_error(L->d, a[3].loc, "stride must be in [1, 1000], got %lld", (long long)a[3].i);
    ok = false;
  }
  if (a[4].i < -1 || (k >= 1 && pad >= k)) {
    diag_error(L->d, a[4].loc, "padding must be less than the kernel size %lld, got %lld", (long long)k, (long long)pad);
    ok = false;
  }
  bool last = a[10].b;
  if (last) {
    const Type *t = fe_type(L, a[0].v);
    char buf[IR_TYPE_STRLEN];
    if (t->sh.rank != 4) {
      diag_error(L->d, a[0].loc, "conv2d with channels_last expects images f32[batch, height, width, channels], got %s",
                 fe_type_str(L, t, buf));
      return FE_ERR;
    }
    a[0].v = fe_emit(L, OP_TRANSPOSE, &a[0].v, 1, &(Attrs){.naxes = 4, .axes = {0, 3, 1, 2}}, NULL, call->loc);
    if (a[0].v < 0) return FE_ERR;
  }
  if (!check_image(L, "conv2d", &a[0], k, pad, a[2].loc)) ok = false;
  const char *name = ok ? fe_layer_name(L, &a[9], "conv2d") : NULL;
  if (!name) return FE_ERR;
  int64_t C = fe_type(L, a[0].v)->sh.d[1], F = a[1].i;
  Loc loc = call->loc;
  /* Keras's fans for a conv kernel: channels (in or out) times the window. */
  FeInit wi = a[7].init;
  if (wi.kind == NNRT_INIT_HE_NORMAL || wi.kind == NNRT_INIT_GLOROT_UNIFORM) {
    wi.a = (double)(C * k * k);
    wi.b = wi.kind == NNRT_INIT_GLOROT_UNIFORM ? (double)(F * k * k) : 0;
  }
  int w = fe_layer_param_init(L, name, "w", (Shape){.rank = 4, .d = {F, C, k, k}}, wi, loc);
  Attrs at = {.stride = (int)a[3].i, .pad = (int)pad};
  int y = fe_emit(L, OP_CONV2D, (int[]){a[0].v, w}, 2, &at, NULL, loc);
  if (y >= 0 && a[6].b) {
    /* The bias [F] broadcasts over [B, F, OH, OW] as [F, 1, 1]. */
    int bias = fe_layer_param(L, name, "b", (Shape){.rank = 1, .d = {F}}, a[8].init, loc);
    Type bt = {.dt = DT_F32, .sh = {.rank = 3, .d = {F, 1, 1}}};
    y = fe_emit2(L, OP_ADD, y, fe_emit(L, OP_RESHAPE, &bias, 1, NULL, &bt, loc), loc);
  }
  y = fe_activation(L, a[5].s, y, -1, loc);
  if (y >= 0 && last) y = fe_emit(L, OP_TRANSPOSE, &y, 1, &(Attrs){.naxes = 4, .axes = {0, 2, 3, 1}}, NULL, loc);
  if (y < 0) return FE_ERR;
  fe_add_layer(L, name, "conv2d", y, F * C * k * k + (a[6].b ? F : 0), loc);
  return y;
}

/* maxpool(x, size, stride: size), avgpool(x, size, stride: size) */
static int lower_pool(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int64_t stride = a[2].present ? a[2].i : a[1].i;
  if (!check_image(L, b->name, &a[0], a[1].i, 0, a[1].loc)) return FE_ERR;
  if (stride < 1 || stride > 1000) {
    diag_error(L->d, a[2].loc, "stride must be in [1, 1000], got %lld", (long long)stride);
    return FE_ERR;
  }
  Attrs at = {.kernel = (int)a[1].i, .stride = (int)stride};
  return fe_emit(L, b->op, &a[0].v, 1, &at, NULL, call->loc);
}

/* ---- conv1d ---- */

/* The window of tap j for every output step: rows j, j + s, ..., j + s (T'
 * - 1) of the padded sequence xp [B, Tp, C], as [B, T', C]. A stride s
 * takes s T' rows as [B, T', s C] and keeps the first C columns of each. */
static int tap(Lower *L, int xp, int64_t j, int64_t s, int64_t To, int64_t C, Loc loc) {
  Attrs at = {.axis = 1, .start = (int)j, .end = (int)(j + s * To)};
  int w = fe_emit(L, OP_SLICE, &xp, 1, &at, NULL, loc);
  if (s == 1 || w < 0) return w;
  Type t = *fe_type(L, w);
  t.sh.d[1] = To, t.sh.d[2] = s * C;
  w = fe_emit(L, OP_RESHAPE, &w, 1, NULL, &t, loc);
  return fe_emit(L, OP_SLICE, &w, 1, &(Attrs){.axis = 2, .start = 0, .end = (int)C}, NULL, loc);
}

/* x [B, n, C] of zeros, for padding. */
static int zero_rows(Lower *L, int64_t B, int64_t n, int64_t C, Loc loc) {
  Type t = {.dt = DT_F32, .sh = {.rank = 3, .d = {B, n, C}}};
  return fe_emit(L, OP_CONST, NULL, 0, &(Attrs){.value = 0}, &t, loc);
}

/* conv1d(x [B, T, C], filters, kernel, stride: 1, padding: "valid",
 * activation, use_bias, init, bias_init, name): Keras's Conv1D over a
 * channels-last sequence. The windows are unfolded, [B, T', k·C] with tap
 * j's channels at columns [j·C, (j+1)·C), and multiplied by the kernel
 * <name>.w [k, C, filters] (Keras's layout; PyTorch's Conv1d weight is its
 * permute(2, 1, 0)) seen as [k·C, filters]: one GEMM, and autodiff needs
 * nothing new (slice, concat and reshape have their rules). "same" pads as
 * Keras: T' = ceil(T / s), the padding total (T' - 1) s + k - T split with
 * the extra row at the end; an integer p pads p on both sides (PyTorch). */
static int lower_conv1d(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  bool ok = true;
  if (t->dt != DT_F32 || t->sh.rank != 3 || IR_IS_SYM(t->sh.d[1]) || IR_IS_SYM(t->sh.d[2])) {
    diag_error(L->d, a[0].loc, "conv1d expects a sequence f32[batch, steps, channels] with static steps and channels, got %s",
               fe_type_str(L, t, buf));
    return FE_ERR;
  }
  int64_t B = t->sh.d[0], T = t->sh.d[1], C = t->sh.d[2], F = a[1].i, k = a[2].i, s = a[3].i;
  if (F <= 0 || F > 100000) {
    diag_error(L->d, a[1].loc, "filters must be a positive integer (at most 100000), got %lld", (long long)F);
    ok = false;
  }
  if (k < 1 || k > 64) {
    diag_error(L->d, a[2].loc, "the kernel size must be in [1, 64], got %lld", (long long)k);
    ok = false;
  }
  if (s < 1 || s > 1000) {
    diag_error(L->d, a[3].loc, "stride must be in [1, 1000], got %lld", (long long)s);
    ok = false;
  }
  if (!ok) return FE_ERR;
  int64_t left = a[4].i, right = a[4].i;
  if (a[4].i < 0) { /* "same" */
    int64_t To = (T + s - 1) / s, total = (To - 1) * s + k - T;
    if (total < 0) total = 0;
    left = total / 2, right = total - left;
  } else if (a[4].i >= k) {
    diag_error(L->d, a[4].loc, "padding must be less than the kernel size %lld, got %lld", (long long)k, (long long)a[4].i);
    return FE_ERR;
  }
  int64_t Tp = T + left + right;
  if (k > Tp) {
    diag_error(L->d, a[2].loc, "a window of %lld steps is longer than the conv1d input %s", (long long)k,
               fe_type_str(L, t, buf));
    return FE_ERR;
  }
  int64_t To = (Tp - k) / s + 1, extra = k - 1 + s * To - Tp; /* rows the last tap's slice reads past the end */
  if (extra < 0) extra = 0;
  const char *name = fe_layer_name(L, &a[9], "conv1d");
  if (!name) return FE_ERR;
  Loc loc = call->loc;
  int xp = a[0].v;
  if (left > 0) xp = fe_emit(L, OP_CONCAT, (int[]){zero_rows(L, B, left, C, loc), xp}, 2, &(Attrs){.axis = 1}, NULL, loc);
  if (right + extra > 0)
    xp = fe_emit(L, OP_CONCAT, (int[]){xp, zero_rows(L, B, right + extra, C, loc)}, 2, &(Attrs){.axis = 1}, NULL, loc);
  int unf = tap(L, xp, 0, s, To, C, loc);
  for (int64_t j = 1; j < k && unf >= 0; j++)
    unf = fe_emit(L, OP_CONCAT, (int[]){unf, tap(L, xp, j, s, To, C, loc)}, 2, &(Attrs){.axis = 2}, NULL, loc);
  int w = fe_layer_param(L, name, "w", (Shape){.rank = 3, .d = {k, C, F}}, a[7].init, loc);
  Type wt = {.dt = DT_F32, .sh = {.rank = 2, .d = {k * C, F}}};
  int y = unf < 0 || w < 0 ? FE_ERR : fe_emit2(L, OP_MATMUL, unf, fe_emit(L, OP_RESHAPE, &w, 1, NULL, &wt, loc), loc);
  if (y >= 0 && a[6].b) y = fe_emit2(L, OP_ADD, y, fe_layer_param(L, name, "b", (Shape){.rank = 1, .d = {F}}, a[8].init, loc), loc);
  y = fe_activation(L, a[5].s, y, -1, loc);
  if (y < 0) return FE_ERR;
  fe_add_layer(L, name, "conv1d", y, k * C * F + (a[6].b ? F : 0), loc);
  return y;
}

/* ---- batch_norm ---- */

/* x [B, C] or [B, C, H, W] reduced over every axis but the channels',
 * keeping them (size 1), so the result broadcasts against x. */
static int channel_mean(Lower *L, int x, Loc loc) {
  int rank = fe_type(L, x)->sh.rank;
  Attrs at = rank == 4 ? (Attrs){.naxes = 3, .axes = {0, 2, 3}, .keepdims = true}
                       : (Attrs){.naxes = 1, .axes = {0}, .keepdims = true};
  return fe_emit(L, OP_MEAN, &x, 1, &at, NULL, loc);
}

static int reshape(Lower *L, int x, Shape sh, Loc loc) {
  Type t = {.dt = DT_F32, .sh = sh};
  return fe_emit(L, OP_RESHAPE, &x, 1, NULL, &t, loc);
}

/* stat <- (1 - momentum) stat + momentum batch, a store training mode
 * alone makes. */
static void update_stat(Lower *L, const char *name, int stat, int batch, double momentum, Shape sc, Loc loc) {
  int v = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MUL, stat, fe_scalar(L, 1 - momentum, loc), loc),
                   fe_emit2(L, OP_MUL, reshape(L, batch, sc, loc), fe_scalar(L, momentum, loc), loc), loc);
  int st = v < 0 ? FE_ERR : fe_emit(L, OP_STORE, &v, 1, &(Attrs){.name = name}, NULL, loc);
  if (st >= 0) fe_add_modal(L, st, -1);
}

/* batch_norm(x, momentum: 0.1, eps: 1e-5, name): torch.nn.BatchNorm1d over
 * the features of x [B, D], BatchNorm2d over the channels (axis 1) of NCHW
 * x [B, C, H, W]. Parameters <name>.gamma [C] (ones) and <name>.beta [C]
 * (zeros); statistics (GLOBAL_STATS: not trained, but part of the model
 * that eval and predict load) <name>.running_mean [C] (zeros) and
 * <name>.running_var [C] (ones).
 *
 * Training mode (loss_step, so train_step) normalises by the batch's mean
 * and biased variance over the other axes, and stores
 *   running_mean <- (1 - momentum) running_mean + momentum mean
 *   running_var  <- (1 - momentum) running_var + momentum var N / (N - 1)
 * (N the values per channel; PyTorch's unbiased update; N = 1 adds var
 * itself, 0). Evaluation mode (forward, eval_step) normalises by the
 * running statistics instead. Both are plain reductions and elementwise
 * ops: the evaluation-mode value is emitted first, as the twin the cut
 * functions read in its place (lower.c). */
static int lower_batch_norm(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  bool ok = true;
  if (t->dt != DT_F32 || (t->sh.rank != 2 && t->sh.rank != 4) || IR_IS_SYM(t->sh.d[1]) ||
      (t->sh.rank == 4 && (IR_IS_SYM(t->sh.d[2]) || IR_IS_SYM(t->sh.d[3])))) {
    diag_error(L->d, a[0].loc, "batch_norm expects features f32[batch, features] or images f32[batch, channels, "
               "height, width] with static sizes after the batch, got %s", fe_type_str(L, t, buf));
    ok = false;
  }
  if (!(a[1].num >= 0 && a[1].num <= 1)) {
    diag_error(L->d, a[1].loc, "momentum must be in [0, 1] (the weight of each new batch, as PyTorch's), got %g",
               a[1].num);
    ok = false;
  }
  if (!(a[2].num > 0 && a[2].num <= 1)) {
    diag_error(L->d, a[2].loc, "eps must be in (0, 1], got %g", a[2].num);
    ok = false;
  }
  const char *name = ok ? fe_layer_name(L, &a[3], "batch_norm") : NULL;
  if (!name) return FE_ERR;
  Loc loc = call->loc;
  int x = a[0].v, rank = t->sh.rank;
  int64_t C = t->sh.d[1], per_sample = rank == 4 ? t->sh.d[2] * t->sh.d[3] : 1;
  Shape sc = {.rank = 1, .d = {C}}, sb = rank == 4 ? (Shape){.rank = 3, .d = {C, 1, 1}} : sc;
  int gamma = reshape(L, fe_layer_param(L, name, "gamma", sc, (FeInit){.kind = NNRT_INIT_ONES}, loc), sb, loc);
  int beta = reshape(L, fe_layer_param(L, name, "beta", sc, (FeInit){.kind = NNRT_INIT_ZEROS}, loc), sb, loc);
  const char *mean_name = arena_printf(L->a, "%s.running_mean", name), *var_name = arena_printf(L->a, "%s.running_var", name);
  int rm = fe_state(L, mean_name, GLOBAL_STATS, (Type){.dt = DT_F32, .sh = sc}, NNRT_INIT_ZEROS, loc);
  int rv = fe_state(L, var_name, GLOBAL_STATS, (Type){.dt = DT_F32, .sh = sc}, NNRT_INIT_ONES, loc);
  int eps = fe_scalar(L, a[2].num, loc);
  /* y = (x - mean) / sqrt(var + eps) gamma + beta */
  int ev = fe_emit1(L, OP_SQRT, fe_emit2(L, OP_ADD, reshape(L, rv, sb, loc), eps, loc), loc);
  int ey = fe_emit2(L, OP_DIV, fe_emit2(L, OP_SUB, x, reshape(L, rm, sb, loc), loc), ev, loc);
  ey = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MUL, ey, gamma, loc), beta, loc);
  int mu = channel_mean(L, x, loc), d = fe_emit2(L, OP_SUB, x, mu, loc);
  int var = channel_mean(L, fe_emit2(L, OP_MUL, d, d, loc), loc);
  int ty = fe_emit2(L, OP_DIV, d, fe_emit1(L, OP_SQRT, fe_emit2(L, OP_ADD, var, eps, loc), loc), loc);
  ty = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MUL, ty, gamma, loc), beta, loc);
  if (ey < 0 || ty < 0) return FE_ERR;
  fe_add_modal(L, ty, ey);
  /* N / (N - 1 + [N = 1]): the unbiased variance's factor, 1 for N = 1 */
  int n = fe_emit2(L, OP_MUL, fe_emit(L, OP_DIM, &x, 1, &(Attrs){.axis = 0}, NULL, loc), fe_scalar(L, (double)per_sample, loc), loc);
  int one = fe_scalar(L, 1, loc);
  int den = fe_emit2(L, OP_ADD, fe_emit2(L, OP_SUB, n, one, loc), fe_emit2(L, OP_EQ, n, one, loc), loc);
  update_stat(L, mean_name, rm, mu, a[1].num, sc, loc);
  update_stat(L, var_name, rv, fe_emit2(L, OP_MUL, var, fe_emit2(L, OP_DIV, n, den, loc), loc), a[1].num, sc, loc);
  fe_add_layer(L, name, "batch_norm", ty, 4 * C, loc);
  return ty;
}

#define X {"x", P_TENSOR, FE_REQUIRED, NULL}

const Builtin fe_layer_builtins[] = {
    /* pooling: no parameters, so plain layers for the summary */
    {"maxpool",
     OP_MAXPOOL2D,
     B_LAYER,
     0,
     {X, {"size", P_INT, FE_REQUIRED, NULL}, {"stride", P_INT, FE_OPTIONAL, NULL}},
     lower_pool},
    {"avgpool",
     OP_AVGPOOL2D,
     B_LAYER,
     0,
     {X, {"size", P_INT, FE_REQUIRED, NULL}, {"stride", P_INT, FE_OPTIONAL, NULL}},
     lower_pool},
    {"global_avgpool", OP_MEAN, B_LAYER, 0, {X}, global_pool},
    {"global_maxpool", OP_MAX, B_LAYER, 0, {X}, global_pool},
    {"conv2d",
     OP_COUNT,
     0,
     0,
     {X,
      {"filters", P_INT, FE_REQUIRED, NULL},
      {"kernel", P_INT, FE_REQUIRED, NULL},
      {"stride", P_INT, "1", NULL},
      {"padding", P_PAD, "0", NULL},
      {"activation", P_CHOICE, "none", FE_ACTIVATIONS "|none"},
      {"use_bias", P_BOOL, "true", NULL},
      {"init", P_INIT, "glorot_uniform", NULL},
      {"bias_init", P_INIT, "zeros", NULL},
      {"name", P_STR, FE_OPTIONAL, NULL},
      {"channels_last", P_BOOL, "false", NULL}},
     lower_conv2d},
    {"conv1d",
     OP_COUNT,
     0,
     0,
     {X,
      {"filters", P_INT, FE_REQUIRED, NULL},
      {"kernel", P_INT, FE_REQUIRED, NULL},
      {"stride", P_INT, "1", NULL},
      {"padding", P_PAD, "\"valid\"", NULL},
      {"activation", P_CHOICE, "none", FE_ACTIVATIONS "|none"},
      {"use_bias", P_BOOL, "true", NULL},
      {"init", P_INIT, "glorot_uniform", NULL},
      {"bias_init", P_INIT, "zeros", NULL},
      {"name", P_STR, FE_OPTIONAL, NULL}},
     lower_conv1d},
    {"batch_norm",
     OP_COUNT,
     0,
     0,
     {X, {"momentum", P_NUM, "0.1", NULL}, {"eps", P_NUM, "1e-5", NULL}, {"name", P_STR, FE_OPTIONAL, NULL}},
     lower_batch_norm},
};
const int fe_layer_nbuiltins = (int)(sizeof fe_layer_builtins / sizeof *fe_layer_builtins);
