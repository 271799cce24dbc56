/* builtins_seq.c — the callbacks of the builtins for sequence models (rows
 * in builtins.c's table): the embedding layer and dropout.
 *
 * Dropout is the one builtin whose meaning depends on the mode: lowered
 * here as a `dropout` node (training mode), it is cut out again, replaced
 * by its input, from forward and eval_step (lower.c), and kept in
 * loss_step, the training-mode twin of eval_step that autodiff
 * differentiates into train_step. Its mask is keyed by two state globals
 * every dropout site shares: @rng.seed (the run's seed, written by the
 * runtime) and @opt.step (the optimizer's step counter, so each step draws
 * a new mask); each site has its own salt, its number in source order. */
#include "lower.h"

int fe_state(Lower *L, const char *name, GlobalKind kind, Type t, int init, Loc loc) {
  int g = ir_global_find(L->m, name);
  if (g < 0) g = ir_global_add(L->m, (IrGlobal){.name = name, .kind = kind, .ty = t, .init = init, .loc = loc});
  return ir_global_ref(L->f, g, loc);
}

/* embedding(ids i32[...], vocab, dim, init: uniform, name): the table
 * <name>.table [vocab, dim], one row per id; result [..., dim]. Keras's
 * Embedding, whose default initialiser is uniform(-0.05, 0.05). */
int fe_lower_embedding(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  bool ok = true;
  if (t->dt != DT_I32) {
    diag_error(L->d, a[0].loc, "embedding expects integer ids (i32), got %s", fe_type_str(L, t, buf));
    ok = false;
  } else if (t->sh.rank >= IR_MAX_RANK) {
    diag_error(L->d, a[0].loc, "embedding ids may have at most %d axes, got %s", IR_MAX_RANK - 1,
               fe_type_str(L, t, buf));
    ok = false;
  }
  for (int i = 1; i <= 2; i++)
    if (a[i].i <= 0) {
      diag_error(L->d, a[i].loc, "%s must be a positive integer, got %lld", i == 1 ? "vocab" : "dim",
                 (long long)a[i].i);
      ok = false;
    }
  if (ok && a[1].i > FE_MAX_ELEMS / a[2].i) {
    diag_error(L->d, call->loc, "this embedding would be too large (more than 2^40 weights)");
    ok = false;
  }
  const char *name = ok ? fe_layer_name(L, &a[4], "embedding") : NULL;
  if (!name) return FE_ERR;
  int64_t V = a[1].i, D = a[2].i;
  int tab = fe_layer_param(L, name, "table", (Shape){.rank = 2, .d = {V, D}}, a[3].init, call->loc);
  int y = fe_emit(L, OP_EMBEDDING, (int[]){a[0].v, tab}, 2, NULL, NULL, call->loc);
  if (y < 0) return FE_ERR;
  fe_add_layer(L, name, "embedding", y, V * D, call->loc);
  return y;
}

/* dropout(x, rate): inverted dropout in training (kept elements scaled by
 * 1 / (1 - rate)), the identity in forward and eval_step. */
int fe_lower_dropout(Lower *L, const Builtin *b, const Expr *call, BArg *a) {
  (void)b;
  double rate = a[1].num;
  if (!(rate >= 0 && rate < 1)) {
    diag_error(L->d, a[1].loc, "the dropout rate must be in [0, 1), got %g", rate);
    return FE_ERR;
  }
  const Type *t = fe_type(L, a[0].v);
  char buf[IR_TYPE_STRLEN];
  if (t->dt != DT_F32) {
    diag_error(L->d, a[0].loc, "dropout expects a float tensor, got %s", fe_type_str(L, t, buf));
    return FE_ERR;
  }
  if (rate == 0) return a[0].v; /* the identity in both modes */
  int salt = 0;
  for (int i = 0; i < L->f->n; i++)
    salt += L->f->nodes[i].op == OP_DROPOUT;
  int seed = fe_state(L, "rng.seed", GLOBAL_STATE, (Type){.dt = DT_I32, .sh = {.rank = 1, .d = {2}}}, NNRT_INIT_SEED, call->loc);
  int step = fe_state(L, "opt.step", GLOBAL_STATE, (Type){.dt = DT_F32}, NNRT_INIT_ZEROS, call->loc);
  Attrs at = {.value = rate, .salt = salt};
  return fe_emit(L, OP_DROPOUT, (int[]){a[0].v, seed, step}, 3, &at, NULL, call->loc);
}
