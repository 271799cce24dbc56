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
 * (codegen/memplan.c: best fit by symbolic size class, in-place writes for
 * elementwise kernels), so the pass and a backend agree by construction.
 * With PassCtx.report it prints one line for the binary (all functions share
 * one workspace, sized for the largest):
 *   memory: arena <N> bytes, lower bound <M> bytes (<N/M>x)
 * at the batch size of the train block (64 without one), where the lower
 * bound is the most bytes live at once in that function. */
#include <inttypes.h>
#include <string.h>

#include "../codegen/plan.h"
#include "passes.h"

/* The batch sym, bound as the runtime binds it (rt_session.c): the sym
 * named B, else the first; it takes the batch size, any other sym 1. */
static void bind_syms(const IrModule *m, int64_t batch, int64_t *syms) {
  int b = m->nsyms > 0 ? 0 : -1;
  for (int k = 0; k < m->nsyms; k++) {
    syms[k] = 1;
    if (!strcmp(m->syms[k], "B")) b = k;
  }
  if (b >= 0) syms[b] = batch;
}

bool pass_plan_memory(IrModule *m, PassCtx *ctx) {
  if (m->nsyms > CG_MAX_SYMS) {
    diag_fatal(ctx->diag, "plan-memory: at most %d symbolic dims; %s has %d", CG_MAX_SYMS, m->name, m->nsyms);
    return false;
  }
  int64_t syms[CG_MAX_SYMS];
  int64_t batch = m->train.batch > 0 ? m->train.batch : 64;
  bind_syms(m, batch, syms);
  CgMemStats worst = {0}; /* the largest arena, and the largest lower bound */
  const char *worst_fn = "";
  for (int i = 0; i < m->nfuncs; i++) {
    IrFunc *f = m->funcs[i];
    ir_func_forget_memory(f);
    Arena *a = arena_new();
    CgPlan *p = cg_plan(a, m, f);
    for (int b = 0; b < p->nbufs; b++)
      if (p->bufs[b].kind == CB_WS && p->bufs[b].owner >= 0 && p->bufs[b].def >= 0) {
        f->nodes[p->bufs[b].owner].slot = p->bufs[b].index;
        if (p->bufs[b].at > INT32_MAX) unreachable("a workspace offset past 2^31 bytes per unit");
        f->nodes[p->bufs[b].owner].offset = (int)p->bufs[b].at;
      }
    f->mem_planned = true;
    CgMemStats st = cg_memstats(p, syms);
    if (st.arena > worst.arena) worst.arena = st.arena, worst_fn = f->name;
    if (st.lower > worst.lower) worst.lower = st.lower;
    arena_free(a);
  }
  if (ctx->report)
    fprintf(ctx->report,
            "memory: arena %" PRId64 " bytes, lower bound %" PRId64 " bytes (%.2fx) at batch %" PRId64 "%s%s\n",
            worst.arena, worst.lower, worst.lower ? (double)worst.arena / (double)worst.lower : 1.0, batch,
            *worst_fn ? ", largest in " : "", worst_fn);
  return true;
}
