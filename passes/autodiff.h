/* autodiff.h — reverse-mode differentiation of IR functions.
 *
 * Sections: the VJP rules (vjp.c, one per ops.def row) and the helpers they
 * emit IR with (autodiff.c) · the gradient API (autodiff.c) · the optimizer
 * update (optim.c). */
#ifndef NNC_AUTODIFF_H
#define NNC_AUTODIFF_H
#include "../ir/ir.h"

/* ---- VJP rules ---- */

/* What a VJP rule sees. Rules append nodes to f; `self` is the value id of
 * the node being differentiated (its forward result, which exp/sigmoid/...
 * reuse), `need[i]` says whether operand i wants a gradient at all (a rule
 * emits nothing for an operand that does not), and new nodes carry `loc`,
 * the forward node's location. */
typedef struct AdCtx {
  IrFunc *f;
  int self;
  bool need[IR_MAX_ARGS];
  Loc loc;
} AdCtx;

/* Given the node n (a copy: f->nodes moves while rules append) and dy, the
 * gradient of the loss with respect to n's result (same type), writes to
 * grads[i] the gradient with respect to operand i (its type exactly), or -1
 * for none (not needed, or not differentiable). */
typedef void (*VjpFn)(AdCtx *c, const IrNode *n, int dy, int *grads);

#define OP(id, mnem, nargs, flags, attrs, shape, vjp) void vjp(AdCtx *c, const IrNode *n, int dy, int *grads);
#include "../ir/ops.def"

/* The rule of every op, indexed by OpKind (vjp.c). */
extern const VjpFn ad_vjp[OP_COUNT];

/* Emitters for rules; each returns the new value id and aborts on a shape
 * error (which would be a bug in a rule). */
const Type *ad_type(const AdCtx *c, int v);
int ad_op1(AdCtx *c, OpKind op, int x);
int ad_op2(AdCtx *c, OpKind op, int a, int b);
int ad_scalar(AdCtx *c, double value);
int ad_zeros(AdCtx *c, const Type *t);
int ad_typed(AdCtx *c, OpKind op, int x, const Type *t); /* reshape, broadcast, cast */
int ad_reduce(AdCtx *c, OpKind op, int x, const int *axes, int naxes, int keepdims);
int ad_matmul(AdCtx *c, int a, int b, int ta, int tb);
int ad_transpose(AdCtx *c, int x, const int *perm);
int ad_attr1(AdCtx *c, OpKind op, int x, const Attrs *at); /* pow, dim, softmax... */
int ad_opn(AdCtx *c, OpKind op, const int *args, int nargs, const Attrs *at); /* window gradients */
/* Sums gradient g (of a broadcast result) back to type `to`: over the axes
 * that broadcasting stretched, then reshaped to `to`'s rank. */
int ad_unbroadcast(AdCtx *c, int g, const Type *to);

/* ---- gradients ---- */

/* Appends to f the gradient of the sum of value y's elements with respect to
 * each value wrt[k] (f32 values of f). grads[k] receives a value of wrt[k]'s
 * type; one y does not depend on gets a zero const. Gradients reaching a
 * value through several uses are summed. */
void ad_grad(IrFunc *f, int y, const int *wrt, int nwrt, int *grads);

/* The same for several values at once, each seeded with its cotangent:
 * the gradient of sum_k sum(ys[k] * seeds[k]) (seeds[k] a value of ys[k]'s
 * type; seeds NULL: ones). What a scan's backward body needs. */
void ad_grad_seeded(IrFunc *f, const int *ys, const int *seeds, int ny, const int *wrt, int nwrt, int *grads);

/* The rule for scan (ad_scan.c), called by the sweep with the cotangent of
 * each of the scan's results (-1: none) instead of one dy: writes the
 * gradient of each operand to grads. Switches the forward scan to a body
 * that also stacks its carries (the backward pass reads them), and appends
 * a reverse scan over a body built from the VJP rules. */
void ad_scan_vjp(AdCtx *c, const IrNode *scan, const int *cot, int *grads);
/* Whether every scan of f can be differentiated (its backward scan fits in
 * IR_MAX_ARGS operands); reports the ones that cannot through d. */
bool ad_scans_differentiable(const IrFunc *f, Diag *d);

/* The GLOBAL_PARAM globals read by f, in module order, written to params
 * (room for m->nglobals); returns their count. */
int ad_params_read(const IrFunc *f, int *params);

/* Appends to f the gradient of value y with respect to each parameter f
 * reads (ad_params_read order): the sum over every `global` read of it. */
int ad_param_grads(IrFunc *f, int y, int *params, int *grads);

/* Builds `name` = src's inputs -> (src's first result, then the gradient of
 * it with respect to each parameter src reads, in ad_params_read order).
 * For gradient checks and tests; the driver never compiles it. */
IrFunc *ad_build_grad_func(IrModule *m, const IrFunc *src, const char *name);

/* ---- optimizer (optim.c) ---- */

/* Appends to f the update of module->train's optimizer (Adam with the
 * default hyper-parameters when the module has no train block): reads of
 * the optimizer state (new GLOBAL_STATE globals `<param>.m`, `<param>.v`,
 * `<param>.momentum`, `opt.step`, zero-initialised), the torch.optim update
 * arithmetic, and stores of the new parameters and state. params/grads as
 * from ad_param_grads; lr is the learning-rate value (f32[]). Returns false
 * after reporting through d when a state global's name is taken by a global
 * of another type. */
bool ad_emit_optimizer(IrFunc *f, const int *params, const int *grads, int nparams, int lr, Diag *d);

#endif
