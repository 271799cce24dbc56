/* scan_hoist.c — the `scan-hoist` pass: a scan carry that only sums one
 * product per step becomes one contraction after the loop.
 *
 * The backward scan of a recurrent layer accumulates the recurrent weight's
 * gradient in a carry, dW += h_t^T dgates_t, one small GEMM (B rows) and a
 * read-modify-write of the whole accumulator per step. Over the T steps
 * that is init + sum_t op(a_t) op(b_t); when a_t and b_t are stacked by the
 * scan anyway (a sequence, or a per-step output), the loop need not carry
 * the sum at all:
 *
 *   body:   %p = matmul %a, %b {ta, tb}        %cn = add %c, %p    return .., %cn, ..
 *   after:  %s = scan ... (carry c gone; a, b stacked)
 *           %pt = matmul %A, %B {ta, tb} : [T, M, N]       (a batch of T products)
 *           %cT = add %init, sum %pt {axes=[0]}            (init dropped when a zero const)
 *
 * which is how the IR writes a weight shared over a batch everywhere
 * (vjp_matmul: the input weight's gradient over a sequence is the same
 * batch-and-sum), so a backend that runs such a sum as one GEMM over the
 * merged leading axes serves both. The IR cannot write that one GEMM itself:
 * a reshape of [T,B,K] to [T*B,K] needs a dim that is a product with the
 * symbolic B, which a Shape cannot hold.
 *
 * Applies to carry c of a scan S with body F when, in F:
 *   - c's only reader is one `add` (either operand order) of c and a
 *     `matmul` result of c's exact type, and that add is returned as c's
 *     next value and read by nothing else (so no step sees a partial sum:
 *     "a carry read elsewhere" does not apply);
 *   - the matmul's operands have one rank (below IR_MAX_RANK: stacked,
 *     they get the step axis) and vary per step: each is a
 *     sequence input (S stacks it already), or a body value computed from
 *     the carries or sequences (then F returns it as one more per-step
 *     output, stacked by S), but never c itself (through the add, c would
 *     be read twice). A constant operand does not vary; its sum would be
 *     another rewrite, p^T (sum_t b_t), which this pass does not do;
 *   - every scan of F in the module splits its operands alike (carries,
 *     sequences), since F is rewritten in place for all of them.
 * The sum's order changes (one batch, not a running sum over reversed
 * steps): the results agree up to f32 rounding, not bit for bit.
 *
 * Requires: a valid module before fusion (no groups, no memory plan: a
 * function with either is left alone). Guarantees: a valid module computing
 * the same values up to the rounding of the moved sums; rewritten bodies
 * lose the carry's input (inputs renumbered) and result, and their scans
 * the operand; every scan_out of the carry reads the hoisted value. Runs
 * after autodiff and simplify (whose output it matches: the backward body
 * adds the product to the carry with no zero terms in between) and before
 * fuse, in the default pipeline; --disable-pass=scan-hoist skips it. */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* What one operand of the summed product is, per step. */
typedef enum { HOIST_SEQ, HOIST_OUT, HOIST_NEW } HoistKind;

typedef struct Hoist {
  int carry; /* k: the carry whose sum moves out */
  int add;   /* the body's add c + p */
  int mm;    /* the body's matmul p */
  HoistKind kind[2];
  int index[2]; /* HOIST_SEQ: the body input; HOIST_OUT: the body result */
} Hoist;

static int input_node(const IrFunc *f, int k) {
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_INPUT && f->nodes[i].at.index == k) return i;
  return -1;
}

/* How many times node v is an operand in f, and in f's results. */
static int readers(const IrFunc *f, int v) {
  int n = 0;
  for (int i = v + 1; i < f->n; i++)
    for (int a = 0; a < f->nodes[i].nargs; a++)
      n += f->nodes[i].args[a] == v;
  return n;
}

static int returned(const IrFunc *f, int v) {
  int n = 0;
  for (int r = 0; r < f->nrets; r++)
    n += f->rets[r] == v;
  return n;
}

/* Whether body value v changes from step to step: it depends on a carry or
 * a sequence input (inputs below ncarry + nseq). */
static bool varies(const IrFunc *F, int v, int nvary, signed char *memo) {
  if (memo[v]) return memo[v] > 0;
  const IrNode *n = &F->nodes[v];
  bool y = n->op == OP_INPUT && n->at.index < nvary;
  for (int a = 0; a < n->nargs && !y; a++)
    y = varies(F, n->args[a], nvary, memo);
  memo[v] = y ? 1 : -1;
  return y;
}

/* Whether carry k of body F (scanned with ncarry carries and nseq
 * sequences) is a summed product that can move out; fills h. */
static bool find_hoist(const IrFunc *F, int ncarry, int nseq, int k, Hoist *h, signed char *memo) {
  int c = input_node(F, k);
  if (c < 0 || readers(F, c) != 1 || returned(F, c)) return false;
  int add = -1;
  for (int i = c + 1; i < F->n && add < 0; i++)
    for (int a = 0; a < F->nodes[i].nargs; a++)
      if (F->nodes[i].args[a] == c) add = i;
  const IrNode *n = &F->nodes[add];
  if (n->op != OP_ADD || n->args[0] == n->args[1] || !ir_type_eq(&n->ty, &F->nodes[c].ty)) return false;
  if (F->rets[k] != add || returned(F, add) != 1 || readers(F, add) != 0) return false;
  int mm = n->args[0] == c ? n->args[1] : n->args[0];
  const IrNode *p = &F->nodes[mm];
  if (p->op != OP_MATMUL || !ir_type_eq(&p->ty, &n->ty)) return false;
  int rank = F->nodes[p->args[0]].ty.sh.rank; /* stacked: one batch axis more, room for it */
  if (F->nodes[p->args[1]].ty.sh.rank != rank || rank >= IR_MAX_RANK) return false;
  *h = (Hoist){.carry = k, .add = add, .mm = mm};
  memset(memo, 0, (size_t)F->n);
  for (int s = 0; s < 2; s++) {
    int v = p->args[s];
    if (!varies(F, v, ncarry + nseq, memo)) return false; /* c itself has the add as its one reader */
    const IrNode *o = &F->nodes[v];
    h->kind[s] = HOIST_NEW;
    if (o->op == OP_INPUT && o->at.index >= ncarry) {
      h->kind[s] = HOIST_SEQ, h->index[s] = o->at.index;
      continue;
    }
    for (int r = ncarry; r < F->nrets && h->kind[s] == HOIST_NEW; r++)
      if (F->rets[r] == v) h->kind[s] = HOIST_OUT, h->index[s] = r;
  }
  return true;
}

/* ---- the rewrite ---- */

/* Body F without carry input h->carry and its result, and with the
 * product's operands that are no output yet as per-step outputs; h->index
 * then numbers the inputs and results of the new F. */
static void rewrite_body(IrFunc *F, Hoist *h) {
  int c = input_node(F, h->carry);
  for (int s = 0; s < 2; s++)
    if (h->kind[s] == HOIST_NEW) {
      int v = F->nodes[h->mm].args[s];
      if (s == 1 && F->nodes[h->mm].args[0] == v) { /* a^T a: one output */
        h->kind[1] = h->kind[0], h->index[1] = h->index[0];
        continue;
      }
      ir_ret(F, F->nodes[h->mm].args[s]);
      h->kind[s] = HOIST_OUT, h->index[s] = F->nrets - 1;
    }
  for (int s = 0; s < 2; s++) /* the results and inputs after the carry move down by one */
    h->index[s] -= h->index[s] > h->carry;
  memmove(F->rets + h->carry, F->rets + h->carry + 1, sizeof(int) * (size_t)(F->nrets - h->carry - 1));
  F->nrets--;
  /* Drop the input and the add (read by nothing now); DCE drops the
   * matmul if nothing else reads it. */
  int *map = malloc(sizeof(int) * ((size_t)F->n + 1));
  if (!map) unreachable("out of memory");
  int n = 0;
  for (int i = 0; i < F->n; i++) {
    if (i == c || i == h->add) {
      map[i] = -1;
      continue;
    }
    IrNode x = F->nodes[i];
    if (x.op == OP_INPUT && x.at.index > h->carry) x.at.index--;
    for (int a = 0; a < x.nargs; a++)
      if ((x.args[a] = map[x.args[a]]) < 0) unreachable("scan-hoist: the dropped carry is still read");
    map[i] = n;
    F->nodes[n++] = x;
  }
  F->n = n;
  for (int r = 0; r < F->nrets; r++)
    if ((F->rets[r] = map[F->rets[r]]) < 0) unreachable("scan-hoist: the dropped carry is still returned");
  free(map);
  pass_dce_func(F);
}

static int emit(IrFunc *f, OpKind op, const int *args, int nargs, const Attrs *at, Loc loc) {
  int v = ir_emit(f, op, args, nargs, at, NULL, loc, NULL);
  if (v < 0) unreachable("scan-hoist: the hoisted product does not type");
  return v;
}

/* Function f rebuilt with every scan of F (old_ncarry carries, before the
 * body rewrite) dropping carry h->carry, whose scan_outs read init +
 * sum_t op(A_t) op(B_t) computed right after the scan. mm is F's matmul as
 * it was (its flags and location). */
static void rewrite_caller(IrFunc *f, const char *body, const Hoist *h, const IrNode *mm) {
  IrFunc out = {.name = f->name, .mod = f->mod};
  int *map = malloc(sizeof(int) * ((size_t)f->n + 1));
  int *hoisted = malloc(sizeof(int) * ((size_t)f->n + 1));     /* old scan -> its hoisted value */
  int(*outs)[2] = malloc(sizeof(int[2]) * ((size_t)f->n + 1)); /* old scan -> the scan_outs made for A, B */
  if (!map || !hoisted || !outs) unreachable("out of memory");
  for (int i = 0; i < f->n; i++) {
    IrNode n = f->nodes[i];
    hoisted[i] = outs[i][0] = outs[i][1] = -1;
    if (n.op == OP_SCAN_OUT && hoisted[n.args[0]] >= 0) {
      if (n.at.index == h->carry) {
        map[i] = hoisted[n.args[0]];
        continue;
      }
      n.at.index -= n.at.index > h->carry;
      int q = 0; /* the same output as one made for the product: that one */
      while (q < 2 && !(h->kind[q] == HOIST_OUT && h->index[q] == n.at.index))
        q++;
      if (q < 2) { /* it keeps its name */
        map[i] = outs[n.args[0]][q];
        if (!out.nodes[map[i]].name) out.nodes[map[i]].name = n.name;
        continue;
      }
    }
    int init = n.op == OP_SCAN && !strcmp(n.at.body, body) ? map[n.args[h->carry]] : -1;
    for (int a = 0; a < n.nargs; a++)
      n.args[a] = map[n.args[a]];
    if (init < 0) {
      map[i] = ir_append(&out, &n);
      continue;
    }
    memmove(n.args + h->carry, n.args + h->carry + 1, sizeof(int) * (size_t)(n.nargs - h->carry - 1));
    n.nargs--, n.at.ncarry--;
    int s = map[i] = ir_append(&out, &n);
    int *stacked = outs[i];
    for (int q = 0; q < 2; q++)
      stacked[q] = h->kind[q] == HOIST_SEQ ? n.args[h->index[q]]
                   : q && h->kind[0] == HOIST_OUT && h->index[0] == h->index[1]
                       ? stacked[0]
                       : emit(&out, OP_SCAN_OUT, &s, 1, &(Attrs){.index = h->index[q]}, mm->loc);
    int prod = emit(&out, OP_MATMUL, stacked, 2, &(Attrs){.ta = mm->at.ta, .tb = mm->at.tb}, mm->loc);
    int sum = emit(&out, OP_SUM, &prod, 1, &(Attrs){.naxes = 1, .axes = {0}}, mm->loc);
    const IrNode *z = &out.nodes[init];
    bool zero = z->op == OP_CONST && z->at.value == 0 && ir_type_eq(&z->ty, &out.nodes[sum].ty);
    hoisted[i] = zero ? sum : emit(&out, OP_ADD, (int[]){init, sum}, 2, NULL, mm->loc);
  }
  pass_func_adopt(f, &out, map);
  free(map);
  free(hoisted);
  free(outs);
  pass_dce_func(f);
}

static bool scans_body(const IrFunc *f, const char *body) {
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_SCAN && !strcmp(f->nodes[i].at.body, body)) return true;
  return false;
}

/* Whether every scan of body F in m splits its operands like S and sits in
 * a function this pass may rewrite (so F can change in place). */
static bool scanned_alike(const IrModule *m, const IrFunc *F, const IrNode *S) {
  for (int i = 0; i < m->nfuncs; i++)
    for (int j = 0; j < m->funcs[i]->n; j++) {
      const IrNode *n = &m->funcs[i]->nodes[j];
      if (n->op != OP_SCAN || !n->at.body || strcmp(n->at.body, F->name)) continue;
      if (n->at.ncarry != S->at.ncarry || n->at.nseq != S->at.nseq || n->nargs != S->nargs) return false;
      if (!pass_func_unfused(m->funcs[i])) return false;
    }
  return pass_func_unfused(F);
}

/* Finds one carry to move out of some scan and moves it; false when none
 * is left. */
static bool hoist_one(IrModule *m) {
  for (int i = 0; i < m->nfuncs; i++) {
    const IrFunc *f = m->funcs[i];
    for (int j = 0; j < f->n; j++) {
      const IrNode *S = &f->nodes[j];
      IrFunc *F = S->op == OP_SCAN ? ir_func_find(m, S->at.body) : NULL;
      if (!F || !scanned_alike(m, F, S)) continue;
      signed char *memo = malloc((size_t)F->n + 1);
      if (!memo) unreachable("out of memory");
      Hoist h;
      bool found = false;
      for (int k = 0; k < S->at.ncarry && !found; k++)
        found = find_hoist(F, S->at.ncarry, S->at.nseq, k, &h, memo);
      free(memo);
      if (!found) continue;
      IrNode mm = F->nodes[h.mm];
      const char *body = F->name;
      rewrite_body(F, &h);
      for (int g = 0; g < m->nfuncs; g++) /* only where it runs: others keep their numbering */
        if (scans_body(m->funcs[g], body)) rewrite_caller(m->funcs[g], body, &h, &mm);
      return true;
    }
  }
  return false;
}

bool pass_scan_hoist(IrModule *m, PassCtx *ctx) {
  (void)ctx;
  while (hoist_one(m)) {
  }
  return true;
}
