/* prune_graph.c — graph pruning for inference (`nnc build --infer`): the
 * part of the `prune` pass that cuts a module down to what its output needs.
 *
 * Requires: valid IR with a function forward. Guarantees: the module's
 * functions are forward and the scan bodies it runs (transitively); every
 * other function (eval_step with the loss and the labels input, loss_step,
 * train_step with the backward pass and the optimizer update, the bodies
 * only they run) is gone, forward holds only the nodes its result needs,
 * and the globals no remaining node reads or stores (optimizer state, the
 * dropout seed, parameters only the loss uses) are gone too. The train
 * block stays: the runtime still reads the task, the batch and the data
 * set from it. After this pass autodiff has nothing to differentiate
 * (pass_autodiff does nothing in an inference build). */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* Marks f and the scan bodies it runs, transitively, in keep[] (indexed as
 * m->funcs). */
static void mark_func(const IrModule *m, const IrFunc *f, bool *keep) {
  int at = -1;
  for (int i = 0; i < m->nfuncs; i++)
    if (m->funcs[i] == f) at = i;
  if (at < 0 || keep[at]) return;
  keep[at] = true;
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_SCAN) {
      const IrFunc *body = ir_scan_body(m, &f->nodes[i].at);
      if (body) mark_func(m, body, keep);
    }
}

bool prune_graph(IrModule *m, PassCtx *ctx) {
  IrFunc *fwd = ir_func_find(m, IR_FN_FORWARD);
  if (!fwd) {
    diag_fatal(ctx->diag, "--infer: module '%s' has no %s function (the model's output) to keep", m->name,
               IR_FN_FORWARD);
    return false;
  }
  pass_dce_func(fwd);
  bool *keep = calloc((size_t)m->nfuncs + 1, sizeof *keep);
  bool *read = calloc((size_t)m->nglobals + 1, sizeof *read);
  if (!keep || !read) unreachable("out of memory");
  mark_func(m, fwd, keep);
  int nf = 0;
  for (int i = 0; i < m->nfuncs; i++)
    if (keep[i]) m->funcs[nf++] = m->funcs[i];
  m->nfuncs = nf;
  /* A global stays when a kept node names it: `global` reads and `store`s. */
  for (int k = 0; k < m->nfuncs; k++) {
    const IrFunc *f = m->funcs[k];
    for (int i = 0; i < f->n; i++)
      if (f->nodes[i].op == OP_GLOBAL || f->nodes[i].op == OP_STORE) {
        int g = ir_global_find(m, f->nodes[i].at.name);
        if (g >= 0) read[g] = true;
      }
  }
  int ng = 0;
  for (int g = 0; g < m->nglobals; g++)
    if (read[g]) m->globals[ng++] = m->globals[g];
  m->nglobals = ng;
  free(keep);
  free(read);
  return true;
}
