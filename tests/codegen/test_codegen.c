/* test_codegen.c — the CPU backend against the reference interpreter.
 *
 * Every op, broadcasting variants, reductions over every axis set, softmax
 * along every axis, matmul with every ta/tb (and with epilogues,
 * test_epilogue.c), views folded into indexing,
 * symbolic batch sizes, stores and in-place updates, and the Fashion-MNIST
 * MLP's three functions (through the frontend, autodiff and fusion). Each
 * IR case runs unfused at -O2, fused at -O0 and fused at -O2. meta.c's
 * struct layouts are checked against the C compiler's and a compiled
 * object is read back by a C program (test_object.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "harness.h"
#include "passes/passes.h"

void test_object(void);   /* test_object.c */
void test_dtypes(void);   /* test_dtypes.c */
void test_epilogue(void); /* test_epilogue.c */
void test_attn(void);     /* test_attn.c */
void test_rows(void);     /* test_rows.c */
void test_int8(void);     /* test_int8.c */


static IrFunc *fwd(IrModule *m) { return ir_func_new(m, IR_FN_FORWARD); }

static int64_t symB(IrModule *m) { return IR_SYM(ir_sym(m, "B")); }

/* ---- elementwise ---- */

static void test_unary(void) {
  static const struct {
    OpKind op;
    double scale; /* input multiplier, to reach the interesting range */
    DataKind data;
  } ops[] = {{OP_NEG, 1, DATA_NORMAL},     {OP_RELU, 1, DATA_NORMAL},     {OP_STEP, 1, DATA_NORMAL},
             {OP_SIGMOID, 8, DATA_NORMAL}, {OP_TANH, 9, DATA_NORMAL},     {OP_TANH, 0.01, DATA_NORMAL},
             {OP_GELU, 4, DATA_NORMAL},    {OP_GELU, 0.001, DATA_NORMAL}, {OP_EXP, 4, DATA_NORMAL},
             {OP_LOG, 1, DATA_POSITIVE},   {OP_SQRT, 1, DATA_POSITIVE},   {OP_SILU, 8, DATA_NORMAL},
             {OP_SOFTPLUS, 30, DATA_NORMAL}, {OP_SOFTPLUS, 4, DATA_NORMAL}, {OP_SOFTPLUS, 0.001, DATA_NORMAL}};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    IrModule *m = t_module("unary");
    IrFunc *f = fwd(m);
    int x = ir_input(f, "x", T(DT_F32, 3, 37), (Loc){0});
    Type s = TS(DT_F32);
    int y = t_op(f, ops[i].op, t_op(f, OP_MUL, x, ir_const(f, ops[i].scale, &s, (Loc){0})), 0);
    ir_ret(f, y);
    t_check3(m, (CheckOpts){.data = ops[i].data}, ir_ops[ops[i].op].mnemonic);
  }
  /* The activations with a parameter (attribute value). */
  static const struct {
    OpKind op;
    double value, scale;
  } acts[] = {{OP_LEAKY_RELU, 0.01, 2}, {OP_LEAKY_RELU, 0.3, 2}, {OP_ELU, 1, 4}, {OP_ELU, 0.5, 0.01}};
  for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
    IrModule *m = t_module("activation");
    IrFunc *f = fwd(m);
    int x = ir_input(f, "x", T(DT_F32, 3, 37), (Loc){0});
    Type s = TS(DT_F32);
    int xs = t_op(f, OP_MUL, x, ir_const(f, acts[i].scale, &s, (Loc){0}));
    ir_ret(f, t_attr(f, acts[i].op, xs, &(Attrs){.value = acts[i].value}, NULL));
    char name[48];
    snprintf(name, sizeof name, "%s %g (x %g)", ir_ops[acts[i].op].mnemonic, acts[i].value, acts[i].scale);
    t_check3(m, (CheckOpts){.data = DATA_NORMAL}, name);
  }
  static const double pows[] = {2, 0.5, 3, -1, -2, -0.5, 0, 1, 1.7};
  for (size_t i = 0; i < sizeof pows / sizeof *pows; i++) {
    IrModule *m = t_module("pow");
    IrFunc *f = fwd(m);
    int x = ir_input(f, "x", T(DT_F32, 5, 7), (Loc){0});
    ir_ret(f, t_attr(f, OP_POW, x, &(Attrs){.value = pows[i]}, NULL));
    char name[32];
    snprintf(name, sizeof name, "pow %g", pows[i]);
    t_check3(m, (CheckOpts){.data = DATA_POSITIVE}, name);
  }
}

/* fake_quant and its gradient against the interpreter: u8 per tensor with
 * a power-of-two scale (x / s exact in f32, so f32 and f64 round alike;
 * the inputs times 4 reach past both ends of the range), and int8 per
 * column of w with QAT's scale max |w| / 127 (the column's largest element
 * lands on level +-127, not on a tie). */
static void test_quant(void) {
  for (int grad = 0; grad < 2; grad++) {
    IrModule *m = t_module("fake_quant");
    IrFunc *f = fwd(m);
    int x = ir_input(f, "x", T(DT_F32, 3, 37), (Loc){0}), dy = ir_input(f, "dy", T(DT_F32, 3, 37), (Loc){0});
    Type s = TS(DT_F32);
    int xs = t_op(f, OP_MUL, x, ir_const(f, 4, &s, (Loc){0})), sc = ir_const(f, 1.0 / 64, &s, (Loc){0});
    Attrs u8 = {.value = 128, .qmin = 0, .qmax = 255}, i8 = {.value = 0, .qmin = -127, .qmax = 127};
    OpKind op = grad ? OP_FAKE_QUANT_GRAD : OP_FAKE_QUANT;
    int args[3] = {xs, sc, dy};
    ir_ret(f, ir_emit(f, op, args, grad ? 3 : 2, &u8, NULL, (Loc){0}, NULL));
    int ab = t_attr(f, OP_MAX, t_op(f, OP_MUL, x, x), &(Attrs){.naxes = 1, .axes = {0}, .keepdims = 1}, NULL);
    int sw = t_op(f, OP_DIV, t_op(f, OP_SQRT, ab, 0), ir_const(f, 127, &s, (Loc){0}));
    int wargs[3] = {x, sw, dy};
    ir_ret(f, ir_emit(f, op, wargs, grad ? 3 : 2, &i8, NULL, (Loc){0}, NULL));
    t_check3(m, (CheckOpts){.data = DATA_NORMAL}, ir_ops[op].mnemonic);
  }
}

static void test_binary(void) {
  static const OpKind ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_EQ};
  static const struct {
    int ra, rb;
    int64_t a[3], b[3];
  } shapes[] = {{2, 2, {3, 37}, {3, 37}},  {2, 1, {3, 37}, {37}},        {2, 2, {3, 1}, {1, 37}}, {0, 2, {0}, {3, 37}},
                {3, 2, {4, 1, 5}, {3, 1}}, {3, 3, {2, 3, 4}, {2, 1, 4}}, {1, 3, {4}, {2, 3, 4}}};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
      IrModule *m = t_module("binary");
      IrFunc *f = fwd(m);
      int a = ir_input(f, "a", t_type(DT_F32, shapes[s].ra, shapes[s].a), (Loc){0});
      int b = ir_input(f, "b", t_type(DT_F32, shapes[s].rb, shapes[s].b), (Loc){0});
      ir_ret(f, t_op(f, ops[i], a, b));
      char name[64];
      snprintf(name, sizeof name, "%s shapes #%zu", ir_ops[ops[i]].mnemonic, s);
      t_check3(m,
             (CheckOpts){.data = ops[i] == OP_DIV  ? DATA_POSITIVE
                                 : ops[i] == OP_EQ ? DATA_INTS
                                                   : DATA_NORMAL},
             name);
    }
  /* LLVM 19's SLP vectorizer miscompiled shapes #4 for AVX-512 targets
   * only (target.c): built for x86-64-v4 and run in LLVM's interpreter, the
   * case is checked on any host. */
  for (int i = 0; i < 2; i++)
    for (int fused = 0; fused < 2; fused++) {
      IrModule *m = t_module("binary");
      IrFunc *f = fwd(m);
      int a = ir_input(f, "a", T(DT_F32, 4, 1, 5), (Loc){0});
      int b = ir_input(f, "b", T(DT_F32, 3, 1), (Loc){0});
      ir_ret(f, t_op(f, i ? OP_MUL : OP_ADD, a, b));
      t_set_fused(m, fused);
      char name[64];
      snprintf(name, sizeof name, "%s shapes #4 for x86-64-v4%s", i ? "mul" : "add", fused ? " (fused)" : "");
      EXPECT(cg_check(m, &(CheckOpts){.cpu = "x86-64-v4"}, name), "%s", name);
    }
}

static void test_cast(void) {
  IrModule *m = t_module("cast");
  IrFunc *f = fwd(m);
  Type s = TS(DT_F32), ti = T(DT_I32, 4, 9), tf = T(DT_F32, 4, 9);
  int x = ir_input(f, "x", T(DT_F32, 4, 9), (Loc){0});
  int y = ir_input(f, "y", T(DT_I32, 4, 9), (Loc){0});
  int xi = t_attr(f, OP_CAST, t_op(f, OP_MUL, x, ir_const(f, 3.7, &s, (Loc){0})), NULL, &ti);
  ir_ret(f, xi);                                              /* f32 -> i32 truncates */
  ir_ret(f, t_op(f, OP_ADD, t_attr(f, OP_CAST, y, NULL, &tf), /* i32 -> f32 */
                 t_attr(f, OP_CAST, xi, NULL, &tf)));
  ir_ret(f, y); /* an i32 input returned: an i32 copy */
  t_check3(m, (CheckOpts){.label_max = 7}, "cast");
}

/* A chain with a scalar input, a bias row and a column: one kernel fused. */
static void test_chain(void) {
  IrModule *m = t_module("chain");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int x = ir_input(f, "x", T(DT_F32, B, 33), (Loc){0});
  int s = ir_input(f, "s", TS(DT_F32), (Loc){0});
  int b = ir_input(f, "b", T(DT_F32, 33), (Loc){0});
  int c = ir_input(f, "c", T(DT_F32, B, 1), (Loc){0});
  int es = t_op(f, OP_EXP, s, 0);  /* scalar, computed once */
  int ec = t_op(f, OP_TANH, c, 0); /* per row */
  int y = t_op(f, OP_MUL, t_op(f, OP_NEG, t_op(f, OP_MUL, x, x), 0), es);
  y = t_op(f, OP_RELU, t_op(f, OP_ADD, t_op(f, OP_ADD, y, b), ec), 0);
  ir_ret(f, y);
  CheckOpts o = {.syms = {5}};
  t_check3(m, o, "chain");
  int nf;
  EXPECT(t_kernels(m, "forward", &nf) == 1 && nf == 1, "chain: %d kernels", t_kernels(m, "forward", NULL));
  t_set_fused(m, false);
  EXPECT(t_kernels(m, "forward", NULL) == 8, "chain unfused: %d kernels", t_kernels(m, "forward", NULL));
  o.syms[0] = 1;
  t_check3(m, o, "chain, B=1");
}

/* An unfused chain of five [B,50] values, each used once: each value is
 * written in place over the one before, so the arena planned at the
 * module's batch P is one value's 200 P bytes; at B = P + 1 to 2P every
 * offset doubles, at B <= P it stays. A [B,1,50] operand walks as one run
 * with [B,50]. Run at B = 3 and at B = 3P + 1 (offsets scaled by 4). */
static void test_memplan(void) {
  IrModule *m = t_module("memplan");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int x = ir_input(f, "x", T(DT_F32, B, 50), (Loc){0});
  int z = ir_input(f, "z", T(DT_F32, B, 1, 50), (Loc){0});
  Type r = T(DT_F32, B, 50);
  int y = x;
  for (int i = 0; i < 5; i++)
    y = t_op(f, i % 2 ? OP_NEG : OP_TANH, y, 0);
  ir_ret(f, t_op(f, OP_ADD, y, t_attr(f, OP_RESHAPE, z, NULL, &r)));
  ir_ret(f, t_op(f, OP_MUL, z, z));
  Arena *a = arena_new();
  CgPlan *p = cg_plan(a, m, f, NULL);
  int64_t P = p->plan_syms[0];
  int64_t small[CG_MAX_SYMS] = {3}, atp[CG_MAX_SYMS] = {P}, big[CG_MAX_SYMS] = {P + 1}, huge[CG_MAX_SYMS] = {3 * P + 1};
  EXPECT(P >= 4 && p->nslots == 1 && p->arena0 == (200 * P + 63) / 64 * 64, "memplan: %d slots, an arena of %lld B",
         p->nslots, (long long)p->arena0);
  EXPECT(cg_mem_scale(p, small) == 1 && cg_mem_scale(p, atp) == 1 && cg_mem_scale(p, big) == 2 &&
             cg_mem_scale(p, huge) == 4,
         "memplan: scales %lld %lld %lld", (long long)cg_mem_scale(p, small), (long long)cg_mem_scale(p, atp),
         (long long)cg_mem_scale(p, big));
  arena_free(a);
  t_check3(m, (CheckOpts){.syms = {3}}, "memplan chain");
  t_check3(m, (CheckOpts){.syms = {3 * P + 1}}, "memplan chain, B = 3P + 1 (offsets scaled by 4)");

  /* A size that depends on a sym the plan cannot know (T, bound from the
   * data): one slot per size class instead, valid for every T. */
  IrModule *m2 = t_module("memplan_t");
  IrFunc *f2 = fwd(m2);
  int64_t B2 = IR_SYM(ir_sym(m2, "B")), T2 = IR_SYM(ir_sym(m2, "T"));
  int x2 = ir_input(f2, "x", T(DT_F32, B2, T2, 8), (Loc){0});
  int h = t_op(f2, OP_TANH, x2, 0);
  int rs = t_attr(f2, OP_SUM, h, &(Attrs){.naxes = 1, .axes = {1}, .keepdims = 1}, NULL); /* [B,1,8] */
  ir_ret(f2, t_op(f2, OP_MUL, t_op(f2, OP_EXP, h, 0), rs));
  a = arena_new();
  p = cg_plan(a, m2, f2, NULL);
  EXPECT(!p->scaled && p->nslots == 2, "memplan with T: scaled %d, %d slots", p->scaled, p->nslots);
  arena_free(a);
  t_check3(m2, (CheckOpts){.syms = {3, 5}}, "memplan, slots by size class (B, T)");
}

/* ---- reductions and softmax ---- */

static void test_reduce(void) {
  static const OpKind ops[] = {OP_SUM, OP_MEAN, OP_MAX};
  for (size_t i = 0; i < 3; i++)
    for (int mask = 1; mask < 8; mask++)
      for (int keep = 0; keep < 2; keep++) {
        IrModule *m = t_module("reduce");
        IrFunc *f = fwd(m);
        int x = ir_input(f, "x", T(DT_F32, 3, 4, 5), (Loc){0});
        Attrs at = {.keepdims = keep};
        for (int d = 0; d < 3; d++)
          if (mask & (1 << d)) at.axes[at.naxes++] = d;
        ir_ret(f, t_attr(f, ops[i], x, &at, NULL));
        char name[64];
        snprintf(name, sizeof name, "%s mask %d keep %d", ir_ops[ops[i]].mnemonic, mask, keep);
        t_check3(m, (CheckOpts){0}, name);
      }
  /* Symbolic batch, a fused prologue, and sizes that take the parallel path. */
  static const int64_t big[][2] = {{0, 7}, {300, 200}};
  for (int s = 0; s < 2; s++)
    for (int ax = 0; ax < 2; ax++) {
      IrModule *m = t_module("reduce2");
      IrFunc *f = fwd(m);
      int64_t d0 = big[s][0] ? big[s][0] : symB(m);
      int x = ir_input(f, "x", T(DT_F32, d0, big[s][1]), (Loc){0});
      int y = ir_input(f, "y", T(DT_F32, big[s][1]), (Loc){0});
      Attrs at = {.naxes = 1, .axes = {ax}};
      ir_ret(f, t_attr(f, OP_SUM, t_op(f, OP_MUL, x, y), &at, NULL));
      char name[64];
      snprintf(name, sizeof name, "sum(x*y) [%lld,%lld] axis %d", (long long)d0, (long long)big[s][1], ax);
      t_check3(m, (CheckOpts){.syms = {6}, .tol = 1e-3}, name);
      EXPECT(t_kernels(m, "forward", NULL) == 1, "%s: prologue not fused", name);
    }
}

static void test_softmax(void) {
  for (int op = 0; op < 2; op++)
    for (int ax = 0; ax < 3; ax++) {
      IrModule *m = t_module("softmax");
      IrFunc *f = fwd(m);
      int x = ir_input(f, "x", T(DT_F32, 3, 4, 5), (Loc){0});
      Type s = TS(DT_F32);
      x = t_op(f, OP_MUL, x, ir_const(f, 20, &s, (Loc){0})); /* big values: stability */
      ir_ret(f, t_attr(f, op ? OP_LOG_SOFTMAX : OP_SOFTMAX, x, &(Attrs){.axis = ax}, NULL));
      char name[64];
      snprintf(name, sizeof name, "%s axis %d", op ? "log_softmax" : "softmax", ax);
      t_check3(m, (CheckOpts){0}, name);
    }
  IrModule *m = t_module("softmax2");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int x = ir_input(f, "x", T(DT_F32, B, 10), (Loc){0});
  int b = ir_input(f, "b", T(DT_F32, 10), (Loc){0});
  ir_ret(f, t_attr(f, OP_LOG_SOFTMAX, t_op(f, OP_ADD, x, b), &(Attrs){.axis = 1}, NULL));
  t_check3(m, (CheckOpts){.syms = {7}}, "log_softmax(x + b) [B,10]");
  EXPECT(t_kernels(m, "forward", NULL) == 1, "softmax prologue not fused");
  t_check3(m, (CheckOpts){.syms = {5000}}, "log_softmax [5000,10] (parallel)");
}

/* Size-1 dims everywhere: no row loop, no class loop, nothing to reduce. */
static void test_degenerate(void) {
  IrModule *m = t_module("degenerate");
  IrFunc *f = fwd(m);
  int a = ir_input(f, "a", T(DT_F32, 3, 1, 5), (Loc){0});
  int b = ir_input(f, "b", T(DT_F32, 4, 1), (Loc){0});
  int c = ir_input(f, "c", T(DT_F32, 1, 1), (Loc){0});
  int y = ir_input(f, "y", T(DT_I32, 3), (Loc){0});
  Type o1 = T(DT_F32, 3, 1);
  ir_ret(f, t_attr(f, OP_SOFTMAX, a, &(Attrs){.axis = 1}, NULL));
  ir_ret(f, t_attr(f, OP_LOG_SOFTMAX, b, &(Attrs){.axis = 1}, NULL));
  ir_ret(f, t_attr(f, OP_SUM, c, &(Attrs){.naxes = 2, .axes = {0, 1}}, NULL));
  ir_ret(f, t_attr(f, OP_MEAN, a, &(Attrs){.naxes = 1, .axes = {1}}, NULL));
  ir_ret(f, t_attr(f, OP_MAX, b, &(Attrs){.naxes = 1, .axes = {1}, .keepdims = 1}, NULL));
  ir_ret(f, t_attr(f, OP_ONEHOT, y, NULL, &o1));
  ir_ret(f, t_op(f, OP_ADD, a, t_op(f, OP_EXP, c, 0)));
  t_check3(m, (CheckOpts){.label_max = 1}, "size-1 dims");
}

/* ---- matmul ---- */

static void test_matmul(void) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int sym = 0; sym < 2; sym++) {
        IrModule *m = t_module("matmul");
        IrFunc *f = fwd(m);
        int64_t M = sym ? symB(m) : 5, K = 7, N = 3;
        int a = ir_input(f, "a", ta ? T(DT_F32, K, M) : T(DT_F32, M, K), (Loc){0});
        int b = ir_input(f, "b", tb ? T(DT_F32, N, K) : T(DT_F32, K, N), (Loc){0});
        ir_ret(f, t_bin(f, OP_MATMUL, a, b, &(Attrs){.ta = ta, .tb = tb}));
        char name[64];
        snprintf(name, sizeof name, "matmul ta=%d tb=%d%s", ta, tb, sym ? " [B]" : "");
        t_check3(m, (CheckOpts){.syms = {4}}, name);
      }
  /* transpose(a) @ b: the transpose is a view, sgemm gets the flag, no copy.
   * broadcast(v) @ w: not a BLAS layout, so the broadcast is materialised.
   * relu(x @ w + b) with x @ w^T given as a transposed global. */
  IrModule *m = t_module("matmul_views");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int w = t_param(m, "w", T(DT_F32, 6, 5));
  int a = ir_input(f, "a", T(DT_F32, 6, B), (Loc){0});
  int v = ir_input(f, "v", T(DT_F32, 6), (Loc){0});
  int wg = ir_global_ref(f, w, (Loc){0});
  int at = t_attr(f, OP_TRANSPOSE, a, &(Attrs){.naxes = 2, .axes = {1, 0}}, NULL);
  int y = t_bin(f, OP_MATMUL, at, wg, &(Attrs){0});
  Type vb = T(DT_F32, 3, 6);
  int z = t_bin(f, OP_MATMUL, t_attr(f, OP_BROADCAST, v, NULL, &vb), wg, &(Attrs){0});
  int wt = t_attr(f, OP_TRANSPOSE, wg, &(Attrs){.naxes = 2, .axes = {1, 0}}, NULL);
  int u = t_bin(f, OP_MATMUL, y, wt, &(Attrs){0}); /* [B,5] @ [5,6] */
  ir_ret(f, t_op(f, OP_RELU, y, 0));
  ir_ret(f, z);
  ir_ret(f, u);
  t_check3(m, (CheckOpts){.syms = {3}}, "matmul of views");
  EXPECT(t_kernels(m, "forward", NULL) == 5, "matmul views: %d kernels", t_kernels(m, "forward", NULL));

  /* Batches [G,M,K] x [G,K,N], G static or the batch; a transposed view
   * (not contiguous) and a scaled operand (a fused kernel's export) in. */
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int sym = 0; sym < 2; sym++) {
        IrModule *mb = t_module("bmm");
        IrFunc *fb = fwd(mb);
        int64_t G = sym ? symB(mb) : 3, M = 5, K = 7, N = 4;
        int ba = ir_input(fb, "a", ta ? T(DT_F32, G, K, M) : T(DT_F32, G, M, K), (Loc){0});
        int bb = ir_input(fb, "b", tb ? T(DT_F32, G, N, K) : T(DT_F32, G, K, N), (Loc){0});
        ir_ret(fb, t_bin(fb, OP_MATMUL, ba, bb, &(Attrs){.ta = ta, .tb = tb}));
        /* the same product with a transposed in place of the flag */
        int bt = t_attr(fb, OP_TRANSPOSE, ba, &(Attrs){.naxes = 3, .axes = {0, 2, 1}}, NULL);
        Type s = TS(DT_F32);
        int b2 = t_op(fb, OP_MUL, bb, ir_const(fb, 2, &s, (Loc){0}));
        ir_ret(fb, t_bin(fb, OP_MATMUL, bt, b2, &(Attrs){.ta = !ta, .tb = tb}));
        char name[64];
        snprintf(name, sizeof name, "batched matmul ta=%d tb=%d%s", ta, tb, sym ? " [B]" : "");
        t_check3(mb, (CheckOpts){.syms = {2}}, name);
      }

  /* [G,M,K] x [K,N]: one sgemm of G*M rows; the 3-d operand a strided
   * view first (materialised), the 2-d one transposed or not. */
  for (int tb = 0; tb < 2; tb++)
    for (int view = 0; view < 2; view++) {
      IrModule *ms = t_module("shared");
      IrFunc *fs = fwd(ms);
      int64_t B = symB(ms);
      int a = ir_input(fs, "a", view ? T(DT_F32, 5, B, 7) : T(DT_F32, B, 5, 7), (Loc){0});
      if (view) a = t_attr(fs, OP_TRANSPOSE, a, &(Attrs){.naxes = 3, .axes = {1, 0, 2}}, NULL);
      int b = ir_input(fs, "b", tb ? T(DT_F32, 4, 7) : T(DT_F32, 7, 4), (Loc){0});
      ir_ret(fs, t_bin(fs, OP_MATMUL, a, b, &(Attrs){.tb = tb}));
      char name[64];
      snprintf(name, sizeof name, "matmul [B,5,7] x [7,4] tb=%d%s", tb, view ? " (transposed view)" : "");
      t_check3(ms, (CheckOpts){.syms = {3}}, name);
    }
}

/* ---- layout, sources, onehot ---- */

static void test_layout(void) {
  IrModule *m = t_module("layout");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  Type s = TS(DT_F32);
  int x = ir_input(f, "x", T(DT_F32, B, 4, 6), (Loc){0});
  Type r2 = T(DT_F32, B, 24), r3 = T(DT_F32, 6, 4, B), bt = T(DT_F32, 2, 3, 5), c4 = T(DT_F32, 2, 2);
  int r = t_attr(f, OP_RESHAPE, x, NULL, &r2); /* alias */
  ir_ret(f, t_op(f, OP_ADD, r, ir_const(f, 1, &s, (Loc){0})));
  int t = t_attr(f, OP_TRANSPOSE, x, &(Attrs){.naxes = 3, .axes = {2, 0, 1}}, NULL);
  ir_ret(f, t_op(f, OP_MUL, t, t)); /* strided loads */
  int tt = t_attr(f, OP_TRANSPOSE, r, &(Attrs){.naxes = 2, .axes = {1, 0}}, NULL);
  ir_ret(f, t_attr(f, OP_RESHAPE, tt, NULL, &r3)); /* reshape of a transpose: materialised */
  int v = ir_input(f, "v", T(DT_F32, 3, 1), (Loc){0});
  ir_ret(f, t_op(f, OP_EXP, t_attr(f, OP_BROADCAST, v, NULL, &bt), 0)); /* stride-0 view */
  ir_ret(f, t);                                                         /* returned view: a copy */
  ir_ret(f, x);                                                         /* returned input */
  ir_ret(f, ir_const(f, 2.5, &c4, (Loc){0}));                           /* returned const */
  ir_ret(f, t_attr(f, OP_DIM, x, &(Attrs){.axis = 0}, NULL));           /* returned dim */
  ir_ret(f, t_op(f, OP_DIV, x, t_attr(f, OP_DIM, x, &(Attrs){.axis = 0}, NULL)));
  int twice = t_op(f, OP_NEG, v, 0);
  ir_ret(f, twice);
  ir_ret(f, twice);
  t_check3(m, (CheckOpts){.syms = {3}}, "layout");

  /* Reshapes of strided views (codegen/views.c, reshape_view): a view
   * where the axes merged are contiguous with each other, a copy where not. */
  IrModule *mr = t_module("reshape_views");
  IrFunc *g = fwd(mr);
  int64_t Bg = symB(mr);
  int y = ir_input(g, "y", T(DT_F32, Bg, 6, 12), (Loc){0});
  Type s1 = T(DT_F32, Bg, 6, 2, 3), s2 = T(DT_F32, Bg, 48), s3 = T(DT_F32, Bg, 36), s4 = T(DT_F32, Bg, 12, 2, 3),
       s5 = T(DT_F32, Bg, 1, 6, 6, 1);
  int heads = t_attr(g, OP_RESHAPE, t_attr(g, OP_SLICE, y, &(Attrs){.axis = 2, .start = 4, .end = 10}, NULL), NULL, &s1);
  ir_ret(g, t_op(g, OP_MUL, t_attr(g, OP_TRANSPOSE, heads, &(Attrs){.naxes = 4, .axes = {0, 2, 1, 3}}, NULL),
                 ir_const(g, 2, &s, (Loc){0}))); /* split a sliced axis: a view */
  int rows = t_attr(g, OP_SLICE, y, &(Attrs){.axis = 1, .start = 1, .end = 5}, NULL);
  ir_ret(g, t_op(g, OP_NEG, t_attr(g, OP_RESHAPE, rows, NULL, &s2), 0)); /* merge whole rows: a view */
  int cols = t_attr(g, OP_SLICE, y, &(Attrs){.axis = 2, .start = 2, .end = 8}, NULL);
  ir_ret(g, t_op(g, OP_NEG, t_attr(g, OP_RESHAPE, cols, NULL, &s3), 0)); /* merge part rows: a copy */
  int yt = t_attr(g, OP_TRANSPOSE, y, &(Attrs){.naxes = 3, .axes = {0, 2, 1}}, NULL);
  ir_ret(g, t_op(g, OP_NEG, t_attr(g, OP_RESHAPE, yt, NULL, &s4), 0)); /* split a strided axis: a view */
  int ones = t_attr(g, OP_SLICE, y, &(Attrs){.axis = 2, .start = 3, .end = 9}, NULL);
  ir_ret(g, t_op(g, OP_NEG, t_attr(g, OP_RESHAPE, ones, NULL, &s5), 0)); /* size-1 axes around: a view */
  ir_ret(g, t_attr(g, OP_RESHAPE, cols, NULL, &s3));                    /* returned: a copy */
  t_check3(mr, (CheckOpts){.syms = {3}}, "reshape views");
}

/* concat and slice: along each axis, of strided views (a transpose), of a
 * constant (materialised first), and a one-element slice (no loop). */
static void test_ranges(void) {
  IrModule *m = t_module("ranges");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int x = ir_input(f, "x", T(DT_F32, B, 4, 6), (Loc){0});
  int w = ir_input(f, "w", T(DT_F32, 2, 3), (Loc){0});
  ir_ret(f, t_attr(f, OP_SLICE, x, &(Attrs){.axis = 1, .start = 1, .end = 3}, NULL));
  int s2 = t_attr(f, OP_SLICE, x, &(Attrs){.axis = 2, .start = 2, .end = 6}, NULL);
  ir_ret(f, t_op(f, OP_EXP, s2, 0));
  ir_ret(f, t_attr(f, OP_SLICE, x, &(Attrs){.axis = 2, .start = 5, .end = 6}, NULL));
  int t = t_attr(f, OP_TRANSPOSE, x, &(Attrs){.naxes = 3, .axes = {0, 2, 1}}, NULL); /* [B,6,4] */
  ir_ret(f, t_attr(f, OP_SLICE, t, &(Attrs){.axis = 1, .start = 1, .end = 4}, NULL));
  ir_ret(f, t_bin(f, OP_CONCAT, x, s2, &(Attrs){.axis = 2})); /* [B,4,10] */
  Type z = T(DT_F32, B, 2, 6);
  int zeros = ir_const(f, 0, &z, (Loc){0});
  ir_ret(f, t_bin(f, OP_CONCAT, zeros, x, &(Attrs){.axis = 1}));                   /* [B,6,6] */
  int wt = t_attr(f, OP_TRANSPOSE, w, &(Attrs){.naxes = 2, .axes = {1, 0}}, NULL); /* [3,2] */
  ir_ret(f, t_bin(f, OP_CONCAT, wt, wt, &(Attrs){.axis = 0}));
  /* causal masks: non-square, of a transposed view, under a softmax, of a
   * one-row matrix (no row loop) */
  ir_ret(f, t_attr(f, OP_CAUSAL_MASK, x, &(Attrs){.value = -1e30}, NULL));
  int mt = t_attr(f, OP_CAUSAL_MASK, t, &(Attrs){.value = -INFINITY}, NULL);
  ir_ret(f, t_attr(f, OP_SOFTMAX, mt, &(Attrs){.axis = 2}, NULL));
  int w1 = t_attr(f, OP_SLICE, w, &(Attrs){.axis = 0, .start = 1, .end = 2}, NULL); /* [1,3] */
  ir_ret(f, t_attr(f, OP_CAUSAL_MASK, w1, &(Attrs){.value = 7}, NULL));
  ir_ret(f, t_attr(f, OP_CAUSAL_MASK, wt, &(Attrs){.value = 0}, NULL));
  t_check3(m, (CheckOpts){.syms = {5}}, "ranges");
}

static void test_onehot(void) {
  IrModule *m = t_module("onehot");
  IrFunc *f = fwd(m);
  int64_t B = symB(m);
  int y = ir_input(f, "y", T(DT_I32, B), (Loc){0});
  int y2 = ir_input(f, "y2", T(DT_I32, 2, 3), (Loc){0});
  Type o1 = T(DT_F32, B, 10), o2 = T(DT_F32, 2, 3, 4);
  ir_ret(f, t_attr(f, OP_ONEHOT, y, NULL, &o1));
  ir_ret(f, t_attr(f, OP_ONEHOT, y2, NULL, &o2));
  t_check3(m, (CheckOpts){.syms = {9}, .label_max = 4}, "onehot");
  /* Label 4 at position 3 of both inputs: out of range only for the
   * 4-class onehot, which reports row 3 (the interpreter fails, so only the
   * hook is checked; nothing may be written out of bounds either way). */
  CheckOpts o = {.syms = {9}, .label_max = 4, .bad_label = 3};
  cg_check(m, &o, "onehot bad label");
  EXPECT(hk_fail_calls == 1 && hk_fail_args[0] == 3 && hk_fail_args[1] == 4 && hk_fail_args[2] == 4,
         "fail hook: %d calls, args %lld %lld %lld", hk_fail_calls, (long long)hk_fail_args[0],
         (long long)hk_fail_args[1], (long long)hk_fail_args[2]);
}

void test_models(void); /* test_models.c */
void test_scan(void);   /* test_scan.c */
void test_gather(void); /* test_gather.c */
void test_nan(void);    /* test_nan.c */

/* ---- sliding windows ----
 * Each forward and its gradient ops (dy given as an input, so the scatters
 * see arbitrary values), over strides, paddings and kernel sizes, with a
 * static and a symbolic batch (which runs through nnrt_parallel_for). */

static void test_window(void) {
  static const struct {
    int c, h, w, f, k, stride, pad;
  } convs[] = {{1, 8, 8, 4, 3, 1, 0}, {3, 7, 9, 2, 3, 1, 1}, {2, 9, 9, 3, 3, 2, 1},
               {2, 6, 5, 2, 2, 2, 0}, {4, 5, 5, 3, 1, 1, 0}, {1, 8, 8, 2, 5, 3, 2},
               /* conv_vec's chunks: rows of 26 and 19 outputs (a full and a
                * partial chunk), padding masks on both, 8, 6 and 12
                * filters (blocks of 8, 2 and 4), a 5x5 window; for the
                * input gradient (conv_vec_dx) 16 channels (two blocks of 8)
                * and the widest padding (K - 1: dy's windows all inside);
                * samples too large for the padded copy (masked loads) in
                * the forward and in the input gradient; strides over the
                * phased copy (two chunks of outputs, odd sizes), and
                * samples too large for it at stride 2 (the scalar walk,
                * forward and input gradient) */
               {1, 28, 28, 8, 3, 1, 0}, {2, 19, 19, 6, 3, 1, 1}, {3, 9, 21, 12, 5, 1, 2},
               {16, 10, 12, 4, 3, 1, 1}, {2, 6, 6, 3, 3, 1, 2}, {8, 64, 64, 2, 3, 1, 1}, {2, 64, 64, 8, 3, 1, 1},
               {4, 40, 40, 8, 3, 2, 1}, {3, 21, 23, 4, 3, 2, 0}, {2, 17, 20, 4, 4, 3, 1},
               {16, 96, 96, 2, 3, 2, 1}, {2, 96, 96, 16, 3, 2, 1}};
  for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
    for (int sym = 0; sym < 2; sym++) {
      IrModule *m = t_module("conv");
      IrFunc *f = fwd(m);
      int64_t N = sym ? symB(m) : 2;
      Attrs at = {.stride = convs[i].stride, .pad = convs[i].pad};
      int x = ir_input(f, "x", T(DT_F32, N, convs[i].c, convs[i].h, convs[i].w), (Loc){0});
      int w = ir_input(f, "w", T(DT_F32, convs[i].f, convs[i].c, convs[i].k, convs[i].k), (Loc){0});
      int y = ir_emit(f, OP_CONV2D, (int[]){x, w}, 2, &at, NULL, (Loc){0}, NULL);
      int dy = ir_input(f, "dy", f->nodes[y].ty, (Loc){0});
      ir_ret(f, y);
      for (OpKind op = OP_CONV2D_GRAD_INPUT; op <= OP_CONV2D_GRAD_WEIGHT; op++)
        ir_ret(f, ir_emit(f, op, (int[]){x, w, dy}, 3, &at, NULL, (Loc){0}, NULL));
      char name[96];
      snprintf(name, sizeof name, "conv2d c=%d %dx%d f=%d k=%d stride=%d pad=%d%s", convs[i].c, convs[i].h, convs[i].w,
               convs[i].f, convs[i].k, convs[i].stride, convs[i].pad, sym ? " [B]" : "");
      t_check3(m, (CheckOpts){.syms = {3}}, name);
    }
  static const struct {
    int h, w, k, stride;
  } pools[] = {{8, 8, 2, 2}, {7, 7, 2, 2}, {6, 9, 3, 1}, {9, 9, 3, 2}, {4, 4, 1, 1}, {8, 8, 2, 3}};
  for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++)
    for (int sym = 0; sym < 2; sym++) {
      IrModule *m = t_module("pool");
      IrFunc *f = fwd(m);
      Attrs at = {.kernel = pools[i].k, .stride = pools[i].stride};
      int x = ir_input(f, "x", T(DT_F32, sym ? symB(m) : 2, 3, pools[i].h, pools[i].w), (Loc){0});
      for (OpKind op = OP_MAXPOOL2D; op <= OP_AVGPOOL2D; op += 2) {
        int y = ir_emit(f, op, &x, 1, &at, NULL, (Loc){0}, NULL);
        int dy = ir_input(f, op == OP_MAXPOOL2D ? "dmax" : "davg", f->nodes[y].ty, (Loc){0});
        ir_ret(f, y);
        ir_ret(f, ir_emit(f, op + 1, (int[]){x, dy}, 2, &at, NULL, (Loc){0}, NULL));
      }
      char name[96];
      snprintf(name, sizeof name, "pools %dx%d kernel=%d stride=%d%s", pools[i].h, pools[i].w, pools[i].k,
               pools[i].stride, sym ? " [B]" : "");
      t_check3(m, (CheckOpts){.syms = {3}}, name);
    }
}

/* test_codegen [NAME...]: every group of tests, or those named (e.g.
 * `test_codegen epilogue rows`). */
int main(int argc, char **argv) {
  static const struct {
    const char *name;
    void (*run)(void);
  } groups[] = {
      {"unary", test_unary},
      {"binary", test_binary},
      {"quant", test_quant},
      {"cast", test_cast},
      {"dtypes", test_dtypes},
      {"chain", test_chain},
      {"memplan", test_memplan},
      {"reduce", test_reduce},
      {"softmax", test_softmax},
      {"degenerate", test_degenerate},
      {"matmul", test_matmul},
      {"attn", test_attn},
      {"epilogue", test_epilogue},
      {"rows", test_rows},
      {"layout", test_layout},
      {"onehot", test_onehot},
      {"ranges", test_ranges},
      {"window", test_window},
      {"nan", test_nan},
      {"gather", test_gather},
      {"models", test_models},
      {"scan", test_scan},
      {"int8", test_int8},
      {"object", test_object},
  };
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    bool want = argc < 2;
    for (int a = 1; a < argc; a++)
      want |= strcmp(argv[a], groups[g].name) == 0;
    if (want) groups[g].run();
  }
  t_free_all();
  printf("%d passed, %d failed\n", t_passed, t_failed);
  return t_failed != 0;
}
