/* test_attn.c — attention's ops in the CPU backend against the reference
 * interpreter: the comparisons (with NaN operands), where with
 * broadcasting (and fused into a softmax's producer), and matmul over two
 * batch axes ([B,H,M,K] x [B,H,K,N], every ta/tb, from transposed views as
 * the multihead_attention layer feeds it, and [G,H,M,K] x [K,N]). */
#include <math.h>

#include "harness.h"

static IrFunc *fwd(IrModule *m) { return ir_func_new(m, IR_FN_FORWARD); }

static int64_t symB(IrModule *m) { return IR_SYM(ir_sym(m, "B")); }

static int where3(IrFunc *f, int c, int a, int b) {
  Diag d;
  diag_init(&d, stdout);
  int v = ir_emit(f, OP_WHERE, (int[]){c, a, b}, 3, NULL, NULL, (Loc){0}, &d);
  if (v < 0) unreachable("test IR does not type-check");
  return v;
}

/* a op b on small integers (ties and orders both ways), then against NaN:
 * only ne holds; where on a NaN condition picks a (NaN != 0). */
static void test_compare(void) {
  static const OpKind ops[] = {OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    IrModule *m = t_module("compare");
    IrFunc *f = fwd(m);
    int a = ir_input(f, "a", T(DT_F32, 3, 37), (Loc){0}), b = ir_input(f, "b", T(DT_F32, 37), (Loc){0});
    ir_ret(f, t_op(f, ops[i], a, b));
    Type s = TS(DT_F32);
    int nan = ir_const(f, NAN, &s, (Loc){0});
    ir_ret(f, t_op(f, ops[i], a, nan));
    ir_ret(f, t_op(f, ops[i], nan, b));
    char name[64];
    snprintf(name, sizeof name, "%s (and NaN)", ir_ops[ops[i]].mnemonic);
    t_check3(m, (CheckOpts){.data = DATA_INTS}, name);
  }
  IrModule *m = t_module("where_nan");
  IrFunc *f = fwd(m);
  Type s = TS(DT_F32);
  int a = ir_input(f, "a", T(DT_F32, 4, 5), (Loc){0});
  ir_ret(f, where3(f, ir_const(f, NAN, &s, (Loc){0}), a, ir_const(f, -1, &s, (Loc){0})));
  t_check3(m, (CheckOpts){0}, "where(NaN, a, -1)");
}

/* where(c, a, b) with each operand broadcast in turn, the mask made by a
 * comparison in the same kernel, and attention's masked softmax: scores
 * [B,H,T,T], keep [B,1,1,T], filled with -1e30, softmax, times keep. */
static void test_where(void) {
  static const struct {
    int64_t c[3], a[3], b[3];
  } shapes[] = {{{2, 3, 4}, {2, 3, 4}, {2, 3, 4}},
                {{2, 1, 4}, {2, 3, 4}, {1, 1, 1}},
                {{1, 3, 1}, {2, 1, 4}, {2, 3, 1}},
                {{2, 3, 4}, {1, 1, 4}, {2, 1, 1}}};
  for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
    IrModule *m = t_module("where");
    IrFunc *f = fwd(m);
    int x = ir_input(f, "x", t_type(DT_F32, 3, shapes[k].c), (Loc){0});
    int a = ir_input(f, "a", t_type(DT_F32, 3, shapes[k].a), (Loc){0});
    int b = ir_input(f, "b", t_type(DT_F32, 3, shapes[k].b), (Loc){0});
    Type s = TS(DT_F32);
    int c = t_op(f, OP_GT, x, ir_const(f, 0, &s, (Loc){0}));
    ir_ret(f, where3(f, c, a, b));
    char name[64];
    snprintf(name, sizeof name, "where shapes #%zu", k);
    t_check3(m, (CheckOpts){0}, name);
  }
  IrModule *m = t_module("masked_softmax");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int sc = ir_input(f, "s", T(DT_F32, B, 2, 5, 5), (Loc){0});
  int ids = ir_input(f, "ids", T(DT_F32, B, 1, 1, 5), (Loc){0});
  Type s = TS(DT_F32);
  int keep = t_op(f, OP_NE, ids, ir_const(f, 0, &s, (Loc){0}));
  int filled = where3(f, keep, sc, ir_const(f, -1e30, &s, (Loc){0}));
  int w = t_attr(f, OP_SOFTMAX, filled, &(Attrs){.axis = 3}, NULL);
  ir_ret(f, t_op(f, OP_MUL, w, keep));
  t_check3(m, (CheckOpts){.syms = {3}, .data = DATA_INTS}, "masked softmax [B,2,5,5]");
}

/* [G,H,M,K] x [G,H,K,N] with every ta/tb, G static or the batch; the same
 * product from transposed views (attention's [B,T,H,dh] -> [B,H,T,dh]);
 * and a 4-d by 2-d product (one GEMM of G*H*M rows). */
static void test_matmul4(void) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int sym = 0; sym < 2; sym++) {
        IrModule *m = t_module("bmm4");
        IrFunc *f = fwd(m);
        int64_t G = sym ? symB(m) : 2, H = 3, M = 5, K = 4, N = 6;
        int a = ir_input(f, "a", ta ? T(DT_F32, G, H, K, M) : T(DT_F32, G, H, M, K), (Loc){0});
        int b = ir_input(f, "b", tb ? T(DT_F32, G, H, N, K) : T(DT_F32, G, H, K, N), (Loc){0});
        ir_ret(f, t_bin(f, OP_MATMUL, a, b, &(Attrs){.ta = ta, .tb = tb}));
        char name[64];
        snprintf(name, sizeof name, "matmul 4-d ta=%d tb=%d%s", ta, tb, sym ? " [B]" : "");
        t_check3(m, (CheckOpts){.syms = {3}}, name);
        EXPECT(hk_gemm_batch_calls == 1, "%s: %d nnrt_sgemm_batch calls", name, hk_gemm_batch_calls);
      }
  IrModule *m = t_module("heads");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int q = ir_input(f, "q", T(DT_F32, B, 5, 3, 4), (Loc){0}), k = ir_input(f, "k", T(DT_F32, B, 5, 3, 4), (Loc){0});
  Attrs perm = {.naxes = 4, .axes = {0, 2, 1, 3}};
  int qh = t_attr(f, OP_TRANSPOSE, q, &perm, NULL), kh = t_attr(f, OP_TRANSPOSE, k, &perm, NULL);
  int s = t_bin(f, OP_MATMUL, qh, kh, &(Attrs){.tb = 1}); /* [B,3,5,5] */
  int o = t_bin(f, OP_MATMUL, s, kh, &(Attrs){0});        /* [B,3,5,4] */
  ir_ret(f, t_attr(f, OP_TRANSPOSE, o, &perm, NULL));
  t_check3(m, (CheckOpts){.syms = {2}}, "matmul 4-d of transposed views");

  IrModule *ms = t_module("shared4");
  IrFunc *fs = fwd(ms);
  int a = ir_input(fs, "a", T(DT_F32, symB(ms), 3, 5, 7), (Loc){0}), w = ir_input(fs, "w", T(DT_F32, 7, 4), (Loc){0});
  ir_ret(fs, t_bin(fs, OP_MATMUL, a, w, &(Attrs){0}));
  t_check3(ms, (CheckOpts){.syms = {2}}, "matmul [B,3,5,7] x [7,4]");
}

void test_attn(void) {
  test_compare();
  test_where();
  test_matmul4();
}
