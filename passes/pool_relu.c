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
#include <stdlib.h>

#include "passes.h"

static void rewrite_func(IrFunc *f) {
  if (!pass_func_unfused(f)) return;
  /* readers[v]: nodes reading v, plus one per return of it */
  int *readers = calloc((size_t)f->n + 1, sizeof(int));
  if (!readers) unreachable("out of memory");
  for (int i = 0; i < f->n; i++)
    for (int a = 0; a < f->nodes[i].nargs; a++)
      readers[f->nodes[i].args[a]]++;
  for (int r = 0; r < f->nrets; r++)
    readers[f->rets[r]]++;
  /* dropped[v]: v is a relu only a max pool reads, which the pool's
   * rewrite reads through, so it is not copied. */
  bool *dropped = calloc((size_t)f->n + 1, sizeof(bool));
  if (!dropped) unreachable("out of memory");
  int count = 0;
  for (int i = 0; i < f->n; i++) {
    const IrNode *n = &f->nodes[i];
    if (n->op == OP_MAXPOOL2D && f->nodes[n->args[0]].op == OP_RELU && readers[n->args[0]] == 1)
      dropped[n->args[0]] = true, count++;
  }
  free(readers);
  if (!count) {
    free(dropped);
    return;
  }
  IrFunc out = {.name = f->name, .mod = f->mod};
  int *map = malloc(sizeof(int) * ((size_t)f->n + 1));
  if (!map) unreachable("out of memory");
  for (int i = 0; i < f->n; i++) {
    IrNode n = f->nodes[i];
    if (dropped[i]) {
      map[i] = -1;
      continue;
    }
    bool swap = n.op == OP_MAXPOOL2D && dropped[n.args[0]];
    int relu_in = swap ? f->nodes[n.args[0]].args[0] : -1;
    for (int a = 0; a < n.nargs; a++)
      n.args[a] = swap ? map[relu_in] : map[n.args[a]];
    if (!swap) {
      map[i] = ir_append(&out, &n);
      continue;
    }
    int pool = ir_emit(&out, OP_MAXPOOL2D, n.args, 1, &n.at, &n.ty, n.loc, NULL);
    int relu = pool < 0 ? -1 : ir_emit(&out, OP_RELU, &pool, 1, NULL, &n.ty, n.loc, NULL);
    if (relu < 0 || !ir_type_eq(&out.nodes[relu].ty, &n.ty)) unreachable("pool-relu: the swapped pool does not type");
    out.nodes[relu].name = n.name;
    map[i] = relu;
  }
  pass_func_adopt(f, &out, map);
  free(map);
  free(dropped);
}

bool pass_pool_relu(IrModule *m, PassCtx *ctx) {
  (void)ctx;
  for (int i = 0; i < m->nfuncs; i++)
    rewrite_func(m->funcs[i]);
  return true;
}
