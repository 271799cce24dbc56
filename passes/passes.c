/* passes.c — the pass table and the pipeline runner.
 *
 * The table is the one place a pass is named: --passes, --print-after,
 * --disable-pass and --time-passes all look names up here. The runner is a
 * flat loop, QBE-style: run a pass, then (as the context asks) verify,
 * print, and time it. */
#include "passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prune.h"

/* TEMPORARY (branch `structured`): the prune pass proper (passes/prune.c,
 * built on another branch) parses every --prune spec and calls
 * prune_structured for structured:R; until the lead merges the two, this
 * entry takes structured:R alone. Delete it with that merge. */
static bool prune_tmp_spec(const char *value, double *ratio, char *err, size_t size) {
  char *end;
  if (strncmp(value, "structured:", 11) || (*ratio = strtod(value + 11, &end), end == value + 11) || *end ||
      !(*ratio > 0 && *ratio < 1)) {
    snprintf(err, size, "--prune=%s: expected structured:R, R the fraction of units to remove, between 0 and 1 "
             "(exclusive), like --prune=structured:0.5", value);
    return false;
  }
  return true;
}

static bool prune_tmp_check(const char *value, char *err, size_t size) {
  double r;
  return prune_tmp_spec(value, &r, err, size);
}

static bool prune_tmp_run(IrModule *m, PassCtx *ctx) {
  const char *value = pass_option(ctx, "prune");
  char err[256];
  double r;
  if (!value) return true;
  if (!prune_tmp_spec(value, &r, err, sizeof err)) {
    diag_fatal(ctx->diag, "%s", err);
    return false;
  }
  return prune_structured(m, r, ctx);
}

const PassInfo pass_table[] = {
    /* TEMPORARY entry (see prune_tmp_spec above) */
    {"prune", "structured:R removes the fraction R of each layer's units (prune_structured.c)", prune_tmp_run,
     "structured:R: remove round(R n) of the n units of each dense layer and conv (smallest L2 norms of their "
     "incoming weights), shrinking every shape; needs --checkpoint", prune_tmp_check},
    {"autodiff", "build train_step: eval_step (loss_step if any) + backward pass + optimizer update", pass_autodiff, NULL, NULL},
    {"simplify", "fold constants, algebraic identities, CSE, DCE", pass_simplify, NULL, NULL},
    {"dce", "remove nodes no result or store needs; renumber compactly", pass_dce, NULL, NULL},
    {"fuse", "group elementwise chains, reductions and GEMM epilogues into kernels (fuse.c)", pass_fuse,
     "<kinds>: which fusions, a comma list of vertical (chains into loop nests), horizontal (independent update "
     "groups into one dispatch), epilogue (a matmul's elementwise users on each block of its product) and shared "
     "(a value several groups read joins the first); default vertical,horizontal,shared", NULL},
    {"plan-memory", "workspace slots by liveness, in place where legal; reports arena vs lower bound",
     pass_plan_memory, NULL, NULL},
};
const int pass_count = (int)(sizeof pass_table / sizeof pass_table[0]);

const char *const pass_default_pipeline[] = {"prune", "autodiff", "simplify", "fuse", "plan-memory"};
const int pass_default_pipeline_len = (int)(sizeof pass_default_pipeline / sizeof pass_default_pipeline[0]);

const PassInfo *pass_find(const char *name) {
  for (int i = 0; i < pass_count; i++)
    if (!strcmp(pass_table[i].name, name)) return &pass_table[i];
  return NULL;
}

const char *pass_option(const PassCtx *ctx, const char *name) {
  for (int i = 0; i < ctx->noptions; i++)
    if (!strcmp(ctx->options[i].pass, name)) return ctx->options[i].value;
  return NULL;
}

static bool disabled(const PassCtx *ctx, const char *name) {
  for (int i = 0; i < ctx->ndisabled; i++)
    if (ctx->disabled[i] && !strcmp(ctx->disabled[i], name)) return true;
  return false;
}

static double now_s(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_times(const char *const *names, const double *secs, const bool *ran, int n) {
  double total = 0;
  for (int i = 0; i < n; i++) total += secs[i];
  fprintf(stderr, "===-- pass timing (wall) --===\n%12s %7s  %s\n", "seconds", "%", "pass");
  for (int i = 0; i < n; i++)
    if (ran[i])
      fprintf(stderr, "%12.6f %6.1f%%  %s\n", secs[i], total > 0 ? 100 * secs[i] / total : 0.0, names[i]);
  fprintf(stderr, "%12.6f %6.1f%%  total\n", total, 100.0);
}

bool pass_run_pipeline(IrModule *m, const char *const *names, int n, PassCtx *ctx) {
  /* Every name to run is checked before anything runs: a typo in the last
   * pass should not cost the time of the first ones. Disabled names are not:
   * --no-fuse disables "fuse" whether or not this pipeline has it. */
  bool ok = true;
  for (int i = 0; i < n; i++)
    if (!pass_find(names[i])) {
      diag_fatal(ctx->diag, "unknown pass '%s'", names[i]);
      ok = false;
    }
  if (ctx->print_after && !pass_find(ctx->print_after)) {
    diag_fatal(ctx->diag, "unknown pass '%s' in --print-after", ctx->print_after);
    ok = false;
  }
  if (!ok) return false;

  FILE *out = ctx->dump ? ctx->dump : stdout;
  double secs[64] = {0};
  bool ran[64] = {0};
  for (int i = 0; i < n && ok; i++) {
    if (disabled(ctx, names[i])) continue;
    const PassInfo *p = pass_find(names[i]);
    double t0 = now_s();
    ok = p->run(m, ctx);
    if (i < 64) {
      secs[i] = now_s() - t0;
      ran[i] = true;
    }
    if (ok && ctx->verify && !ir_verify(m, ctx->diag)) {
      diag_fatal(ctx->diag, "the IR is invalid after pass '%s' (a compiler bug)", p->name);
      ok = false;
    }
    if (ctx->print_after_all || (ctx->print_after && !strcmp(ctx->print_after, p->name))) {
      fprintf(out, "# -- after %s --\n", p->name);
      if (ctx->dump_dot) ir_print_dot(out, m);
      else ir_print_module(out, m);
    }
  }
  if (ctx->time_passes) print_times(names, secs, ran, n < 64 ? n : 64);
  return ok;
}
