/* test_epilogue.c — GEMM epilogues against the interpreter: a matmul that
 * roots the elementwise group of its users (ir/groups.c) runs that group on
 * each block of its product (k_epilogue.c, nnrt_sgemm_ep). The harness's
 * nnrt_sgemm_ep computes the product in blocks of 3 rows by 5 columns, last
 * to first, each followed at once by its epilogue, so blocks that end
 * inside a row or a column, and an epilogue that strays out of its block,
 * are both exercised. Each case runs unfused, fused at -O0 and fused at
 * -O2, and checks the kernel count and that the fused run called
 * nnrt_sgemm_ep. */
#include "harness.h"

static IrFunc *fwd(IrModule *m) { return ir_func_new(m, IR_FN_FORWARD); }

static int64_t symB(IrModule *m) { return IR_SYM(ir_sym(m, "B")); }

static int input(IrFunc *f, const char *name, Type t) { return ir_input(f, name, t, (Loc){0}); }

static int transpose2(IrFunc *f, int x) { return t_attr(f, OP_TRANSPOSE, x, &(Attrs){.naxes = 2, .axes = {1, 0}}, NULL); }

/* The fused run's kernels and epilogue GEMMs are what the case expects, and
 * the fused module passes the verifier. */
static void expect_fused(IrModule *m, const char *name, int kernels, int ep_calls) {
  Diag d;
  diag_init(&d, stdout);
  EXPECT(ir_verify(m, &d), "%s: the fused module does not verify", name);
  int nk = t_kernels(m, IR_FN_FORWARD, NULL);
  EXPECT(nk == kernels, "%s: %d kernels, expected %d", name, nk, kernels);
  EXPECT(hk_gemm_ep_calls == ep_calls, "%s: %d epilogue GEMMs, expected %d", name, hk_gemm_ep_calls, ep_calls);
}

/* act(op(x) @ op(w) + b), the pre-activation returned too (backward reads
 * it): every ta/tb, as flags or as transposed views, a different
 * activation each time. B = 7 rows, K = 9, N = 13. */
static void test_dense(void) {
  static const OpKind acts[] = {OP_RELU, OP_GELU, OP_TANH, OP_SIGMOID};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int view = 0; view < 2; view++) {
        IrModule *m = t_module("dense");
        IrFunc *f = fwd(m);
        int64_t B = symB(m), K = 9, N = 13;
        OpKind act = acts[(2 * ta + tb + view) % 4];
        int x = input(f, "x", ta ? T(DT_F32, K, B) : T(DT_F32, B, K));
        int w = input(f, "w", tb ? T(DT_F32, N, K) : T(DT_F32, K, N));
        int b = input(f, "b", T(DT_F32, N));
        Attrs at = {.ta = ta, .tb = tb};
        if (view) { /* the same product through transposes, which are views */
          if (ta) x = transpose2(f, x), at.ta = 0;
          if (tb) w = transpose2(f, w), at.tb = 0;
        }
        int a = t_op(f, OP_ADD, t_bin(f, OP_MATMUL, x, w, &at), b);
        ir_ret(f, t_op(f, act, a, 0));
        ir_ret(f, a);
        char name[96];
        snprintf(name, sizeof name, "epilogue %s(x @ w + b) ta=%d tb=%d%s", ir_ops[act].mnemonic, ta, tb,
                 view ? " (views)" : "");
        t_check3(m, (CheckOpts){.syms = {7}}, name);
        expect_fused(m, name, 1, 1);
      }
}

/* [G,M,K] x [K,N] is one GEMM of G*M rows: blocks end inside a matrix of
 * the batch. With a bias row the row dims collapse into one loop; with a
 * [M,N] term (a position table) they cannot, and the epilogue splits each
 * flat row into (g, m). */
static void test_sequence(void) {
  for (int tb = 0; tb < 2; tb++)
    for (int pos = 0; pos < 2; pos++) {
      IrModule *m = t_module("sequence");
      IrFunc *f = fwd(m);
      int64_t B = symB(m), M = 4, K = 6, N = 11;
      int x = input(f, "x", T(DT_F32, B, M, K));
      int w = input(f, "w", tb ? T(DT_F32, N, K) : T(DT_F32, K, N));
      int b = input(f, "b", pos ? T(DT_F32, M, N) : T(DT_F32, N));
      int y = t_bin(f, OP_MATMUL, x, w, &(Attrs){.tb = tb});
      ir_ret(f, t_op(f, pos ? OP_RELU : OP_GELU, t_op(f, OP_ADD, y, b), 0));
      char name[96];
      snprintf(name, sizeof name, "epilogue [B,4,6] x [6,11] tb=%d + %s", tb, pos ? "[4,11], relu" : "[11], gelu");
      t_check3(m, (CheckOpts){.syms = {3}}, name);
      expect_fused(m, name, 1, 1);
    }
}

/* The ReLU layer's backward: dz = (dz2 @ w^T) * step(a) and the bias
 * gradient (its sum over rows, taken block by block) are the epilogue of
 * dz2 @ w^T; the weight gradient x^T @ dz reads dz after it: two kernels. */
static void test_backward(void) {
  IrModule *m = t_module("backward");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int dz2 = input(f, "dz2", T(DT_F32, B, 10)), w = input(f, "w", T(DT_F32, 13, 10));
  int a = input(f, "a", T(DT_F32, B, 13)), x = input(f, "x", T(DT_F32, B, 9));
  int dh = t_bin(f, OP_MATMUL, dz2, w, &(Attrs){.tb = 1});
  int dz = t_op(f, OP_MUL, dh, t_op(f, OP_STEP, a, 0));
  ir_ret(f, dz);
  ir_ret(f, t_attr(f, OP_SUM, dz, &(Attrs){.naxes = 1, .axes = {0}}, NULL));
  ir_ret(f, t_bin(f, OP_MATMUL, x, dz, &(Attrs){.ta = 1}));
  t_check3(m, (CheckOpts){.syms = {8}}, "epilogue: relu backward");
  expect_fused(m, "epilogue: relu backward", 2, 1);
}

/* Sums over the product's rows in the epilogue: of the product itself
 * (a linear layer's bias gradient), over both row dims of a [B,4,11]
 * product, with a prologue (layer norm's gain gradient, sum(dh * xhat)),
 * and on a product of one column. A max over the rows is no bias gradient
 * and runs apart. */
static void test_row_sums(void) {
  IrModule *m = t_module("row_sums");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int dz = input(f, "dz", T(DT_F32, B, 7)), w = input(f, "w", T(DT_F32, 13, 7));
  int xh = input(f, "xh", T(DT_F32, B, 13));
  int dh = t_bin(f, OP_MATMUL, dz, w, &(Attrs){.tb = 1});
  ir_ret(f, dh);
  ir_ret(f, t_attr(f, OP_SUM, dh, &(Attrs){.naxes = 1, .axes = {0}}, NULL));
  ir_ret(f, t_attr(f, OP_SUM, t_op(f, OP_MUL, dh, xh), &(Attrs){.naxes = 1, .axes = {0}, .keepdims = 1}, NULL));
  int x3 = input(f, "x3", T(DT_F32, B, 4, 6)), w3 = input(f, "w3", T(DT_F32, 6, 11));
  int a3 = t_op(f, OP_TANH, t_bin(f, OP_MATMUL, x3, w3, &(Attrs){0}), 0);
  ir_ret(f, a3);
  ir_ret(f, t_attr(f, OP_SUM, a3, &(Attrs){.naxes = 2, .axes = {0, 1}}, NULL));
  int x1 = input(f, "x1", T(DT_F32, B, 5)), w1 = input(f, "w1", T(DT_F32, 5, 1));
  int p1 = t_bin(f, OP_MATMUL, x1, w1, &(Attrs){0});
  ir_ret(f, t_attr(f, OP_SUM, t_op(f, OP_EXP, p1, 0), &(Attrs){.naxes = 1, .axes = {0}}, NULL));
  int xm = input(f, "xm", T(DT_F32, B, 5));
  ir_ret(f, t_attr(f, OP_MAX, t_bin(f, OP_MATMUL, xm, w1, &(Attrs){0}), &(Attrs){.naxes = 1, .axes = {0}}, NULL));
  t_check3(m, (CheckOpts){.syms = {9}}, "epilogue: sums over the product's rows");
  expect_fused(m, "epilogue: sums over the product's rows", 5, 3);
}

/* Members at every level of the nest: a scalar computed in the epilogue, a
 * per-row column, the product itself returned (its buffer is an output). */
static void test_levels(void) {
  IrModule *m = t_module("levels");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int x = input(f, "x", T(DT_F32, B, 5)), w = input(f, "w", T(DT_F32, 5, 12));
  int s = input(f, "s", TS(DT_F32)), c = input(f, "c", T(DT_F32, B, 1));
  int y = t_bin(f, OP_MATMUL, x, w, &(Attrs){0});
  int z = t_op(f, OP_ADD, t_op(f, OP_MUL, y, t_op(f, OP_EXP, s, 0)), t_op(f, OP_NEG, c, 0));
  ir_ret(f, t_op(f, OP_TANH, z, 0));
  ir_ret(f, y);
  t_check3(m, (CheckOpts){.syms = {7}}, "epilogue: scalar, column, product returned");
  expect_fused(m, "epilogue: scalar, column, product returned", 1, 1);
}

/* Degenerate blocks: one column (N = 1, no column loop), one row (M = 1,
 * no row loop). */
static void test_thin(void) {
  for (int one_col = 0; one_col < 2; one_col++) {
    IrModule *m = t_module("thin");
    IrFunc *f = fwd(m);
    int64_t M = one_col ? symB(m) : 1, N = one_col ? 1 : 12;
    int x = input(f, "x", T(DT_F32, M, 6)), w = input(f, "w", T(DT_F32, 6, N));
    int b = input(f, "b", T(DT_F32, N));
    ir_ret(f, t_op(f, OP_RELU, t_op(f, OP_ADD, t_bin(f, OP_MATMUL, x, w, &(Attrs){0}), b), 0));
    const char *name = one_col ? "epilogue: one column" : "epilogue: one row";
    t_check3(m, (CheckOpts){.syms = {8}}, name);
    expect_fused(m, name, 1, 1);
  }
}

/* What stays apart: a batch of products (3-d by 3-d, a loop of GEMMs); a
 * product whose user broadcasts it to a larger domain; an operand of the
 * product computed elementwise (a prologue, not an epilogue). */
static void test_apart(void) {
  IrModule *m = t_module("apart");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int x = input(f, "x", T(DT_F32, B, 3, 4)), w = input(f, "w", T(DT_F32, B, 4, 5));
  ir_ret(f, t_op(f, OP_RELU, t_bin(f, OP_MATMUL, x, w, &(Attrs){0}), 0));
  int u = input(f, "u", T(DT_F32, 2, 4)), v = input(f, "v", T(DT_F32, 4, 5)), big = input(f, "big", T(DT_F32, B, 2, 5));
  ir_ret(f, t_op(f, OP_ADD, big, t_bin(f, OP_MATMUL, u, v, &(Attrs){0})));
  ir_ret(f, t_bin(f, OP_MATMUL, t_op(f, OP_RELU, u, 0), v, &(Attrs){0}));
  t_check3(m, (CheckOpts){.syms = {3}}, "epilogue: products kept apart");
  expect_fused(m, "epilogue: products kept apart", 6, 0);
}

void test_epilogue(void) {
  test_dense();
  test_sequence();
  test_backward();
  test_row_sums();
  test_levels();
  test_thin();
  test_apart();
}
