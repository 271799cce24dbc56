/* batch_sum.c — the `batch-sum` pass: a sum over the batch axis and others
 * becomes a sum over the others, then one over the batch.
 *
 *   before:  %g = sum %dy {axes=[0,2,3], keepdims=0} : f32[C]           (dy: f32[B,C,H,W])
 *   after:   %s = sum %dy {axes=[2,3], keepdims=0} : f32[B,C]
 *            %g = sum %s {axes=[0], keepdims=0} : f32[C]
 *
 * Why: a backend runs a reduction as a loop over its outputs. The first
 * form, a convolution's bias gradient, is a loop over the C channels, each
 * reading every sample; on 2 threads each core reads half of every sample
 * of dy, which the elementwise kernel before it wrote cut by samples, so
 * half of dy crosses between the cores, and the next step's writer pulls
 * the lines back. The second form is a loop over the B*C rows of dy, cut by
 * samples like its producer, then a sum of B*C values. The same holds for
 * a layer norm's or a bias's gradient over [B, T, D] (axes [0, 1]).
 *
 * Applies to every `sum` whose axes hold 0 and at least one more (keepdims
 * either way: the inner sum keeps them too, so the outer one's axis 0 is
 * the batch's). Axis 0 is the batch in nnc's layouts (NCHW, [B, T, ...]).
 * The adds run in another order: the results agree up to f32 rounding, not
 * bit for bit, and still never depend on the thread count.
 *
 * Requires: a valid module before fusion (a function with groups or a
 * memory plan is left alone). Guarantees: the same values up to the
 * rounding of the split sums; each rewritten sum keeps its node's name.
 * Runs after autodiff and simplify, before remat and fuse, in the default
 * pipeline; --disable-pass=batch-sum skips it. */
#include <stdlib.h>

#include "passes.h"

static bool splits(const IrNode *n) { return n->op == OP_SUM && n->at.naxes >= 2 && n->at.axes[0] == 0; }

static void split_func(IrFunc *f) {
  int count = 0;
  for (int i = 0; i < f->n; i++)
    count += splits(&f->nodes[i]);
  if (!count || !pass_func_unfused(f)) return;
  IrFunc out = {.name = f->name, .mod = f->mod};
  int *map = malloc(sizeof(int) * ((size_t)f->n + 1));
  if (!map) unreachable("out of memory");
  for (int i = 0; i < f->n; i++) {
    IrNode n = f->nodes[i];
    bool split = splits(&n);
    for (int a = 0; a < n.nargs; a++)
      n.args[a] = map[n.args[a]];
    if (!split) {
      map[i] = ir_append(&out, &n);
      continue;
    }
    Attrs inner = n.at, outer = n.at;
    inner.naxes = n.at.naxes - 1; /* axes are ascending: drop the leading 0 */
    for (int k = 0; k < inner.naxes; k++)
      inner.axes[k] = n.at.axes[k + 1];
    outer.naxes = 1, outer.axes[0] = 0;
    int s = ir_emit(&out, OP_SUM, n.args, 1, &inner, NULL, n.loc, NULL);
    int g = s < 0 ? -1 : ir_emit(&out, OP_SUM, &s, 1, &outer, &n.ty, n.loc, NULL);
    if (g < 0 || !ir_type_eq(&out.nodes[g].ty, &n.ty)) unreachable("batch-sum: the split sum does not type");
    out.nodes[g].name = n.name;
    map[i] = g;
  }
  pass_func_adopt(f, &out, map);
  free(map);
}

bool pass_batch_sum(IrModule *m, PassCtx *ctx) {
  (void)ctx;
  for (int i = 0; i < m->nfuncs; i++)
    split_func(m->funcs[i]);
  return true;
}
