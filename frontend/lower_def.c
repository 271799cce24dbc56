/* lower_def.c — user-defined blocks (def), repetition (repeat) and the
 * compile-time numbers both work with.
 *
 *   def block(h, d, heads = 4) { ...; return h }
 *   repeat 4 as i { h = block(h, 128) }
 *
 * Nothing here survives into the IR: a call of a def is expanded where it
 * is written, and a repeat's body is lowered once per iteration, so the
 * model is the one the user would have written out by hand. What the
 * expansion adds is names:
 *   - each call is an instance, named like a layer (block_1, block_2, ...;
 *     or name: "enc" at the call), and every layer and param inside it is
 *     named under it: block_2.dense_1.w, block_2.attn.w, block_2.scale;
 *   - a def's body sees only its parameters and its own bindings (a scope
 *     from L->scope_base on), so a call cannot depend on where it is made;
 *   - every error inside an expansion gets a note per level, at the call
 *     or the repeat ("in call of 'block' (block_2)"), through the Diag's
 *     context hook.
 * A def may call other defs, not itself (directly or through another):
 * expansion in place would never end. A def's arguments are tensors or
 * compile-time numbers (P_ANY: a number, a name bound to one, or
 * arithmetic on them), so `dense(h, d * 4)` inside a def is a layer of a
 * known width. The repeat index is such a number, 0 to N-1. */
#include <math.h>
#include <string.h>

#include "lower.h"

/* ---- constants ---- */

bool fe_const_value(Lower *L, const Expr *e, double *v, bool *is_int) {
  switch (e->kind) {
  case EX_NUM:
    *v = e->num;
    *is_int = e->is_int;
    return true;
  case EX_NAME: {
    const FeName *n = fe_lookup(L, e->name);
    if (!n || n->kind != NK_CONST) return false;
    *v = n->num;
    *is_int = n->is_int;
    return true;
  }
  case EX_NEG:
    if (!fe_const_value(L, e->lhs, v, is_int)) return false;
    *v = -*v;
    return true;
  case EX_BINARY: {
    double a, b;
    bool ia, ib;
    if (e->op == BIN_MATMUL || !fe_const_value(L, e->lhs, &a, &ia) || !fe_const_value(L, e->rhs, &b, &ib))
      return false;
    switch (e->op) {
    case BIN_ADD: *v = a + b; break;
    case BIN_SUB: *v = a - b; break;
    case BIN_MUL: *v = a * b; break;
    case BIN_DIV: *v = a / b; break;
    case BIN_POW: *v = pow(a, b); break;
    case BIN_MATMUL: unreachable("matmul of constants");
    }
    if (!isfinite(*v)) return false; /* 1 / 0: left to the tensor path, as before constants */
    /* d / heads stays an integer when it divides evenly: a head's width */
    *is_int = ia && ib && *v == floor(*v) && fabs(*v) <= FE_MAX_INT;
    return true;
  }
  default: return false;
  }
}

const char *fe_interpolate(Lower *L, const Expr *str) {
  const char *s = str->name;
  if (!strchr(s, '{')) return s;
  char *out = arena_alloc(L->a, 1), *end;
  size_t n = 0;
  for (const char *p = s; *p;) {
    const char *piece = p;
    size_t len = 1;
    char buf[64];
    if (*p == '{' && (end = strchr(p, '}'))) {
      const char *name = arena_strndup(L->a, p + 1, (size_t)(end - p - 1));
      const FeName *c = fe_lookup(L, name);
      if (!c || c->kind != NK_CONST) {
        diag_error(L->d, str->loc, "'{%s}' in a string must name a number (a repeat's index, a def's number argument)",
                   name);
        return NULL;
      }
      if (c->is_int) snprintf(buf, sizeof buf, "%lld", (long long)c->num);
      else snprintf(buf, sizeof buf, "%g", c->num);
      piece = buf, len = strlen(buf), p = end + 1;
    } else {
      p++;
    }
    out = arena_grow(L->a, out, n + 1, n + len + 1, 1);
    memcpy(out + n, piece, len);
    n += len;
  }
  out[n] = 0;
  return out;
}

const char *fe_prefixed(Lower *L, const char *name) {
  return L->prefix ? arena_printf(L->a, "%s.%s", L->prefix, name) : name;
}

/* ---- notes ---- */

void fe_note_frames(void *lower) {
  Lower *L = lower;
  for (int i = L->nframes - 1; i >= 0; i--) {
    const FeFrame *f = &L->frames[i];
    if (f->def) diag_note(L->d, f->loc, "in call of '%s' (%s)", f->def, f->instance);
    else if (f->index) diag_note(L->d, f->loc, "in iteration %s = %lld of this repeat", f->index, (long long)f->iter);
    else diag_note(L->d, f->loc, "in iteration %lld (from 0) of this repeat", (long long)f->iter);
  }
}

static int push_frame(Lower *L, FeFrame f) {
  ARENA_GROW(L->a, L->frames, L->nframes, L->framecap, 8);
  L->frames[L->nframes] = f;
  return L->nframes++;
}

/* ---- defs ---- */

const Def *fe_def_find(const Lower *L, const char *name) {
  for (int i = 0; i < L->prog->ndefs; i++)
    if (!strcmp(L->prog->defs[i].name, name)) return &L->prog->defs[i];
  return NULL;
}

/* A def's parameters as a builtin's: P_ANY each (the default written back
 * as text, as builtin tables hold them), then `name`, the instance's. */
static BParam *def_params(Lower *L, const Def *df) {
  bool ok = true;
  if (df->nparams > FE_MAX_PARAMS - 1) {
    diag_error(L->d, df->params[FE_MAX_PARAMS - 1].loc, "a def takes at most %d parameters", FE_MAX_PARAMS - 1);
    return NULL;
  }
  BParam *ps = arena_alloc(L->a, sizeof *ps * (FE_MAX_PARAMS + 1));
  for (int k = 0; k < df->nparams; k++) {
    const DefParam *p = &df->params[k];
    ps[k] = (BParam){.name = p->name, .kind = P_ANY, .def = FE_REQUIRED};
    for (int j = 0; j < k; j++)
      if (!strcmp(df->params[j].name, p->name)) {
        diag_error(L->d, p->loc, "def '%s' has two parameters named '%s'", df->name, p->name);
        ok = false;
      }
    if (!strcmp(p->name, "name")) {
      diag_error(L->d, p->loc, "'name' is not a parameter name: name: \"...\" at a call names the call's instance");
      ok = false;
    }
    double v;
    bool is_int;
    if (p->def && p->def->kind == EX_ERROR) ok = false;
    else if (p->def && !fe_const_value(L, p->def, &v, &is_int)) {
      diag_error(L->d, p->def->loc, "the default of '%s' must be a number", p->name);
      ok = false;
    } else if (p->def) {
      ps[k].def = is_int ? arena_printf(L->a, "%lld", (long long)v) : arena_printf(L->a, "%.17e", v);
    }
  }
  ps[df->nparams] = (BParam){.name = "name", .kind = P_STR, .def = FE_OPTIONAL};
  return ok ? ps : NULL;
}

void fe_check_defs(Lower *L) {
  const Program *g = L->prog;
  L->def_params = arena_alloc(L->a, sizeof *L->def_params * (size_t)(g->ndefs + 1));
  for (int i = 0; i < g->ndefs; i++) {
    const Def *df = &g->defs[i];
    const Def *first = fe_def_find(L, df->name);
    if (fe_builtin_find(df->name)) {
      diag_error(L->d, df->loc, "'%s' is a builtin; a def cannot take its name", df->name);
    } else if (first != df) {
      diag_error(L->d, df->loc, "def '%s' is defined twice", df->name);
      diag_note(L->d, first->loc, "the first is here");
    } else {
      L->def_params[i] = def_params(L, df); /* NULL: calls fail silently, the def was reported */
    }
  }
}

/* Expands one call: binds the arguments in the caller's scope, then lowers
 * the body in a scope of its own, its names under the instance's. outs
 * gets df->nrets values, FE_ERR where they failed. */
static bool expand(Lower *L, const Def *df, const Expr *call, int *outs) {
  for (int k = 0; k < df->nrets; k++) outs[k] = FE_ERR;
  const BParam *params = L->def_params[df - L->prog->defs];
  if (!params || !df->nrets) return false; /* a bad def or return, reported */
  for (int i = 0; i < L->nframes; i++)
    if (L->frames[i].def && !strcmp(L->frames[i].def, df->name)) {
      diag_error(L->d, call->loc, "'%s' calls itself; a def is expanded where it is called, so it cannot recurse",
                 df->name);
      return false;
    }
  /* The arity without the instance's name: it is given by keyword only. */
  int np = df->nparams, nreq = 0, npos = 0;
  for (int k = 0; k < np; k++) nreq += !df->params[k].def;
  while (npos < call->nargs && !call->args[npos].key) npos++;
  if (npos > np || (npos < nreq && npos == call->nargs)) {
    if (nreq == np) diag_error(L->d, call->loc, "'%s' takes %d argument%s, got %d", df->name, np, np == 1 ? "" : "s",
                               npos);
    else diag_error(L->d, call->loc, "'%s' takes %d to %d arguments, got %d", df->name, nreq, np, npos);
    return false;
  }
  BArg args[FE_MAX_PARAMS];
  if (!fe_bind(L, df->name, params, call, args)) return false;
  const char *inst = fe_layer_name(L, &args[np], df->name);
  if (!inst) return false;
  fe_take_layer_name(L, inst);

  int frame = push_frame(L, (FeFrame){.def = df->name, .instance = inst, .loc = call->loc});
  int base = L->scope_base, nnames = L->nnames, *rets = L->rets;
  const char *prefix = L->prefix;
  L->scope_base = L->nnames, L->prefix = inst, L->rets = outs;
  for (int k = 0; k < np; k++) {
    FeName *n = fe_define(L, df->params[k].name, args[k].is_const ? NK_CONST : NK_LET,
                          args[k].is_const ? FE_ERR : args[k].v, df->params[k].loc);
    n->num = args[k].num;
    n->is_int = args[k].is_int;
  }
  fe_lower_stmts(L, df->body, df->nbody);
  L->scope_base = base, L->nnames = nnames, L->rets = rets, L->prefix = prefix;
  L->nframes = frame;
  return true;
}

int fe_lower_def_call(Lower *L, const Def *df, const Expr *call) {
  if (df->nrets > 1) {
    diag_error(L->d, call->loc, "'%s' returns %d values; unpack them, as in a, b = %s(...)", df->name, df->nrets,
               df->name);
    return FE_ERR;
  }
  int out = FE_ERR;
  return expand(L, df, call, &out) ? out : FE_ERR;
}

void fe_lower_unpack(Lower *L, const Stmt *s) {
  const Expr *e = s->expr;
  const Def *df = e->kind == EX_CALL ? fe_def_find(L, e->name) : NULL;
  int *outs = arena_alloc(L->a, sizeof *outs * (size_t)s->nnames);
  for (int k = 0; k < s->nnames; k++) outs[k] = FE_ERR;
  if (e->kind == EX_ERROR) {
  } else if (!df) {
    diag_error(L->d, e->loc, "only a call of a def gives several values to unpack");
  } else if (df->nrets && df->nrets != s->nnames) {
    diag_error(L->d, e->loc, "'%s' returns %d value%s, not %d", df->name, df->nrets, df->nrets == 1 ? "" : "s",
               s->nnames);
  } else {
    expand(L, df, e, outs);
  }
  for (int k = 0; k < s->nnames; k++) fe_bind_name(L, s->names[k], s->namelocs[k], outs[k]);
}

void fe_lower_return(Lower *L, const Stmt *s) {
  for (int k = 0; k < s->nrets; k++) L->rets[k] = fe_lower_expr(L, s->rets[k]);
}

/* ---- repeat ---- */

void fe_lower_repeat(Lower *L, const Stmt *s) {
  double n;
  bool is_int;
  if (s->expr->kind == EX_ERROR) return;
  if (!fe_const_value(L, s->expr, &n, &is_int) || !is_int || n < 0 || n > 100000) {
    diag_error(L->d, s->expr->loc, "the count of a repeat must be an integer from 0 to 100000");
    return;
  }
  int index = -1;
  if (s->name) {
    const FeName *old = fe_lookup(L, s->name);
    if (old) {
      diag_error(L->d, s->nameloc, "the repeat's index '%s' would hide the '%s' defined on line %d", s->name, s->name,
                 old->loc.line);
      return;
    }
    index = (int)(fe_define(L, s->name, NK_CONST, FE_ERR, s->nameloc) - L->names);
  }
  int frame = push_frame(L, (FeFrame){.loc = s->loc, .count = (int64_t)n, .index = s->name});
  for (int64_t it = 0; it < (int64_t)n; it++) {
    L->frames[frame].iter = it;
    if (index >= 0) L->names[index] = (FeName){.name = s->name, .kind = NK_CONST, .val = FE_ERR, .loc = s->nameloc,
                                               .num = (double)it, .is_int = true, .is_index = true};
    int errors = L->d->nerrors;
    fe_lower_stmts(L, s->body, s->nbody);
    if (L->d->nerrors > errors) break; /* the next iterations would say the same */
  }
  L->nframes = frame;
  if (index >= 0) L->names[index].kind = NK_GONE;
}

const char **fe_callable_names(Lower *L, int *n) {
  int nb;
  const char **b = fe_builtin_names(L->a, &nb);
  const char **names = arena_alloc(L->a, sizeof *names * (size_t)(nb + L->prog->ndefs + 1));
  memcpy(names, b, sizeof *names * (size_t)nb);
  for (int i = 0; i < L->prog->ndefs; i++) names[nb + i] = L->prog->defs[i].name;
  *n = nb + L->prog->ndefs;
  return names;
}
