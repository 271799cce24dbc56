/* quantize.c — the `quantize` pass: --quantize=int8 (post-training int8,
 * quantize_ptq.c) or --quantize=qat (quantization-aware training, here).
 * Without the option it does nothing.
 *
 * QAT requires: the lowered functions (forward, eval_step, maybe loss_step)
 * and no train_step yet: it runs before autodiff, so that the backward pass
 * and the optimizer see the fake-quantized forward. It guarantees: every
 * contraction that reads a parameter directly as its weight operand (a
 * matmul either side of which is a `global` of a param, a conv2d whose
 * kernel is) with a dot product of at least QUANT_MIN_DOT terms per output
 * channel (quant_dot_long_enough: the rule of --quantize=int8, which runs a
 * shorter one in f32; each such weight is named on stderr) reads instead
 *   fake_quant(w, s_w)  per output channel, symmetric int8 (quantize.h), and
 *   fake_quant(x, s_a)  for its other operand, u8 per tensor,
 * with s_w computed in the IR from the current weights and s_a from the
 * observer global `<P>.act_scale` (quantize.h): forward and eval_step read
 * the stored scale; training mode (loss_step, created as a copy of
 * eval_step when the model has no mode-dependent op, so that autodiff
 * differentiates it) computes this batch's max |x| / 127, folds it into the
 * moving average (the first batch's value when the global is still 0),
 * stores it, and quantizes with the new value, as PyTorch's
 * FakeQuantize(MovingAverageMinMaxObserver) does in training. Contractions
 * inside scan bodies (recurrent cells) read their weights as body inputs
 * and stay f32. Gradients: the straight-through estimator of fake_quant
 * (vjp.c); the scales get none. */
#include "quantize.h"

#include <stdlib.h>
#include <string.h>

bool quantize_check_option(const char *value, char *err, size_t errsize) {
  if (!strcmp(value, "int8") || !strcmp(value, "qat")) return true;
  snprintf(err, errsize,
           "--quantize must be int8 (post-training int8 quantization) or qat (quantization-aware training), not '%s'",
           value);
  return false;
}

/* ---- which contractions are quantized (both modes) ---- */

int quant_contracted_axis(const IrNode *matmul, int side, int rank) {
  bool transposed = side == 0 ? matmul->at.ta : matmul->at.tb;
  return (side == 0) != transposed ? rank - 1 : rank - 2;
}

int64_t quant_dot_length(const IrNode *n, int side, const Shape *w) {
  if (n->op == OP_CONV2D) return ir_numel_static(w) / w->d[0];
  return w->d[quant_contracted_axis(n, side, w->rank)];
}

bool quant_dot_long_enough(const IrNode *n, int side, const Shape *w) {
  return quant_dot_length(n, side, w) >= QUANT_MIN_DOT;
}

void quant_report_short(FILE *out, const char *name, const IrNode *n, int side, const Shape *w) {
  fprintf(out, "quantize: @%s stays f32: its dot product has %lld terms per output channel, fewer than %d\n", name,
          (long long)quant_dot_length(n, side, w), QUANT_MIN_DOT);
}

/* ---- the QAT rewrite ---- */

typedef struct Qat {
  IrModule *m;
  IrFunc *f;
  bool train; /* loss_step: update the observers */
  Loc loc;    /* the contraction's */
  Diag *d;
} Qat;

static int op1(Qat *q, OpKind op, int x) { return ir_op1(q->f, op, x, q->loc); }
static int op2(Qat *q, OpKind op, int a, int b) { return ir_op2(q->f, op, a, b, q->loc); }
static int scalar(Qat *q, double v) { return ir_scalar(q->f, v, q->loc); }

static int where(Qat *q, int cond, int a, int b) {
  int v = ir_emit(q->f, OP_WHERE, (int[]){cond, a, b}, 3, NULL, NULL, q->loc, NULL);
  if (v < 0) unreachable("quantize: where of mismatched shapes");
  return v;
}

/* max |x| over the given axes (all of them: naxes = rank, keepdims 0). */
static int max_abs(Qat *q, int x, const int *axes, int naxes, int keepdims) {
  int ab = where(q, op2(q, OP_LT, x, scalar(q, 0)), op1(q, OP_NEG, x), x);
  Attrs at = {.naxes = naxes, .keepdims = keepdims};
  memcpy(at.axes, axes, sizeof(int) * (size_t)naxes);
  int v = ir_emit(q->f, OP_MAX, &ab, 1, &at, NULL, q->loc, NULL);
  if (v < 0) unreachable("quantize: bad reduction axes");
  return v;
}

/* max(s, QUANT_SCALE_MIN): no division by a zero scale. */
static int floor_scale(Qat *q, int s) {
  int lo = scalar(q, QUANT_SCALE_MIN);
  return where(q, op2(q, OP_LT, s, lo), lo, s);
}

static int fake_quant(Qat *q, int x, int s, double zero, double qmin, double qmax) {
  Attrs at = {.value = zero, .qmin = qmin, .qmax = qmax};
  int v = ir_emit(q->f, OP_FAKE_QUANT, (int[]){x, s}, 2, &at, NULL, q->loc, NULL);
  if (v < 0) unreachable("quantize: fake_quant of mismatched shapes");
  return v;
}

/* The weight w (operand `side` of contraction n), quantized per output
 * channel: the scale is max |w| over the contracted axes, kept as size-1
 * dims so that it broadcasts back over w. */
static int quant_weight(Qat *q, const IrNode *n, int side, int w) {
  const Type *t = &q->f->nodes[w].ty;
  int axes[IR_MAX_RANK], naxes = 0, r = t->sh.rank;
  if (n->op == OP_CONV2D) { /* [O, I, kh, kw]: per O */
    for (int i = 1; i < r; i++)
      axes[naxes++] = i;
  } else { /* matmul: the K axis */
    axes[naxes++] = quant_contracted_axis(n, side, r);
  }
  int s = op2(q, OP_DIV, max_abs(q, w, axes, naxes, 1), scalar(q, QUANT_W_LEVEL));
  return fake_quant(q, w, floor_scale(q, s), 0, -QUANT_W_LEVEL, QUANT_W_LEVEL);
}

/* The observer global `name` (f32[], zero until the first batch); -1 after
 * reporting a clash with a global of another kind or type. */
static int observer(Qat *q, const char *name) {
  int g = ir_global_find(q->m, name);
  Type t = {.dt = DT_F32};
  if (g < 0)
    return ir_global_add(
        q->m, (IrGlobal){.name = name, .kind = GLOBAL_STATS, .ty = t, .init = NNRT_INIT_ZEROS, .loc = q->loc});
  if (q->m->globals[g].kind != GLOBAL_STATS || !ir_type_eq(&q->m->globals[g].ty, &t)) {
    diag_error(q->d, q->loc, "quantize: the activation observer @%s would clash with a global of that name", name);
    return -1;
  }
  return g;
}

/* The activation x, quantized per tensor with the observer's scale; in
 * training mode the observer first takes in this batch. */
static int quant_act(Qat *q, int x, int g) {
  int s = ir_global_ref(q->f, g, q->loc);
  if (q->train) {
    int axes[IR_MAX_RANK], r = q->f->nodes[x].ty.sh.rank;
    for (int i = 0; i < r; i++)
      axes[i] = i;
    int batch = op2(q, OP_DIV, max_abs(q, x, axes, r, 0), scalar(q, QUANT_A_LEVEL));
    int ema = op2(q, OP_ADD, op2(q, OP_MUL, s, scalar(q, 1 - QUANT_OBSERVER_MOMENTUM)),
                  op2(q, OP_MUL, batch, scalar(q, QUANT_OBSERVER_MOMENTUM)));
    s = where(q, op2(q, OP_EQ, s, scalar(q, 0)), batch, ema);
    if (ir_emit(q->f, OP_STORE, &s, 1, &(Attrs){.name = q->m->globals[g].name}, NULL, q->loc, NULL) < 0)
      unreachable("quantize: bad observer store");
  }
  return fake_quant(q, x, floor_scale(q, s), QUANT_A_ZERO, QUANT_A_QMIN, QUANT_A_QMAX);
}

/* The operand of contraction n that is its weight: a `global` of a param
 * (a matmul's right operand first: x @ w is a dense layer), or -1. */
static int param_side(const IrModule *m, const IrNode *nodes, const IrNode *n) {
  if (n->op != OP_MATMUL && n->op != OP_CONV2D) return -1;
  for (int side = 1; side >= 0; side--) {
    if (n->op == OP_CONV2D && side == 0) break;
    const IrNode *w = &nodes[n->args[side]], *x = &nodes[n->args[1 - side]];
    int g = w->op == OP_GLOBAL ? ir_global_find(m, w->at.name) : -1;
    bool x_param = x->op == OP_GLOBAL && ir_global_find(m, x->at.name) >= 0 &&
                   m->globals[ir_global_find(m, x->at.name)].kind == GLOBAL_PARAM;
    if (g >= 0 && m->globals[g].kind == GLOBAL_PARAM && !x_param) return side;
  }
  return -1;
}

/* The weight operand of contraction n if it is fake-quantized, else -1: a
 * param weight (param_side) whose dot product int8 takes, by the rule
 * post-training int8 applies (quant_dot_long_enough), so that the QAT
 * model computes what the int8 build of its checkpoint will. */
static int weight_side(const IrModule *m, const IrNode *nodes, const IrNode *n) {
  int side = param_side(m, nodes, n);
  return side >= 0 && quant_dot_long_enough(n, side, &nodes[n->args[side]].ty.sh) ? side : -1;
}

static int count_candidates(const IrModule *m, const IrFunc *f) {
  int n = 0;
  for (int i = 0; i < f->n; i++)
    n += weight_side(m, f->nodes, &f->nodes[i]) >= 0;
  return n;
}

/* Names, once each, the param weights of f's contractions left f32 for a
 * short dot product and not named before (*named of them in names). */
static void report_short(const IrFunc *f, const char **names, int *named, FILE *out) {
  for (int i = 0; i < f->n; i++) {
    const IrNode *n = &f->nodes[i];
    int side = param_side(f->mod, f->nodes, n);
    if (side < 0 || weight_side(f->mod, f->nodes, n) >= 0) continue;
    const IrNode *w = &f->nodes[n->args[side]];
    bool seen = false;
    for (int k = 0; k < *named && !seen; k++)
      seen = !strcmp(names[k], w->at.name);
    if (seen) continue;
    names[(*named)++] = w->at.name;
    quant_report_short(out, w->at.name, n, side, &w->ty.sh);
  }
}

/* Rebuilds f node by node, the quantized operands emitted right before
 * their contraction. Fusion groups and memory plans are dropped (the pass
 * runs before fuse). */
static bool rewrite(IrModule *m, IrFunc *f, bool train, Diag *d) {
  IrNode *old = f->nodes;
  int n = f->n, *rets = f->rets, nrets = f->nrets;
  int *map = malloc(sizeof(int) * (size_t)(n + 1));
  const char **seen = calloc((size_t)n + 1, sizeof *seen);
  if (!map || !seen) unreachable("out of memory");
  f->nodes = NULL, f->n = f->cap = 0, f->rets = NULL, f->nrets = f->retcap = 0;
  ir_func_forget_memory(f);
  Qat q = {.m = m, .f = f, .train = train, .d = d};
  bool ok = true;
  int nseen = 0;
  for (int i = 0; i < n; i++) {
    IrNode nd = old[i];
    for (int k = 0; k < nd.nargs; k++)
      nd.args[k] = map[nd.args[k]];
    nd.group = nd.slot = nd.offset = -1;
    int side = ok ? weight_side(m, old, &old[i]) : -1;
    if (side >= 0) {
      q.loc = nd.loc;
      /* The k-th contraction of this weight in f gets observer .k (k > 1). */
      const char *wname = old[old[i].args[side]].at.name;
      int uses = 1;
      for (int s = 0; s < nseen; s++)
        uses += !strcmp(seen[s], wname);
      seen[nseen++] = wname;
      const char *oname = uses == 1 ? arena_printf(m->arena, "%s%s", wname, QUANT_ACT_SCALE_SUFFIX)
                                    : arena_printf(m->arena, "%s%s.%d", wname, QUANT_ACT_SCALE_SUFFIX, uses);
      int g = observer(&q, oname);
      if (g < 0)
        ok = false;
      else {
        nd.args[side] = quant_weight(&q, &nd, side, nd.args[side]);
        nd.args[1 - side] = quant_act(&q, nd.args[1 - side], g);
      }
    }
    map[i] = ir_append(f, &nd);
  }
  for (int r = 0; r < nrets; r++)
    ir_ret(f, map[rets[r]]);
  free(map);
  free(seen);
  return ok;
}

static bool quantize_qat(IrModule *m, PassCtx *ctx) {
  if (ir_func_find(m, IR_FN_TRAIN)) {
    diag_fatal(ctx->diag, "quantize: --quantize=qat must run before autodiff (module '%s' already has %s)", m->name,
               IR_FN_TRAIN);
    return false;
  }
  IrFunc *eval = ir_func_find(m, IR_FN_EVAL), *loss = ir_func_find(m, IR_FN_LOSS);
  /* Training mode differs now (the observers update): autodiff must
   * differentiate a loss_step, so one is made from eval_step before it is
   * rewritten in evaluation mode. */
  if (eval && !loss && count_candidates(m, eval) > 0) loss = ir_func_clone(m, eval, IR_FN_LOSS);
  const char *const names[] = {IR_FN_FORWARD, IR_FN_EVAL, IR_FN_LOSS};
  const char **shorts = calloc((size_t)m->nglobals + 1, sizeof *shorts);
  if (!shorts) unreachable("out of memory");
  int nshort = 0;
  bool ok = true;
  for (int i = 0; i < 3; i++) {
    IrFunc *f = ir_func_find(m, names[i]);
    if (!f) continue;
    report_short(f, shorts, &nshort, ctx->report ? ctx->report : stderr);
    if (count_candidates(m, f) > 0) ok = rewrite(m, f, f == loss, ctx->diag) && ok;
  }
  free(shorts);
  return ok;
}

bool pass_quantize(IrModule *m, PassCtx *ctx) {
  const char *opt = pass_option(ctx, "quantize");
  if (!opt) return true;
  char err[256];
  if (!quantize_check_option(opt, err, sizeof err)) {
    diag_fatal(ctx->diag, "%s", err);
    return false;
  }
  return !strcmp(opt, "qat") ? quantize_qat(m, ctx) : quantize_ptq(m, ctx);
}
