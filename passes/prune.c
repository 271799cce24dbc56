/* prune.c — the prune pass: magnitude pruning trained into the model.
 *
 * --prune=unstructured:S,... (grammar: runtime/nnrt_prune.h) picks the
 * weights to prune, by default every rank >= 2 parameter that a matmul or
 * conv2d reads (dense, conv2d, LSTM and GRU kernels, inside scans too:
 * through a scan's operands to its body's inputs, and through layout ops)
 * but those under 1 % of the largest's size, never biases, norms or
 * embedding tables; with params=GLOB|... the parameters whose names match. For each weight @P it adds the global
 * `mask @P.mask : <P's type> = ones` and rewrites every read of @P in
 * every function (the pass runs before autodiff, so forward, eval_step,
 * loss_step and scan bodies) into
 *     %w = global @P ; %m = global @P.mask ; %e = mul %w, %m
 * as torch.nn.utils.prune does: autodiff then gives P the gradient
 * g * mask, zero where the mask is, and every optimizer keeps a pruned
 * weight whose value and state the runtime zeroed at exactly zero. The
 * runtime owns the schedule (which step prunes how much, rt_prune.c); the
 * spec's canonical text goes to IrTrain.prune for it.
 *
 * --prune=structured:R goes to prune_structured (prune_structured.c), and
 * with --infer the pass ends with graph pruning (prune_graph.c). */
#include "prune.h"

#include <fnmatch.h>
#include <string.h>

#include "../runtime/nnrt_prune.h"

bool prune_check_option(const char *value, char *err, size_t errsize) {
  NnrtPruneSpec spec;
  return nnrt_prune_parse(value, &spec, err, errsize) == 0;
}

/* Whether value v of f reaches a matmul or conv2d operand, directly, through
 * layout ops (reshape, transpose, slice) or as a scan operand into its
 * body. */
static bool feeds_contraction(const IrModule *m, const IrFunc *f, int v, int depth) {
  if (depth > 16) return false; /* scans nest far less deep than this */
  for (int u = v + 1; u < f->n; u++) {
    const IrNode *n = &f->nodes[u];
    for (int k = 0; k < n->nargs; k++) {
      if (n->args[k] != v) continue;
      if (n->op == OP_MATMUL || n->op == OP_CONV2D) return true;
      if (op_is(n->op, OPF_LAYOUT) && feeds_contraction(m, f, u, depth + 1)) return true;
      const IrFunc *body = n->op == OP_SCAN ? ir_scan_body(m, &n->at) : NULL;
      for (int i = 0; body && i < body->n; i++)
        if (body->nodes[i].op == OP_INPUT && body->nodes[i].at.index == k &&
            feeds_contraction(m, body, i, depth + 1))
          return true;
    }
  }
  return false;
}

/* A weight with fewer entries than 1/PRUNE_SMALL of the largest one stays
 * dense by default: pruning it saves next to nothing and costs accuracy
 * out of proportion (a CNN's first convolution, 288 weights beside 346 k:
 * at 90 % its 32 filters keep 29 weights between them; Gale et al., "The
 * State of Sparsity in Deep Neural Networks", 2019, keep it dense too). */
#define PRUNE_SMALL 100

/* The default choice: the weights of dense, conv and recurrent layers,
 * but the small ones. */
static void default_params(const IrModule *m, bool *pick) {
  for (int fi = 0; fi < m->nfuncs; fi++) {
    const IrFunc *f = m->funcs[fi];
    for (int i = 0; i < f->n; i++) {
      if (f->nodes[i].op != OP_GLOBAL) continue;
      int g = ir_global_find(m, f->nodes[i].at.name);
      const IrGlobal *gl = &m->globals[g];
      if (gl->kind == GLOBAL_PARAM && gl->ty.dt == DT_F32 && gl->ty.sh.rank >= 2 && !pick[g] &&
          feeds_contraction(m, f, i, 0))
        pick[g] = true;
    }
  }
  int64_t largest = 0;
  for (int g = 0; g < m->nglobals; g++)
    if (pick[g] && ir_numel_static(&m->globals[g].ty.sh) > largest) largest = ir_numel_static(&m->globals[g].ty.sh);
  for (int g = 0; g < m->nglobals; g++)
    if (pick[g] && ir_numel_static(&m->globals[g].ty.sh) * PRUNE_SMALL < largest) pick[g] = false;
}

/* params=GLOB|GLOB...: the f32 parameters matching any glob; a glob that
 * matches none is an error (a typo would otherwise prune nothing). */
static bool named_params(const IrModule *m, const char *globs, bool *pick, Diag *d) {
  bool ok = true;
  for (const char *s = globs; *s; s += *s == '|') {
    size_t n = strcspn(s, "|");
    char glob[sizeof ((NnrtPruneSpec *)0)->params];
    snprintf(glob, sizeof glob, "%.*s", (int)n, s);
    s += n;
    if (!n) continue;
    bool any = false;
    for (int g = 0; g < m->nglobals; g++) {
      const IrGlobal *gl = &m->globals[g];
      if (gl->kind != GLOBAL_PARAM || gl->ty.dt != DT_F32 || fnmatch(glob, gl->name, 0) != 0) continue;
      pick[g] = any = true;
    }
    if (!any) {
      diag_fatal(d, "--prune: params=%s: no f32 parameter of model '%s' matches '%s'", globs, m->name, glob);
      ok = false;
    }
  }
  return ok;
}

/* Rebuilds f with every read of a pruned parameter g < nmask (mask[g] >= 0)
 * followed by its mask's read and their product, which takes the read's
 * place. */
static void mask_reads(IrFunc *f, const int *mask, int nmask) {
  IrModule *m = f->mod;
  int n = f->n;
  IrNode *old = arena_alloc(m->arena, sizeof *old * (size_t)(n + 1));
  int *map = arena_alloc(m->arena, sizeof *map * (size_t)(n + 1));
  memcpy(old, f->nodes, sizeof *old * (size_t)n);
  f->n = 0;
  for (int i = 0; i < n; i++) {
    IrNode nd = old[i];
    for (int k = 0; k < nd.nargs; k++)
      nd.args[k] = map[nd.args[k]];
    int v = ir_append(f, &nd);
    int g = nd.op == OP_GLOBAL ? ir_global_find(m, nd.at.name) : -1;
    if (g >= 0 && g < nmask && mask[g] >= 0) v = ir_op2(f, OP_MUL, v, ir_global_ref(f, mask[g], nd.loc), nd.loc);
    map[i] = v;
  }
  for (int r = 0; r < f->nrets; r++)
    f->rets[r] = map[f->rets[r]];
  ir_func_forget_memory(f);
}

static bool prune_unstructured(IrModule *m, const NnrtPruneSpec *sp, PassCtx *ctx) {
  NnrtPruneSpec spec = *sp;
  if (!m->train.present || !ir_func_find(m, IR_FN_EVAL)) {
    diag_fatal(ctx->diag, "--prune=unstructured prunes while training; model '%s' has no train block and loss", m->name);
    return false;
  }
  if (ir_func_find(m, IR_FN_TRAIN)) {
    diag_fatal(ctx->diag, "--prune: module '%s' already has a train_step; prune runs before autodiff", m->name);
    return false;
  }
  bool *pick = arena_alloc(m->arena, sizeof *pick * (size_t)(m->nglobals + 1));
  memset(pick, 0, sizeof *pick * (size_t)(m->nglobals + 1));
  if (spec.params[0]) {
    if (!named_params(m, spec.params, pick, ctx->diag)) return false;
  } else {
    default_params(m, pick);
  }
  int nglobals = m->nglobals;
  int *mask = arena_alloc(m->arena, sizeof *mask * (size_t)(nglobals + 1));
  int npruned = 0;
  for (int g = 0; g < nglobals; g++) {
    mask[g] = -1;
    if (!pick[g]) continue;
    const IrGlobal p = m->globals[g]; /* a copy: ir_global_add may move the array */
    const char *name = arena_printf(m->arena, "%s.mask", p.name);
    if (ir_global_find(m, name) >= 0) {
      diag_fatal(ctx->diag, "--prune: the mask of @%s would be @%s, which the model already has", p.name, name);
      return false;
    }
    mask[g] = ir_global_add(m, (IrGlobal){.name = name, .kind = GLOBAL_MASK, .ty = p.ty, .init = NNRT_INIT_ONES,
                                          .loc = p.loc});
    npruned++;
  }
  if (!npruned) {
    diag_fatal(ctx->diag, "--prune: model '%s' has no weights to prune (no matmul or conv2d reads a parameter)",
               m->name);
    return false;
  }
  for (int fi = 0; fi < m->nfuncs; fi++)
    mask_reads(m->funcs[fi], mask, nglobals);
  char text[sizeof spec.params + 128];
  nnrt_prune_format(&spec, text, sizeof text);
  m->train.prune = arena_strdup(m->arena, text);
  return true;
}

bool pass_prune(IrModule *m, PassCtx *ctx) {
  const char *opt = pass_option(ctx, "prune");
  if (opt) {
    NnrtPruneSpec spec;
    char err[1024];
    if (nnrt_prune_parse(opt, &spec, err, sizeof err)) {
      diag_fatal(ctx->diag, "%s", err);
      return false;
    }
    if (!spec.structured && ctx->infer) {
      diag_fatal(ctx->diag, "--prune=unstructured prunes while training, and an --infer build does not train: build "
                            "the training binary with --prune, then --infer --checkpoint its checkpoint");
      return false;
    }
    if (!(spec.structured ? prune_structured(m, spec.sparsity, ctx) : prune_unstructured(m, &spec, ctx))) return false;
  }
  /* Graph pruning comes last: structured pruning rewrites eval_step too. */
  return !ctx->infer || prune_graph(m, ctx);
}
