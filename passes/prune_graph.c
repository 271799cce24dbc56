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
 * set from it; its output_loss says when the loss eval_step computed can be
 * computed from forward's output (NNRT_LOSS_CROSS_ENTROPY), so that the
 * inference binary's eval still reports it. After this pass autodiff has
 * nothing to differentiate (pass_autodiff does nothing in an inference
 * build). */
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

/* The operand k of node v of f when v is an `op` node, else -1. */
static int operand_if(const IrFunc *f, int v, OpKind op, int k) {
  return v >= 0 && f->nodes[v].op == op && k < f->nodes[v].nargs ? f->nodes[v].args[k] : -1;
}

/* NNRT_LOSS_CROSS_ENTROPY when eval_step's loss is cross_entropy(output,
 * labels) of its output taken as logits, exactly as builtins_loss.c lowers
 * it: neg(mean over all axes(sum over the last axis(log_softmax(output) *
 * onehot(labels input)))); anything else (a softmax output, a sum of
 * losses, another loss) is NNRT_LOSS_NONE: the runtime then says the loss
 * is not available rather than computing a different one. */
static int output_loss(const IrFunc *ev) {
  if (!ev || ev->nrets != 2) return NNRT_LOSS_NONE;
  int out = ev->rets[1], rank = ev->nodes[out].ty.sh.rank;
  int sum = operand_if(ev, operand_if(ev, ev->rets[0], OP_NEG, 0), OP_MEAN, 0);
  int mul = operand_if(ev, sum, OP_SUM, 0);
  if (mul < 0 || rank < 1 || ev->nodes[sum].at.naxes != 1 || ev->nodes[sum].at.axes[0] != rank - 1 ||
      ev->nodes[sum].at.keepdims)
    return NNRT_LOSS_NONE;
  int ls = operand_if(ev, mul, OP_MUL, 0), labels = operand_if(ev, operand_if(ev, mul, OP_MUL, 1), OP_ONEHOT, 0);
  bool ok = operand_if(ev, ls, OP_LOG_SOFTMAX, 0) == out && ev->nodes[ls].at.axis == rank - 1 && labels >= 0 &&
            ev->nodes[labels].op == OP_INPUT && ev->nodes[ev->rets[0]].ty.sh.rank == 0;
  return ok ? NNRT_LOSS_CROSS_ENTROPY : NNRT_LOSS_NONE;
}

bool prune_graph(IrModule *m, PassCtx *ctx) {
  IrFunc *fwd = ir_func_find(m, IR_FN_FORWARD);
  if (!fwd) {
    diag_fatal(ctx->diag, "--infer: module '%s' has no %s function (the model's output) to keep", m->name,
               IR_FN_FORWARD);
    return false;
  }
  pass_dce_func(fwd);
  m->train.output_loss =
      m->train.task == NNRT_TASK_CLASSIFY ? output_loss(ir_func_find(m, IR_FN_EVAL)) : NNRT_LOSS_NONE;
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
