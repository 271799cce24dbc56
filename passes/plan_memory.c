/* plan_memory.c — the plan-memory pass: every intermediate value the
 * backends keep in memory gets a workspace slot, by liveness, in place
 * where legal; the slots lay out as one arena per function.
 *
 * Requires: a valid module, after fuse (the kernels, and so which values
 * are materialised and how long they live, come from the fusion groups).
 * Runs last: any pass that changes nodes afterwards clears the record.
 * Guarantees: in every function, IrNode.slot holds the slot of each value
 * the kernel plan keeps in the workspace (-1 elsewhere) and mem_planned is
 * set; the printer shows slot=N, and codegen takes the record as given.
 *
 * The assignment itself is the backend-neutral kernel plan's
 * (codegen/memplan.c: greedy by size at the planned batch, in-place writes for
 * elementwise kernels), so the pass and a backend agree by construction.
 * With PassCtx.report it prints one line for the binary (all functions share
 * one workspace, sized for the largest):
 *   memory: arena <N> bytes, lower bound <M> bytes (<N/M>x)
 * at the batch size of the train block (64 without one), where the lower
 * bound is the most bytes live at once in that function. With the option
 * report[:BATCH] it then lists the values live at that function's peak
 * (plan_memory_report.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../codegen/plan.h"
#include "passes.h"

bool pass_plan_memory(IrModule *m, PassCtx *ctx) {
  if (m->nsyms > CG_MAX_SYMS) {
    diag_fatal(ctx->diag, "plan-memory: at most %d symbolic dims; %s has %d", CG_MAX_SYMS, m->name, m->nsyms);
    return false;
  }
  int64_t syms[CG_MAX_SYMS];
  int64_t batch = m->train.batch > 0 ? m->train.batch : 64;
  cg_plan_point(m, syms); /* the planned syms: the report's figures are the plan's own */
  CgMemStats worst = {0}; /* the largest arena, and the largest lower bound */
  const IrFunc *worst_fn = NULL;
  for (int i = 0; i < m->nfuncs; i++) {
    IrFunc *f = m->funcs[i];
    ir_func_forget_memory(f);
    Arena *a = arena_new();
    CgPlan *p = cg_plan(a, m, f, &ctx->plan);
    /* An arena past 2 GiB at the planned batch has offsets the IR's int
     * attribute cannot hold: the function then carries no record, and
     * codegen makes the same plan itself (its offsets are 64-bit). */
    bool fits = p->arena0 <= INT32_MAX;
    for (int b = 0; b < p->nbufs && fits; b++)
      if (p->bufs[b].kind == CB_WS && p->bufs[b].owner >= 0 && p->bufs[b].def >= 0) {
        f->nodes[p->bufs[b].owner].slot = p->bufs[b].index;
        f->nodes[p->bufs[b].owner].offset = (int)p->bufs[b].at;
      }
    f->mem_planned = fits;
    CgMemStats st = cg_memstats(p, syms);
    if (st.arena > worst.arena) worst.arena = st.arena, worst_fn = f;
    if (st.lower > worst.lower) worst.lower = st.lower;
    arena_free(a);
  }
  if (ctx->report)
    fprintf(ctx->report,
            "memory: arena %" PRId64 " bytes, lower bound %" PRId64 " bytes (%.2fx) at batch %" PRId64 "%s%s\n",
            worst.arena, worst.lower, worst.lower ? (double)worst.arena / (double)worst.lower : 1.0, batch,
            worst_fn ? ", largest in " : "", worst_fn ? worst_fn->name : "");
  const char *opt = pass_option(ctx, "plan-memory");
  if (opt) {
    char err[160];
    if (!plan_memory_check_option(opt, err, sizeof err)) {
      diag_fatal(ctx->diag, "%s", err);
      return false;
    }
    /* The peak's live set at the batch asked for (else the planned one). */
    int64_t at[CG_MAX_SYMS], planned = m->train.batch;
    if (opt[6] == ':') batch = m->train.batch = strtoll(opt + 7, NULL, 10);
    cg_plan_point(m, at); /* the plan's sym binding, at that batch */
    m->train.batch = planned;
    if (worst_fn) plan_memory_report(ctx->report ? ctx->report : stderr, m, worst_fn, at, batch, &ctx->plan);
  }
  return true;
}
