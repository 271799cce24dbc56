/* verify.c — the IR checker, run by the pass manager after every pass in
 * tests and debug builds.
 *
 * Requires nothing of the module: it is meant for IR a pass may have broken,
 * so it checks each field before it uses it (an op before indexing ir_ops, a
 * rank before reading dims, naxes before a shape rule walks axes[]).
 * Guarantees, when it returns true, what the printer, the interpreter and
 * the backends assume:
 *   - the module: sym, global and function names are unique identifiers;
 *     globals have valid static types and known kinds and initialisers;
 *   - each node: a known op with its ops.def operand count; operands defined
 *     earlier (SSA order, so the node list is a schedule) and never a store;
 *     attributes in range; a well-formed type that the op's shape rule
 *     derives (or, for typed ops, accepts); global references that resolve;
 *   - INPUT nodes carry indices 0..n-1 in node order;
 *   - return values are in range and not stores;
 *   - fusion groups, when a function carries them, follow groups.c's rule
 *     (one root, members broadcast to the domain, only domain-shaped or
 *     root values read outside, the groups can be ordered).
 * A node is checked only when its operands were good, so one bad node gives
 * one message, not one per user. Messages name the function and the value:
 *   verify: train_step: %12 (add): ... */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "text.h" /* the name rules: whatever verifies also prints and parses back */

typedef struct Verifier {
  const IrModule *m;
  Diag *d;
  const IrFunc *f;
  bool ok;
} Verifier;

static void verr(Verifier *V, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void verr(Verifier *V, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(V->d, (Loc){0}, "verify: %s", msg);
  V->ok = false;
}

/* Names that the text format can spell (text.h): an identifier, or for
 * globals, which always follow '@', any run of name characters. */
static bool is_ident(const char *s, bool after_sigil) {
  if (!s || !*s || !(after_sigil ? irt_ident_char(*s) : irt_ident_start(*s))) return false;
  for (const char *p = s; *p; p++)
    if (!irt_ident_char(*p)) return false;
  return true;
}

/* "%name" or "%id" for messages. */
static const char *vname(const IrFunc *f, int v, char *buf, size_t n) {
  if (v >= 0 && v < f->n && f->nodes[v].name && *f->nodes[v].name)
    snprintf(buf, n, "%%%s", f->nodes[v].name);
  else
    snprintf(buf, n, "%%%d", v);
  return buf;
}

/* Checks a type's shape fields; on failure writes why. Types with a bad rank
 * are never printed (ir_type_str would read past d[]). */
static bool type_ok(const IrModule *m, const Type *t, bool allow_sym, char *why, size_t n) {
  if (t->dt == DT_VOID) return snprintf(why, n, "void is no tensor type"), false;
  if (!ir_dtype_valid(t->dt)) return snprintf(why, n, "element type %d is unknown", (int)t->dt), false;
  if (t->sh.rank < 0 || t->sh.rank > IR_MAX_RANK)
    return snprintf(why, n, "rank %d is out of range (0..%d)", t->sh.rank, IR_MAX_RANK), false;
  int64_t numel = 1;
  for (int i = 0; i < t->sh.rank; i++) {
    int64_t d = t->sh.d[i];
    if (d == 0) return snprintf(why, n, "dimension %d has size 0", i), false;
    /* The parser's limits: beyond them element counts overflow int64. */
    if (d > IR_MAX_DIM) return snprintf(why, n, "dimension %d is too large", i), false;
    if (d > 0 && (numel *= d) > IR_MAX_NUMEL) return snprintf(why, n, "too many elements"), false;
    if (IR_IS_SYM(d) && !allow_sym) return snprintf(why, n, "dimension %d is symbolic", i), false;
    if (IR_IS_SYM(d) && -(d + 1) >= m->nsyms) return snprintf(why, n, "dimension %d names no sym", i), false;
  }
  return true;
}

/* A pruning mask @P.mask multiplies the parameter @P: the runtime finds the
 * weight (and its optimizer state) it prunes by that name, so the mask is
 * f32 ones of exactly P's type. */
static void check_mask(Verifier *V, const IrModule *m, const IrGlobal *g) {
  size_t n = strlen(g->name);
  int p = -1;
  if (n > 5 && !strcmp(g->name + n - 5, ".mask"))
    for (int j = 0; j < m->nglobals && p < 0; j++)
      if (m->globals[j].name && strlen(m->globals[j].name) == n - 5 && !strncmp(m->globals[j].name, g->name, n - 5)) p = j;
  if (p < 0 || m->globals[p].kind != GLOBAL_PARAM)
    verr(V, "mask @%s: a mask is named after the parameter it prunes, @<param>.mask", g->name);
  else if (!ir_type_eq(&g->ty, &m->globals[p].ty) || g->ty.dt != DT_F32)
    verr(V, "mask @%s: its type is not its parameter's f32 type", g->name);
  if (g->init != NNRT_INIT_ONES) verr(V, "mask @%s: a mask starts as ones", g->name);
}

static void verify_module_names(Verifier *V) {
  const IrModule *m = V->m;
  char why[160];
  if (!is_ident(m->name, false)) verr(V, "module name '%s' is not an identifier", m->name ? m->name : "(null)");
  for (int i = 0; i < m->nsyms; i++) {
    if (!is_ident(m->syms[i], false))
      verr(V, "sym %d '%s' is not an identifier", i, m->syms[i] ? m->syms[i] : "(null)");
    else
      for (int j = 0; j < i; j++)
        if (m->syms[j] && !strcmp(m->syms[i], m->syms[j])) verr(V, "sym %s is declared twice", m->syms[i]);
  }
  for (int i = 0; i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    if (!is_ident(g->name, true)) {
      verr(V, "global %d: name '%s' is not an identifier", i, g->name ? g->name : "(null)");
      continue;
    }
    for (int j = 0; j < i; j++)
      if (m->globals[j].name && !strcmp(g->name, m->globals[j].name)) verr(V, "global @%s is declared twice", g->name);
    if (g->kind != GLOBAL_PARAM && g->kind != GLOBAL_STATE && g->kind != GLOBAL_STATS && g->kind != GLOBAL_MASK)
      verr(V, "global @%s: kind %d is unknown", g->name, (int)g->kind);
    if (g->kind == GLOBAL_MASK) check_mask(V, m, g);
    if (g->init < NNRT_INIT_ZEROS || g->init > NNRT_INIT_UNIT_FORGET)
      verr(V, "global @%s: initialiser %d is unknown", g->name, g->init);
    /* The seed is two words of state, written by the runtime, not trained. */
    if (g->init == NNRT_INIT_SEED && (g->kind != GLOBAL_STATE || g->ty.dt != DT_I32 || g->ty.sh.rank != 1 ||
                                      g->ty.sh.d[0] != 2))
      verr(V, "global @%s: a seed is an i32[2] state global", g->name);
    if (!type_ok(m, &g->ty, false, why, sizeof why)) verr(V, "global @%s: %s", g->name, why);
  }
  const IrTrain *t = &m->train;
  if (t->present) {
    if (t->opt != OPT_SGD && t->opt != OPT_ADAM && t->opt != OPT_ADAMW && t->opt != OPT_RMSPROP)
      verr(V, "train: optimizer %d is unknown", (int)t->opt);
    if (!(t->clip_norm >= 0)) verr(V, "train: clip_norm %g must not be negative", t->clip_norm);
    if (t->task < NNRT_TASK_CLASSIFY || t->task > NNRT_TASK_BINARY_LOGITS) verr(V, "train: task %d is unknown", t->task);
    if (t->output_loss != NNRT_LOSS_NONE && t->output_loss != NNRT_LOSS_CROSS_ENTROPY)
      verr(V, "train: output_loss %d is unknown", t->output_loss);
    if (t->batch < 0 || t->epochs < 0)
      verr(V, "train: batch %d and epochs %d must not be negative", t->batch, t->epochs);
  }
  for (int i = 0; i < m->nfuncs; i++) {
    const IrFunc *f = m->funcs[i];
    if (!f || !is_ident(f->name, false)) {
      verr(V, "function %d: name '%s' is not an identifier", i, f && f->name ? f->name : "(null)");
      continue;
    }
    for (int j = 0; j < i; j++)
      if (m->funcs[j] && m->funcs[j]->name && !strcmp(f->name, m->funcs[j]->name))
        verr(V, "function '%s' is defined twice", f->name);
    if (f->mod != m) verr(V, "%s: belongs to another module", f->name);
  }
}

/* Attribute values a shape rule would trust and the text format can
 * write (attrs.def): ints and list entries in 0..max (an annotation may
 * also be -1, unset), lists no longer than IR_MAX_RANK, names present. */
static bool attrs_ok(const IrNode *n, char *why, size_t len) {
  for (int k = 0; k < AK_COUNT; k++) {
    const AttrInfo *a = &ir_attrs[k];
    bool node = a->place == AP_NODE;
    if (!node && !(ir_ops[n->op].attrs & (1u << k))) continue;
    const void *field = (const char *)n + a->off;
    switch (a->value) {
    case AV_INT: {
      int v = *(const int *)field;
      if (v < (node ? -1 : 0) || v > a->max)
        return snprintf(why, len, "%s is %d, not in %d..%d", a->text, v, node ? -1 : 0, a->max), false;
      if (node && v >= 0 && n->op == OP_INPUT) /* inputs print in the signature, without {...} */
        return snprintf(why, len, "an input cannot carry %s", a->text), false;
      break;
    }
    case AV_INTS: {
      int count = *(const int *)((const char *)n + a->len_off);
      if (count < 0 || count > IR_MAX_RANK)
        return snprintf(why, len, "%s has %d entries, not 0..%d", a->text, count, IR_MAX_RANK), false;
      for (int i = 0; i < count; i++)
        if (((const int *)field)[i] < 0 || ((const int *)field)[i] > a->max)
          return snprintf(why, len, "%s[%d] is %d, not in 0..%d", a->text, i, ((const int *)field)[i], a->max), false;
      break;
    }
    case AV_FUNC:
    case AV_GLOBAL:
      if (!*(const char *const *)field) return snprintf(why, len, "no %s", a->text), false;
      break;
    case AV_REAL:
      break;
    }
  }
  return true;
}

/* Checks node i; returns whether it is good enough for its users to be
 * checked against its type. */
static bool verify_node(Verifier *V, int i, int *ninputs, bool *good) {
  const IrFunc *f = V->f;
  const IrNode *n = &f->nodes[i];
  char me[80], b1[IR_TYPE_STRLEN], b2[IR_TYPE_STRLEN], why[256];
  vname(f, i, me, sizeof me);
  if ((unsigned)n->op >= OP_COUNT) {
    verr(V, "%s: %s: op %d is unknown", f->name, me, (int)n->op);
    return false;
  }
  const OpInfo *info = &ir_ops[n->op];
  const char *mn = info->mnemonic;
  if (info->nargs == IR_VARIADIC ? n->nargs < 0 || n->nargs > IR_MAX_ARGS : n->nargs != info->nargs) {
    verr(V, "%s: %s (%s): has %d operands, the op takes %d", f->name, me, mn, n->nargs, info->nargs);
    return false;
  }
  bool args_good = true;
  Type in[IR_MAX_ARGS];
  for (int k = 0; k < n->nargs; k++) {
    int a = n->args[k];
    char an[80];
    if (a < 0 || a >= i) {
      verr(V, "%s: %s (%s): operand %d (%s) is not defined before its use", f->name, me, mn, k,
           vname(f, a, an, sizeof an));
      return false;
    }
    if (f->nodes[a].op == OP_STORE) {
      verr(V, "%s: %s (%s): operand %d (%s) is a store, which has no result", f->name, me, mn, k,
           vname(f, a, an, sizeof an));
      return false;
    }
    args_good &= good[a];
    in[k] = f->nodes[a].ty;
  }
  if (n->op == OP_INPUT && n->at.index != (*ninputs)++)
    verr(V, "%s: %s (input): index %d, but it is input %d in node order", f->name, me, n->at.index, *ninputs - 1);
  if (!attrs_ok(n, why, sizeof why)) {
    verr(V, "%s: %s (%s): %s", f->name, me, mn, why);
    return false;
  }
  if (n->op == OP_STORE || n->op == OP_SCAN) {
    if (n->ty.dt != DT_VOID || n->ty.sh.rank != 0) {
      verr(V, "%s: %s (%s): its type must be void", f->name, me, mn);
      return false;
    }
  } else if (!type_ok(V->m, &n->ty, true, why, sizeof why)) {
    verr(V, "%s: %s (%s): bad type: %s", f->name, me, mn, why);
    return false;
  }
  if ((info->attrs & A_NAME) && ir_global_find(V->m, n->at.name) < 0) {
    verr(V, "%s: %s (%s): unknown global @%s", f->name, me, mn, n->at.name);
    return false;
  }
  if (!args_good) return false; /* already reported at the operand */
  Type out = (info->flags & OPF_TYPED) ? n->ty : (Type){0};
  why[0] = 0;
  if (n->op == OP_SCAN_OUT && !ir_scan_result_type(f, n->args[0], n->at.index, &out, why, sizeof why)) {
    verr(V, "%s: %s (%s): %s", f->name, me, mn, why);
    return false;
  }
  if (!info->shape(V->m, in, n->nargs, &n->at, &out, why, sizeof why)) {
    verr(V, "%s: %s (%s): %s", f->name, me, mn, why);
    return false;
  }
  if (!ir_type_eq(&out, &n->ty)) {
    verr(V, "%s: %s (%s): type is %s, but the operands give %s", f->name, me, mn,
         ir_type_str(V->m, &n->ty, b1, sizeof b1), ir_type_str(V->m, &out, b2, sizeof b2));
    return false;
  }
  return true;
}

static void verify_func(Verifier *V, const IrFunc *f) {
  V->f = f;
  if (f->n < 0 || f->nrets < 0 || (f->n && !f->nodes) || (f->nrets && !f->rets)) {
    verr(V, "%s: corrupt node or return list", f->name);
    return;
  }
  bool *good = calloc((size_t)f->n + 1, sizeof *good);
  if (!good) unreachable("out of memory");
  int ninputs = 0;
  bool all_good = true;
  for (int i = 0; i < f->n; i++)
    all_good &= good[i] = verify_node(V, i, &ninputs, good);
  for (int r = 0; r < f->nrets; r++) {
    int v = f->rets[r];
    char vn[80];
    if (v < 0 || v >= f->n) {
      verr(V, "%s: return value %d (%s) is out of range", f->name, r, vname(f, v, vn, sizeof vn));
      all_good = false;
    } else if (f->nodes[v].op == OP_STORE) {
      verr(V, "%s: return value %d (%s) is a store, which has no result", f->name, r, vname(f, v, vn, sizeof vn));
    }
  }
  /* Fusion groups are checked on well-typed IR with return values in range
   * only: their rule compares shapes and marks the returned nodes. */
  if (all_good && ir_groups_check(f, NULL, NULL, V->d) < 0) V->ok = false;
  free(good);
}

bool ir_verify(const IrModule *m, Diag *d) {
  Verifier V = {.m = m, .d = d, .ok = true};
  verify_module_names(&V);
  for (int i = 0; i < m->nfuncs; i++)
    if (m->funcs[i] && m->funcs[i]->name) verify_func(&V, m->funcs[i]);
  return V.ok;
}
