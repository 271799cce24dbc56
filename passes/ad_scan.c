/* ad_scan.c — reverse mode through a scan (see ir/scan.c for the op).
 *
 * For S = scan(c, x, p) {body=F} with per-step carries c_t and outputs y_t,
 *
 *   c_{t+1}, y_t = F(c_t, x_t, p)
 *
 * the backward pass is itself one scan, walking the steps the other way:
 *
 *   gc_t, dx_t, dp_t = VJP of F at (c_t, x_t, p), given (gc_{t+1}, gy_t)
 *   gp = sum_t dp_t                       (a carry of the backward scan)
 *
 * It needs c_t at every step, so the forward scan switches to F.fwd: F that
 * also returns its input carries, which the scan stacks as extra outputs
 * (memory T x carry size; the cell's inner values are recomputed in the
 * backward body instead of stored: one more cell forward per step). F.bwd
 * is built by cloning F and running the VJP rules on the clone
 * (ad_grad_seeded), so anything a body may compute is differentiable.
 * Neither function grows with T: a 500-step scan has the same IR as a
 * 50-step one.
 *
 * F.bwd(gc[k], gp[np], gy[ny], c_t[k], x_t[m], p[np])
 *      -> (gc_t[k], gp + dp_t[np], dx_t[m])        reverse of S
 */
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"

static int input_node(const IrFunc *f, int k) {
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_INPUT && f->nodes[i].at.index == k) return i;
  unreachable("scan body without input k");
}

static const char *derived_name(IrModule *m, const char *base, const char *suffix) {
  size_t n = strlen(base) + strlen(suffix) + 1;
  char *s = arena_alloc(m->arena, n);
  snprintf(s, n, "%s%s", base, suffix);
  return s;
}

/* F.fwd: F, then F's carry inputs as extra results. */
static const IrFunc *forward_body(IrModule *m, const IrFunc *F, int ncarry) {
  const char *name = derived_name(m, F->name, ".fwd");
  const IrFunc *old = ir_func_find(m, name);
  if (old) return old;
  IrFunc *g = ir_func_clone(m, F, name);
  for (int i = 0; i < ncarry; i++) ir_ret(g, input_node(g, i));
  return g;
}

/* F.bwd, as in the header comment. */
static const IrFunc *backward_body(IrModule *m, const IrFunc *F, int k, int sq, int np) {
  const char *name = derived_name(m, F->name, ".bwd");
  const IrFunc *old = ir_func_find(m, name);
  if (old) return old;
  IrFunc *B = ir_func_new(m, name);
  int ny = F->nrets - k, nin = k + sq + np;
  int *gc = malloc(sizeof(int) * (size_t)(k + 1)), *gp = malloc(sizeof(int) * (size_t)(np + 1));
  int *gy = malloc(sizeof(int) * (size_t)(ny + 1)), *fin = malloc(sizeof(int) * (size_t)(nin + 1));
  int *map = malloc(sizeof(int) * (size_t)(F->n + 1));
  int *ys = malloc(sizeof(int) * (size_t)(F->nrets + 1)), *seeds = malloc(sizeof(int) * (size_t)(F->nrets + 1));
  int *grads = malloc(sizeof(int) * (size_t)(nin + 1));
  if (!gc || !gp || !gy || !fin || !map || !ys || !seeds || !grads) unreachable("out of memory");
  char buf[64];
  for (int i = 0; i < k; i++)
    snprintf(buf, sizeof buf, "gc%d", i), gc[i] = ir_input(B, buf, F->nodes[input_node(F, i)].ty, (Loc){0});
  for (int l = 0; l < np; l++)
    snprintf(buf, sizeof buf, "gp%d", l), gp[l] = ir_input(B, buf, F->nodes[input_node(F, k + sq + l)].ty, (Loc){0});
  for (int j = 0; j < ny; j++)
    snprintf(buf, sizeof buf, "gy%d", j), gy[j] = ir_input(B, buf, F->nodes[F->rets[k + j]].ty, (Loc){0});
  for (int a = 0; a < nin; a++) {
    const IrNode *in = &F->nodes[input_node(F, a)];
    fin[a] = ir_input(B, in->name ? in->name : "in", in->ty, in->loc);
  }
  for (int i = 0; i < F->n; i++) {
    IrNode n = F->nodes[i];
    if (n.op == OP_INPUT) {
      map[i] = fin[n.at.index];
      continue;
    }
    for (int a = 0; a < n.nargs; a++) n.args[a] = map[n.args[a]];
    n.group = -1;
    map[i] = ir_append(B, &n);
  }
  for (int r = 0; r < F->nrets; r++) ys[r] = map[F->rets[r]], seeds[r] = r < k ? gc[r] : gy[r - k];
  ad_grad_seeded(B, ys, seeds, F->nrets, fin, nin, grads);
  for (int i = 0; i < k; i++) ir_ret(B, grads[i]);
  for (int l = 0; l < np; l++) ir_ret(B, ir_op2(B, OP_ADD, gp[l], grads[k + sq + l], (Loc){0}));
  for (int x = 0; x < sq; x++) ir_ret(B, grads[k + x]);
  free(gc), free(gp), free(gy), free(fin), free(map), free(ys), free(seeds), free(grads);
  return B;
}

static int scan_out(AdCtx *c, int scan, int result) {
  return ad_opn(c, OP_SCAN_OUT, &scan, 1, &(Attrs){.index = result});
}

void ad_scan_vjp(AdCtx *c, const IrNode *S, const int *cot, int *grads) {
  IrFunc *f = c->f;
  IrModule *m = f->mod;
  const IrFunc *F = ir_scan_body(m, &S->at);
  int k = S->at.ncarry, sq = S->at.nseq, np = S->nargs - k - sq, ny = F->nrets - k;
  if (2 * k + 2 * np + ny + sq > IR_MAX_ARGS)
    unreachable("a scan too wide to differentiate (raise IR_MAX_ARGS)");
  const IrFunc *Fa = forward_body(m, F, k);
  const IrFunc *B = backward_body(m, F, k, sq, np);
  f->nodes[c->self].at.body = Fa->name; /* the same results, plus the carries */

  int args[IR_MAX_ARGS], na = 0;
  for (int i = 0; i < k; i++) args[na++] = cot && cot[i] >= 0 ? cot[i] : ad_zeros(c, ad_type(c, S->args[i]));
  for (int l = 0; l < np; l++) args[na++] = ad_zeros(c, ad_type(c, S->args[k + sq + l]));
  for (int j = 0; j < ny; j++) {
    if (cot && cot[k + j] >= 0) {
      args[na++] = cot[k + j];
    } else {
      Type t;
      char err[128];
      if (!ir_scan_result_type(f, c->self, k + j, &t, err, sizeof err)) unreachable("scan result type");
      args[na++] = ad_zeros(c, &t);
    }
  }
  for (int i = 0; i < k; i++) args[na++] = scan_out(c, c->self, F->nrets + i); /* c_t, stacked */
  for (int x = 0; x < sq; x++) args[na++] = S->args[k + x];
  for (int l = 0; l < np; l++) args[na++] = S->args[k + sq + l];
  Attrs at = {.body = B->name, .ncarry = k + np, .nseq = ny + k + sq, .reverse = !S->at.reverse};
  int R = ad_opn(c, OP_SCAN, args, na, &at);
  for (int i = 0; i < k; i++) grads[i] = scan_out(c, R, i);
  for (int l = 0; l < np; l++) grads[k + sq + l] = scan_out(c, R, k + l);
  for (int x = 0; x < sq; x++) grads[k + x] = scan_out(c, R, k + np + x);
}
