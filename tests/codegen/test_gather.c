/* test_gather.c — embedding, embedding_grad and dropout (k_gather.c)
 * against the interpreter: a symbolic batch (the thread pool's path), odd
 * chunk cuts (the results must not depend on them), an out-of-range id
 * reported through nnrt_fail_id, and dropout masks equal bit for bit to
 * the interpreter's (a dropped element is an exact 0 on both sides, so any
 * mask difference shows as a mismatch); through the frontend, evaluation
 * mode without dropout, training mode with it, and a whole train_step of
 * an embedding + dropout model against the interpreter over three steps
 * (new masks each step, as @opt.step counts). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "harness.h"
#include "passes/passes.h"


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
  t_check3(embedding_module(7, 13, 5), (CheckOpts){.syms = {9}, .label_max = 13}, "embedding V=13 D=5");
  /* V * D large enough for the gradient to be split over table rows. */
  IrModule *m = embedding_module(5, 1000, 40);
  t_check3(m, (CheckOpts){.syms = {11}, .label_max = 1000}, "embedding V=1000 D=40");
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
  t_check3(dropout_module(37, false), (CheckOpts){.syms = {3}, .label_max = 1 << 30}, "dropout [3,37]");
  t_check3(dropout_module(8, true), (CheckOpts){.syms = {5}, .label_max = 1 << 30}, "dropout [5,8] const step");
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

static const char modes_nn[] = "model modes {\n"
                               "  input x: f32[B, 1000]\n"
                               "  input y: f32[B, 1000]\n"
                               "  h = dropout(x, 0.3)\n"
                               "  output h\n"
                               "  minimize mse(h, y)\n"
                               "}\n";

static int count_op(const IrModule *m, const char *fn, OpKind op) {
  const IrFunc *f = ir_func_find(m, fn);
  int n = 0;
  for (int i = 0; f && i < f->n; i++)
    n += f->nodes[i].op == op;
  return f ? n : -1;
}

/* Evaluation is the identity; training drops about 30% of the elements and
 * scales the rest by 1 / 0.7 (the interpreter's mask, which the kernels
 * match bit for bit above). */
static void test_modes(void) {
  Diag d;
  diag_init(&d, stdout);
  FeModel *fm = fe_compile(t_arena(), &d, "modes.nn", modes_nn, strlen(modes_nn));
  EXPECT(fm != NULL, "modes.nn does not compile");
  if (!fm) return;
  IrModule *m = fm->mod;
  EXPECT(count_op(m, IR_FN_FORWARD, OP_DROPOUT) == 0 && count_op(m, IR_FN_EVAL, OP_DROPOUT) == 0 &&
             count_op(m, IR_FN_LOSS, OP_DROPOUT) == 1,
         "dropouts: forward %d, eval_step %d, loss_step %d", count_op(m, IR_FN_FORWARD, OP_DROPOUT),
         count_op(m, IR_FN_EVAL, OP_DROPOUT), count_op(m, IR_FN_LOSS, OP_DROPOUT));
  int64_t syms[1] = {100}, n = 100 * 1000;
  double seed[2] = {42, 0}, step = 3, *x = malloc(sizeof(double) * (size_t)n), *y = calloc((size_t)n, sizeof(double));
  double *h = malloc(sizeof(double) * (size_t)n), loss;
  for (int64_t i = 0; i < n; i++)
    x[i] = 1 + (double)(i % 7);
  double *globals[2] = {seed, &step}, *ins[2] = {x, y}, *outs[2] = {&loss, h};
  EXPECT(!strcmp(m->globals[0].name, "rng.seed") && !strcmp(m->globals[1].name, "opt.step"), "globals moved");
  char err[200];
  for (int mode = 0; mode < 2; mode++) {
    bool ok = ir_interp(ir_func_find(m, mode ? IR_FN_LOSS : IR_FN_EVAL), syms, globals, ins, outs, err, sizeof err);
    EXPECT(ok, "%s", err);
    int64_t zeros = 0, scaled = 0, same = 0;
    for (int64_t i = 0; i < n; i++) {
      zeros += h[i] == 0;
      scaled += fabs(h[i] - x[i] / 0.7) < 1e-12;
      same += h[i] == x[i];
    }
    if (mode == 0)
      EXPECT(same == n, "eval_step changed %lld of %lld elements", (long long)(n - same), (long long)n);
    else
      EXPECT(fabs((double)zeros / (double)n - 0.3) < 0.01 && zeros + scaled == n,
             "loss_step: %lld zeros, %lld scaled of %lld", (long long)zeros, (long long)scaled, (long long)n);
  }
  free(x), free(y), free(h);
}

static const char train_nn[] = "model seq {\n"
                               "  input ids: i32[B, 6]\n"
                               "  input y: i32[B]\n"
                               "  e = embedding(ids, 50, 8) |> dropout(0.4)\n"
                               "  h = dense(flatten(e), 16, activation: relu) |> dropout(0.2)\n"
                               "  logits = dense(h, 4)\n"
                               "  output logits\n"
                               "  minimize cross_entropy(logits, y)\n"
                               "}\n";

/* train_step (autodiff through loss_step, simplify, fuse) against the
 * interpreter for three steps: forward masks, their regenerated copies in
 * the backward pass, the scatter-add into the table and the step counter.
 * Planned at batch 2 or 1 (a train block appended) and run at 16 or 9, the
 * workspace takes the split layout (codegen/memplan.c): the table's
 * gradient and the weights' once, the batch-sized values 8 or 9 times,
 * every in-place pair of the one-arena plan kept. (Planned at batch 1, the
 * plan used to keep one slot per size class: a batch sym bound to 1 was
 * taken for one the plan cannot know.) */
static void test_train_step(void) {
  static const struct {
    int planned; /* the train block's batch, 0: none (64) */
    int64_t run;
    bool split;
  } cases[] = {{0, 9, false}, {2, 16, true}, {1, 9, true}};
  for (int variant = 0; variant < 6; variant++) {
    int fused = variant & 1, c = variant / 2;
    Diag d;
    diag_init(&d, stdout);
    const char *block = "%strain {\n  optimizer adam(lr: 1e-3)\n  batch %d\n}\n";
    const char *text = cases[c].planned ? arena_printf(t_arena(), block, train_nn, cases[c].planned) : train_nn;
    FeModel *fm = fe_compile(t_arena(), &d, "seq.nn", text, strlen(text));
    PassCtx pc = {.diag = &d, .verify = true};
    bool ok = fm && pass_run_pipeline(fm->mod, pass_default_pipeline, pass_default_pipeline_len, &pc);
    EXPECT(ok, "seq.nn does not compile");
    if (!ok) return;
    t_set_fused(fm->mod, fused);
    /* Labels and ids share label_max: ids in [0, 4) of 50 rows, labels of 4
     * classes. The seed words are the same draws. */
    CheckOpts o = {.fn = IR_FN_TRAIN, .syms = {cases[c].run}, .label_max = 4, .steps = 3, .tol = 1e-3};
    char name[80];
    snprintf(name, sizeof name, "seq train_step%s, planned at %d, run at %lld", fused ? " (fused)" : "",
             cases[c].planned ? cases[c].planned : 64, (long long)cases[c].run);
    EXPECT(cg_check(fm->mod, &o, name), "%s", name);
    int64_t syms[CG_MAX_SYMS] = {cases[c].run};
    EXPECT(t_split_layout(fm->mod, IR_FN_TRAIN, syms) == cases[c].split, "%s: the split layout is %staken", name,
           cases[c].split ? "not " : "");
  }
}

void test_gather(void) {
  test_embedding();
  test_dropout();
  test_modes();
  test_train_step();
}
