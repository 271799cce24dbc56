/* pool_bias.c — the `pool-bias` pass: a max pool of a per-channel bias add
 * becomes the bias add of the max pool.
 *
 *   before:  %5 = add %2, %4 : f32[B,32,26,26]        (%4: f32[32,1,1])
 *            %6 = maxpool2d %5 {kernel=2, stride=2} : f32[B,32,13,13]
 *   after:   %1 = maxpool2d %2 {kernel=2, stride=2} : f32[B,32,13,13]
 *            %6 = add %1, %4 : f32[B,32,13,13]
 *
 * Why: the add then runs on the pool's output, a quarter of its input for a
 * 2x2 pool, and so does its gradient, the sum that gives the bias's: the
 * backward pass sums the pool's output gradient over [B,13,13] instead of
 * the pool's input gradient over [B,26,26]. A conv2d(..., activation: relu)
 * before a pool is conv, add, relu, pool, which pool-relu (before this
 * pass) turns into conv, add, pool, relu: this pass then leaves the
 * convolution's output to the pool alone, and the add joins the relu's
 * kernel. On examples/fashion_cnn.nn it removes a kernel over
 * [B,32,26,26] and a quarter of the bias gradient's reads (docs/ir.md).
 *
 * The same values: c is the same in every element of a window (constant
 * along the pooled axes 2 and 3), and rounding is monotone, so
 * max(fl(z1 + c), fl(z2 + c)) = fl(max(z1, z2) + c); a NaN in the window or
 * in c gives NaN both ways. Two exceptions, neither a finite model's: an
 * infinite c with an element of the other sign (inf - inf is NaN in that
 * element alone before, the window's max plus c after), and where two
 * different elements round to one sum (before: a tie, routed to the first;
 * after: the larger one), the gradient goes to another element of the
 * window; tests/passes/pool_bias_agree.sh trains the CNN both ways to the
 * same checkpoint up to f32 rounding.
 *
 * Applies to every maxpool2d of rank-4 [N,C,H,W] whose operand is an add
 * read by nothing else (nor returned) with one operand of the pool's input
 * shape and the other constant along H and W (its shape, aligned to the
 * right, has 1 or nothing there). Average pools commute with the add too
 * but are left alone: their gradient spreads, so nothing is saved.
 *
 * Requires: a valid module before fusion (a function with groups or a
 * memory plan is left alone). Guarantees: the same values up to the two
 * exceptions; the add takes the pool's node name. Runs after pool-relu and
 * before autodiff in the default pipeline; --disable-pass=pool-bias skips
 * it. */
#include "passes.h"

/* Is a value of shape c, broadcast to [N,C,H,W], the same along H and W? */
static bool constant_over_hw(const Shape *c) {
  for (int d = c->rank - 2; d < c->rank; d++)
    if (d >= 0 && c->d[d] != 1) return false;
  return true;
}

/* The operand of add node a that the pool moves onto (the one of a's
 * shape, whose other operand is constant along H and W), or -1. */
static int pooled_operand(const IrFunc *f, const IrNode *a) {
  if (a->op != OP_ADD || a->ty.sh.rank != 4) return -1;
  for (int i = 0; i < 2; i++) {
    const Shape *x = &f->nodes[a->args[i]].ty.sh, *c = &f->nodes[a->args[1 - i]].ty.sh;
    if (ir_shape_eq(x, &a->ty.sh) && c->rank <= 4 && constant_over_hw(c)) return i;
  }
  return -1;
}

bool pass_pool_bias(IrModule *m, PassCtx *ctx) {
  (void)ctx;
  for (int i = 0; i < m->nfuncs; i++)
    pass_pool_commute(m->funcs[i], pooled_operand);
  return true;
}
