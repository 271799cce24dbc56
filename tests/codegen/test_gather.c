/* test_gather.c — embedding, embedding_grad and dropout (k_gather.c)
 * against the interpreter: a symbolic batch (the thread pool's path), odd
 * chunk cuts (the results must not depend on them), an out-of-range id
 * reported through nnrt_fail_id, and dropout masks equal bit for bit to
 * the interpreter's (a dropped element is an exact 0 on both sides, so any
 * mask difference shows as a mismatch). */
#include "harness.h"

static void check3(IrModule *m, CheckOpts o, const char *name) {
  char buf[160];
  t_set_fused(m, false);
  snprintf(buf, sizeof buf, "%s (unfused)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
  t_set_fused(m, true);
  o.opt = 0, o.opt_set = true;
  snprintf(buf, sizeof buf, "%s (fused, -O0)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
  o.opt = 2;
  snprintf(buf, sizeof buf, "%s (fused)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
}

static int64_t symB(IrModule *m) { return IR_SYM(ir_sym(m, "B")); }

/* forward(ids [B, T], dy [B, T, D]) -> (embedding(ids, table), its
 * gradient, the embedding of a transposed view of the ids) with the table
 * a parameter [V, D]. */
static IrModule *embedding_module(int64_t T, int64_t V, int64_t D) {
  IrModule *m = t_module("embedding");
  IrFunc *f = ir_func_new(m, IR_FN_FORWARD);
  int64_t B = symB(m);
  int ids = ir_input(f, "ids", T(DT_I32, B, T), (Loc){0});
  int tab = ir_global_ref(f, t_param(m, "emb.table", T(DT_F32, V, D)), (Loc){0});
  int y = ir_emit(f, OP_EMBEDDING, (int[]){ids, tab}, 2, NULL, NULL, (Loc){0}, NULL);
  int dy = ir_input(f, "dy", f->nodes[y].ty, (Loc){0});
  ir_ret(f, y);
  ir_ret(f, ir_emit(f, OP_EMBEDDING_GRAD, (int[]){ids, tab, dy}, 3, NULL, NULL, (Loc){0}, NULL));
  int idt = ir_emit(f, OP_TRANSPOSE, &ids, 1, &(Attrs){.naxes = 2, .axes = {1, 0}}, NULL, (Loc){0}, NULL);
  ir_ret(f, ir_emit(f, OP_EMBEDDING, (int[]){idt, tab}, 2, NULL, NULL, (Loc){0}, NULL));
  return m;
}

static void test_embedding(void) {
  check3(embedding_module(7, 13, 5), (CheckOpts){.syms = {9}, .label_max = 13}, "embedding V=13 D=5");
  /* V * D large enough for the gradient to be split over table rows. */
  IrModule *m = embedding_module(5, 1000, 40);
  check3(m, (CheckOpts){.syms = {11}, .label_max = 1000}, "embedding V=1000 D=40");
  hk_grain = 3;
  EXPECT(cg_check(m, &(CheckOpts){.syms = {11}, .label_max = 1000}, "embedding, chunks of 3"), "chunks of 3");
  EXPECT(hk_parallel_calls >= 2, "%d parallel calls", hk_parallel_calls);
  hk_grain = 0;
  /* Id 13 at flat position 10 = row 1, position 3 of [B, 7] ids: reported
   * once (by the forward; the gradient skips it and the transposed lookup
   * reads a copy whose position differs, so only the first report is
   * checked: calls >= 1). */
  m = embedding_module(7, 13, 5);
  cg_check(m, &(CheckOpts){.syms = {4}, .label_max = 13, .bad_label = 10}, "embedding bad id");
  EXPECT(hk_fail_calls >= 1 && hk_fail_args[1] == 13 && hk_fail_args[2] == 13,
         "fail hook: %d calls, args %lld %lld %lld %lld", hk_fail_calls, (long long)hk_fail_args[0],
         (long long)hk_fail_args[1], (long long)hk_fail_args[2], (long long)hk_fail_args[3]);
}

/* forward(x [B, N]) -> dropout(x) at rates 0, 0.1 and 0.5 (two sites), with
 * the seed a global i32[2] and the step an input or a constant. */
static IrModule *dropout_module(int64_t N, bool const_step) {
  IrModule *m = t_module("dropout");
  IrFunc *f = ir_func_new(m, IR_FN_FORWARD);
  int x = ir_input(f, "x", T(DT_F32, symB(m), N), (Loc){0});
  int seed = ir_global_ref(f, t_param(m, "rng.seed", T(DT_I32, 2)), (Loc){0});
  Type s = TS(DT_F32);
  int step = const_step ? ir_const(f, 5, &s, (Loc){0}) : ir_input(f, "step", s, (Loc){0});
  static const double rates[] = {0, 0.1, 0.5, 0.5};
  for (int i = 0; i < 4; i++) {
    Attrs at = {.value = rates[i], .salt = i == 3 ? 7 : 1};
    ir_ret(f, ir_emit(f, OP_DROPOUT, (int[]){x, seed, step}, 3, &at, NULL, (Loc){0}, NULL));
  }
  return m;
}

static void test_dropout(void) {
  /* label_max: the seed's words are drawn from [0, 2^30). */
  check3(dropout_module(37, false), (CheckOpts){.syms = {3}, .label_max = 1 << 30}, "dropout [3,37]");
  check3(dropout_module(8, true), (CheckOpts){.syms = {5}, .label_max = 1 << 30}, "dropout [5,8] const step");
  IrModule *m = dropout_module(301, false);
  static const int64_t grains[] = {0, 1, 6, 7, 4097};
  for (int i = 0; i < 5; i++) {
    char name[64];
    snprintf(name, sizeof name, "dropout [200,301], chunks of %lld", (long long)grains[i]);
    hk_grain = grains[i];
    EXPECT(cg_check(m, &(CheckOpts){.syms = {200}, .label_max = 1 << 30}, name), "%s", name);
  }
  hk_grain = 0;
}

void test_gather(void) {
  test_embedding();
  test_dropout();
}
