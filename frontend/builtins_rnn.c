/* builtins_rnn.c — recurrent layers, lowered to one `scan` each (ir/scan.c)
 * so that a sequence of any length is one loop in the IR, never unrolled.
 *
 *   lstm(x [B, T, D], units, sequences: false, bidirectional: false,
 *        reverse: false, init: glorot_uniform, recurrent_init: orthogonal,
 *        bias_init: unit_forget_bias, name: "...")
 *
 * (Keras's defaults: the forget gate's bias starts at 1.)
 *
 * The cell is PyTorch's (and Keras's), gates in PyTorch's order i, f, g, o:
 *
 *   z  = x_t @ w + h @ u + b          w: [D, 4H], u: [H, 4H], b: [4H]
 *   c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
 *   h' = sigmoid(o) * tanh(c')
 *
 * from h = c = 0. It is a function of its own, `<name>.cell`, the body of
 * the scan; the scan carries (h, c) and stacks h' per step. With
 * sequences: true the layer returns every h, [B, T, H], else the last,
 * [B, H]. reverse: true walks the sequence from its end (Keras's
 * go_backwards, but the outputs stay in sequence order). bidirectional:
 * true runs a second LSTM in reverse with its own parameters
 * (`<name>.w_back`, ...) over the same cell function, and concatenates the
 * two along the features: [B, T, 2H] or [B, 2H], as Keras's
 * Bidirectional(LSTM(H), merge_mode="concat").
 *
 * The input projection x_t @ w + b is one product for all steps, before the
 * scan ([T, B, D] x [D, 4H], a single GEMM of T*B rows); the cell does only
 * the recurrent h @ u per step. */
#include <string.h>

#include "lower.h"

/* The cell function h, c, xp_t, u -> (h', c', h'), shared by both
 * directions of a layer; xp_t = x_t @ w + b comes precomputed. */
static const char *build_cell(Lower *L, const char *layer, int64_t B, int64_t H) {
  const char *name = arena_printf(L->a, "%s.cell", layer);
  IrFunc *f = ir_func_new(L->m, name);
  Loc l0 = {0};
  Type bh = {.dt = DT_F32, .sh = {.rank = 2, .d = {B, H}}};
  int h = ir_input(f, "h", bh, l0), c = ir_input(f, "c", bh, l0);
  int xp = ir_input(f, "xp", (Type){.dt = DT_F32, .sh = {.rank = 2, .d = {B, 4 * H}}}, l0);
  int u = ir_input(f, "u", (Type){.dt = DT_F32, .sh = {.rank = 2, .d = {H, 4 * H}}}, l0);
  int z = ir_op2(f, OP_ADD, xp, ir_op2(f, OP_MATMUL, h, u, l0), l0);
  int gate[4];
  for (int k = 0; k < 4; k++) {
    Attrs at = {.axis = 1, .start = (int)(k * H), .end = (int)((k + 1) * H)};
    gate[k] = ir_emit(f, OP_SLICE, &z, 1, &at, NULL, l0, NULL);
  }
  int i = ir_op1(f, OP_SIGMOID, gate[0], l0), fg = ir_op1(f, OP_SIGMOID, gate[1], l0);
  int g = ir_op1(f, OP_TANH, gate[2], l0), o = ir_op1(f, OP_SIGMOID, gate[3], l0);
  int c2 = ir_op2(f, OP_ADD, ir_op2(f, OP_MUL, fg, c, l0), ir_op2(f, OP_MUL, i, g, l0), l0);
  int h2 = ir_op2(f, OP_MUL, o, ir_op1(f, OP_TANH, c2, l0), l0);
  f->nodes[h2].name = "h_next";
  f->nodes[c2].name = "c_next";
  ir_ret(f, h2);
  ir_ret(f, c2);
  ir_ret(f, h2);
  return name;
}

/* One direction: xp = xt @ w + b for all steps at once (one GEMM of T*B
 * rows), then the scan over it; the result is [T, B, H] stacked
 * (sequences) or [B, H]. */
static int one_direction(Lower *L, const BArg *a, const char *layer, const char *cell, const char *suffix, int xt,
                         bool reverse, Loc loc) {
  const Type *t = fe_type(L, xt);
  int64_t B = t->sh.d[1], D = t->sh.d[2], H = a[1].i;
  int w = fe_layer_param(L, layer, arena_printf(L->a, "w%s", suffix), (Shape){.rank = 2, .d = {D, 4 * H}}, a[5].init, loc);
  int u = fe_layer_param(L, layer, arena_printf(L->a, "u%s", suffix), (Shape){.rank = 2, .d = {H, 4 * H}}, a[6].init, loc);
  FeInit bi = a[7].init;
  if (bi.kind == NNRT_INIT_UNIT_FORGET) bi.a = (double)H; /* ones on the forget gate's slice */
  int b = fe_layer_param(L, layer, arena_printf(L->a, "b%s", suffix), (Shape){.rank = 1, .d = {4 * H}}, bi, loc);
  int xp = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MATMUL, xt, w, loc), b, loc);
  Type bh = {.dt = DT_F32, .sh = {.rank = 2, .d = {B, H}}};
  int zero = fe_emit(L, OP_CONST, NULL, 0, &(Attrs){.value = 0}, &bh, loc);
  Attrs at = {.body = cell, .ncarry = 2, .nseq = 1, .reverse = reverse};
  int s = xp < 0 ? FE_ERR : fe_emit(L, OP_SCAN, (int[]){zero, zero, xp, u}, 4, &at, NULL, loc);
  if (s < 0) return FE_ERR;
  return fe_emit(L, OP_SCAN_OUT, &s, 1, &(Attrs){.index = a[2].b ? 2 : 0}, NULL, loc);
}

static int lower_lstm(Lower *L, const Builtin *bi, const Expr *call, BArg *a) {
  (void)bi;
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  bool ok = true;
  if (t->dt != DT_F32 || t->sh.rank != 3 || IR_IS_SYM(t->sh.d[1]) || IR_IS_SYM(t->sh.d[2])) {
    diag_error(L->d, a[0].loc, "lstm expects a sequence f32[batch, steps, features] with static steps and features, got %s",
               fe_type_str(L, t, buf));
    ok = false;
  }
  if (a[1].i <= 0 || a[1].i > 65536) {
    diag_error(L->d, a[1].loc, "units must be a positive integer (at most 65536), got %lld", (long long)a[1].i);
    ok = false;
  }
  const char *name = ok ? fe_layer_name(L, &a[8], "lstm") : NULL;
  if (!name) return FE_ERR;
  Loc loc = call->loc;
  int64_t B = t->sh.d[0], D = t->sh.d[2], H = a[1].i;
  const char *cell = build_cell(L, name, B, H);
  int xt = fe_emit(L, OP_TRANSPOSE, &a[0].v, 1, &(Attrs){.naxes = 3, .axes = {1, 0, 2}}, NULL, loc); /* time-major */
  int y = one_direction(L, a, name, cell, "", xt, a[4].b, loc);
  if (a[3].b) {
    int back = one_direction(L, a, name, cell, "_back", xt, !a[4].b, loc);
    y = y < 0 || back < 0 ? FE_ERR : fe_emit(L, OP_CONCAT, (int[]){y, back}, 2, &(Attrs){.axis = a[2].b ? 2 : 1}, NULL, loc);
  }
  if (y >= 0 && a[2].b) y = fe_emit(L, OP_TRANSPOSE, &y, 1, &(Attrs){.naxes = 3, .axes = {1, 0, 2}}, NULL, loc);
  if (y < 0) return FE_ERR;
  fe_add_layer(L, name, a[3].b ? "bidirectional lstm" : "lstm", y, (a[3].b ? 2 : 1) * (4 * H * (D + H) + 4 * H), loc);
  return y;
}

const Builtin fe_rnn_builtins[] = {
    {"lstm",
     OP_COUNT,
     0,
     0,
     {{"x", P_TENSOR, FE_REQUIRED, NULL},
      {"units", P_INT, FE_REQUIRED, NULL},
      {"sequences", P_BOOL, "false", NULL},
      {"bidirectional", P_BOOL, "false", NULL},
      {"reverse", P_BOOL, "false", NULL},
      {"init", P_INIT, "glorot_uniform", NULL},
      {"recurrent_init", P_INIT, "orthogonal", NULL},
      {"bias_init", P_INIT, "unit_forget_bias", NULL},
      {"name", P_STR, FE_OPTIONAL, NULL}},
     lower_lstm},
};
const int fe_rnn_nbuiltins = (int)(sizeof fe_rnn_builtins / sizeof *fe_rnn_builtins);
