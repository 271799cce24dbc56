/* vjp.c — vector-Jacobian products, one rule per ops.def row.
 *
 * A rule gets dy = dL/dy for the node y = op(x...) and emits dL/dx for each
 * operand that needs it, with the same type as that operand. Broadcasting
 * binary ops sum their gradient back over the stretched axes
 * (ad_unbroadcast). Rules reuse the forward result (c->self) where the
 * derivative is cheapest in terms of it: exp, sigmoid, tanh, sqrt, softmax.
 * The rules emit plain IR; simplify cleans up what a generic rule leaves (a
 * multiplication by the seed 1.0, a reshape to the same type).
 *
 * At most one argument of a call may emit nodes: C leaves the order in which
 * arguments are evaluated open, and the node order (so the printed IR) must
 * not depend on the compiler. */
#include "autodiff.h"

/* Operands that are not differentiable (i32 labels), and ops that have no
 * gradient at all (eq, step, onehot, sources, stores). */
void vjp_none(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)c, (void)dy;
  for (int i = 0; i < n->nargs; i++) grads[i] = -1;
}

/* ---- binary, with numpy broadcasting ---- */

void vjp_add(AdCtx *c, const IrNode *n, int dy, int *grads) {
  for (int i = 0; i < 2; i++) grads[i] = c->need[i] ? ad_unbroadcast(c, dy, ad_type(c, n->args[i])) : -1;
}

/* d(a - b) = da - db; the negation is done after the reduction, where the
 * tensor is smallest. */
void vjp_sub(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = c->need[0] ? ad_unbroadcast(c, dy, ad_type(c, n->args[0])) : -1;
  grads[1] = c->need[1] ? ad_op1(c, OP_NEG, ad_unbroadcast(c, dy, ad_type(c, n->args[1]))) : -1;
}

void vjp_mul(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int a = n->args[0], b = n->args[1];
  grads[0] = c->need[0] ? ad_unbroadcast(c, ad_op2(c, OP_MUL, dy, b), ad_type(c, a)) : -1;
  grads[1] = c->need[1] ? ad_unbroadcast(c, ad_op2(c, OP_MUL, dy, a), ad_type(c, b)) : -1;
}

/* y = a / b: da = dy / b, db = -dy * a / b^2 = -dy * y / b. */
void vjp_div(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int a = n->args[0], b = n->args[1];
  grads[0] = c->need[0] ? ad_unbroadcast(c, ad_op2(c, OP_DIV, dy, b), ad_type(c, a)) : -1;
  if (c->need[1]) {
    int t = ad_op2(c, OP_MUL, dy, ad_op2(c, OP_DIV, c->self, b));
    grads[1] = ad_op1(c, OP_NEG, ad_unbroadcast(c, t, ad_type(c, b)));
  } else grads[1] = -1;
}

/* where(c, a, b): da = where(c, dy, 0), db = where(c, 0, dy), each summed
 * back over its broadcast axes; the mask c gets none. */
void vjp_where(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = -1;
  for (int i = 1; i <= 2; i++) {
    if (!c->need[i]) {
      grads[i] = -1;
      continue;
    }
    int zero = ad_scalar(c, 0);
    int args[3] = {n->args[0], i == 1 ? dy : zero, i == 1 ? zero : dy};
    grads[i] = ad_unbroadcast(c, ad_opn(c, OP_WHERE, args, 3, NULL), ad_type(c, n->args[i]));
  }
}

/* The straight-through estimator (Bengio et al. 2013; PyTorch's fake
 * quantization backward): the rounding counts as the identity, so dx = dy
 * where the level is in range and 0 where it is clamped; the scale, which
 * the quantize pass computes from the weights or an observer, gets none. */
void vjp_fake_quant(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = c->need[0] ? ad_opn(c, OP_FAKE_QUANT_GRAD, (int[]){n->args[0], n->args[1], dy}, 3, &n->at) : -1;
  grads[1] = -1;
}

/* ---- unary ---- */

void vjp_neg(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)n;
  grads[0] = ad_op1(c, OP_NEG, dy);
}

/* The derivative at 0 is taken as 0 (step(0) = 0), as PyTorch does; at a
 * NaN it is 1 (step(NaN) = 1): PyTorch's threshold_backward passes dy
 * where x <= 0 is false. */
void vjp_relu(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_op2(c, OP_MUL, dy, ad_op1(c, OP_STEP, n->args[0]));
}

/* y' = y (1 - y) */
void vjp_sigmoid(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)n;
  int one_minus = ad_op2(c, OP_SUB, ad_scalar(c, 1), c->self);
  grads[0] = ad_op2(c, OP_MUL, dy, ad_op2(c, OP_MUL, c->self, one_minus));
}

/* y' = 1 - y^2 */
void vjp_tanh(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)n;
  int one = ad_scalar(c, 1), y2 = ad_op2(c, OP_MUL, c->self, c->self);
  int one_minus = ad_op2(c, OP_SUB, one, y2);
  grads[0] = ad_op2(c, OP_MUL, dy, one_minus);
}

/* y = 0.5 x (1 + t), t = tanh(u), u = C (x + A x^3):
 * y' = 0.5 (1 + t) + 0.5 x (1 - t^2) C (1 + 3 A x^2).
 * Plain elementwise ops, so the backward pass fuses into one kernel; t is
 * recomputed rather than kept from the forward (gelu is one op there). */
void vjp_gelu(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int x = n->args[0], x2 = ad_op2(c, OP_MUL, x, x);
  int inner = ad_op2(c, OP_ADD, ad_scalar(c, 1), ad_op2(c, OP_MUL, x2, ad_scalar(c, IR_GELU_A)));
  int u = ad_op2(c, OP_MUL, x, ad_op2(c, OP_MUL, inner, ad_scalar(c, IR_GELU_C)));
  int t = ad_op1(c, OP_TANH, u);
  int half = ad_scalar(c, 0.5);
  int left = ad_op2(c, OP_MUL, half, ad_op2(c, OP_ADD, ad_scalar(c, 1), t));
  int sech2 = ad_op2(c, OP_SUB, ad_scalar(c, 1), ad_op2(c, OP_MUL, t, t));
  int du = ad_op2(c, OP_MUL, ad_scalar(c, IR_GELU_C),
                  ad_op2(c, OP_ADD, ad_scalar(c, 1), ad_op2(c, OP_MUL, x2, ad_scalar(c, 3 * IR_GELU_A))));
  int right = ad_op2(c, OP_MUL, ad_op2(c, OP_MUL, half, x), ad_op2(c, OP_MUL, sech2, du));
  grads[0] = ad_op2(c, OP_MUL, dy, ad_op2(c, OP_ADD, left, right));
}

/* y' = 1 for x > 0, else alpha: alpha + (1 - alpha) (x > 0) (the slope at
 * 0 and at a NaN is alpha, as PyTorch's `x > 0 ? dy : dy * alpha`; step
 * would give 1 at a NaN). */
void vjp_leaky_relu(AdCtx *c, const IrNode *n, int dy, int *grads) {
  double alpha = n->at.value;
  int pos = ad_op2(c, OP_GT, n->args[0], ad_scalar(c, 0));
  int s = ad_op2(c, OP_MUL, pos, ad_scalar(c, 1 - alpha));
  grads[0] = ad_op2(c, OP_MUL, dy, ad_op2(c, OP_ADD, s, ad_scalar(c, alpha)));
}

/* y = alpha (e^x - 1) for x <= 0, so there y' = y + alpha; 1 otherwise:
 * y' = where(step(x), 1, y + alpha). At 0 it is alpha, at a NaN 1 (y + alpha
 * is NaN there, so a select, not a blend by multiplication), as PyTorch's
 * `x <= 0 ? ... : dy`. */
void vjp_elu(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int neg = ad_op2(c, OP_ADD, c->self, ad_scalar(c, n->at.value));
  int d = ad_opn(c, OP_WHERE, (int[]){ad_op1(c, OP_STEP, n->args[0]), ad_scalar(c, 1), neg}, 3, NULL);
  grads[0] = ad_op2(c, OP_MUL, dy, d);
}

/* y = x s, s = sigmoid(x): y' = s (1 + x (1 - s)); s recomputed (silu is
 * one op in the forward). */
void vjp_silu(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int x = n->args[0], s = ad_op1(c, OP_SIGMOID, x);
  int t = ad_op2(c, OP_MUL, x, ad_op2(c, OP_SUB, ad_scalar(c, 1), s));
  grads[0] = ad_op2(c, OP_MUL, dy, ad_op2(c, OP_MUL, s, ad_op2(c, OP_ADD, ad_scalar(c, 1), t)));
}

/* y' = sigmoid(x); above the threshold PyTorch takes 1, which sigmoid(x)
 * is in f32 there (1 - 2e-9). */
void vjp_softplus(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_op2(c, OP_MUL, dy, ad_op1(c, OP_SIGMOID, n->args[0]));
}

void vjp_exp(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)n;
  grads[0] = ad_op2(c, OP_MUL, dy, c->self);
}

void vjp_log(AdCtx *c, const IrNode *n, int dy, int *grads) { grads[0] = ad_op2(c, OP_DIV, dy, n->args[0]); }

/* y' = 1 / (2 y) */
void vjp_sqrt(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)n;
  grads[0] = ad_op2(c, OP_DIV, ad_op2(c, OP_MUL, dy, ad_scalar(c, 0.5)), c->self);
}

/* y = x^p: y' = p x^(p-1). p = 0 is a constant function; special-cased so
 * that x = 0 gives 0 rather than 0 * inf. */
void vjp_pow(AdCtx *c, const IrNode *n, int dy, int *grads) {
  double p = n->at.value;
  if (p == 0) {
    grads[0] = ad_zeros(c, ad_type(c, n->args[0]));
    return;
  }
  Attrs at = {.value = p - 1};
  int xp = ad_attr1(c, OP_POW, n->args[0], &at);
  int d = ad_op2(c, OP_MUL, xp, ad_scalar(c, p));
  grads[0] = ad_op2(c, OP_MUL, dy, d);
}

/* Only a float-to-float cast carries a gradient; integers have none. */
void vjp_cast(AdCtx *c, const IrNode *n, int dy, int *grads) {
  const Type *x = ad_type(c, n->args[0]);
  grads[0] = (x->dt == DT_F32 && n->ty.dt == DT_F32) ? ad_typed(c, OP_CAST, dy, x) : -1;
}

/* ---- reductions ---- */

/* v, a value of the reduction n's result type, with the reduced axes
 * present again as size 1 (keepdims' shape), ready to broadcast against the
 * operand. */
static int keepdims_value(AdCtx *c, const IrNode *n, int v) {
  if (n->at.keepdims) return v;
  Type t = {.dt = ad_type(c, v)->dt,
            .sh = ir_reduced_shape(&ad_type(c, n->args[0])->sh, n->at.axes, n->at.naxes, true)};
  return ad_typed(c, OP_RESHAPE, v, &t);
}

void vjp_sum(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_typed(c, OP_BROADCAST, keepdims_value(c, n, dy), ad_type(c, n->args[0]));
}

/* mean = sum / count, count the product of the reduced dims: static ones
 * fold into one constant, symbolic ones (the batch) are read with `dim` at
 * run time. */
void vjp_mean(AdCtx *c, const IrNode *n, int dy, int *grads) {
  const Type *x = ad_type(c, n->args[0]);
  double count = 1;
  int sym_count = -1;
  for (int j = 0; j < n->at.naxes; j++) {
    int64_t d = x->sh.d[n->at.axes[j]];
    if (!IR_IS_SYM(d)) {
      count *= (double)d;
      continue;
    }
    Attrs at = {.axis = n->at.axes[j]};
    int dv = ad_attr1(c, OP_DIM, n->args[0], &at);
    sym_count = sym_count < 0 ? dv : ad_op2(c, OP_MUL, sym_count, dv);
  }
  int denom = sym_count;
  if (sym_count < 0) denom = ad_scalar(c, count);
  else if (count != 1) denom = ad_op2(c, OP_MUL, sym_count, ad_scalar(c, count));
  int g = ad_op2(c, OP_DIV, keepdims_value(c, n, dy), denom);
  grads[0] = ad_typed(c, OP_BROADCAST, g, x);
}

/* The gradient goes to the elements equal to the max; ties share it evenly
 * (torch.amax's choice), so the rule stays a valid subgradient. */
void vjp_max(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int x = n->args[0];
  int mask = ad_op2(c, OP_EQ, x, keepdims_value(c, n, c->self));
  int ties = ad_reduce(c, OP_SUM, mask, n->at.axes, n->at.naxes, 1);
  grads[0] = ad_op2(c, OP_MUL, mask, ad_op2(c, OP_DIV, keepdims_value(c, n, dy), ties));
}

/* ---- row-wise ---- */

/* dx = y * (dy - sum(dy * y along axis)) */
void vjp_softmax(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int y = c->self, axis = n->at.axis;
  int dot = ad_reduce(c, OP_SUM, ad_op2(c, OP_MUL, dy, y), &axis, 1, 1);
  grads[0] = ad_op2(c, OP_MUL, y, ad_op2(c, OP_SUB, dy, dot));
}

/* dx = dy - softmax(x) * sum(dy along axis), softmax(x) = exp(y) */
void vjp_log_softmax(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int axis = n->at.axis;
  int total = ad_reduce(c, OP_SUM, dy, &axis, 1, 1);
  grads[0] = ad_op2(c, OP_SUB, dy, ad_op2(c, OP_MUL, ad_op1(c, OP_EXP, c->self), total));
}

/* ---- contraction ---- */

/* Y = op(A) op(B). d op(A) = dY op(B)^T and d op(B) = op(A)^T dY; a
 * transposed operand takes the transpose of that, which folds into the
 * flags instead of a transpose node:
 *   dA = ta ? op(B) dY^T : dY op(B)^T       dB = tb ? dY^T op(A) : op(A)^T dY */
/* The gradient of a matmul's first operand. */
static int matmul_grad_a(AdCtx *c, int b, int dy, int ta, int tb) {
  return ta ? ad_matmul(c, b, dy, tb, 1) : ad_matmul(c, dy, b, 0, !tb);
}

void vjp_matmul(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int a = n->args[0], b = n->args[1], ta = n->at.ta, tb = n->at.tb;
  grads[0] = grads[1] = -1;
  int r = ad_type(c, a)->sh.rank;
  bool shared = r >= 3 && ad_type(c, b)->sh.rank == 2;
  if (c->need[0] && !shared) grads[0] = matmul_grad_a(c, b, dy, ta, tb);
  if (c->need[1] && shared) {
    /* b is shared by the batch: the sum over it of each product's gradient.
     * Emitted first (node order is the schedule): the batch of products is
     * as large as a's gradient and dies in the sum, so it should not be
     * alive at the same time as a's gradient, which lives on. */
    int per = tb ? ad_matmul(c, dy, a, 1, 0) : ad_matmul(c, a, dy, 1, 0);
    int axes[IR_MAX_RANK];
    for (int i = 0; i < r - 2; i++) axes[i] = i;
    grads[1] = ad_reduce(c, OP_SUM, per, axes, r - 2, 0);
  } else if (c->need[1]) {
    grads[1] = tb ? ad_matmul(c, dy, a, 1, ta) : ad_matmul(c, a, dy, !ta, 0);
  }
  if (c->need[0] && shared) grads[0] = matmul_grad_a(c, b, dy, ta, tb);
}

/* ---- layout ---- */

void vjp_reshape(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_typed(c, OP_RESHAPE, dy, ad_type(c, n->args[0]));
}

/* The inverse permutation: y dim i is x dim perm[i], so x dim perm[i] is y
 * dim i. */
void vjp_transpose(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int inv[IR_MAX_RANK];
  for (int i = 0; i < n->at.naxes; i++) inv[n->at.axes[i]] = i;
  grads[0] = ad_transpose(c, dy, inv);
}

void vjp_broadcast(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_unbroadcast(c, dy, ad_type(c, n->args[0]));
}

/* ---- sliding windows ----
 *
 * Each window op's gradient is its own op (ops.def), which takes the
 * forward operands and dy: the conv gradients are the transposed walks of
 * the forward (docs/ir.md), the max-pool one routes dy to the first maximum
 * of each window, which only the forward's input can tell. */

void vjp_conv2d(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int args[3] = {n->args[0], n->args[1], dy};
  grads[0] = c->need[0] ? ad_opn(c, OP_CONV2D_GRAD_INPUT, args, 3, &n->at) : -1;
  grads[1] = c->need[1] ? ad_opn(c, OP_CONV2D_GRAD_WEIGHT, args, 3, &n->at) : -1;
}

void vjp_maxpool2d(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_opn(c, OP_MAXPOOL2D_GRAD, (int[]){n->args[0], dy}, 2, &n->at);
}

void vjp_avgpool2d(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_opn(c, OP_AVGPOOL2D_GRAD, (int[]){n->args[0], dy}, 2, &n->at);
}

const VjpFn ad_vjp[OP_COUNT] = {
#define OP(id, mnem, nargs, flags, attrs, shape, vjp) [OP_##id] = vjp,
#include "../ir/ops.def"
};

/* ---- index ranges ---- */

/* Each operand's gradient is its part of dy. */
void vjp_concat(AdCtx *c, const IrNode *n, int dy, int *grads) {
  int ax = n->at.axis, da = (int)ad_type(c, n->args[0])->sh.d[ax];
  Attrs a0 = {.axis = ax, .start = 0, .end = da}, a1 = {.axis = ax, .start = da, .end = (int)n->ty.sh.d[ax]};
  grads[0] = c->need[0] ? ad_attr1(c, OP_SLICE, dy, &a0) : -1;
  grads[1] = c->need[1] ? ad_attr1(c, OP_SLICE, dy, &a1) : -1;
}

/* dy put back in place between zeros: concats with constants, so that no
 * padding op (with its own rule and kernel) is needed. */
void vjp_slice(AdCtx *c, const IrNode *n, int dy, int *grads) {
  Type t = *ad_type(c, n->args[0]);
  int ax = n->at.axis, d = (int)t.sh.d[ax], g = dy;
  Attrs at = {.axis = ax};
  if (n->at.start > 0) {
    t.sh.d[ax] = n->at.start;
    g = ad_opn(c, OP_CONCAT, (int[]){ad_zeros(c, &t), g}, 2, &at);
  }
  if (n->at.end < d) {
    t.sh.d[ax] = d - n->at.end;
    g = ad_opn(c, OP_CONCAT, (int[]){g, ad_zeros(c, &t)}, 2, &at);
  }
  grads[0] = g;
}

/* dy where x passed through, 0 where the fill replaced it: the same mask
 * with 0 as the fill. */
void vjp_causal_mask(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)n;
  grads[0] = ad_attr1(c, OP_CAUSAL_MASK, dy, &(Attrs){.value = 0});
}

/* scan and scan_out have no dy of their own (a scan has many results):
 * ad_grad_seeded gathers the scan_outs' cotangents and calls ad_scan_vjp. */
void vjp_scan(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)c, (void)n, (void)dy, (void)grads;
  unreachable("scan is differentiated by ad_scan_vjp");
}

void vjp_scan_out(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)c, (void)n, (void)dy, (void)grads;
  unreachable("scan_out is differentiated by ad_grad_seeded");
}

/* ---- gathers and dropout ---- */

/* The table's gradient is dy's rows added up per id (a scatter-add); the
 * ids are integers and get none. */
void vjp_embedding(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = -1;
  grads[1] = c->need[1] ? ad_opn(c, OP_EMBEDDING_GRAD, (int[]){n->args[0], n->args[1], dy}, 3, NULL) : -1;
}

/* y = x * mask / (1 - rate), so dx = dy * mask / (1 - rate): the same op on
 * dy, whose mask is the same function of (seed, step, salt, index). No mask
 * is kept between the passes. */
void vjp_dropout(AdCtx *c, const IrNode *n, int dy, int *grads) {
  grads[0] = ad_opn(c, OP_DROPOUT, (int[]){dy, n->args[1], n->args[2]}, 3, &n->at);
  grads[1] = grads[2] = -1;
}

/* ---- int8 inference ---- */

/* quantize, dequantize, qmatmul, qconv2d run in inference binaries only:
 * training through quantization uses fake_quant's straight-through rule. A
 * gradient request for them is a pass-ordering bug. */
void vjp_inference_only(AdCtx *c, const IrNode *n, int dy, int *grads) {
  (void)c, (void)n, (void)dy, (void)grads;
  unreachable("int8 ops (quantize, dequantize, qmatmul, qconv2d) have no gradient: inference only");
}
