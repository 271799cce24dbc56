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
 * also returns its input carries, which the scan stacks as extra outputs,
 * and its products of two inputs (h @ u), the costly part of a cell. The
 * backward body reads those and recomputes the cheap elementwise rest. F.bwd
 * is built by cloning F and running the VJP rules on the clone
 * (ad_grad_seeded), so anything a body may compute is differentiable.
 * Neither function grows with T: a 500-step scan has the same IR as a
 * 50-step one.
 *
 * F.bwd(gc[k], gp[np], gy[ny], c_t[k], products_t, x_t[m'], p[np])
 *      -> (gc_t[k], gp + dp_t[np], dx_t[m])        reverse of S
 *
 * where x_t[m'] are the sequences F.bwd reads: a sequence only summed with
 * a stored product (stored_products) is not among them.
 */
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"

static int input_node(const IrFunc *f, int k) {
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_INPUT && f->nodes[i].at.index == k) return i;
  unreachable("scan body without input k");
}

/* F.fwd, F.bwd: derived once per body and reused by every scan of it. A
 * body scanned with another split of its inputs into sequences and
 * constants (a hand-written module may) gets its own, F.fwd.s2 say. */
static const char *derived_name(IrModule *m, const char *base, const char *suffix, int nseq) {
  size_t n = strlen(base) + strlen(suffix) + 16;
  char *s = arena_alloc(m->arena, n);
  if (nseq == 1) snprintf(s, n, "%s%s", base, suffix);
  else snprintf(s, n, "%s%s.s%d", base, suffix, nseq);
  return s;
}

/* The body values the backward pass reads instead of recomputing: F's
 * matrix products of two inputs (in a cell, h @ u: the costly part;
 * elementwise values are cheaper to recompute than to store). A product
 * read only by its sum with a sequence input of its type (a cell's
 * x_t W + h @ u: the gates before their activations) is stored as that sum
 * instead: the same bytes per step, and then the backward scan need not
 * read the sequence at all when nothing else does (summed_sequence), so the
 * stacked x W dies with the forward scan instead of living through the
 * backward one. Writes their node ids to mm when non-NULL; returns their
 * number, or 0 when the backward scan would have more operands than
 * IR_MAX_ARGS (then everything is recomputed). */
static bool stored_product(const IrFunc *F, int i) {
  const IrNode *n = &F->nodes[i];
  return n->op == OP_MATMUL && F->nodes[n->args[0]].op == OP_INPUT && F->nodes[n->args[1]].op == OP_INPUT;
}

/* How many times node v is an operand in F or one of F's results. */
static int reads_of(const IrFunc *F, int v) {
  int n = 0;
  for (int i = v + 1; i < F->n; i++)
    for (int a = 0; a < F->nodes[i].nargs; a++) n += F->nodes[i].args[a] == v;
  for (int r = 0; r < F->nrets; r++) n += F->rets[r] == v;
  return n;
}

/* For product p: the add that is its only reader, p + x with x a sequence
 * input (index in [k, k + sq)) of p's type, or -1. */
static int summed_sequence(const IrFunc *F, int k, int sq, int p) {
  if (reads_of(F, p) != 1) return -1;
  for (int i = p + 1; i < F->n; i++) {
    const IrNode *n = &F->nodes[i];
    if (n->op != OP_ADD || (n->args[0] != p && n->args[1] != p)) continue;
    const IrNode *x = &F->nodes[n->args[0] == p ? n->args[1] : n->args[0]];
    bool seq = x->op == OP_INPUT && x->at.index >= k && x->at.index < k + sq;
    return seq && n->args[0] != n->args[1] && ir_type_eq(&x->ty, &F->nodes[p].ty) && ir_type_eq(&n->ty, &x->ty) ? i
                                                                                                               : -1;
  }
  return -1;
}

/* The product of stored value s: s itself, or the product s sums. */
static int stored_matmul(const IrFunc *F, int s) {
  const IrNode *n = &F->nodes[s];
  return n->op == OP_MATMUL ? s : F->nodes[n->args[0]].op == OP_MATMUL ? n->args[0] : n->args[1];
}

static int stored_products(const IrFunc *F, int k, int sq, int width, int *mm) {
  int n = 0;
  for (int i = 0; i < F->n; i++) n += stored_product(F, i);
  if (width + n > IR_MAX_ARGS) return 0;
  if (mm)
    for (int i = 0, q = 0; i < F->n; i++)
      if (stored_product(F, i)) {
        int sum = summed_sequence(F, k, sq, i);
        mm[q++] = sum >= 0 ? sum : i;
      }
  return n;
}

/* Whether the backward body reads sequence x (input k + x) of F: F reads it
 * elsewhere than in a stored sum, or returns it. */
static bool sequence_read(const IrFunc *F, int k, int x, int nmm, const int *mm) {
  int in = input_node(F, k + x), n = reads_of(F, in);
  for (int q = 0; q < nmm; q++)
    if (mm[q] != stored_matmul(F, mm[q]))
      for (int a = 0; a < 2; a++) n -= F->nodes[mm[q]].args[a] == in;
  return n > 0;
}

/* F.fwd: F, then F's carry inputs and stored products as extra results. */
static const IrFunc *forward_body(IrModule *m, const IrFunc *F, int ncarry, int sq, int nmm, const int *mm) {
  const char *name = derived_name(m, F->name, ".fwd", sq);
  const IrFunc *old = ir_func_find(m, name);
  if (old) return old;
  IrFunc *g = ir_func_clone(m, F, name);
  for (int i = 0; i < ncarry; i++) ir_ret(g, input_node(g, i));
  for (int i = 0; i < nmm; i++) ir_ret(g, mm[i]);
  return g;
}

/* F.bwd, as in the header comment, with the stored products as sequences
 * after the carries c_t, and only the sequences x_t it reads (seq_read). */
static const IrFunc *backward_body(IrModule *m, const IrFunc *F, int k, int sq, int np, int nmm, const int *mm,
                                   const bool *seq_read) {
  const char *name = derived_name(m, F->name, ".bwd", sq);
  const IrFunc *old = ir_func_find(m, name);
  if (old) return old;
  IrFunc *B = ir_func_new(m, name);
  int ny = F->nrets - k, nin = k + sq + np;
  int *gc = malloc(sizeof(int) * (size_t)(k + 1)), *gp = malloc(sizeof(int) * (size_t)(np + 1));
  int *gy = malloc(sizeof(int) * (size_t)(ny + 1)), *fin = malloc(sizeof(int) * (size_t)(nin + nmm + 1));
  int *map = malloc(sizeof(int) * (size_t)(F->n + 1)), *stored = malloc(sizeof(int) * (size_t)(nmm + 1));
  int *ys = malloc(sizeof(int) * (size_t)(F->nrets + 1)), *seeds = malloc(sizeof(int) * (size_t)(F->nrets + 1));
  int *grads = malloc(sizeof(int) * (size_t)(nin + nmm + 1)), *wrt = malloc(sizeof(int) * (size_t)(nin + nmm + 1));
  if (!gc || !gp || !gy || !fin || !map || !stored || !ys || !seeds || !grads || !wrt) unreachable("out of memory");
  char buf[64];
  for (int i = 0; i < k; i++)
    snprintf(buf, sizeof buf, "gc%d", i), gc[i] = ir_input(B, buf, F->nodes[input_node(F, i)].ty, (Loc){0});
  for (int l = 0; l < np; l++)
    snprintf(buf, sizeof buf, "gp%d", l), gp[l] = ir_input(B, buf, F->nodes[input_node(F, k + sq + l)].ty, (Loc){0});
  for (int j = 0; j < ny; j++)
    snprintf(buf, sizeof buf, "gy%d", j), gy[j] = ir_input(B, buf, F->nodes[F->rets[k + j]].ty, (Loc){0});
  for (int a = 0; a < nin; a++) {
    const IrNode *in = &F->nodes[input_node(F, a)];
    bool unread = a >= k && a < k + sq && !seq_read[a - k];
    fin[a] = unread ? -1 : ir_input(B, in->name ? in->name : "in", in->ty, in->loc);
    for (int q = 0; a == k - 1 && q < nmm; q++) /* the stored products follow the carries */
      snprintf(buf, sizeof buf, "stored%d", q), stored[q] = ir_input(B, buf, F->nodes[mm[q]].ty, (Loc){0});
  }
  for (int i = 0; i < F->n; i++) {
    IrNode n = F->nodes[i];
    if (n.op == OP_INPUT) {
      map[i] = fin[n.at.index];
      continue;
    }
    int q = 0;
    while (q < nmm && mm[q] != i) q++;
    if (q < nmm) { /* read, not recomputed: its VJP is applied below */
      map[i] = stored[q];
      continue;
    }
    for (q = 0; q < nmm && !(mm[q] != i && stored_matmul(F, mm[q]) == i); q++) {
    }
    if (q < nmm) { /* a stored sum's product: read by that sum alone */
      map[i] = -1;
      continue;
    }
    for (int a = 0; a < n.nargs; a++) n.args[a] = map[n.args[a]];
    n.group = n.slot = n.offset = -1;
    map[i] = ir_append(B, &n);
  }
  for (int r = 0; r < F->nrets; r++) ys[r] = map[F->rets[r]], seeds[r] = r < k ? gc[r] : gy[r - k];
  for (int q = 0; q < nmm; q++) fin[nin + q] = stored[q];
  /* Gradients for the inputs B has (an unread sequence's comes from the
   * stored sums below alone). */
  int nw = 0;
  for (int a = 0; a < nin + nmm; a++)
    if (fin[a] >= 0) wrt[nw++] = fin[a];
  ad_grad_seeded(B, ys, seeds, F->nrets, wrt, nw, grads + nin + nmm - nw);
  for (int a = 0, w = nin + nmm - nw; a < nin + nmm; a++)
    grads[a] = fin[a] >= 0 ? grads[w++] : -1;
  /* A stored sum's gradient goes to its sequence input as it is, and on
   * through the product; a stored product's to its operands, inputs of F. */
  for (int q = 0; q < nmm; q++) {
    if (mm[q] != stored_matmul(F, mm[q])) {
      const IrNode *sum = &F->nodes[mm[q]];
      int x = F->nodes[sum->args[0] == stored_matmul(F, mm[q]) ? sum->args[1] : sum->args[0]].at.index;
      grads[x] = grads[x] >= 0 ? ir_op2(B, OP_ADD, grads[x], grads[nin + q], sum->loc) : grads[nin + q];
    }
    IrNode n = F->nodes[stored_matmul(F, mm[q])];
    int src[2] = {F->nodes[n.args[0]].at.index, F->nodes[n.args[1]].at.index};
    n.args[0] = fin[src[0]], n.args[1] = fin[src[1]];
    AdCtx c = {.f = B, .self = -1, .need = {true, true}, .loc = n.loc};
    int og[IR_MAX_ARGS] = {-1, -1};
    ad_vjp[OP_MATMUL](&c, &n, grads[nin + q], og);
    for (int a = 0; a < 2; a++) grads[src[a]] = ir_op2(B, OP_ADD, grads[src[a]], og[a], n.loc);
  }
  for (int i = 0; i < k; i++) ir_ret(B, grads[i]);
  for (int l = 0; l < np; l++) ir_ret(B, ir_op2(B, OP_ADD, gp[l], grads[k + sq + l], (Loc){0}));
  for (int x = 0; x < sq; x++) ir_ret(B, grads[k + x]);
  free(gc), free(gp), free(gy), free(fin), free(map), free(stored), free(ys), free(seeds), free(grads), free(wrt);
  return B;
}

static int scan_out(AdCtx *c, int scan, int result) {
  return ad_opn(c, OP_SCAN_OUT, &scan, 1, &(Attrs){.index = result});
}

/* The backward scan's operands before stored products: 2k + 2n + j + m. */
static int backward_width(const IrModule *m, const IrNode *S) {
  int k = S->at.ncarry, sq = S->at.nseq, np = S->nargs - k - sq, ny = ir_scan_nresults(m, S) - k;
  return 2 * k + 2 * np + ny + sq;
}

bool ad_scans_differentiable(const IrFunc *f, Diag *d) {
  bool ok = true;
  for (int i = 0; i < f->n; i++) {
    const IrNode *S = &f->nodes[i];
    if (S->op != OP_SCAN || backward_width(f->mod, S) <= IR_MAX_ARGS) continue;
    diag_error(d, S->loc,
               "autodiff: this scan's backward scan would take %d operands (2 per carry and constant, 1 per output "
               "and sequence), more than the %d an op may have",
               backward_width(f->mod, S), IR_MAX_ARGS);
    ok = false;
  }
  return ok;
}

void ad_scan_vjp(AdCtx *c, const IrNode *S, const int *cot, int *grads) {
  IrFunc *f = c->f;
  IrModule *m = f->mod;
  const IrFunc *F = ir_scan_body(m, &S->at);
  int k = S->at.ncarry, sq = S->at.nseq, np = S->nargs - k - sq, ny = F->nrets - k;
  int width = backward_width(m, S);
  if (width > IR_MAX_ARGS) unreachable("a scan too wide to differentiate (ad_scans_differentiable checks)");
  int mm[IR_MAX_ARGS];
  int nmm = k ? stored_products(F, k, sq, width, mm) : 0; /* after the carries: none without */
  bool seq_read[IR_MAX_ARGS];
  int nread = 0;
  for (int x = 0; x < sq; x++) nread += seq_read[x] = sequence_read(F, k, x, nmm, mm);
  const IrFunc *Fa = forward_body(m, F, k, sq, nmm, mm);
  const IrFunc *B = backward_body(m, F, k, sq, np, nmm, mm, seq_read);
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
  for (int i = 0; i < k + nmm; i++) args[na++] = scan_out(c, c->self, F->nrets + i); /* c_t, products */
  for (int x = 0; x < sq; x++)
    if (seq_read[x]) args[na++] = S->args[k + x];
  for (int l = 0; l < np; l++) args[na++] = S->args[k + sq + l];
  Attrs at = {.body = B->name, .ncarry = k + np, .nseq = ny + k + nmm + nread, .reverse = !S->at.reverse};
  int R = ad_opn(c, OP_SCAN, args, na, &at);
  for (int i = 0; i < k; i++) grads[i] = scan_out(c, R, i);
  for (int l = 0; l < np; l++) grads[k + sq + l] = scan_out(c, R, k + l);
  for (int x = 0; x < sq; x++) grads[k + x] = scan_out(c, R, k + np + x);
}
