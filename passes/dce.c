/* dce.c — the `dce` pass: dead code elimination and compact renumbering.
 *
 * Requires: valid IR. Guarantees: every node left is an input, an effect
 * (`store`), a returned value, or an operand of one of those, transitively;
 * inputs come first, in index order, then the other nodes in their old
 * relative order, numbered 0..n-1 with no gaps. Inputs always stay, even
 * unused: they are the function's signature. */
#include <stdlib.h>

#include "passes.h"

void pass_dce_func(IrFunc *f) {
  ir_func_forget_memory(f); /* node ids change */
  bool *live = calloc((size_t)f->n + 1, sizeof *live);
  int *map = malloc(((size_t)f->n + 1) * sizeof *map), *order = malloc(((size_t)f->n + 1) * sizeof *order);
  if (!live || !map || !order) unreachable("out of memory");
  for (int k = 0; k < f->nrets; k++) live[f->rets[k]] = true;
  /* Operands precede users, so one backward sweep reaches every operand. */
  for (int i = f->n - 1; i >= 0; i--) {
    const IrNode *n = &f->nodes[i];
    if (n->op == OP_INPUT || op_is(n->op, OPF_EFFECT)) live[i] = true;
    if (live[i])
      for (int a = 0; a < n->nargs; a++) live[n->args[a]] = true;
  }
  IrNode *nodes = arena_alloc(f->mod->arena, ((size_t)f->n + 1) * sizeof *nodes);
  /* Inputs by index first (a stable insertion sort, so even a malformed
   * function loses nothing): they have no operands, so moving them up keeps
   * operands before users. */
  int n = 0;
  for (int i = 0; i < f->n; i++) {
    if (f->nodes[i].op != OP_INPUT) continue;
    int k = n++;
    for (; k > 0 && f->nodes[order[k - 1]].at.index > f->nodes[i].at.index; k--) order[k] = order[k - 1];
    order[k] = i;
  }
  for (int k = 0; k < n; k++) {
    map[order[k]] = k;
    nodes[k] = f->nodes[order[k]];
  }
  for (int i = 0; i < f->n; i++) {
    if (!live[i] || f->nodes[i].op == OP_INPUT) continue;
    IrNode c = f->nodes[i];
    for (int a = 0; a < c.nargs; a++) c.args[a] = map[c.args[a]];
    map[i] = n;
    nodes[n++] = c;
  }
  for (int k = 0; k < f->nrets; k++) f->rets[k] = map[f->rets[k]];
  f->nodes = nodes;
  f->cap = f->n + 1;
  f->n = n;
  free(live);
  free(map);
  free(order);
}

bool pass_dce(IrModule *m, PassCtx *ctx) {
  (void)ctx;
  for (int i = 0; i < m->nfuncs; i++) pass_dce_func(m->funcs[i]);
  return true;
}
