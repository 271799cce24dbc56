/* autodiff.c — the `autodiff` pass: builds train_step from eval_step.
 *
 * Requires: a function eval_step (or loss_step, its training-mode twin,
 * which is then used instead; ir.h) whose first result is the loss, f32[];
 * in an inference build (PassCtx.infer) a module without one is left as it
 * is.
 * Guarantees: a function train_step (replacing any earlier one) with
 * eval_step's inputs plus `lr: f32[]` last, eval_step's results, and, after
 * eval_step's nodes, the backward pass (reverse-mode accumulation from the
 * loss, seeded with 1.0) followed by the optimizer update (optim.c), whose
 * `store`s are the function's last nodes. eval_step itself is untouched.
 *
 * Reverse mode here is one sweep over the nodes in reverse order: node ids
 * are a schedule, so when the sweep reaches a node every use of it (all later
 * nodes) has already contributed its gradient, and the contributions are
 * summed as they arrive. Only nodes on a path from a wanted value to the loss
 * are visited, and a rule emits nothing for an operand off those paths, so
 * the backward pass of eval_step does not compute a gradient for the input
 * batch. A scan has several results: the sweep gathers the cotangents of its
 * scan_outs (all later nodes) and hands them to ad_scan_vjp (ad_scan.c) when
 * it reaches the scan, which adds F.fwd and F.bwd body functions to the
 * module. */
#include "autodiff.h"

#include <stdlib.h>

#include "passes.h"

/* ---- emitters for the rules ---- */

static int must(int v) {
  if (v < 0) unreachable("autodiff: a VJP rule built an ill-typed node");
  return v;
}

static int emit(AdCtx *c, OpKind op, const int *args, int nargs, const Attrs *at, const Type *hint) {
  return must(ir_emit(c->f, op, args, nargs, at, hint, c->loc, NULL));
}

const Type *ad_type(const AdCtx *c, int v) { return &c->f->nodes[v].ty; }
int ad_op1(AdCtx *c, OpKind op, int x) { return emit(c, op, &x, 1, NULL, NULL); }
int ad_op2(AdCtx *c, OpKind op, int a, int b) { return emit(c, op, (int[]){a, b}, 2, NULL, NULL); }
int ad_attr1(AdCtx *c, OpKind op, int x, const Attrs *at) { return emit(c, op, &x, 1, at, NULL); }
int ad_opn(AdCtx *c, OpKind op, const int *args, int nargs, const Attrs *at) {
  return emit(c, op, args, nargs, at, NULL);
}
int ad_typed(AdCtx *c, OpKind op, int x, const Type *t) { return emit(c, op, &x, 1, NULL, t); }

int ad_scalar(AdCtx *c, double value) {
  Type t = {.dt = DT_F32};
  return emit(c, OP_CONST, NULL, 0, &(Attrs){.value = value}, &t);
}

int ad_zeros(AdCtx *c, const Type *t) { return emit(c, OP_CONST, NULL, 0, &(Attrs){.value = 0}, t); }

int ad_reduce(AdCtx *c, OpKind op, int x, const int *axes, int naxes, int keepdims) {
  Attrs at = {.naxes = naxes, .keepdims = keepdims};
  for (int i = 0; i < naxes; i++) at.axes[i] = axes[i];
  return emit(c, op, &x, 1, &at, NULL);
}

int ad_matmul(AdCtx *c, int a, int b, int ta, int tb) {
  Attrs at = {.ta = ta, .tb = tb};
  return emit(c, OP_MATMUL, (int[]){a, b}, 2, &at, NULL);
}

int ad_transpose(AdCtx *c, int x, const int *perm) {
  Attrs at = {.naxes = ad_type(c, x)->sh.rank};
  for (int i = 0; i < at.naxes; i++) at.axes[i] = perm[i];
  return emit(c, OP_TRANSPOSE, &x, 1, &at, NULL);
}

/* g has the broadcast result's shape; `to` is an operand's. The stretched
 * axes are the result's leading axes `to` lacks and those where `to` has a
 * 1 and the result does not; summing them with keepdims leaves `to`'s
 * elements in `to`'s order, padded with leading 1s that a reshape drops.
 * When only leading axes were stretched (a bias over the batch), a sum
 * without keepdims is `to` already. */
int ad_unbroadcast(AdCtx *c, int g, const Type *to) {
  const Type *from = ad_type(c, g);
  if (ir_type_eq(from, to)) return g;
  int axes[IR_MAX_RANK], naxes = 0, lead = from->sh.rank - to->sh.rank;
  bool inner = false;
  for (int i = 0; i < from->sh.rank; i++)
    if (i < lead || (to->sh.d[i - lead] == 1 && from->sh.d[i] != 1)) {
      axes[naxes++] = i;
      inner |= i >= lead;
    }
  if (naxes) g = ad_reduce(c, OP_SUM, g, axes, naxes, inner);
  return ir_type_eq(ad_type(c, g), to) ? g : ad_typed(c, OP_RESHAPE, g, to);
}

/* ---- the reverse sweep ---- */

static int accumulate(AdCtx *c, int acc, int g) { return acc < 0 ? g : ad_op2(c, OP_ADD, acc, g); }

void ad_grad_seeded(IrFunc *f, const int *ys, const int *seeds, int ny, const int *wrt, int nwrt, int *grads) {
  int n0 = 0; /* nodes after the last y cannot influence the ys */
  for (int k = 0; k < ny; k++)
    if (ys[k] + 1 > n0) n0 = ys[k] + 1;
  bool *rel = calloc((size_t)n0 + 1, sizeof *rel);
  int *g = malloc(((size_t)n0 + 1) * sizeof *g);
  int **scan_cot = calloc((size_t)n0 + 1, sizeof *scan_cot); /* per scan: cotangent per result */
  if (!rel || !g || !scan_cot) unreachable("out of memory");
  /* rel[i]: value i depends on a wanted value, so it lies on a path from one
   * to a y and its gradient is worth computing. */
  for (int k = 0; k < nwrt; k++)
    if (wrt[k] < n0) rel[wrt[k]] = true;
  for (int i = 0; i < n0; i++) {
    g[i] = -1;
    const IrNode *n = &f->nodes[i];
    for (int a = 0; a < n->nargs && !rel[i]; a++) rel[i] = rel[n->args[a]] && ad_vjp[n->op] != vjp_none;
  }
  AdCtx c = {.f = f, .loc = f->nodes[ys[0]].loc};
  for (int k = 0; k < ny; k++)
    if (rel[ys[k]]) {
      int seed = seeds ? seeds[k] : emit(&c, OP_CONST, NULL, 0, &(Attrs){.value = 1}, &f->nodes[ys[k]].ty);
      g[ys[k]] = accumulate(&c, g[ys[k]], seed);
    }
  for (int i = n0 - 1; i >= 0; i--) {
    if (g[i] < 0) continue;
    IrNode n = f->nodes[i]; /* a copy: rules append to f->nodes */
    if (n.op == OP_SCAN_OUT) { /* gathered for the scan, which has every use after it */
      int s = n.args[0], nres = ir_scan_nresults(f->mod, &f->nodes[s]);
      if (!scan_cot[s]) {
        scan_cot[s] = malloc(((size_t)nres + 1) * sizeof **scan_cot);
        if (!scan_cot[s]) unreachable("out of memory");
        for (int r = 0; r < nres; r++) scan_cot[s][r] = -1;
      }
      c.loc = n.loc;
      scan_cot[s][n.at.index] = accumulate(&c, scan_cot[s][n.at.index], g[i]);
      g[s] = i; /* any id: the scan has a gradient to pass on */
      continue;
    }
    bool any = false;
    for (int a = 0; a < IR_MAX_ARGS; a++) {
      c.need[a] = a < n.nargs && rel[n.args[a]] && f->nodes[n.args[a]].ty.dt == DT_F32;
      any |= c.need[a];
    }
    if (!any) continue;
    c.self = i;
    c.loc = n.loc;
    int og[IR_MAX_ARGS];
    for (int a = 0; a < IR_MAX_ARGS; a++) og[a] = -1;
    if (n.op == OP_SCAN)
      ad_scan_vjp(&c, &n, scan_cot[i], og);
    else
      ad_vjp[n.op](&c, &n, g[i], og);
    for (int a = 0; a < n.nargs; a++)
      if (c.need[a] && og[a] >= 0) g[n.args[a]] = accumulate(&c, g[n.args[a]], og[a]);
  }
  for (int k = 0; k < nwrt; k++) {
    int v = wrt[k];
    grads[k] = v < n0 && g[v] >= 0 ? g[v] : ad_zeros(&c, &f->nodes[v].ty);
  }
  for (int i = 0; i < n0; i++) free(scan_cot[i]);
  free(scan_cot);
  free(rel);
  free(g);
}

void ad_grad(IrFunc *f, int y, const int *wrt, int nwrt, int *grads) { ad_grad_seeded(f, &y, NULL, 1, wrt, nwrt, grads); }

/* slot[g] = k for the k-th parameter f reads (module order), else -1; the
 * list itself goes to params. Returns the count. */
static int param_slots(const IrFunc *f, int *params, int *slot) {
  const IrModule *m = f->mod;
  for (int g = 0; g < m->nglobals; g++) slot[g] = -1;
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_GLOBAL) {
      int g = ir_global_find(m, f->nodes[i].at.name);
      if (g >= 0 && m->globals[g].kind == GLOBAL_PARAM) slot[g] = 0;
    }
  int np = 0;
  for (int g = 0; g < m->nglobals; g++)
    if (slot[g] >= 0) { /* marked as read above */
      slot[g] = np;
      params[np++] = g;
    }
  return np;
}

int ad_params_read(const IrFunc *f, int *params) {
  int *slot = malloc(((size_t)f->mod->nglobals + 1) * sizeof *slot);
  if (!slot) unreachable("out of memory");
  int np = param_slots(f, params, slot);
  free(slot);
  return np;
}

/* A parameter may be read by several `global` nodes; each is a separate value
 * to the sweep, and the parameter's gradient is the sum of theirs. */
int ad_param_grads(IrFunc *f, int y, int *params, int *grads) {
  const IrModule *m = f->mod;
  int *slot = malloc(((size_t)m->nglobals + 1) * sizeof *slot);
  int *reads = calloc((size_t)f->n + 1, sizeof *reads), *owner = calloc((size_t)f->n + 1, sizeof *owner);
  int *rg = malloc(((size_t)f->n + 1) * sizeof *rg);
  if (!slot || !reads || !owner || !rg) unreachable("out of memory");
  int np = param_slots(f, params, slot), nr = 0;
  for (int i = 0; i < f->n; i++) {
    int g = f->nodes[i].op == OP_GLOBAL ? ir_global_find(m, f->nodes[i].at.name) : -1;
    if (g >= 0 && slot[g] >= 0) {
      reads[nr] = i;
      owner[nr++] = slot[g];
    }
  }
  ad_grad(f, y, reads, nr, rg);
  AdCtx c = {.f = f, .loc = f->nodes[y].loc};
  for (int p = 0; p < np; p++) grads[p] = -1;
  for (int r = 0; r < nr; r++) grads[owner[r]] = accumulate(&c, grads[owner[r]], rg[r]);
  free(slot);
  free(reads);
  free(owner);
  free(rg);
  return np;
}

IrFunc *ad_build_grad_func(IrModule *m, const IrFunc *src, const char *name) {
  IrFunc *f = ir_func_clone(m, src, name);
  int *params = malloc(((size_t)m->nglobals + 1) * sizeof *params);
  int *grads = malloc(((size_t)m->nglobals + 1) * sizeof *grads);
  if (!params || !grads) unreachable("out of memory");
  if (src->nrets < 1) unreachable("ad_build_grad_func: the function returns no loss");
  int loss = src->rets[0];
  int np = ad_param_grads(f, loss, params, grads);
  f->nrets = 0;
  ir_ret(f, loss);
  for (int p = 0; p < np; p++) ir_ret(f, grads[p]);
  free(params);
  free(grads);
  return f;
}

/* ---- the pass ---- */

bool pass_autodiff(IrModule *m, PassCtx *ctx) {
  /* The training-mode loss_step when the model has one (dropout), else
   * eval_step: the modes agree. */
  const IrFunc *eval = ir_func_find(m, IR_FN_LOSS);
  if (!eval) eval = ir_func_find(m, IR_FN_EVAL);
  /* An inference build (--infer) has only forward after prune_graph: no
   * loss, nothing to train. */
  if (!eval && ctx->infer) return true;
  if (!eval) {
    diag_fatal(ctx->diag, "autodiff: module '%s' has no %s function to differentiate", m->name, IR_FN_EVAL);
    return false;
  }
  if (eval->nrets < 1 || eval->nodes[eval->rets[0]].ty.dt != DT_F32 || eval->nodes[eval->rets[0]].ty.sh.rank != 0) {
    diag_error(ctx->diag, eval->nrets ? eval->nodes[eval->rets[0]].loc : (Loc){0},
               "autodiff: the first result of %s must be the loss, a f32[] scalar", eval->name);
    return false;
  }
  if (!ad_scans_differentiable(eval, ctx->diag)) return false;
  /* Rebuilding replaces an old train_step; its optimizer state globals are
   * reused by name. */
  IrFunc *old = ir_func_find(m, IR_FN_TRAIN);
  if (old) ir_func_remove(m, old);

  IrFunc *f = ir_func_clone(m, eval, IR_FN_TRAIN);
  int lr = ir_input(f, "lr", (Type){.dt = DT_F32}, (Loc){0});
  int *params = malloc(((size_t)m->nglobals + 1) * sizeof *params);
  int *grads = malloc(((size_t)m->nglobals + 1) * sizeof *grads);
  if (!params || !grads) unreachable("out of memory");
  int np = ad_param_grads(f, f->rets[0], params, grads);
  bool ok = ad_emit_optimizer(f, params, grads, np, lr, ctx->diag);
  free(params);
  free(grads);
  return ok;
}
