/* test_rows.c — row kernels (ir/groups.c's row groups, k_reduce.c) against
 * the interpreter, on hand-written groups: several roots along one row axis,
 * members that read a root, exports of the domain's shape and of one value
 * per row, rows along an axis that is not the last, and a row of one.
 * Each case runs at -O0 and -O2 as written, then with the groups removed
 * (every node a kernel of its own); hk_grain cuts the parallel rows into
 * odd chunks in one of the runs. */
#include "harness.h"

/* Cross-entropy forward and backward as autodiff and fuse leave them: one
 * kernel of three passes over each row of logits, exporting the per-row
 * loss, the log-probabilities and the logits' gradient. */
static const char ce[] = "module ce\n"
                         "sym B\n"
                         "func forward(%z: f32[B,7], %y: i32[B]) -> (f32[B], f32[B,7], f32[B,7]) {\n"
                         "  %lp = log_softmax %z {axis=1, group=0} : f32[B,7]\n"
                         "  %oh = onehot %y : f32[B,7]\n"
                         "  %t = mul %lp, %oh {group=0} : f32[B,7]\n"
                         "  %l = sum %t {axes=[1], keepdims=0, group=0} : f32[B]\n"
                         "  %n = dim %l {axis=0} : f32[]\n"
                         "  %c = const {value=-1} : f32[1]\n"
                         "  %s = div %c, %n {group=0} : f32[1]\n"
                         "  %g = mul %s, %oh {group=0} : f32[B,7]\n"
                         "  %gs = sum %g {axes=[1], keepdims=1, group=0} : f32[B,1]\n"
                         "  %e = exp %lp {group=0} : f32[B,7]\n"
                         "  %p = mul %e, %gs {group=0} : f32[B,7]\n"
                         "  %dz = sub %g, %p {group=0} : f32[B,7]\n"
                         "  return %l, %lp, %dz\n"
                         "}\n";

/* Layer normalisation over the last axis of [B,T,D]: mean, centred
 * values, variance (a root reading a member that reads a root), exported
 * per-row (the inverse deviation) and full-row values. */
static const char ln[] = "module ln\n"
                         "sym B\n"
                         "func forward(%x: f32[B,3,10], %w: f32[10]) -> (f32[B,3,10], f32[B,3,1], f32[B,3]) {\n"
                         "  %m = mean %x {axes=[2], keepdims=1, group=0} : f32[B,3,1]\n"
                         "  %c = sub %x, %m {group=0} : f32[B,3,10]\n"
                         "  %q = mul %c, %c {group=0} : f32[B,3,10]\n"
                         "  %v = mean %q {axes=[2], keepdims=1, group=0} : f32[B,3,1]\n"
                         "  %eps = const {value=1e-05} : f32[]\n"
                         "  %ve = add %v, %eps {group=0} : f32[B,3,1]\n"
                         "  %sd = sqrt %ve {group=0} : f32[B,3,1]\n"
                         "  %n = div %c, %sd {group=0} : f32[B,3,10]\n"
                         "  %h = mul %n, %w {group=0} : f32[B,3,10]\n"
                         "  %mx = max %h {axes=[2], keepdims=0, group=0} : f32[B,3]\n"
                         "  return %h, %sd, %mx\n"
                         "}\n";

/* Rows along axis 0 of [5,B] (the kernel walks them strided), a softmax
 * and a sum over that axis, and a group without roots whose exports
 * include one value per row. */
static const char cols[] = "module cols\n"
                           "sym B\n"
                           "func forward(%x: f32[5,B], %r: f32[1,B]) -> (f32[5,B], f32[1,B], f32[1,B], f32[5,B]) {\n"
                           "  %a = tanh %x {group=0} : f32[5,B]\n"
                           "  %s = softmax %a {axis=0, group=0} : f32[5,B]\n"
                           "  %t = sum %s {axes=[0], keepdims=1, group=0} : f32[1,B]\n"
                           "  %u = mul %s, %t {group=0} : f32[5,B]\n"
                           "  %k = exp %r {group=1} : f32[1,B]\n"
                           "  %j = add %x, %k {group=1} : f32[5,B]\n"
                           "  return %u, %t, %k, %j\n"
                           "}\n";

/* A row of one element (a static 1 has no loop of its own). */
static const char one[] = "module one\n"
                          "sym B\n"
                          "func forward(%x: f32[B,1]) -> (f32[B,1], f32[B,1]) {\n"
                          "  %e = exp %x {group=0} : f32[B,1]\n"
                          "  %s = log_softmax %e {axis=1, group=0} : f32[B,1]\n"
                          "  %m = mean %e {axes=[1], keepdims=1, group=0} : f32[B,1]\n"
                          "  %d = sub %s, %m {group=0} : f32[B,1]\n"
                          "  return %d, %m\n"
                          "}\n";

static void ungroup(IrModule *m) {
  for (int i = 0; i < m->nfuncs; i++)
    for (int j = 0; j < m->funcs[i]->n; j++)
      m->funcs[i]->nodes[j].group = -1;
}

static void check_rows(const char *text, const char *name, int kernels, int label_max) {
  IrModule *m = t_parse(text);
  if (!m) return;
  Diag d;
  diag_init(&d, stdout);
  EXPECT(ir_verify(m, &d), "%s: the hand-written groups do not verify", name);
  int nk = t_kernels(m, IR_FN_FORWARD, NULL);
  EXPECT(nk == kernels, "%s: %d kernels, expected %d", name, nk, kernels);
  char buf[128];
  CheckOpts o = {.syms = {6}, .label_max = label_max, .opt = 0, .opt_set = true};
  snprintf(buf, sizeof buf, "%s (rows, -O0)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
  o.opt = 2;
  hk_grain = 1; /* every row its own chunk */
  snprintf(buf, sizeof buf, "%s (rows, -O2, chunks of one row)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
  hk_grain = 0;
  ungroup(m);
  snprintf(buf, sizeof buf, "%s (a kernel per node)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
}

void test_rows(void) {
  check_rows(ce, "cross-entropy forward and backward", 2, 7); /* the row kernel and onehot */
  check_rows(ln, "layer norm over [B,3,10]", 1, 4);
  check_rows(cols, "rows along axis 0", 2, 4);
  check_rows(one, "rows of one element", 1, 4);
}
