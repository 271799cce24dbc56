/* builtins_rnn.c — recurrent layers, lowered to one `scan` each (ir/scan.c)
 * so that a sequence of any length is one loop in the IR, never unrolled.
 *
 *   lstm | gru | simple_rnn (x [B, T, D], units, sequences: false,
 *        bidirectional: false, reverse: false, init: glorot_uniform,
 *        recurrent_init: orthogonal, bias_init: ..., name: "...")
 *
 * Each cell is PyTorch's, gates in PyTorch's order, from h (= c) = 0:
 *
 *   lstm        z  = x_t @ w + b + h @ u       w: [D, 4H], u: [H, 4H], b: [4H]
 *               gates i, f, g, o; c' = sigmoid(f) c + sigmoid(i) tanh(g),
 *               h' = sigmoid(o) tanh(c')       (bias_init: unit_forget_bias,
 *                                               Keras's: the forget gate's
 *                                               bias starts at 1)
 *   gru         xp = x_t @ w + b, hp = h @ u + b_u    w: [D, 3H], u: [H, 3H],
 *               gates r, z, n:                        b, b_u: [3H]
 *               r = sigmoid(xp_r + hp_r), z = sigmoid(xp_z + hp_z),
 *               n = tanh(xp_n + r hp_n), h' = (1 - z) n + z h
 *               (torch.nn.GRU; the reset gate multiplies h @ u_n + b_u_n,
 *               as Keras's reset_after=True, its default)
 *   simple_rnn  h' = tanh(x_t @ w + b + h @ u)     w: [D, H], u: [H, H], b: [H]
 *               (torch.nn.RNN with one bias: its two add up; Keras's
 *               SimpleRNN)
 *
 * The cell is a function of its own, `<name>.cell`, the body of the scan;
 * the scan carries the state (h, or h and c) and stacks h' per step. With
 * sequences: true the layer returns every h, [B, T, H], else the last,
 * [B, H]. reverse: true walks the sequence from its end (Keras's
 * go_backwards, but the outputs stay in sequence order). bidirectional:
 * true runs a second layer in reverse with its own parameters
 * (`<name>.w_back`, ...) over the same cell function, and concatenates the
 * two along the features: [B, T, 2H] or [B, 2H], as Keras's
 * Bidirectional(LSTM(H), merge_mode="concat").
 *
 * The input projection x_t @ w + b is one product for all steps, before the
 * scan ([T, B, D] x [D, G·H], a single GEMM of T*B rows); the cell does only
 * the recurrent h @ u per step. */
#include <string.h>

#include "lower.h"

typedef struct RnnCell RnnCell;
/* Emits the cell's body into f: the carries, then xp_t [B, G·H] and the
 * constants (inputs in the order the scan passes them), then its returns
 * (new carries, then h'). */
typedef void (*CellFn)(IrFunc *f, int64_t B, int64_t H);

struct RnnCell {
  const char *kind;
  int gates;     /* G: the projections' width is G·H */
  int ncarry;    /* state tensors carried from step to step */
  bool rec_bias; /* a second bias b_u on h @ u (gru) */
  CellFn build;
};

static int cell_input(IrFunc *f, const char *name, int64_t rows, int64_t cols) {
  return ir_input(f, name, (Type){.dt = DT_F32, .sh = {.rank = 2, .d = {rows, cols}}}, (Loc){0});
}

/* Columns [k·H, (k+1)·H) of z: gate k. */
static int gate(IrFunc *f, int z, int k, int64_t H) {
  Attrs at = {.axis = 1, .start = (int)(k * H), .end = (int)((k + 1) * H)};
  return ir_emit(f, OP_SLICE, &z, 1, &at, NULL, (Loc){0}, NULL);
}

/* h, c, xp_t, u -> (h', c', h') */
static void lstm_cell(IrFunc *f, int64_t B, int64_t H) {
  Loc l0 = {0};
  int h = cell_input(f, "h", B, H), c = cell_input(f, "c", B, H);
  int xp = cell_input(f, "xp", B, 4 * H), u = cell_input(f, "u", H, 4 * H);
  int z = ir_op2(f, OP_ADD, xp, ir_op2(f, OP_MATMUL, h, u, l0), l0);
  int i = ir_op1(f, OP_SIGMOID, gate(f, z, 0, H), l0), fg = ir_op1(f, OP_SIGMOID, gate(f, z, 1, H), l0);
  int g = ir_op1(f, OP_TANH, gate(f, z, 2, H), l0), o = ir_op1(f, OP_SIGMOID, gate(f, z, 3, H), l0);
  int c2 = ir_op2(f, OP_ADD, ir_op2(f, OP_MUL, fg, c, l0), ir_op2(f, OP_MUL, i, g, l0), l0);
  int h2 = ir_op2(f, OP_MUL, o, ir_op1(f, OP_TANH, c2, l0), l0);
  f->nodes[h2].name = "h_next";
  f->nodes[c2].name = "c_next";
  ir_ret(f, h2);
  ir_ret(f, c2);
  ir_ret(f, h2);
}

/* h, xp_t, u, b_u -> (h', h'); h' = n + z (h - n), the same as
 * (1 - z) n + z h with one multiplication fewer. */
static void gru_cell(IrFunc *f, int64_t B, int64_t H) {
  Loc l0 = {0};
  int h = cell_input(f, "h", B, H), xp = cell_input(f, "xp", B, 3 * H), u = cell_input(f, "u", H, 3 * H);
  int bu = ir_input(f, "b_u", (Type){.dt = DT_F32, .sh = {.rank = 1, .d = {3 * H}}}, l0);
  int hp = ir_op2(f, OP_ADD, ir_op2(f, OP_MATMUL, h, u, l0), bu, l0);
  int r = ir_op1(f, OP_SIGMOID, ir_op2(f, OP_ADD, gate(f, xp, 0, H), gate(f, hp, 0, H), l0), l0);
  int z = ir_op1(f, OP_SIGMOID, ir_op2(f, OP_ADD, gate(f, xp, 1, H), gate(f, hp, 1, H), l0), l0);
  int n = ir_op1(f, OP_TANH, ir_op2(f, OP_ADD, gate(f, xp, 2, H), ir_op2(f, OP_MUL, r, gate(f, hp, 2, H), l0), l0), l0);
  int h2 = ir_op2(f, OP_ADD, n, ir_op2(f, OP_MUL, z, ir_op2(f, OP_SUB, h, n, l0), l0), l0);
  f->nodes[h2].name = "h_next";
  ir_ret(f, h2);
  ir_ret(f, h2);
}

/* h, xp_t, u -> (h', h') */
static void simple_rnn_cell(IrFunc *f, int64_t B, int64_t H) {
  Loc l0 = {0};
  int h = cell_input(f, "h", B, H), xp = cell_input(f, "xp", B, H), u = cell_input(f, "u", H, H);
  int h2 = ir_op1(f, OP_TANH, ir_op2(f, OP_ADD, xp, ir_op2(f, OP_MATMUL, h, u, l0), l0), l0);
  f->nodes[h2].name = "h_next";
  ir_ret(f, h2);
  ir_ret(f, h2);
}

static const RnnCell cells[] = {
    {"lstm", 4, 2, false, lstm_cell},
    {"gru", 3, 1, true, gru_cell},
    {"simple_rnn", 1, 1, false, simple_rnn_cell},
};

static const RnnCell *cell_of(const char *kind) {
  for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
    if (!strcmp(cells[i].kind, kind)) return &cells[i];
  unreachable("a recurrent builtin without a cell");
}

/* One direction: xp = xt @ w + b for all steps at once (one GEMM of T*B
 * rows), then the scan over it; the result is [T, B, H] stacked
 * (sequences) or [B, H]. */
static int one_direction(Lower *L, const RnnCell *rc, const BArg *a, const char *layer, const char *body,
                         const char *suffix, int xt, bool reverse, Loc loc) {
  const Type *t = fe_type(L, xt);
  int64_t B = t->sh.d[1], D = t->sh.d[2], H = a[1].i, GH = rc->gates * H;
  int w = fe_layer_param(L, layer, arena_printf(L->a, "w%s", suffix), (Shape){.rank = 2, .d = {D, GH}}, a[5].init, loc);
  int u = fe_layer_param(L, layer, arena_printf(L->a, "u%s", suffix), (Shape){.rank = 2, .d = {H, GH}}, a[6].init, loc);
  FeInit bi = a[7].init;
  if (bi.kind == NNRT_INIT_UNIT_FORGET && rc->gates == 4) bi.a = (double)H; /* ones on the forget gate's slice */
  Shape sb = {.rank = 1, .d = {GH}};
  int b = fe_layer_param(L, layer, arena_printf(L->a, "b%s", suffix), sb, bi, loc);
  int args[6], nargs = 0;
  Type bh = {.dt = DT_F32, .sh = {.rank = 2, .d = {B, H}}};
  int zero = fe_emit(L, OP_CONST, NULL, 0, &(Attrs){.value = 0}, &bh, loc);
  for (int k = 0; k < rc->ncarry; k++) args[nargs++] = zero;
  args[nargs++] = fe_emit2(L, OP_ADD, fe_emit2(L, OP_MATMUL, xt, w, loc), b, loc);
  args[nargs++] = u;
  if (rc->rec_bias) args[nargs++] = fe_layer_param(L, layer, arena_printf(L->a, "b_u%s", suffix), sb, bi, loc);
  for (int k = 0; k < nargs; k++)
    if (args[k] < 0) return FE_ERR;
  Attrs at = {.body = body, .ncarry = rc->ncarry, .nseq = 1, .reverse = reverse};
  int s = fe_emit(L, OP_SCAN, args, nargs, &at, NULL, loc);
  if (s < 0) return FE_ERR;
  return fe_emit(L, OP_SCAN_OUT, &s, 1, &(Attrs){.index = a[2].b ? rc->ncarry : 0}, NULL, loc);
}

static int lower_rnn(Lower *L, const Builtin *bi, const Expr *call, BArg *a) {
  const RnnCell *rc = cell_of(bi->name);
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  bool ok = true;
  if (t->dt != DT_F32 || t->sh.rank != 3 || IR_IS_SYM(t->sh.d[1]) || IR_IS_SYM(t->sh.d[2])) {
    diag_error(L->d, a[0].loc, "%s expects a sequence f32[batch, steps, features] with static steps and features, got %s",
               rc->kind, fe_type_str(L, t, buf));
    ok = false;
  }
  if (a[1].i <= 0 || a[1].i > 65536) {
    diag_error(L->d, a[1].loc, "units must be a positive integer (at most 65536), got %lld", (long long)a[1].i);
    ok = false;
  }
  const char *name = ok ? fe_layer_name(L, &a[8], rc->kind) : NULL;
  if (!name) return FE_ERR;
  Loc loc = call->loc;
  int64_t B = t->sh.d[0], D = t->sh.d[2], H = a[1].i, G = rc->gates;
  const char *body = arena_printf(L->a, "%s.cell", name);
  rc->build(ir_func_new(L->m, body), B, H);
  int xt = fe_emit(L, OP_TRANSPOSE, &a[0].v, 1, &(Attrs){.naxes = 3, .axes = {1, 0, 2}}, NULL, loc); /* time-major */
  int y = one_direction(L, rc, a, name, body, "", xt, a[4].b, loc);
  if (a[3].b) {
    int back = one_direction(L, rc, a, name, body, "_back", xt, !a[4].b, loc);
    y = y < 0 || back < 0 ? FE_ERR : fe_emit(L, OP_CONCAT, (int[]){y, back}, 2, &(Attrs){.axis = a[2].b ? 2 : 1}, NULL, loc);
  }
  if (y >= 0 && a[2].b) y = fe_emit(L, OP_TRANSPOSE, &y, 1, &(Attrs){.naxes = 3, .axes = {1, 0, 2}}, NULL, loc);
  if (y < 0) return FE_ERR;
  int64_t per_direction = G * H * (D + H) + (rc->rec_bias ? 2 : 1) * G * H;
  fe_add_layer(L, name, a[3].b ? arena_printf(L->a, "bidirectional %s", rc->kind) : rc->kind, y,
               (a[3].b ? 2 : 1) * per_direction, loc);
  return y;
}

#define RNN_PARAMS(bias_init)                                                                                          \
  {{"x", P_TENSOR, FE_REQUIRED, NULL},                                                                                 \
   {"units", P_INT, FE_REQUIRED, NULL},                                                                                \
   {"sequences", P_BOOL, "false", NULL},                                                                               \
   {"bidirectional", P_BOOL, "false", NULL},                                                                           \
   {"reverse", P_BOOL, "false", NULL},                                                                                 \
   {"init", P_INIT, "glorot_uniform", NULL},                                                                           \
   {"recurrent_init", P_INIT, "orthogonal", NULL},                                                                     \
   {"bias_init", P_INIT, bias_init, NULL},                                                                             \
   {"name", P_STR, FE_OPTIONAL, NULL}}

const Builtin fe_rnn_builtins[] = {
    {"lstm", OP_COUNT, 0, 0, RNN_PARAMS("unit_forget_bias"), lower_rnn},
    {"gru", OP_COUNT, 0, 0, RNN_PARAMS("zeros"), lower_rnn},
    {"simple_rnn", OP_COUNT, 0, 0, RNN_PARAMS("zeros"), lower_rnn},
};
const int fe_rnn_nbuiltins = (int)(sizeof fe_rnn_builtins / sizeof *fe_rnn_builtins);
