/* passes.c — the pass table and the pipeline runner.
 *
 * The table is the one place a pass is named: --passes, --print-after,
 * --disable-pass and --time-passes all look names up here. The runner is a
 * flat loop, QBE-style: run a pass, then (as the context asks) verify,
 * print, and time it. */
#include "passes.h"
#include "prune.h"

#include "quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const PassInfo pass_table[] = {
    {"prune",
     "magnitude pruning: masks trained into the weights (unstructured), or units removed (structured); with "
     "--infer, graph pruning: only forward, the scan bodies it runs and the globals it reads (prune_graph.c)",
     pass_prune,
     "unstructured:S[,start=N][,end=N][,every=N][,params=GLOB|GLOB...] (sparsity S in (0,1) reached gradually "
     "from step start to end, masks recomputed every N steps; N a step count or, with a decimal point, a fraction "
     "of training; defaults start=0, end=0.75, every=0.01, params: the weights of dense, conv and recurrent "
     "layers but those under 1% of the largest one's size) or structured:R (remove the fraction R of units)",
     prune_check_option},
    {"quantize", "int8 quantization: post-training (int8) or fake-quant for quantization-aware training (qat)",
     pass_quantize,
     "<mode>: int8 (post-training int8 of a trained checkpoint) or qat (fake_quant on the weights and activations "
     "of dense and conv2d layers, trained with a straight-through gradient; the same as --qat); default: off",
     quantize_check_option},
    {"pool-relu",
     "a max pool of a relu becomes a relu of the max pool: the relu and its gradient run on the pooled values, "
     "and the pool's gradient needs no relu (pool_relu.c)",
     pass_pool_relu, NULL, NULL},
    {"pool-bias",
     "a max pool of a per-channel bias add becomes the bias add of the max pool: the add and the bias gradient's "
     "sum run on the pooled values (pool_bias.c)",
     pass_pool_bias, NULL, NULL},
    {"autodiff", "build train_step: eval_step (loss_step if any) + backward pass + optimizer update", pass_autodiff, NULL, NULL},
    {"simplify", "fold constants, algebraic identities, CSE, DCE", pass_simplify, NULL, NULL},
    {"scan-hoist",
     "a scan carry that only sums a product per step (a weight's gradient in a backward scan) becomes one batch of "
     "products and a sum after the loop (scan_hoist.c)",
     pass_scan_hoist, NULL, NULL},
    {"batch-sum",
     "a sum over the batch axis and others becomes a sum over the others, then one over the batch: a loop cut by "
     "samples like the kernels around it (a bias gradient) (batch_sum.c)",
     pass_batch_sum, NULL, NULL},
    {"remat",
     "recompute an elementwise value just before a late reader when its operands are alive there anyway, instead "
     "of keeping it alive from its early readers (a forward value the backward pass reads) (remat.c)",
     pass_remat,
     "min-gap:N: recompute only across a gap of at least N nodes between two readers (default 16)",
     remat_check_option},
    {"dce", "remove nodes no result or store needs; renumber compactly", pass_dce, NULL, NULL},
    {"fuse", "group elementwise chains, reductions and GEMM epilogues into kernels (fuse.c)", pass_fuse,
     "<kinds>: which fusions, a comma list of vertical (chains into loop nests), horizontal (independent update "
     "groups into one dispatch), epilogue (a matmul's elementwise users on each block of its product), shared "
     "(a value several groups read joins the first), qepilogue (epilogue for int8 qmatmul) and siblings "
     "(elementwise groups of one domain that read each other's values into one); default "
     "vertical,horizontal,shared,qepilogue,siblings", NULL},
    {"plan-memory", "workspace slots by liveness, in place where legal; reports arena vs lower bound",
     pass_plan_memory,
     "report[:BATCH]: after the one-line report, list the values live at the memory peak of the largest "
     "function (size, type, the kernel that writes it, the last that reads it), at BATCH (default: the planned "
     "batch)",
     plan_memory_check_option},
};
const int pass_count = (int)(sizeof pass_table / sizeof pass_table[0]);

const char *const pass_default_pipeline[] = {"prune", "quantize", "pool-relu", "pool-bias", "autodiff", "simplify", "scan-hoist", "batch-sum", "remat", "fuse", "plan-memory"};
const int pass_default_pipeline_len = (int)(sizeof pass_default_pipeline / sizeof pass_default_pipeline[0]);

const PassInfo *pass_find(const char *name) {
  for (int i = 0; i < pass_count; i++)
    if (!strcmp(pass_table[i].name, name)) return &pass_table[i];
  return NULL;
}

bool pass_func_unfused(const IrFunc *f) {
  if (f->mem_planned) return false;
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].group >= 0) return false;
  return true;
}

void pass_func_adopt(IrFunc *f, const IrFunc *out, const int *map) {
  for (int r = 0; r < f->nrets; r++)
    f->rets[r] = map[f->rets[r]];
  f->nodes = out->nodes, f->n = out->n, f->cap = out->cap;
}

void pass_pool_commute(IrFunc *f, int (*through)(const IrFunc *f, const IrNode *x)) {
  if (!pass_func_unfused(f)) return;
  /* readers[v]: nodes reading v, plus one per return of it */
  int *readers = calloc((size_t)f->n + 1, sizeof(int));
  if (!readers) unreachable("out of memory");
  for (int i = 0; i < f->n; i++)
    for (int a = 0; a < f->nodes[i].nargs; a++)
      readers[f->nodes[i].args[a]]++;
  for (int r = 0; r < f->nrets; r++)
    readers[f->rets[r]]++;
  /* side[x]: for an x only a max pool reads, which that pool's rewrite
   * reads through (so x is not copied), the operand the pool moves onto;
   * else -1. */
  int *side = malloc(sizeof(int) * ((size_t)f->n + 1));
  if (!side) unreachable("out of memory");
  int count = 0;
  for (int i = 0; i < f->n; i++)
    side[i] = -1;
  for (int i = 0; i < f->n; i++) {
    const IrNode *n = &f->nodes[i];
    if (n->op != OP_MAXPOOL2D || readers[n->args[0]] != 1) continue;
    int s = through(f, &f->nodes[n->args[0]]);
    if (s >= 0) side[n->args[0]] = s, count++;
  }
  free(readers);
  if (!count) {
    free(side);
    return;
  }
  IrFunc out = {.name = f->name, .mod = f->mod};
  int *map = malloc(sizeof(int) * ((size_t)f->n + 1));
  if (!map) unreachable("out of memory");
  for (int i = 0; i < f->n; i++) {
    IrNode n = f->nodes[i];
    int x = n.op == OP_MAXPOOL2D && side[n.args[0]] >= 0 ? n.args[0] : -1;
    if (side[i] >= 0) {
      map[i] = -1;
      continue;
    }
    if (x < 0) {
      for (int a = 0; a < n.nargs; a++)
        n.args[a] = map[n.args[a]];
      map[i] = ir_append(&out, &n);
      continue;
    }
    IrNode m = f->nodes[x];
    for (int a = 0; a < m.nargs; a++)
      m.args[a] = map[m.args[a]];
    int pool = ir_emit(&out, OP_MAXPOOL2D, &m.args[side[x]], 1, &n.at, &n.ty, n.loc, NULL);
    m.args[side[x]] = pool;
    int moved = pool < 0 ? -1 : ir_emit(&out, m.op, m.args, m.nargs, &m.at, &n.ty, n.loc, NULL);
    if (moved < 0 || !ir_type_eq(&out.nodes[moved].ty, &n.ty)) unreachable("pool-relu/pool-bias: the op moved after the pool does not type");
    out.nodes[moved].name = n.name;
    map[i] = moved;
  }
  pass_func_adopt(f, &out, map);
  free(map);
  free(side);
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
  for (int i = 0; i < n && ok; i++) {
    if (disabled(ctx, names[i])) continue;
    const PassInfo *p = pass_find(names[i]);
    double t0 = timing_now();
    ok = p->run(m, ctx);
    timing_add(ctx->times, p->name, timing_now() - t0);
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
  return ok;
}
