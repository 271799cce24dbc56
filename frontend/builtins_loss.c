/* builtins_loss.c — the loss builtins: cross_entropy, binary_cross_entropy,
 * mse, mae, huber (searched after builtins.c's table).
 *
 * The two likelihood losses meet what users write, as Keras does: a
 * cross_entropy of a softmax output, or a binary_cross_entropy of a sigmoid
 * output, is computed from the logits underneath (log_softmax of the
 * softmax's operand; the softplus form of the sigmoid's), never as the log
 * of a rounded probability. `from_logits:` says what a tensor that is
 * neither holds. Where that disagrees with what the tensor can hold (a
 * probability loss on an unbounded tensor, logits that are a softmax), the
 * loss is computed as asked and a warning says why it is probably wrong:
 * those are the losses that train to nothing without an error.
 *
 * Everything is plain elementwise ops and reductions (|x| as relu(x) +
 * relu(-x), a clamp as relu differences), so autodiff needs no rule of its
 * own and the pieces fuse. At most one argument of a call emits a node, so
 * the node order does not depend on the C compiler's evaluation order. */
#include <string.h>

#include "lower.h"

/* Probabilities that a saturated output must not take to log(0): Keras's
 * epsilon, applied as Keras does, by clamping to [eps, 1 - eps]. */
#define PROB_EPS 1e-7

static const Type *ty(Lower *L, int v) { return fe_type(L, v); }
static const IrNode *node(Lower *L, int v) { return &L->f->nodes[v]; }

/* The operand of x when x is op (a softmax over `axis`, for OP_SOFTMAX),
 * else FE_ERR. */
static int operand_of(Lower *L, int x, OpKind op, int axis) {
  const IrNode *n = node(L, x);
  if (n->op != op || (op == OP_SOFTMAX && n->at.axis != axis)) return FE_ERR;
  return n->args[0];
}

/* Whether every value of x is known to lie in [0, 1]: softmax, sigmoid,
 * onehot and step outputs, constants in range, and what layout ops, concat
 * and products make of them. False means "not known", not "out of range". */
static bool is_probability(Lower *L, int x) {
  const IrNode *n = node(L, x);
  switch (n->op) {
  case OP_SOFTMAX:
  case OP_SIGMOID:
  case OP_ONEHOT:
  case OP_STEP:
    return true;
  case OP_CONST:
    return n->at.value >= 0 && n->at.value <= 1;
  case OP_MUL:
  case OP_CONCAT:
    return is_probability(L, n->args[0]) && is_probability(L, n->args[1]);
  default:
    return (ir_ops[n->op].flags & OPF_LAYOUT) && is_probability(L, n->args[0]);
  }
}

/* A prediction [B, 1] against a target [B] (or the reverse) is compared
 * elementwise, not broadcast to [B, B]: the trap of a loss that trains on the
 * wrong thing without any error. Other differences are errors. */
static bool match_shapes(Lower *L, const Builtin *b, const Expr *call, int *p, int *y) {
  const Shape *sp = &ty(L, *p)->sh, *sy = &ty(L, *y)->sh;
  if (ir_shape_eq(sp, sy)) return true;
  for (int flip = 0; flip < 2; flip++) {
    const Shape *big = flip ? sy : sp, *small = flip ? sp : sy;
    Shape trimmed = *big;
    trimmed.rank--;
    if (big->rank == small->rank + 1 && big->d[big->rank - 1] == 1 && ir_shape_eq(&trimmed, small)) {
      int *v = flip ? y : p;
      *v = fe_reshape_to(L, *v, small, call->loc);
      return *v >= 0;
    }
  }
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  diag_error(L->d, call->loc, "%s: prediction %s and target %s must have the same shape", b->name,
             fe_type_str(L, ty(L, *p), b1), fe_type_str(L, ty(L, *y), b2));
  return false;
}

static int mean_all(Lower *L, int x, Loc loc) { return fe_reduce(L, OP_MEAN, x, NULL, false, loc); }

static int relu(Lower *L, int x, Loc loc) { return fe_emit1(L, OP_RELU, x, loc); }

/* |x| = relu(x) + relu(-x): its gradient at 0 is 0, as torch's abs. */
static int abs_of(Lower *L, int x, Loc loc) {
  int pos = relu(L, x, loc);
  return fe_emit2(L, OP_ADD, pos, relu(L, fe_emit1(L, OP_NEG, x, loc), loc), loc);
}

/* x clamped to [PROB_EPS, 1 - PROB_EPS]: lo + relu(x - lo) - relu(x - hi). */
static int clamp_prob(Lower *L, int x, Loc loc) {
  int lo = fe_scalar(L, PROB_EPS, loc);
  int hi = fe_scalar(L, 1 - PROB_EPS, loc);
  int above = relu(L, fe_emit2(L, OP_SUB, x, lo, loc), loc);
  int over = relu(L, fe_emit2(L, OP_SUB, x, hi, loc), loc);
  int low = fe_emit2(L, OP_ADD, lo, above, loc);
  return fe_emit2(L, OP_SUB, low, over, loc);
}

/* Reads from_logits: (absent: -1, else 0 or 1). */
static int from_logits(const BArg *a) { return a->present ? a->b : -1; }

/* cross_entropy(x [.., C], labels i32 [..], from_logits): the mean negative
 * log-likelihood, as PyTorch's F.cross_entropy:
 *   -mean(sum(log_softmax(logits) * onehot(labels), classes))
 * The logits are x, or the operand of x when x is a softmax over the
 * classes (unless from_logits: true insists on x). With from_logits: false,
 * any other x holds probabilities: log of x clamped to [1e-7, 1 - 1e-7],
 * each row renormalised, as Keras. */
static int lower_cross_entropy(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  int x = a[0].v, labels = a[1].v, fl = from_logits(&a[2]);
  const Type *tl = ty(L, x), *ty_ = ty(L, labels);
  char b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN];
  if (ty_->dt != DT_I32) {
    diag_error(L->d, a[1].loc, "cross_entropy expects integer class labels (i32), got %s", fe_type_str(L, ty_, b1));
    return FE_ERR;
  }
  if (tl->dt != DT_F32 || tl->sh.rank < 1) {
    diag_error(L->d, a[0].loc, "cross_entropy expects float logits [batch, classes], got %s", fe_type_str(L, tl, b1));
    return FE_ERR;
  }
  int rank = tl->sh.rank;
  Shape lead = tl->sh;
  lead.rank--;
  if (!ir_shape_eq(&lead, &ty_->sh)) {
    diag_error(L->d, call->loc, "cross_entropy: labels %s do not match logits %s", fe_type_str(L, ty_, b1),
               fe_type_str(L, tl, b2));
    return FE_ERR;
  }
  if (IR_IS_SYM(tl->sh.d[rank - 1])) {
    diag_error(L->d, a[0].loc, "cross_entropy needs a static number of classes, got logits %s", fe_type_str(L, tl, b1));
    return FE_ERR;
  }
  Loc loc = call->loc;
  int logits = x, under = operand_of(L, x, OP_SOFTMAX, rank - 1);
  if (under >= 0 && fl != 1) {
    logits = under; /* log_softmax(softmax(z)) computed as log_softmax(z) */
  } else if (under >= 0) {
    diag_warning(L->d, a[0].loc,
                 "cross_entropy with from_logits: true of a softmax output: the softmax is applied twice "
                 "(leave from_logits out to use the logits under the softmax)");
  } else if (fl == 0) {
    if (!is_probability(L, x))
      diag_warning(L->d, a[0].loc,
                   "cross_entropy with from_logits: false expects probabilities, but this tensor is not "
                   "known to lie in [0, 1] (apply softmax, or leave from_logits out for logits)");
    logits = fe_emit1(L, OP_LOG, clamp_prob(L, x, loc), loc);
  } else if (fl < 0 && is_probability(L, x)) {
    diag_warning(L->d, a[0].loc,
                 "cross_entropy takes this tensor as logits, but its values lie in [0, 1] "
                 "(pass from_logits: false if they are probabilities)");
  }
  Attrs ax = {.axis = rank - 1};
  int ls = fe_emit(L, OP_LOG_SOFTMAX, &logits, 1, &ax, NULL, loc);
  Type oh_t = {.dt = DT_F32, .sh = tl->sh};
  int oh = fe_emit(L, OP_ONEHOT, &labels, 1, NULL, &oh_t, loc);
  int picked = fe_emit2(L, OP_MUL, ls, oh, loc);
  BArg classes = {.present = true, .n = 1, .list = {rank - 1}, .loc = loc};
  int nll = fe_reduce(L, OP_SUM, picked, &classes, false, loc);
  if (nll < 0) return FE_ERR;
  return fe_emit1(L, OP_NEG, mean_all(L, nll, loc), loc);
}

/* Per element, -(y log p + (1 - y) log(1 - p)) of the probabilities p,
 * clamped to [1e-7, 1 - 1e-7] (Keras). */
static int bce_of_probs(Lower *L, int p, int y, Loc loc) {
  int one = fe_scalar(L, 1, loc);
  p = clamp_prob(L, p, loc);
  int pos = fe_emit2(L, OP_MUL, y, fe_emit1(L, OP_LOG, p, loc), loc);
  int log1mp = fe_emit1(L, OP_LOG, fe_emit2(L, OP_SUB, one, p, loc), loc);
  int neg = fe_emit2(L, OP_MUL, fe_emit2(L, OP_SUB, one, y, loc), log1mp, loc);
  return fe_emit1(L, OP_NEG, fe_emit2(L, OP_ADD, pos, neg, loc), loc);
}

/* Per element, the same of p = sigmoid(z) from the logits z, in the form
 * that neither overflows nor rounds p to 0 or 1 (PyTorch's
 * binary_cross_entropy_with_logits): relu(z) - y z + log(1 + exp(-|z|)).
 * |z| is written 2 relu(z) - z here: with relu's gradient 0 at 0, the
 * gradient at z = 0 is then sigmoid(0) - y exactly, as it must be (where
 * every logit starts under zero initialisation). */
static int bce_of_logits(Lower *L, int z, int y, Loc loc) {
  int r = relu(L, z, loc);
  int neg_abs = fe_emit2(L, OP_SUB, z, fe_emit2(L, OP_ADD, r, r, loc), loc);
  int one = fe_scalar(L, 1, loc);
  int soft = fe_emit1(L, OP_LOG, fe_emit2(L, OP_ADD, one, fe_emit1(L, OP_EXP, neg_abs, loc), loc), loc);
  int lin = fe_emit2(L, OP_SUB, r, fe_emit2(L, OP_MUL, y, z, loc), loc);
  return fe_emit2(L, OP_ADD, lin, soft, loc);
}

/* binary_cross_entropy(p, y, from_logits: false): the mean of
 * -(y log p + (1 - y) log(1 - p)); from the logits when p is a sigmoid
 * output (or from_logits: true says p is the logits). */
static int lower_bce(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  Loc loc = call->loc;
  int p = a[0].v, y = fe_to_f32(L, a[1].v, loc), fl = from_logits(&a[2]);
  if (y < 0) return FE_ERR;
  int under = operand_of(L, p, OP_SIGMOID, 0);
  bool logits = fl == 1;
  if (under >= 0 && fl != 1) {
    p = under, logits = true; /* the logits under the sigmoid */
  } else if (under >= 0) {
    diag_warning(L->d, a[0].loc,
                 "binary_cross_entropy with from_logits: true of a sigmoid output: the sigmoid is applied twice "
                 "(leave from_logits out to use the logits under the sigmoid)");
  } else if (!logits && !is_probability(L, p)) {
    diag_warning(L->d, a[0].loc,
                 "binary_cross_entropy expects probabilities, but this tensor is not known to lie in [0, 1] "
                 "(apply sigmoid, or pass from_logits: true if it holds logits)");
  }
  if (logits && L->bce_logits < 0) L->bce_logits = p;
  if (!match_shapes(L, b, call, &p, &y)) return FE_ERR;
  int per = logits ? bce_of_logits(L, p, y, loc) : bce_of_probs(L, p, y, loc);
  return per < 0 ? FE_ERR : mean_all(L, per, loc);
}

/* The difference pred - target of a regression loss, or FE_ERR. */
static int residual(Lower *L, const Builtin *b, const Expr *call, const BArg *a) {
  int p = a[0].v, y = fe_to_f32(L, a[1].v, call->loc);
  if (y < 0 || !match_shapes(L, b, call, &p, &y)) return FE_ERR;
  return fe_emit2(L, OP_SUB, p, y, call->loc);
}

/* mse(pred, target): mean((pred - target) ** 2) */
static int lower_mse(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int d = residual(L, b, call, a);
  if (d < 0) return FE_ERR;
  Attrs sq = {.value = 2};
  return mean_all(L, fe_emit(L, OP_POW, &d, 1, &sq, NULL, call->loc), call->loc);
}

/* mae(pred, target): mean(|pred - target|), as torch.nn.L1Loss */
static int lower_mae(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  int d = residual(L, b, call, a);
  return d < 0 ? FE_ERR : mean_all(L, abs_of(L, d, call->loc), call->loc);
}

/* huber(pred, target, delta: 1.0): torch.nn.HuberLoss(delta), the mean of
 * 0.5 d^2 where |d| < delta and delta (|d| - 0.5 delta) elsewhere, written
 * with q = min(|d|, delta) = delta - relu(delta - |d|) as
 * 0.5 q^2 + delta (|d| - q): one expression, continuous with its gradient. */
static int lower_huber(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  Loc loc = call->loc;
  if (!(a[2].num > 0)) {
    diag_error(L->d, a[2].loc, "delta must be positive, got %g", a[2].num);
    return FE_ERR;
  }
  int d = residual(L, b, call, a);
  if (d < 0) return FE_ERR;
  int ad = abs_of(L, d, loc);
  int delta = fe_scalar(L, a[2].num, loc);
  int q = fe_emit2(L, OP_SUB, delta, relu(L, fe_emit2(L, OP_SUB, delta, ad, loc), loc), loc);
  int half = fe_scalar(L, 0.5, loc);
  int quad = fe_emit2(L, OP_MUL, half, fe_emit2(L, OP_MUL, q, q, loc), loc);
  int lin = fe_emit2(L, OP_MUL, delta, fe_emit2(L, OP_SUB, ad, q, loc), loc);
  return mean_all(L, fe_emit2(L, OP_ADD, quad, lin, loc), loc);
}

#define PRED_TARGET                                                                                                    \
  {"pred", P_TENSOR, FE_REQUIRED, NULL}, { "target", P_TENSOR, FE_REQUIRED, NULL }
#define FROM_LOGITS                                                                                                    \
  { "from_logits", P_BOOL, FE_OPTIONAL, NULL }

/* Each sets the module's task (the first loss called). */
const Builtin fe_loss_builtins[] = {
    {"cross_entropy",
     OP_COUNT,
     B_LOSS,
     NNRT_TASK_CLASSIFY,
     {{"logits", P_TENSOR, FE_REQUIRED, NULL}, {"labels", P_TENSOR, FE_REQUIRED, NULL}, FROM_LOGITS},
     lower_cross_entropy},
    {"binary_cross_entropy",
     OP_COUNT,
     B_LOSS,
     NNRT_TASK_BINARY,
     {{"p", P_TENSOR, FE_REQUIRED, NULL}, {"labels", P_TENSOR, FE_REQUIRED, NULL}, FROM_LOGITS},
     lower_bce},
    {"mse", OP_COUNT, B_LOSS, NNRT_TASK_REGRESS, {PRED_TARGET}, lower_mse},
    {"mae", OP_COUNT, B_LOSS, NNRT_TASK_REGRESS, {PRED_TARGET}, lower_mae},
    {"huber", OP_COUNT, B_LOSS, NNRT_TASK_REGRESS, {PRED_TARGET, {"delta", P_NUM, "1.0", NULL}}, lower_huber},
};
const int fe_loss_nbuiltins = (int)(sizeof fe_loss_builtins / sizeof *fe_loss_builtins);
