/* bind.c — matching call arguments to a parameter list, and reading the
 * compile-time ones (integers, axes, shapes, choices, initialisers).
 *
 * Builtins, initialisers and optimizers all describe their parameters as a
 * BParam list (name, kind, default written as source text), so arity,
 * keyword and attribute errors are worded the same everywhere and each
 * table row is the whole signature. */
#include <stdlib.h>
#include <string.h>

#include "lower.h"

/* ---- initialisers ---- */

typedef struct InitInfo {
  const char *name;
  int kind; /* NNRT_INIT_* */
  BParam params[3];
} InitInfo;

/* Keras's defaults: RandomNormal(stddev=0.05), RandomUniform(-0.05, 0.05). */
static const InitInfo inits[] = {
    {"zeros", NNRT_INIT_ZEROS, {{0}}},
    {"ones", NNRT_INIT_ONES, {{0}}},
    {"normal", NNRT_INIT_NORMAL, {{"mean", P_NUM, "0", NULL}, {"std", P_NUM, "0.05", NULL}}},
    {"uniform", NNRT_INIT_UNIFORM, {{"lo", P_NUM, "-0.05", NULL}, {"hi", P_NUM, "0.05", NULL}}},
    {"he_normal", NNRT_INIT_HE_NORMAL, {{0}}},
    {"glorot_uniform", NNRT_INIT_GLOROT_UNIFORM, {{0}}},
    {"orthogonal", NNRT_INIT_ORTHOGONAL, {{0}}},
    {"unit_forget_bias", NNRT_INIT_UNIT_FORGET, {{0}}}, /* lstm biases only: the layer sets the units */
};
#define NINITS ((int)(sizeof inits / sizeof *inits))

static const InitInfo *init_find(const char *name) {
  for (int i = 0; i < NINITS; i++)
    if (!strcmp(inits[i].name, name)) return &inits[i];
  return NULL;
}

static void unknown_init(Lower *L, const char *name, Loc loc) {
  const char *cands[NINITS];
  for (int i = 0; i < NINITS; i++) cands[i] = inits[i].name;
  const char *near = fe_suggest(name, cands, NINITS);
  if (near) diag_error(L->d, loc, "unknown initialiser '%s'; did you mean '%s'?", name, near);
  else
    diag_error(L->d, loc,
               "unknown initialiser '%s' (expected zeros, ones, normal, uniform, he_normal, glorot_uniform, "
               "orthogonal or unit_forget_bias)", name);
}

static void init_defaults(const InitInfo *in, FeInit *out) {
  *out = (FeInit){.kind = in->kind};
  if (in->params[0].name) out->a = strtod(in->params[0].def, NULL);
  if (in->params[1].name) out->b = strtod(in->params[1].def, NULL);
}

bool fe_read_init(Lower *L, const Expr *e, FeInit *out) {
  if (e->kind == EX_ERROR) return false;
  if (e->kind != EX_NAME && e->kind != EX_CALL) {
    diag_error(L->d, e->loc, "expected an initialiser, like zeros, he_normal or normal(std: 0.01)");
    return false;
  }
  const InitInfo *in = init_find(e->name);
  if (!in) {
    unknown_init(L, e->name, e->loc);
    return false;
  }
  if (e->kind == EX_NAME) {
    init_defaults(in, out);
    return true;
  }
  BArg args[FE_MAX_PARAMS];
  if (!fe_bind(L, in->name, in->params, e, args)) return false;
  *out = (FeInit){.kind = in->kind};
  if (!in->params[0].name) return true;
  out->a = args[0].num;
  out->b = args[1].num;
  if (in->kind == NNRT_INIT_NORMAL && out->b <= 0) {
    diag_error(L->d, args[1].loc, "the standard deviation must be positive, got %g", out->b);
    return false;
  }
  if (in->kind == NNRT_INIT_UNIFORM && !(out->a < out->b)) {
    diag_error(L->d, e->loc, "uniform needs lo < hi, got lo = %g and hi = %g", out->a, out->b);
    return false;
  }
  return true;
}

void fe_init_fans(FeInit *init, const Shape *s) {
  if (init->kind != NNRT_INIT_HE_NORMAL && init->kind != NNRT_INIT_GLOROT_UNIFORM) return;
  int64_t fan_in = 1, fan_out = 1;
  if (s->rank == 1) {
    fan_in = fan_out = s->d[0];
  } else if (s->rank >= 2) {
    int64_t rf = 1;
    for (int i = 0; i < s->rank - 2; i++) rf *= s->d[i];
    fan_in = s->d[s->rank - 2] * rf;
    fan_out = s->d[s->rank - 1] * rf;
  }
  init->a = (double)fan_in;
  init->b = init->kind == NNRT_INIT_GLOROT_UNIFORM ? (double)fan_out : 0;
}

/* ---- reading one argument ---- */

bool fe_const_num(const Expr *e, double *v, bool *is_int) {
  if (e->kind == EX_NUM) {
    *v = e->num;
    *is_int = e->is_int;
    return true;
  }
  if (e->kind == EX_NEG && fe_const_num(e->lhs, v, is_int)) {
    *v = -*v;
    return true;
  }
  return false;
}

static bool read_int(Lower *L, const Expr *e, const char *pname, int64_t *out) {
  double v;
  bool is_int;
  if (!fe_const_value(L, e, &v, &is_int) || !is_int) {
    diag_error(L->d, e->loc, "argument '%s' must be an integer", pname);
    return false;
  }
  if (v > FE_MAX_INT || v < -FE_MAX_INT) {
    diag_error(L->d, e->loc, "argument '%s' is too large", pname);
    return false;
  }
  *out = (int64_t)v;
  return true;
}

/* "relu|sigmoid|none" → does it hold name? */
static bool in_choices(const char *choices, const char *name) {
  size_t n = strlen(name);
  for (const char *p = choices; *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && !memcmp(p, name, n)) return true;
    p += len + (bar != NULL);
  }
  return false;
}

static void bad_choice(Lower *L, const BParam *p, const char *name, Loc loc) {
  const char *cands[16];
  int n = 0;
  for (const char *q = p->choices; *q && n < 16;) {
    const char *bar = strchr(q, '|');
    size_t len = bar ? (size_t)(bar - q) : strlen(q);
    cands[n++] = arena_strndup(L->a, q, len);
    q += len + (bar != NULL);
  }
  const char *near = name ? fe_suggest(name, cands, n) : NULL;
  /* "relu, sigmoid, tanh or none" */
  char list[256] = "";
  for (int i = 0; i < n; i++) {
    size_t k = strlen(list);
    snprintf(list + k, sizeof list - k, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", cands[i]);
  }
  if (!name) diag_error(L->d, loc, "argument '%s' must be one of %s", p->name, list);
  else if (near) diag_error(L->d, loc, "unknown %s '%s'; did you mean '%s'?", p->name, name, near);
  else diag_error(L->d, loc, "unknown %s '%s' (expected %s)", p->name, name, list);
}

/* shape = "[" (INT | NAME | "-1") ("," ...)* "]" */
static bool read_shape(Lower *L, const Expr *e, const BParam *p, BArg *a) {
  if (e->kind != EX_LIST) {
    diag_error(L->d, e->loc, "argument '%s' must be a list of dimensions, like [B, 784]", p->name);
    return false;
  }
  if (e->nitems > IR_MAX_RANK) {
    diag_error(L->d, e->loc, "too many dimensions (at most %d)", IR_MAX_RANK);
    return false;
  }
  a->n = e->nitems;
  a->infer = -1;
  int64_t elems = 1;
  for (int i = 0; i < e->nitems; i++) {
    const Expr *it = e->items[i];
    double v;
    bool is_int;
    if (it->kind == EX_NAME) {
      int k = ir_sym_find(L->m, it->name);
      if (k < 0) {
        const char *near = fe_suggest(it->name, L->m->syms, L->m->nsyms);
        if (near) diag_error(L->d, it->loc, "unknown dimension '%s'; did you mean '%s'?", it->name, near);
        else diag_error(L->d, it->loc, "unknown dimension '%s' (dimension names come from the input types)", it->name);
        return false;
      }
      a->list[i] = IR_SYM(k);
    } else if (fe_const_value(L, it, &v, &is_int) && is_int && (v > 0 || v == -1)) {
      if (v > FE_MAX_INT || (v > 0 && (elems *= (int64_t)v) > FE_MAX_ELEMS)) {
        diag_error(L->d, it->loc, "this shape is too large");
        return false;
      }
      if (v == -1 && a->infer >= 0) {
        diag_error(L->d, it->loc, "only one dimension can be -1");
        return false;
      }
      if (v == -1) a->infer = i;
      a->list[i] = (int64_t)v;
    } else {
      diag_error(L->d, it->loc, "a dimension must be a positive integer, a dimension name or -1");
      return false;
    }
  }
  return true;
}

static bool read_arg(Lower *L, const BParam *p, const Expr *e, BArg *a) {
  double v;
  bool is_int;
  a->present = true;
  a->loc = e->loc;
  switch (p->kind) {
  case P_TENSOR: a->v = fe_lower_expr(L, e); return a->v >= 0;
  case P_ANY:
    if ((a->is_const = fe_const_value(L, e, &a->num, &a->is_int))) return true;
    a->v = fe_lower_expr(L, e);
    return a->v >= 0;
  case P_INT: return read_int(L, e, p->name, &a->i);
  case P_NUM:
    if (!fe_const_value(L, e, &a->num, &is_int)) {
      diag_error(L->d, e->loc, "argument '%s' must be a number", p->name);
      return false;
    }
    return true;
  case P_AXES:
    if (fe_const_value(L, e, &v, &is_int) && is_int) {
      a->n = 1;
      return read_int(L, e, p->name, &a->list[0]);
    }
    if (e->kind == EX_LIST && e->nitems <= IR_MAX_RANK) {
      a->n = e->nitems;
      for (int i = 0; i < e->nitems; i++)
        if (!read_int(L, e->items[i], p->name, &a->list[i])) return false;
      return true;
    }
    diag_error(L->d, e->loc, "argument '%s' must be an integer or a list of at most %d integers", p->name,
               IR_MAX_RANK);
    return false;
  case P_SHAPE: return read_shape(L, e, p, a);
  case P_BOOL:
    if (e->kind == EX_NAME && (!strcmp(e->name, "true") || !strcmp(e->name, "false"))) {
      a->b = !strcmp(e->name, "true");
      return true;
    }
    diag_error(L->d, e->loc, "argument '%s' must be true or false", p->name);
    return false;
  case P_CHOICE:
    if (e->kind == EX_NAME && in_choices(p->choices, e->name)) {
      a->s = e->name;
      return true;
    }
    if (e->kind == EX_STR && in_choices(p->choices, e->name)) { /* Keras's activation="relu" */
      diag_error(L->d, e->loc, "write %s: %s, without quotes (it names a function, not a string)", p->name, e->name);
      return false;
    }
    bad_choice(L, p, e->kind == EX_NAME ? e->name : NULL, e->loc);
    return false;
  case P_INIT: return fe_read_init(L, e, &a->init);
  case P_PAD:
    if (e->kind == EX_STR && (!strcmp(e->name, "same") || !strcmp(e->name, "valid"))) {
      a->i = strcmp(e->name, "same") ? 0 : -1;
      return true;
    }
    if (fe_const_value(L, e, &v, &is_int) && is_int && v >= 0 && v <= 1000) return read_int(L, e, p->name, &a->i);
    diag_error(L->d, e->loc, "argument '%s' must be an integer in [0, 1000], \"same\" or \"valid\"", p->name);
    return false;
  case P_STR:
    if (e->kind == EX_STR) return (a->s = fe_interpolate(L, e)) != NULL;
    diag_error(L->d, e->loc, "argument '%s' must be a string, like \"fc1\"", p->name);
    return false;
  }
  unreachable("bad parameter kind");
}

/* Defaults are source text; the table's authors wrote them, so they parse. */
static void read_default(const BParam *p, Loc loc, BArg *a) {
  a->loc = loc;
  if (p->def == FE_REQUIRED || !strcmp(p->def, FE_OPTIONAL)) return;
  a->present = true;
  switch (p->kind) {
  case P_INT:
  case P_PAD: a->i = strtoll(p->def, NULL, 10); break;
  case P_NUM: a->num = strtod(p->def, NULL); break;
  case P_ANY: /* a def's default, a constant written by lower_def.c */
    a->is_const = true;
    a->num = strtod(p->def, NULL);
    a->is_int = !strpbrk(p->def, ".eEni");
    break;
  case P_BOOL: a->b = !strcmp(p->def, "true"); break;
  case P_CHOICE:
  case P_STR: a->s = p->def; break;
  case P_INIT: {
    const InitInfo *in = init_find(p->def);
    if (!in) unreachable("bad default initialiser in a builtin table");
    init_defaults(in, &a->init);
    break;
  }
  default: unreachable("parameter kind without defaults");
  }
}

/* ---- binding ---- */

bool fe_bind(Lower *L, const char *what, const BParam *params, const Expr *call, BArg *out) {
  int np = 0, nmin = 0, npos = 0;
  while (np < FE_MAX_PARAMS && params[np].name) nmin += params[np++].def == FE_REQUIRED;
  while (npos < call->nargs && !call->args[npos].key) npos++;
  const Expr *given[FE_MAX_PARAMS] = {0};
  bool ok = true;
  char arity[128];
  if (nmin == np) snprintf(arity, sizeof arity, "%d argument%s", np, np == 1 ? "" : "s");
  else snprintf(arity, sizeof arity, "%d to %d arguments", nmin, np);

  if (npos > np) {
    diag_error(L->d, call->args[np].val->loc, "'%s' takes %s, got %d", what, arity, call->nargs);
    ok = false;
  }
  for (int i = 0; i < npos && i < np; i++) given[i] = call->args[i].val;
  for (int i = npos; i < call->nargs; i++) {
    const Arg *arg = &call->args[i];
    int k = 0;
    while (k < np && strcmp(params[k].name, arg->key)) k++;
    if (k == np) {
      const char *cands[FE_MAX_PARAMS];
      for (int j = 0; j < np; j++) cands[j] = params[j].name;
      const char *near = fe_suggest(arg->key, cands, np);
      if (near) diag_error(L->d, arg->keyloc, "'%s' has no argument '%s'; did you mean '%s'?", what, arg->key, near);
      else diag_error(L->d, arg->keyloc, "'%s' has no argument '%s'", what, arg->key);
      ok = false;
      /* Read as the argument it most likely meant, so that it is not also
       * reported missing (conv2d(x, 8, kernel_size: 3)). */
      for (k = 0; near && k < np; k++)
        if (!strcmp(params[k].name, near) && !given[k]) given[k] = arg->val;
    } else if (given[k]) {
      diag_error(L->d, arg->keyloc, "argument '%s' of '%s' is given twice", arg->key, what);
      ok = false;
    } else {
      given[k] = arg->val;
    }
  }
  bool arity_reported = !ok && npos > np;
  for (int k = 0; k < np; k++) {
    out[k] = (BArg){.infer = -1};
    if (given[k]) {
      ok &= read_arg(L, &params[k], given[k], &out[k]);
    } else if (params[k].def == FE_REQUIRED) {
      ok = false;
      /* All-positional calls get the arity; keyword calls name what's missing. */
      if (npos == call->nargs && !arity_reported) {
        diag_error(L->d, call->loc, "'%s' takes %s, got %d", what, arity, call->nargs);
        arity_reported = true;
      } else if (npos != call->nargs) {
        diag_error(L->d, call->loc, "'%s' is missing its argument '%s'", what, params[k].name);
      }
    } else {
      read_default(&params[k], call->loc, &out[k]);
    }
  }
  return ok;
}
