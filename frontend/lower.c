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
 *              whose meaning depends on the mode (dropout): autodiff builds
 *              train_step from it. forward and eval_step are evaluation
 *              mode, where each dropout is replaced by its input.
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
  L->layers[L->nlayers++] = (FeLayer){.name = name, .kind = kind, .out = *fe_type(L, v), .params = params, .loc = loc};
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
  const char *key = arena_printf(L->a, "#%s", kind);
  int b = tab_add(L, &L->layer_names, key); /* may move the table: index it after */
  int k = L->layer_names.next[b];
  const char *s;
  while (fe_layer_name_taken(L, s = arena_printf(L->a, "%s_%d", kind, k))) k++;
  L->layer_names.next[tab_slot(&L->layer_names, key)] = k + 1;
  return s;
}

/* ---- names ---- */

static FeName *lookup(Lower *L, const char *name) {
  for (int i = L->nnames - 1; i >= 0; i--)
    if (!strcmp(L->names[i].name, name)) return &L->names[i];
  return NULL;
}

bool fe_is_value_name(Lower *L, const char *name) { return lookup(L, name) != NULL; }

static void define(Lower *L, const char *name, NameKind kind, int v, Loc loc) {
  FeName *n = lookup(L, name);
  if (!n) {
    GROW(L, L->names, L->nnames, L->namecap);
    n = &L->names[L->nnames++];
  }
  *n = (FeName){.name = name, .kind = kind, .val = v, .loc = loc};
}

/* input and param declare a name once; bindings may rebind any name. */
static bool check_new_decl(Lower *L, const Stmt *s) {
  FeName *n = lookup(L, s->name);
  if (!n) return true;
  diag_error(L->d, s->nameloc, "'%s' is already defined", s->name);
  diag_note(L->d, n->loc, "'%s' was defined here", s->name);
  return false;
}

static int unknown_name(Lower *L, const Expr *e) {
  if (fe_builtin_find(e->name)) {
    diag_error(L->d, e->loc, "'%s' is a function; call it, as in %s(x), or pipe into it, as in x |> %s", e->name,
               e->name, e->name);
    return FE_ERR;
  }
  for (int i = L->cur_stmt + 1; i < L->prog->nstmts; i++) {
    const Stmt *s = &L->prog->stmts[i];
    if (s->name && !strcmp(s->name, e->name)) {
      diag_error(L->d, e->loc, "'%s' is used before it is defined (on line %d)", e->name, s->nameloc.line);
      return FE_ERR;
    }
  }
  const char **cands = arena_alloc(L->a, (size_t)(L->nnames + 1) * sizeof *cands);
  for (int i = 0; i < L->nnames; i++) cands[i] = L->names[i].name;
  const char *near = fe_suggest(e->name, cands, L->nnames);
  if (near) diag_error(L->d, e->loc, "unknown name '%s'; did you mean '%s'?", e->name, near);
  else diag_error(L->d, e->loc, "unknown name '%s'", e->name);
  return FE_ERR;
}

/* ---- expressions ---- */

/* The only exponents ** accepts: a number, maybe negated. */
static bool const_number(const Expr *e, double *v) {
  bool is_int;
  return fe_const_num(e, v, &is_int);
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
    FeName *n = lookup(L, e->name);
    return n ? n->val : unknown_name(L, e);
  }
  case EX_NEG: {
    double v;
    if (const_number(e, &v)) return fe_scalar(L, v, e->loc);
    return fe_emit1(L, OP_NEG, fe_lower_expr(L, e->lhs), e->loc);
  }
  case EX_BINARY: {
    if (e->op == BIN_POW) {
      double p;
      int x = fe_lower_expr(L, e->lhs);
      if (!const_number(e->rhs, &p)) {
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
  case EX_CALL: return fe_lower_call(L, e);
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
    t->sh.d[i] = te->dims[i].sym ? IR_SYM(ir_sym(L->m, te->dims[i].sym)) : te->dims[i].size;
    if (!te->dims[i].sym && (elems *= te->dims[i].size) > FE_MAX_ELEMS) {
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
  define(L, s->name, NK_INPUT, v, s->nameloc);
}

static void lower_param(Lower *L, const Stmt *s) {
  Type t;
  int v = FE_ERR;
  bool ok = check_new_decl(L, s) && build_type(L, &s->type, &t);
  for (int i = 0; ok && i < s->type.rank; i++)
    if (s->type.dims[i].sym) {
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
    if (ir_global_find(L->m, s->name) >= 0) {
      diag_error(L->d, s->nameloc, "a parameter named '%s' already exists", s->name);
    } else {
      fe_init_fans(&init, &t.sh);
      int g = ir_global_add(L->m, (IrGlobal){.name = s->name, .kind = GLOBAL_PARAM, .ty = t, .init = init.kind,
                                              .init_a = init.a, .init_b = init.b, .loc = s->nameloc});
      v = ir_global_ref(L->f, g, s->nameloc);
      L->f->nodes[v].name = fe_unique_name(L, s->name);
      fe_add_layer(L, s->name, "param", v, ir_numel_static(&t.sh), s->nameloc);
    }
  }
  define(L, s->name, NK_PARAM, v, s->nameloc);
}

typedef struct Result {
  bool seen;
  int v;
  Loc loc;
} Result;

static void lower_result(Lower *L, const Stmt *s, Result *r, const char *what) {
  if (r->seen) {
    diag_error(L->d, s->loc, "a model has one '%s' statement; this is a second one", what);
    diag_note(L->d, r->loc, "the first is here");
    return;
  }
  L->in_loss = s->kind == ST_MINIMIZE;
  *r = (Result){.seen = true, .v = fe_lower_expr(L, s->expr), .loc = s->loc};
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

/* ---- cutting out the functions ---- */

/* An evaluation-mode function reads a dropout as its input (operand 0). */
static bool passes_through(const IrNode *n, bool train) { return !train && n->op == OP_DROPOUT; }

/* Marks the nodes `rets` depend on in the given mode. Nodes only use
 * earlier nodes, so one backward sweep suffices. */
static bool *live_from(Lower *L, const int *rets, int nrets, bool train) {
  IrFunc *f = L->f;
  bool *live = arena_alloc(L->a, (size_t)f->n + 1);
  for (int i = 0; i < nrets; i++) live[rets[i]] = true;
  for (int i = f->n - 1; i >= 0; i--)
    if (live[i])
      for (int k = 0; k < (passes_through(&f->nodes[i], train) ? 1 : f->nodes[i].nargs); k++)
        live[f->nodes[i].args[k]] = true;
  return live;
}

/* Copies the live nodes of the scratch function into a new function:
 * the inputs first, in the order given (renumbered), then the rest in
 * order. */
static void cut(Lower *L, const char *name, const int *rets, int nrets, const int *ins, int nins, bool train) {
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
    if (passes_through(&src->nodes[i], train)) {
      map[i] = map[src->nodes[i].args[0]];
      continue;
    }
    IrNode n = src->nodes[i];
    for (int k = 0; k < n.nargs; k++) n.args[k] = map[n.args[k]];
    map[i] = ir_append(dst, &n);
  }
  for (int i = 0; i < nrets; i++) ir_ret(dst, map[rets[i]]);
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
  cut(L, IR_FN_FORWARD, &out, 1, ins, nfeat, false);
  int rets[2] = {loss, out};
  cut(L, IR_FN_EVAL, rets, 2, ins, n, false);
  bool *train = live_from(L, rets, 2, true), modal = false;
  for (int i = 0; i < L->f->n; i++) modal |= train[i] && L->f->nodes[i].op == OP_DROPOUT;
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
  Result out = {0}, loss = {0};
  for (int i = 0; i < prog->nstmts; i++) {
    const Stmt *s = &prog->stmts[i];
    L.cur_stmt = i;
    switch (s->kind) {
    case ST_INPUT: lower_input(&L, s); break;
    case ST_PARAM: lower_param(&L, s); break;
    case ST_LET: {
      int v = fe_lower_expr(&L, s->expr);
      name_value(&L, v, s->name);
      define(&L, s->name, NK_LET, v, s->nameloc);
      break;
    }
    case ST_OUTPUT: lower_result(&L, s, &out, "output"); break;
    case ST_MINIMIZE: lower_result(&L, s, &loss, "minimize"); break;
    }
  }
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
  return fm;
}
