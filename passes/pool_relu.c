/* pool_relu.c — the `pool-relu` pass: a max pool of a relu becomes a relu
 * of the max pool.
 *
 *   before:  %c = relu %z : f32[B,32,26,26]
 *            %p = maxpool2d %c {kernel=2, stride=2} : f32[B,32,13,13]
 *   after:   %1 = maxpool2d %z {kernel=2, stride=2} : f32[B,32,13,13]
 *            %p = relu %1 : f32[B,32,13,13]
 *
 * Why: relu is monotone, so max(relu(a), relu(b)) = relu(max(a, b)), and
 * the relu then runs on the pool's output, a quarter of its input for a
 * 2x2 pool. The gain is mostly in the backward pass autodiff builds from
 * it: before, the pool's gradient needed relu(z) (kept, or recomputed by
 * remat: a pass over the whole activation) to find each window's maximum,
 * and relu's gradient step(z) * g then ran over the whole activation too;
 * after, step is taken of the pooled values and the pool's gradient reads
 * z, which the backward pass keeps anyway. On examples/fashion_cnn.nn this
 * removes two of the step's passes over [B,32,26,26].
 *
 * Exact, including NaN and ties: relu keeps NaN (ir.md), and a max pool
 * returns a window's NaN, so both forms give NaN where a window holds one,
 * else max(max(window), 0). The gradient goes to the same element: where
 * the window's maximum is positive, relu changes neither it nor which
 * element holds it first (zeros from negative elements cannot tie with
 * it); at a NaN, both pools pick the window's last NaN and step(NaN) = 1
 * passes the gradient; where every element is <= 0 both forms give the
 * window a zero gradient (before: routed to its first element, then times
 * step(z) = 0; after: times step(max) = 0, then routed), up to the sign of
 * zero and to where a NaN or infinite incoming gradient lands within that
 * window (inf * 0).
 *
 * Applies to every maxpool2d whose operand is a relu read by nothing else
 * (nor returned): a relu with other readers is needed whole anyway, and the
 * rewrite would then add a pass. Average pools do not commute with relu.
 *
 * Requires: a valid module before fusion (a function with groups or a
 * memory plan is left alone). Guarantees: the same values; the relu takes
 * the pool's node name. Runs before autodiff in the default pipeline, so
 * forward, eval_step and the training step's backward pass all see the
 * rewritten form; --disable-pass=pool-relu skips it. */
#include "passes.h"

/* A relu x: the pool moves onto its operand. */
static int through_relu(const IrFunc *f, const IrNode *x) {
  (void)f;
  return x->op == OP_RELU ? 0 : -1;
}

bool pass_pool_relu(IrModule *m, PassCtx *ctx) {
  (void)ctx;
  for (int i = 0; i < m->nfuncs; i++)
    pass_pool_commute(m->funcs[i], through_relu);
  return true;
}
