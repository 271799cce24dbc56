/* optim.c — the optimizer update appended to train_step by autodiff.
 *
 * Emits, as plain IR, what torch.optim computes for one step (so fusion and
 * the backends see the update like any other arithmetic):
 *   SGD    g += wd w (wd != 0); buf = momentum buf + g (momentum != 0, else
 *          buf = g, no state); w -= lr buf
 *   Adam   g += wd w (wd != 0); t += 1; m = b1 m + (1-b1) g;
 *          v = b2 v + (1-b2) g^2; denom = sqrt(v) / sqrt(1 - b2^t) + eps;
 *          w -= (lr / (1 - b1^t)) m / denom
 *   AdamW  as Adam, with w *= 1 - lr wd first instead of the L2 term.
 *   RMSprop s = rho s + (1-rho) g^2; u = g / (sqrt(s) + eps);
 *          buf = momentum buf + u (momentum != 0, else buf = u); w -= lr buf
 * With clip_norm c > 0, every gradient is first scaled by
 * min(1, c / (||g|| + 1e-6)), ||g|| the L2 norm over all of them, as
 * torch.nn.utils.clip_grad_norm_ before the step (the L2 term comes after).
 * b^t is e^(t log b) (`pow` only takes a constant exponent and t is the
 * step counter, a run-time value), and 1 - b^t is computed from
 * tanh(t log(b) / 2), which does not cancel in f32 (bias_correction). The
 * state lives in GLOBAL_STATE globals (`<param>.m`, `<param>.v`,
 * `<param>.momentum`, `<param>.square_avg`, and the shared f32[]
 * `opt.step`, counted for every optimizer so the runtime can report and
 * resume it), zero-initialised. Every read comes before the stores, which
 * are emitted last. One emitting call per argument list, as in vjp.c: the
 * node order must not depend on the compiler's evaluation order. */
#include <math.h>
#include <stdlib.h>

#include "autodiff.h"

typedef struct Store {
  int global, value;
} Store;

/* The state global `name`, created zero-initialised unless it exists (a
 * rebuilt train_step reuses it). -1 after reporting a name clash. */
static int state_global(IrModule *m, const char *name, const Type *ty, Diag *d) {
  int g = ir_global_find(m, name);
  if (g < 0)
    return ir_global_add(m, (IrGlobal){.name = name, .kind = GLOBAL_STATE, .ty = *ty, .init = NNRT_INIT_ZEROS});
  if (m->globals[g].kind == GLOBAL_STATE && ir_type_eq(&m->globals[g].ty, ty)) return g;
  diag_error(d, m->globals[g].loc, "optimizer state @%s clashes with a global of that name", name);
  return -1;
}

static int mulc(AdCtx *c, int x, double k) { return ad_op2(c, OP_MUL, x, ad_scalar(c, k)); }

/* 1 - b^t for the step count t (a f32[] value), as -(e^x - 1) for
 * x = t log b, with e^x - 1 = 2 tanh(x/2) / (1 - tanh(x/2)). The plain
 * 1 - exp(x) cancels in f32: b^t is near 1 in the first steps, so 1 - b^t
 * keeps only the bits of b^t below its ulp (6e-8): 1 - 0.999^t at t ~ 1.5
 * came out 1.9e-5 off (relative), and through sqrt(1 - b2^t) every Adam
 * update 9e-6 off alike, which a few steps of a sensitive model (mha.nn in
 * tests/codegen/test_models.c) grow into a 1% difference from the f64
 * interpreter. tanh near 0 keeps its relative precision (tanh(y) ~ y), and
 * 1 - tanh(x/2) >= 1 for x <= 0 cancels nothing; torch.optim.Adam computes
 * this factor in double. */
static int bias_correction(AdCtx *c, int t, double b) {
  int h = ad_op1(c, OP_TANH, mulc(c, t, 0.5 * log(b)));
  int twice = mulc(c, h, -2);
  int one = ad_scalar(c, 1);
  return ad_op2(c, OP_DIV, twice, ad_op2(c, OP_SUB, one, h));
}

/* The factor min(1, c / (||g|| + 1e-6)) of clip_grad_norm_ over all grads:
 * the min as 1 - relu(1 - x). */
static int clip_factor(AdCtx *c, const int *grads, int np, double clip) {
  int total = -1;
  for (int p = 0; p < np; p++) {
    int g = grads[p];
    const IrNode *n = &c->f->nodes[g];
    Attrs all = {.naxes = n->ty.sh.rank};
    for (int k = 0; k < all.naxes; k++) all.axes[k] = k;
    int g2 = ad_op2(c, OP_MUL, g, g);
    int sq = all.naxes == 0 ? g2 : ir_emit(c->f, OP_SUM, &g2, 1, &all, NULL, c->loc, NULL);
    if (sq < 0) unreachable("optimizer: bad sum");
    total = total < 0 ? sq : ad_op2(c, OP_ADD, total, sq);
  }
  int root = ad_op1(c, OP_SQRT, total);
  int norm = ad_op2(c, OP_ADD, root, ad_scalar(c, 1e-6));
  int ratio = ad_op2(c, OP_DIV, ad_scalar(c, clip), norm);
  int one = ad_scalar(c, 1);
  return ad_op2(c, OP_SUB, one, ad_op1(c, OP_RELU, ad_op2(c, OP_SUB, one, ratio)));
}

/* The momentum buffer of SGD and RMSprop: buf = momentum buf + u, stored;
 * u itself without momentum. -1 after a name clash. */
static int momentum_buffer(AdCtx *c, const IrTrain *tr, int gi, int u, Store *st, int *nst, Diag *d) {
  if (tr->momentum == 0) return u;
  IrModule *m = c->f->mod;
  const IrGlobal *pg = &m->globals[gi];
  int mg = state_global(m, arena_printf(m->arena, "%s.momentum", pg->name), &pg->ty, d);
  if (mg < 0) return -1;
  int buf = ad_op2(c, OP_ADD, mulc(c, ir_global_ref(c->f, mg, c->loc), tr->momentum), u);
  st[(*nst)++] = (Store){mg, buf};
  return buf;
}

bool ad_emit_optimizer(IrFunc *f, const int *params, const int *grads, int np, int lr, Diag *d) {
  IrModule *m = f->mod;
  /* Without a train block these are ir_module_new's defaults (Adam). */
  const IrTrain tr = m->train;
  AdCtx c = {.f = f};
  Store *st = malloc((3 * (size_t)np + 1) * sizeof *st);
  if (!st) unreachable("out of memory");
  int nst = 0;
  bool adam = tr.opt == OPT_ADAM || tr.opt == OPT_ADAMW;
  Type scalar = {.dt = DT_F32};

  int step_g = state_global(m, "opt.step", &scalar, d);
  if (step_g < 0) {
    free(st);
    return false;
  }
  int step = ir_global_ref(f, step_g, c.loc);
  int t = ad_op2(&c, OP_ADD, step, ad_scalar(&c, 1));
  st[nst++] = (Store){step_g, t};

  /* Per-step scalars, shared by every parameter. */
  int step_size = -1, inv_sqrt_bc2 = -1, decay = -1, clip = -1;
  if (tr.clip_norm > 0 && np > 0) clip = clip_factor(&c, grads, np, tr.clip_norm);
  if (adam) {
    step_size = ad_op2(&c, OP_DIV, lr, bias_correction(&c, t, tr.beta1));
    /* Its reciprocal, once a step: an update per element of
     * sqrt(v) * (1 / sqrt(bc2)) rather than sqrt(v) / sqrt(bc2) keeps one
     * division there, not two, and the divider bounds the update (the
     * MLP's 784x256 weight: 54 us a step with two, on one AMD EPYC core;
     * gcc's loop with one, 34 us). The two differ by an ulp at most. */
    inv_sqrt_bc2 = ad_op2(&c, OP_DIV, ad_scalar(&c, 1), ad_op1(&c, OP_SQRT, bias_correction(&c, t, tr.beta2)));
  }
  if (tr.opt == OPT_ADAMW && tr.weight_decay != 0) {
    int one = ad_scalar(&c, 1);
    decay = ad_op2(&c, OP_SUB, one, mulc(&c, lr, tr.weight_decay));
  }

  for (int p = 0; p < np; p++) {
    int gi = params[p];
    const Type ty = m->globals[gi].ty;
    const char *name = m->globals[gi].name;
    c.loc = m->globals[gi].loc;
    int w = ir_global_ref(f, gi, c.loc), g = grads[p];
    if (clip >= 0) g = ad_op2(&c, OP_MUL, g, clip);
    /* L2 regularisation enters the gradient (SGD, Adam); AdamW decays the
     * weight directly instead. */
    if (tr.weight_decay != 0 && tr.opt != OPT_ADAMW) g = ad_op2(&c, OP_ADD, g, mulc(&c, w, tr.weight_decay));
    int upd;
    if (tr.opt == OPT_SGD || tr.opt == OPT_RMSPROP) {
      upd = g;
      if (tr.opt == OPT_RMSPROP) {
        int sg = state_global(m, arena_printf(m->arena, "%s.square_avg", name), &ty, d);
        if (sg < 0) {
          free(st);
          return false;
        }
        int s_old = mulc(&c, ir_global_ref(f, sg, c.loc), tr.rho);
        int s = ad_op2(&c, OP_ADD, s_old, mulc(&c, ad_op2(&c, OP_MUL, g, g), 1 - tr.rho));
        st[nst++] = (Store){sg, s};
        int root = ad_op1(&c, OP_SQRT, s);
        upd = ad_op2(&c, OP_DIV, g, ad_op2(&c, OP_ADD, root, ad_scalar(&c, tr.eps)));
      }
      upd = momentum_buffer(&c, &tr, gi, upd, st, &nst, d);
      if (upd < 0) {
        free(st);
        return false;
      }
      upd = ad_op2(&c, OP_MUL, lr, upd);
    } else {
      int mg = state_global(m, arena_printf(m->arena, "%s.m", name), &ty, d);
      int vg = mg < 0 ? -1 : state_global(m, arena_printf(m->arena, "%s.v", name), &ty, d);
      if (vg < 0) {
        free(st);
        return false;
      }
      if (decay >= 0) w = ad_op2(&c, OP_MUL, w, decay);
      int m_old = mulc(&c, ir_global_ref(f, mg, c.loc), tr.beta1);
      int mm = ad_op2(&c, OP_ADD, m_old, mulc(&c, g, 1 - tr.beta1));
      int g2 = ad_op2(&c, OP_MUL, g, g);
      int v_old = mulc(&c, ir_global_ref(f, vg, c.loc), tr.beta2);
      int vv = ad_op2(&c, OP_ADD, v_old, mulc(&c, g2, 1 - tr.beta2));
      int root = ad_op2(&c, OP_MUL, ad_op1(&c, OP_SQRT, vv), inv_sqrt_bc2);
      int denom = ad_op2(&c, OP_ADD, root, ad_scalar(&c, tr.eps));
      upd = ad_op2(&c, OP_MUL, step_size, ad_op2(&c, OP_DIV, mm, denom));
      st[nst++] = (Store){mg, mm};
      st[nst++] = (Store){vg, vv};
    }
    st[nst++] = (Store){gi, ad_op2(&c, OP_SUB, w, upd)};
  }
  for (int s = 0; s < nst; s++) {
    Attrs at = {.name = m->globals[st[s].global].name};
    if (ir_emit(f, OP_STORE, &st[s].value, 1, &at, NULL, (Loc){0}, NULL) < 0) unreachable("optimizer: bad store");
  }
  free(st);
  return true;
}
