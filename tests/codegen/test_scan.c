/* test_scan.c — scans in the CPU backend against the interpreter: a plain
 * RNN forward and reverse, a two-carry LSTM-like cell with an unread output,
 * their train_step (the autodiff pass's forward body and reverse backward
 * scan, through the optimizer; also with scan-hoist's weight gradients
 * summed after the backward scan), fused and unfused, and the claim that the
 * IR does not grow with the sequence length (tests/e2e/scan_length.sh
 * checks the binary). */
#include <string.h>

#include "harness.h"
#include "passes/passes.h"

/* An RNN over xs: f32[T,B,3], h' = tanh(h @ u + x_t), returning the sum
 * of squares of every h (and the last h). */
static const char *rnn_text(int T, int reverse, char *buf, size_t len) {
  snprintf(buf, len,
           "module rnn\nsym B\nparam @u : f32[3,3] = glorot_uniform(3, 3)\n"
           "func cell(%%h: f32[B,3], %%x: f32[B,3], %%u: f32[3,3]) -> (f32[B,3], f32[B,3]) {\n"
           "  %%m = matmul %%h, %%u {ta=0, tb=0} : f32[B,3]\n  %%a = add %%m, %%x : f32[B,3]\n"
           "  %%hn = tanh %%a : f32[B,3]\n  return %%hn, %%hn\n}\n"
           "func eval_step(%%xs: f32[%d,B,3]) -> (f32[], f32[B,3]) {\n"
           "  %%u = global @u : f32[3,3]\n  %%h0 = const {value=0.5} : f32[B,3]\n"
           "  %%s = scan %%h0, %%xs, %%u {body=@cell, carries=1, seqs=1, reverse=%d}\n"
           "  %%hT = scan_out %%s {result=0} : f32[B,3]\n  %%ys = scan_out %%s {result=1} : f32[%d,B,3]\n"
           "  %%sq = mul %%ys, %%ys : f32[%d,B,3]\n  %%l = sum %%sq {axes=[0,1,2], keepdims=0} : f32[]\n"
           "  %%l2 = sum %%hT {axes=[0,1], keepdims=0} : f32[]\n  %%lt = add %%l, %%l2 : f32[]\n"
           "  return %%lt, %%hT\n}\n",
           T, reverse, T, T);
  return buf;
}

/* Two carries (h, c), a sequence and two constants; the cell's second
 * output (c') is read by nothing: it goes to scratch. */
static const char *lstmish =
    "module lstmish\nsym B\nparam @u : f32[2,8] = glorot_uniform(2, 8)\n"
    "param @b : f32[8] = zeros\n"
    "func cell(%h: f32[B,2], %c: f32[B,2], %x: f32[B,8], %u: f32[2,8]) -> (f32[B,2], f32[B,2], f32[B,2], f32[B,2]) {\n"
    "  %m = matmul %h, %u {ta=0, tb=0} : f32[B,8]\n  %z = add %m, %x : f32[B,8]\n"
    "  %i = slice %z {axis=1, start=0, end=2} : f32[B,2]\n  %f = slice %z {axis=1, start=2, end=4} : f32[B,2]\n"
    "  %g = slice %z {axis=1, start=4, end=6} : f32[B,2]\n  %o = slice %z {axis=1, start=6, end=8} : f32[B,2]\n"
    "  %si = sigmoid %i : f32[B,2]\n  %sf = sigmoid %f : f32[B,2]\n  %tg = tanh %g : f32[B,2]\n"
    "  %so = sigmoid %o : f32[B,2]\n  %fc = mul %sf, %c : f32[B,2]\n  %ig = mul %si, %tg : f32[B,2]\n"
    "  %cn = add %fc, %ig : f32[B,2]\n  %tc = tanh %cn : f32[B,2]\n  %hn = mul %so, %tc : f32[B,2]\n"
    "  return %hn, %cn, %hn, %cn\n}\n"
    "func eval_step(%x: f32[B,6,8], %y: i32[B]) -> (f32[], f32[B,2]) {\n"
    "  %u = global @u : f32[2,8]\n  %b = global @b : f32[8]\n"
    "  %xt = transpose %x {perm=[1,0,2]} : f32[6,B,8]\n"
    "  %xp = add %xt, %b : f32[6,B,8]\n"
    "  %z = const {value=0} : f32[B,2]\n"
    "  %s = scan %z, %z, %xp, %u {body=@cell, carries=2, seqs=1, reverse=0}\n"
    "  %hT = scan_out %s {result=0} : f32[B,2]\n  %hs = scan_out %s {result=2} : f32[6,B,2]\n"
    "  %hm = mean %hs {axes=[0], keepdims=0} : f32[B,2]\n  %lg = add %hT, %hm : f32[B,2]\n"
    "  %ls = log_softmax %lg {axis=1} : f32[B,2]\n  %oh = onehot %y : f32[B,2]\n"
    "  %p = mul %ls, %oh : f32[B,2]\n  %sp = sum %p {axes=[0,1], keepdims=0} : f32[]\n"
    "  %l = neg %sp : f32[]\n  return %l, %hT\n}\n";

/* m with train_step, built by autodiff, simplify and fuse; with hoist,
 * scan-hoist before fuse too (the weight gradient's sum after the backward
 * scan, a batch of products and a sum), which must then apply. */
static IrModule *with_train_hoisted(const char *text, bool hoist) {
  IrModule *m = t_parse(text);
  if (!m) return NULL;
  PassCtx ctx = {.diag = NULL, .verify = true};
  Diag d;
  diag_init(&d, stderr);
  ctx.diag = &d;
  const char *passes[] = {"autodiff", "simplify", hoist ? "scan-hoist" : "dce", "fuse"};
  bool ok = pass_run_pipeline(m, passes, 4, &ctx);
  EXPECT(ok, "autodiff, simplify, %s and fuse run on %s", passes[2], m->name);
  const IrFunc *t = ir_func_find(m, IR_FN_TRAIN);
  int hoisted = 0; /* the product batches over the steps: rank-3 matmuls summed */
  for (int i = 0; ok && t && i < t->n; i++)
    hoisted += t->nodes[i].op == OP_SUM && t->nodes[t->nodes[i].args[0]].op == OP_MATMUL &&
               t->nodes[t->nodes[i].args[0]].ty.sh.rank == 3;
  if (hoist) EXPECT(hoisted > 0, "scan-hoist moves %s's weight gradient out of the backward scan", m->name);
  return ok ? m : NULL;
}

static IrModule *with_train(const char *text) { return with_train_hoisted(text, false); }

static void check_module(IrModule *m, const char *what) {
  char name[128];
  for (int fused = 0; fused < 2; fused++) {
    t_set_fused(m, fused);
    snprintf(name, sizeof name, "%s eval_step%s", what, fused ? " (fused)" : "");
    EXPECT(cg_check(m, &(CheckOpts){.fn = IR_FN_EVAL, .syms = {3}, .label_max = 2}, name), "%s", name);
    snprintf(name, sizeof name, "%s train_step%s", what, fused ? " (fused)" : "");
    EXPECT(cg_check(m, &(CheckOpts){.fn = IR_FN_TRAIN, .syms = {3}, .label_max = 2, .steps = 2}, name), "%s", name);
  }
}

/* IR nodes in all of m's functions. */
static size_t module_nodes(const IrModule *m) {
  size_t n = 0;
  for (int i = 0; i < m->nfuncs; i++) n += (size_t)m->funcs[i]->n;
  return n;
}

void test_scan(void) {
  char buf[4096];
  for (int rev = 0; rev < 2; rev++) {
    IrModule *m = with_train(rnn_text(5, rev, buf, sizeof buf));
    if (m) check_module(m, rev ? "rnn reverse" : "rnn");
  }
  /* Many globals: the body's argument array starts with a slot per global. */
  char many[16384];
  const char *rnn = rnn_text(3, 0, buf, sizeof buf), *cut = strstr(rnn, "func cell");
  int len = (int)(cut - rnn);
  snprintf(many, sizeof many, "%.*s", len, rnn);
  for (int i = 0; i < 150; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "param @p%d : f32[2] = zeros\n", i);
  snprintf(many + strlen(many), sizeof many - strlen(many), "%s", cut);
  IrModule *mg = with_train(many);
  if (mg) check_module(mg, "rnn in a module of 150 more globals");
  IrModule *m1 = with_train(rnn_text(1, 0, buf, sizeof buf));
  if (m1) check_module(m1, "rnn of one step");
  IrModule *m = with_train(lstmish);
  if (m) check_module(m, "lstm-like cell");
  for (int rev = 0; rev < 2; rev++) {
    IrModule *h = with_train_hoisted(rnn_text(5, rev, buf, sizeof buf), true);
    if (h) check_module(h, rev ? "rnn reverse, scan-hoist" : "rnn, scan-hoist");
  }
  IrModule *h1 = with_train_hoisted(rnn_text(1, 0, buf, sizeof buf), true);
  if (h1) check_module(h1, "rnn of one step, scan-hoist");
  IrModule *hl = with_train_hoisted(lstmish, true);
  if (hl) check_module(hl, "lstm-like cell, scan-hoist");
  /* The sequence length is a number in a type, not a count of nodes. */
  IrModule *a = with_train(rnn_text(50, 0, buf, sizeof buf));
  IrModule *b = with_train(rnn_text(500, 0, buf, sizeof buf));
  EXPECT(a && b && module_nodes(a) == module_nodes(b), "IR nodes at T=50: %zu, T=500: %zu", a ? module_nodes(a) : 0,
         b ? module_nodes(b) : 0);
}
