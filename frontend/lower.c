/* lower.c — from the syntax tree to IR: fe_compile's driver.
 *
 * The model body is lowered once, in source order, into a scratch function
 * that holds every input, parameter and binding. Shapes come from the IR's
 * shape rules (ir_emit), reported at the source expression. Then the
 * functions are cut out of it:
 *   forward    the nodes the `output` needs, taking only the inputs it uses;
 *   eval_step  the nodes output and loss need; feature inputs first, then
 *              the labels (inputs only the loss uses); returns (loss, output);
 *   loss_step  eval_step in training mode, only when the model has an op
 *              whose meaning depends on the mode (dropout, batch_norm):
 *              autodiff builds train_step from it. forward and eval_step
 *              are evaluation mode, where each dropout is replaced by its
 *              input and each batch_norm's training-mode result by its
 *              evaluation-mode twin (L->modal); only loss_step keeps the
 *              training-only stores (batch_norm's running statistics).
 * Cutting rather than lowering twice keeps layer parameters, names and layer
 * rows made exactly once, and drops dead bindings from both functions.
 *
 * Requires: a Program from parse_program. Guarantees: on success, a module
 * whose functions type-check (every node came through a shape rule). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lower.h"

/* ---- values ---- */

/* Static elements of a shape, or -1 past FE_MAX_ELEMS (checked per dim, so
 * the product never overflows). */
static int64_t static_elems(const Shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (IR_IS_SYM(s->d[i])) continue;
    if (s->d[i] > FE_MAX_ELEMS || (n *= s->d[i]) > FE_MAX_ELEMS) return -1;
  }
  return n;
}

int fe_emit(Lower *L, OpKind op, const int *args, int nargs, const Attrs *at, const Type *hint, Loc loc) {
  for (int i = 0; i < nargs; i++)
    if (args[i] < 0) return FE_ERR;
  if (hint && static_elems(&hint->sh) < 0) {
    diag_error(L->d, loc, "this tensor would be too large (more than 2^40 elements)");
    return FE_ERR;
  }
  int v = ir_emit(L->f, op, args, nargs, at, hint, loc, L->d);
  /* Every value stays below FE_MAX_ELEMS, so the sizes computed from it
   * (flatten, reshape, layer shapes) cannot overflow. Broadcasting is the
   * one way to grow a tensor without a declared type. */
  if (v >= 0 && static_elems(&fe_type(L, v)->sh) < 0) {
    diag_error(L->d, loc, "this tensor would be too large (more than 2^40 elements)");
    return FE_ERR;
  }
  return v;
}

int fe_emit1(Lower *L, OpKind op, int x, Loc loc) { return fe_emit(L, op, &x, 1, NULL, NULL, loc); }

int fe_emit2(Lower *L, OpKind op, int x, int y, Loc loc) {
  int args[2] = {x, y};
  return fe_emit(L, op, args, 2, NULL, NULL, loc);
}

int fe_scalar(Lower *L, double v, Loc loc) {
  Type t = {.dt = DT_F32};
  Attrs at = {.value = v};
  return fe_emit(L, OP_CONST, NULL, 0, &at, &t, loc);
}

const Type *fe_type(const Lower *L, int v) { return &L->f->nodes[v].ty; }

const char *fe_type_str(const Lower *L, const Type *t, char *buf) { return ir_type_str(L->m, t, buf, IR_TYPE_STRLEN); }

int fe_norm_axis(Lower *L, int64_t axis, int rank, Loc loc) {
  if (axis < -rank || axis >= rank) {
    diag_error(L->d, loc, "axis %lld is out of range for a tensor of rank %d", (long long)axis, rank);
    return -1;
  }
  return (int)(axis < 0 ? axis + rank : axis);
}

#define GROW(L, arr, n, cap) ARENA_GROW((L)->a, arr, n, cap, 16)

/* ---- name tables (lower.h) ---- */

/* The slot of s, or the empty slot where it would go. */
static int tab_slot(const FeNameTab *t, const char *s) {
  size_t i = ir_hash_str(s) & (size_t)(t->cap - 1);
  while (t->key[i] && strcmp(t->key[i], s)) i = (i + 1) & (size_t)(t->cap - 1);
  return (int)i;
}

static bool tab_has(const FeNameTab *t, const char *s) { return t->cap && t->key[tab_slot(t, s)]; }

/* Adds s (kept as given: it must live in the arena); returns its slot. */
static int tab_add(Lower *L, FeNameTab *t, const char *s) {
  if (2 * (t->n + 1) > t->cap) { /* rehash into a table twice the size */
    FeNameTab old = *t;
    if (old.cap > INT_MAX / 4) unreachable("name table too large");
    t->cap = old.cap ? 2 * old.cap : 64;
    t->key = arena_alloc(L->a, sizeof *t->key * (size_t)t->cap);
    t->next = arena_alloc(L->a, sizeof *t->next * (size_t)t->cap);
    for (int i = 0; i < old.cap; i++)
      if (old.key[i]) {
        int j = tab_slot(t, old.key[i]);
        t->key[j] = old.key[i];
        t->next[j] = old.next[i];
      }
  }
  int i = tab_slot(t, s);
  if (!t->key[i]) {
    t->key[i] = s;
    t->next[i] = 1;
    t->n++;
  }
  return i;
}

/* base if it is free, else base<sep>k for the first free k from the base's
 * counter on; the name returned is added. */
static const char *tab_fresh(Lower *L, FeNameTab *t, const char *base, const char *sep) {
  if (!tab_has(t, base)) {
    const char *s = arena_strdup(L->a, base);
    tab_add(L, t, s);
    return s;
  }
  int k = t->next[tab_slot(t, base)];
  const char *s;
  while (tab_has(t, s = arena_printf(L->a, "%s%s%d", base, sep, k))) k++;
  t->next[tab_slot(t, base)] = k + 1;
  tab_add(L, t, s); /* after the counter: adding may move every slot */
  return s;
}

const char *fe_unique_name(Lower *L, const char *base) { return tab_fresh(L, &L->used, base, "."); }

/* Names an unnamed node after the binding that holds it (`h = ...` → %h). */
static void name_value(Lower *L, int v, const char *name) {
  if (v < 0 || L->f->nodes[v].name) return;
  L->f->nodes[v].name = fe_unique_name(L, name);
}

/* ---- layers (for the summary) ---- */

void fe_add_layer(Lower *L, const char *name, const char *kind, int v, int64_t params, Loc loc) {
  if (v < 0) return;
  if (!tab_has(&L->layer_names, name)) tab_add(L, &L->layer_names, arena_strdup(L->a, name));
  GROW(L, L->layers, L->nlayers, L->layercap);
  L->layers[L->nlayers++] = (FeLayer){.name = name, .kind = kind, .out = *fe_type(L, v), .params = params, .value = v, .loc = loc};
}

bool fe_layer_name_taken(const Lower *L, const char *name) {
  if (tab_has(&L->layer_names, name)) return true;
  /* A layer's parameters are globals "<layer>.w": a name whose globals
   * exist is taken even if it has no summary row. */
  return ir_global_find(L->m, arena_printf(L->a, "%s.w", name)) >= 0 ||
         ir_global_find(L->m, arena_printf(L->a, "%s.b", name)) >= 0;
}

/* The kind's own entry "#kind" in layer_names (never a layer name: those
 * are identifiers) keeps the next number to try, so n auto-named layers cost
 * O(n) in all. */
const char *fe_auto_layer_name(Lower *L, const char *kind) {
  kind = fe_prefixed(L, kind); /* inside a def's expansion, numbered per instance: block_2.dense_1 */
  const char *key = arena_printf(L->a, "#%s", kind);
  int b = tab_add(L, &L->layer_names, key); /* may move the table: index it after */
  int k = L->layer_names.next[b];
  const char *s;
  while (fe_layer_name_taken(L, s = arena_printf(L->a, "%s_%d", kind, k))) k++;
  L->layer_names.next[tab_slot(&L->layer_names, key)] = k + 1;
  return s;
}

void fe_take_layer_name(Lower *L, const char *name) {
  if (!tab_has(&L->layer_names, name)) tab_add(L, &L->layer_names, arena_strdup(L->a, name));
}

/* ---- names ---- */

FeName *fe_lookup(Lower *L, const char *name) {
  for (int i = L->nnames - 1; i >= L->scope_base; i--)
    if (L->names[i].kind != NK_GONE && !strcmp(L->names[i].name, name)) return &L->names[i];
  return NULL;
}

bool fe_is_value_name(Lower *L, const char *name) { return fe_lookup(L, name) != NULL; }

FeName *fe_define(Lower *L, const char *name, NameKind kind, int v, Loc loc) {
  FeName *n = fe_lookup(L, name);
  if (!n) {
    GROW(L, L->names, L->nnames, L->namecap);
    n = &L->names[L->nnames++];
  }
  *n = (FeName){.name = name, .kind = kind, .val = v, .loc = loc};
  return n;
}

/* input and param declare a name once; bindings may rebind any name. */
static bool check_new_decl(Lower *L, const Stmt *s) {
  FeName *n = fe_lookup(L, s->name);
  if (!n) return true;
  diag_error(L->d, s->nameloc, "'%s' is already defined", s->name);
  diag_note(L->d, n->loc, "'%s' was defined here", s->name);
  return false;
}

static int unknown_name(Lower *L, const Expr *e) {
  if (fe_builtin_find(e->name) || fe_def_find(L, e->name)) {
    diag_error(L->d, e->loc, "'%s' is a function; call it, as in %s(x), or pipe into it, as in x |> %s", e->name,
               e->name, e->name);
    return FE_ERR;
  }
  for (int i = L->cur_stmt + 1; i < L->nbody; i++) {
    const Stmt *s = &L->body[i];
    if (s->kind != ST_REPEAT && s->name && !strcmp(s->name, e->name)) {
      diag_error(L->d, e->loc, "'%s' is used before it is defined (on line %d)", e->name, s->nameloc.line);
      return FE_ERR;
    }
  }
  for (int i = 0; i < L->scope_base; i++)
    if (L->names[i].kind != NK_GONE && !strcmp(L->names[i].name, e->name)) {
      diag_error(L->d, e->loc, "'%s' is not visible in a def, which sees only its parameters; pass it in as an argument",
                 e->name);
      return FE_ERR;
    }
  int nc = L->nnames - L->scope_base;
  const char **cands = arena_alloc(L->a, (size_t)(nc + 1) * sizeof *cands);
  for (int i = 0; i < nc; i++) cands[i] = L->names[L->scope_base + i].kind == NK_GONE ? NULL : L->names[L->scope_base + i].name;
  const char *near = fe_suggest(e->name, cands, nc);
  if (near) diag_error(L->d, e->loc, "unknown name '%s'; did you mean '%s'?", e->name, near);
  else diag_error(L->d, e->loc, "unknown name '%s'", e->name);
  return FE_ERR;
}

/* ---- expressions ---- */

/* The only exponents ** accepts: a constant. */
static bool const_number(Lower *L, const Expr *e, double *v) {
  bool is_int;
  return fe_const_value(L, e, v, &is_int);
}

static const OpKind bin_ops[] = {[BIN_ADD] = OP_ADD, [BIN_SUB] = OP_SUB, [BIN_MUL] = OP_MUL,
                                 [BIN_DIV] = OP_DIV, [BIN_MATMUL] = OP_MATMUL};

int fe_lower_expr(Lower *L, const Expr *e) {
  switch (e->kind) {
  case EX_ERROR: return FE_ERR;
  case EX_NUM: return fe_scalar(L, e->num, e->loc);
  case EX_STR: diag_error(L->d, e->loc, "a string is not a tensor"); return FE_ERR;
  case EX_LIST:
    diag_error(L->d, e->loc, "a list is not a tensor (lists are for arguments like axis: [0, 1])");
    return FE_ERR;
  case EX_NAME: {
    FeName *n = fe_lookup(L, e->name);
    if (n && n->kind == NK_CONST) return fe_scalar(L, n->num, e->loc);
    return n ? n->val : unknown_name(L, e);
  }
  case EX_NEG: {
    double v;
    if (const_number(L, e, &v)) return fe_scalar(L, v, e->loc);
    return fe_emit1(L, OP_NEG, fe_lower_expr(L, e->lhs), e->loc);
  }
  case EX_BINARY: {
    double v; /* arithmetic on constants is done here, in double: (d / heads) ** -0.5 is one constant */
    if (const_number(L, e, &v)) return fe_scalar(L, v, e->loc);
    if (e->op == BIN_POW) {
      double p;
      int x = fe_lower_expr(L, e->lhs);
      if (!const_number(L, e->rhs, &p)) {
        diag_error(L->d, e->rhs->loc, "the exponent of '**' must be a number");
        return FE_ERR;
      }
      Attrs at = {.value = p};
      return fe_emit(L, OP_POW, &x, 1, &at, NULL, e->loc);
    }
    /* Both sides first, so that an error on each side is reported. */
    int x = fe_lower_expr(L, e->lhs), y = fe_lower_expr(L, e->rhs);
    return fe_emit2(L, bin_ops[e->op], x, y, e->loc);
  }
  case EX_CALL: {
    const Def *df = fe_def_find(L, e->name);
    return df ? fe_lower_def_call(L, df, e) : fe_lower_call(L, e);
  }
  }
  unreachable("bad expression kind");
}

/* ---- statements ---- */

static bool build_type(Lower *L, const TypeExpr *te, Type *t) {
  if (!te->ok) return false;
  t->dt = te->dt;
  t->sh.rank = te->rank;
  int64_t elems = 1;
  for (int i = 0; i < te->rank; i++) {
    const DimExpr *dm = &te->dims[i];
    const FeName *c = dm->sym ? fe_lookup(L, dm->sym) : NULL;
    if (c && c->kind == NK_CONST) { /* a def's number argument: param w: f32[d, d] */
      if (!c->is_int || c->num < 1 || c->num > FE_MAX_INT) {
        diag_error(L->d, dm->loc, "dimension '%s' is %g, not a positive integer", dm->sym, c->num);
        return false;
      }
      t->sh.d[i] = (int64_t)c->num;
    } else {
      t->sh.d[i] = dm->sym ? IR_SYM(ir_sym(L->m, dm->sym)) : dm->size;
    }
    if (!IR_IS_SYM(t->sh.d[i]) && (elems *= t->sh.d[i]) > FE_MAX_ELEMS) {
      diag_error(L->d, te->loc, "this type is too large (more than 2^40 elements)");
      return false;
    }
  }
  return true;
}

static void lower_input(Lower *L, const Stmt *s) {
  Type t;
  int v = FE_ERR;
  if (check_new_decl(L, s) && build_type(L, &s->type, &t)) {
    v = ir_input(L->f, s->name, t, s->nameloc);
    L->f->nodes[v].name = fe_unique_name(L, s->name);
    fe_add_layer(L, s->name, "input", v, 0, s->nameloc);
  }
  GROW(L, L->inputs, L->ninputs, L->inputcap);
  L->inputs[L->ninputs++] = v;
  fe_define(L, s->name, NK_INPUT, v, s->nameloc);
}

static void lower_param(Lower *L, const Stmt *s) {
  Type t;
  int v = FE_ERR;
  bool ok = check_new_decl(L, s) && build_type(L, &s->type, &t);
  const char *gname = fe_prefixed(L, s->name);
  for (int i = 0; ok && i < s->type.rank; i++)
    if (IR_IS_SYM(t.sh.d[i])) {
      diag_error(L->d, s->type.dims[i].loc, "parameter '%s' needs a static shape, but '%s' is a symbolic dimension",
                 s->name, s->type.dims[i].sym);
      ok = false;
    }
  if (ok && t.dt != DT_F32) {
    diag_error(L->d, s->type.loc, "parameter '%s' must be f32 (it is trained)", s->name);
    ok = false;
  }
  FeInit init;
  if (fe_read_init(L, s->expr, &init) && ok) {
    if (ir_global_find(L->m, gname) >= 0) {
      diag_error(L->d, s->nameloc, "a parameter named '%s' already exists", gname);
    } else {
      fe_init_fans(&init, &t.sh);
      int g = ir_global_add(L->m, (IrGlobal){.name = gname, .kind = GLOBAL_PARAM, .ty = t, .init = init.kind,
                                              .init_a = init.a, .init_b = init.b, .loc = s->nameloc});
      v = ir_global_ref(L->f, g, s->nameloc);
      L->f->nodes[v].name = fe_unique_name(L, gname);
      fe_add_layer(L, gname, "param", v, ir_numel_static(&t.sh), s->nameloc);
    }
  }
  fe_define(L, s->name, NK_PARAM, v, s->nameloc);
}

static void lower_result(Lower *L, const Stmt *s, FeResult *r, const char *what) {
  if (r->seen) {
    diag_error(L->d, s->loc, "a model has one '%s' statement; this is a second one", what);
    diag_note(L->d, r->loc, "the first is here");
    return;
  }
  L->in_loss = s->kind == ST_MINIMIZE;
  *r = (FeResult){.seen = true, .v = fe_lower_expr(L, s->expr), .loc = s->loc};
  L->in_loss = false;
  if (s->kind == ST_MINIMIZE && r->v >= 0) {
    const Type *t = fe_type(L, r->v);
    char b[IR_TYPE_STRLEN];
    if (t->dt != DT_F32 || t->sh.rank != 0) {
      diag_error(L->d, s->expr->loc, "the loss must be a scalar f32[], got %s (reduce it with mean or sum)",
                 fe_type_str(L, t, b));
      r->v = FE_ERR;
    } else {
      name_value(L, r->v, "loss");
    }
  }
}

/* A repeat's index keeps its value through each iteration. */
static bool rebindable(Lower *L, const char *name, Loc loc) {
  const FeName *old = fe_lookup(L, name);
  if (!old || !old->is_index) return true;
  diag_error(L->d, loc, "'%s' is the index of a repeat; it cannot be rebound", name);
  return false;
}

/* name = expr: a constant expression binds a compile-time number (so
 * `d = 128` can give a layer's units), anything else a tensor. */
static void lower_let(Lower *L, const Stmt *s) {
  double num;
  bool is_int;
  if (!fe_const_value(L, s->expr, &num, &is_int)) {
    fe_bind_name(L, s->name, s->nameloc, fe_lower_expr(L, s->expr));
  } else if (rebindable(L, s->name, s->nameloc)) {
    FeName *n = fe_define(L, s->name, NK_CONST, FE_ERR, s->nameloc);
    n->num = num;
    n->is_int = is_int;
  }
}

void fe_bind_name(Lower *L, const char *name, Loc loc, int v) {
  if (!rebindable(L, name, loc)) return;
  name_value(L, v, fe_prefixed(L, name));
  fe_define(L, name, NK_LET, v, loc);
}

static void lower_stmt(Lower *L, const Stmt *s) {
  switch (s->kind) {
  case ST_INPUT: lower_input(L, s); break;
  case ST_PARAM: lower_param(L, s); break;
  case ST_LET:
    if (s->nnames) fe_lower_unpack(L, s);
    else lower_let(L, s);
    break;
  case ST_OUTPUT: lower_result(L, s, &L->out, "output"); break;
  case ST_MINIMIZE: lower_result(L, s, &L->loss, "minimize"); break;
  case ST_REPEAT: fe_lower_repeat(L, s); break;
  case ST_RETURN: fe_lower_return(L, s); break;
  }
}

void fe_lower_stmts(Lower *L, const Stmt *stmts, int n) {
  const Stmt *body = L->body;
  int nbody = L->nbody, cur = L->cur_stmt;
  L->body = stmts, L->nbody = n;
  for (int i = 0; i < n; i++) {
    /* The model's own statements are bounded by its source; what repeats
     * and calls expand to is not. */
    if (L->nframes && ++L->expanded > FE_MAX_EXPANDED) {
      if (L->expanded == FE_MAX_EXPANDED + 1)
        diag_error(L->d, stmts[i].loc, "the model expands to more than %d statements (through repeat and def calls)",
                   FE_MAX_EXPANDED);
      break;
    }
    L->cur_stmt = i;
    lower_stmt(L, &stmts[i]);
  }
  L->body = body, L->nbody = nbody, L->cur_stmt = cur;
}

/* ---- cutting out the functions ---- */

void fe_add_modal(Lower *L, int train_v, int eval_v) {
  GROW(L, L->modal, L->nmodal, L->modalcap);
  L->modal[L->nmodal++] = (FeModal){.train = train_v, .eval = eval_v};
}

/* The node an evaluation-mode function reads in place of node i (a
 * dropout's input, a batch_norm's evaluation-mode result), or -1: i
 * itself. Twins come before the node they replace. */
static int eval_twin(const Lower *L, int i, bool train) {
  if (train) return -1;
  if (L->f->nodes[i].op == OP_DROPOUT) return L->f->nodes[i].args[0];
  for (int k = 0; k < L->nmodal; k++)
    if (L->modal[k].train == i) return L->modal[k].eval;
  return -1;
}

/* Marks the nodes `rets` depend on in the given mode, and in training mode
 * the training-only stores. Nodes only use earlier nodes, so one backward
 * sweep suffices. */
static bool *live_from(Lower *L, const int *rets, int nrets, bool train) {
  IrFunc *f = L->f;
  bool *live = arena_alloc(L->a, (size_t)f->n + 1);
  for (int i = 0; i < nrets; i++) live[rets[i]] = true;
  for (int k = 0; train && k < L->nmodal; k++)
    if (L->modal[k].eval < 0) live[L->modal[k].train] = true;
  for (int i = f->n - 1; i >= 0; i--) {
    if (!live[i]) continue;
    int twin = eval_twin(L, i, train);
    if (twin >= 0) live[twin] = true;
    else
      for (int k = 0; k < f->nodes[i].nargs; k++) live[f->nodes[i].args[k]] = true;
  }
  return live;
}

/* Copies the live nodes of the scratch function into a new function:
 * the inputs first, in the order given (renumbered), then the rest in
 * order. Returns the map from scratch ids to the new function's (for the
 * live nodes). */
static int *cut(Lower *L, const char *name, const int *rets, int nrets, const int *ins, int nins, bool train) {
  IrFunc *src = L->f, *dst = ir_func_new(L->m, name);
  bool *live = live_from(L, rets, nrets, train);
  int *map = arena_alloc(L->a, ((size_t)src->n + 1) * sizeof *map);
  for (int k = 0; k < nins; k++) {
    IrNode n = src->nodes[ins[k]];
    n.at.index = k;
    map[ins[k]] = ir_append(dst, &n);
  }
  for (int i = 0; i < src->n; i++) {
    if (!live[i] || src->nodes[i].op == OP_INPUT) continue;
    int twin = eval_twin(L, i, train);
    if (twin >= 0) {
      map[i] = map[twin];
      continue;
    }
    IrNode n = src->nodes[i];
    for (int k = 0; k < n.nargs; k++) n.args[k] = map[n.args[k]];
    map[i] = ir_append(dst, &n);
  }
  for (int i = 0; i < nrets; i++) ir_ret(dst, map[rets[i]]);
  for (int i = 0; i < src->n; i++)
    if (!live[i]) map[i] = -1;
  return map;
}

/* Splits the inputs into features (the output uses them) and labels (only
 * the loss does), builds forward and eval_step, and drops label inputs from
 * the summary (Keras lists the model's inputs, not its targets). */
static void build_functions(Lower *L, int out, int loss) {
  bool *for_out = live_from(L, &out, 1, false);
  bool *for_loss = live_from(L, &loss, 1, false);
  int *ins = arena_alloc(L->a, ((size_t)L->ninputs + 1) * sizeof *ins);
  int nfeat = 0, n = 0;
  for (int k = 0; k < L->ninputs; k++)
    if (for_out[L->inputs[k]]) ins[n++] = L->inputs[k];
  nfeat = n;
  for (int k = 0; k < L->ninputs; k++)
    if (!for_out[L->inputs[k]] && for_loss[L->inputs[k]]) ins[n++] = L->inputs[k];
  int *in_forward = cut(L, IR_FN_FORWARD, &out, 1, ins, nfeat, false);
  for (int i = 0; i < L->nlayers; i++) L->layers[i].value = in_forward[L->layers[i].value];
  int rets[2] = {loss, out};
  cut(L, IR_FN_EVAL, rets, 2, ins, n, false);
  bool *train = live_from(L, rets, 2, true), modal = false;
  for (int i = 0; i < L->f->n; i++) modal |= train[i] && L->f->nodes[i].op == OP_DROPOUT;
  for (int k = 0; k < L->nmodal; k++) modal |= train[L->modal[k].train];
  if (modal) cut(L, IR_FN_LOSS, rets, 2, ins, n, true);
  int keep = 0;
  for (int i = 0; i < L->nlayers; i++) {
    bool label = false;
    for (int k = nfeat; k < n; k++)
      label |= !strcmp(L->layers[i].kind, "input") && !strcmp(L->layers[i].name, L->f->nodes[ins[k]].name);
    if (!label) L->layers[keep++] = L->layers[i];
  }
  L->nlayers = keep;
}

/* Inputs neither the output nor the loss uses would leave the runtime
 * unsure what to feed forward; they are an error. */
static void check_inputs_used(Lower *L, int out, int loss) {
  bool *for_out = live_from(L, &out, 1, false), *for_loss = live_from(L, &loss, 1, false);
  /* L->inputs has one entry per input statement, in order. */
  for (int i = 0, k = 0; i < L->prog->nstmts; i++) {
    const Stmt *s = &L->prog->stmts[i];
    if (s->kind != ST_INPUT) continue;
    int v = L->inputs[k++];
    if (v >= 0 && !for_out[v] && !for_loss[v])
      diag_error(L->d, s->nameloc, "input '%s' is used by neither the output nor the loss", s->name);
  }
}

/* ---- the driver ---- */

char *fe_read_file(Arena *a, Diag *d, const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    diag_fatal(d, "cannot open '%s': %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, fp)) > 0;) {
    n += got;
    if (n == cap) {
      char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap *= 2) : NULL;
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  bool err = ferror(fp) || !buf;
  fclose(fp);
  if (err) {
    free(buf);
    diag_fatal(d, "cannot read '%s'", path);
    return NULL;
  }
  char *text = arena_strndup(a, buf, n);
  *len = n;
  free(buf);
  return text;
}

FeModel *fe_compile(Arena *a, Diag *d, const char *path, const char *text, size_t len) {
  int errors0 = d->nerrors;
  path = arena_strdup(a, path);
  if (!text) {
    if (!(text = fe_read_file(a, d, path, &len))) return NULL;
  } else {
    text = arena_strndup(a, text, len);
  }
  const char *file = diag_source(d, path, text, len);
  int ntok;
  Token *toks = lex_tokens(a, d, file, text, len, &ntok);
  Program *prog = parse_program(a, d, toks, ntok);
  if (!prog->has_model) return NULL;

  Lower L = {.a = a, .d = d, .prog = prog, .task = NNRT_TASK_REGRESS, .bce_logits = FE_ERR};
  L.m = ir_module_new(a, prog->name);
  L.f = ir_func_new(L.m, "model");
  fe_check_defs(&L);
  /* Errors inside a def's expansion get a note per call (fe_note_frames). */
  void (*context)(void *) = d->context;
  void *context_arg = d->context_arg;
  d->context = fe_note_frames, d->context_arg = &L;
  fe_lower_stmts(&L, prog->stmts, prog->nstmts);
  d->context = context, d->context_arg = context_arg;
  FeResult out = L.out, loss = L.loss;
  if (!out.seen && !prog->syntax_errors)
    diag_error(d, prog->loc, "model '%s' has no 'output' statement", prog->name);
  if (!loss.seen && !prog->syntax_errors)
    diag_error(d, prog->loc, "model '%s' has no 'minimize' statement (the loss to train)", prog->name);
  fe_lower_train(&L);
  /* Only in an otherwise clean model: a statement that failed may have
   * been the one using the input. */
  if (d->nerrors == errors0 && out.v >= 0 && loss.v >= 0) check_inputs_used(&L, out.v, loss.v);
  if (d->nerrors > errors0 || out.v < 0 || loss.v < 0) return NULL;

  /* A binary model whose output is the logits its loss read: eval and
   * predict must threshold that output at 0, not 0.5. */
  if (L.task == NNRT_TASK_BINARY && out.v == L.bce_logits) L.task = NNRT_TASK_BINARY_LOGITS;
  L.m->train.task = L.task;
  build_functions(&L, out.v, loss.v);
  ir_func_remove(L.m, L.f);
  FeModel *fm = arena_alloc(a, sizeof *fm);
  *fm = (FeModel){.mod = L.m, .layers = L.layers, .nlayers = L.nlayers};
  fm->numel0 = arena_alloc(a, (size_t)(L.m->nglobals + 1) * sizeof *fm->numel0);
  for (int i = 0; i < L.m->nglobals; i++) fm->numel0[i] = ir_numel_static(&L.m->globals[i].ty.sh);
  return fm;
}
