/* ir.c — the op table (from ops.def), type helpers and the IR builder. */
#include "ir.h"

#include <stdarg.h>
#include <string.h>

#define OP(id, mnem, nargs, flags, attrs, shape, vjp)                                      \
  bool shape(const IrModule *m, const Type *in, int nin, const Attrs *at, Type *out, char *err, \
             size_t errlen);
#include "ops.def"

const OpInfo ir_ops[OP_COUNT] = {
#define OP(id, mnem, nargs, flags, attrs, shape, vjp) [OP_##id] = {mnem, nargs, flags, attrs, shape},
#include "ops.def"
};

const char *const ir_global_kind_names[4] = {[GLOBAL_PARAM] = "param", [GLOBAL_STATE] = "state", [GLOBAL_STATS] = "stats",
                                             [GLOBAL_MASK] = "mask"};

OpKind ir_op_by_name(const char *mnemonic) {
  for (int i = 0; i < OP_COUNT; i++)
    if (!strcmp(ir_ops[i].mnemonic, mnemonic)) return (OpKind)i;
  return OP_COUNT;
}

bool ir_shape_eq(const Shape *a, const Shape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return false;
  return true;
}

bool ir_type_eq(const Type *a, const Type *b) { return a->dt == b->dt && ir_shape_eq(&a->sh, &b->sh); }

int64_t ir_numel_static(const Shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (IR_IS_SYM(s->d[i])) return -1;
    n *= s->d[i];
  }
  return n;
}

int64_t ir_numel(const Shape *s, const int64_t *syms) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) n *= IR_IS_SYM(s->d[i]) ? syms[IR_SYM_INDEX(s->d[i])] : s->d[i];
  return n;
}

/* Appends to buf[len] at *k; a long type is cut short, never overrun (the
 * pointer stays inside buf even once *k has passed len). */
static void append(char *buf, size_t len, size_t *k, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *k, const char *fmt, ...) {
  if (*k >= len) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + *k, len - *k, fmt, ap);
  va_end(ap);
  *k += n > 0 ? (size_t)n : 0;
}

const char *ir_type_str(const IrModule *m, const Type *t, char *buf, size_t len) {
  size_t k = 0;
  if (len) buf[0] = 0;
  append(buf, len, &k, "%s", ir_dtype_name(t->dt));
  if (t->dt == DT_VOID) return buf;
  append(buf, len, &k, "[");
  for (int i = 0; i < t->sh.rank && i < IR_MAX_RANK; i++) {
    int64_t d = t->sh.d[i];
    const char *sep = i ? "," : "";
    if (IR_IS_SYM(d) && m && -(d + 1) < m->nsyms)
      append(buf, len, &k, "%s%s", sep, m->syms[-(d + 1)]);
    else if (IR_IS_SYM(d))
      append(buf, len, &k, "%s?%lld", sep, (long long)-(d + 1));
    else
      append(buf, len, &k, "%s%lld", sep, (long long)d);
  }
  append(buf, len, &k, "]");
  return buf;
}

/* ---- module ---- */

IrModule *ir_module_new(Arena *a, const char *name) {
  IrModule *m = arena_alloc(a, sizeof *m);
  m->arena = a;
  m->name = arena_strdup(a, name);
  /* The defaults of a module without a train block, and of settings a
   * train block leaves out (.nn and IR text alike): torch.optim.Adam's. */
  m->train.opt = OPT_ADAM;
  m->train.lr = 1e-3;
  m->train.beta1 = 0.9;
  m->train.beta2 = 0.999;
  m->train.eps = 1e-8;
  m->train.rho = 0.99;
  m->train.batch = 32;
  m->train.epochs = 1;
  m->train.seed = 42;
  return m;
}

#define GROW(m, arr, n, cap) ARENA_GROW((m)->arena, arr, n, cap, 8)

int ir_sym_find(const IrModule *m, const char *name) {
  for (int i = 0; i < m->nsyms; i++)
    if (!strcmp(m->syms[i], name)) return i;
  return -1;
}

int ir_sym(IrModule *m, const char *name) {
  int k = ir_sym_find(m, name);
  if (k >= 0) return k;
  GROW(m, m->syms, m->nsyms, m->symcap);
  m->syms[m->nsyms] = arena_strdup(m->arena, name);
  return m->nsyms++;
}

int ir_global_add(IrModule *m, IrGlobal g) {
  GROW(m, m->globals, m->nglobals, m->globalcap);
  g.name = arena_strdup(m->arena, g.name);
  m->globals[m->nglobals] = g;
  return m->nglobals++;
}

int ir_global_find(const IrModule *m, const char *name) {
  for (int i = 0; i < m->nglobals; i++)
    if (!strcmp(m->globals[i].name, name)) return i;
  return -1;
}

IrFunc *ir_func_new(IrModule *m, const char *name) {
  IrFunc *f = arena_alloc(m->arena, sizeof *f);
  f->name = arena_strdup(m->arena, name);
  f->mod = m;
  GROW(m, m->funcs, m->nfuncs, m->funccap);
  m->funcs[m->nfuncs++] = f;
  return f;
}

IrFunc *ir_func_find(const IrModule *m, const char *name) {
  for (int i = 0; i < m->nfuncs; i++)
    if (!strcmp(m->funcs[i]->name, name)) return m->funcs[i];
  return NULL;
}

void ir_func_remove(IrModule *m, IrFunc *f) {
  for (int i = 0; i < m->nfuncs; i++)
    if (m->funcs[i] == f) {
      memmove(&m->funcs[i], &m->funcs[i + 1], (size_t)(m->nfuncs - i - 1) * sizeof *m->funcs);
      m->nfuncs--;
      return;
    }
}

/* ---- nodes ---- */

int ir_append(IrFunc *f, const IrNode *n) {
  GROW(f->mod, f->nodes, f->n, f->cap);
  f->nodes[f->n] = *n;
  return f->n++;
}

int ir_emit(IrFunc *f, OpKind op, const int *args, int nargs, const Attrs *at, const Type *hint,
            Loc loc, Diag *d) {
  const OpInfo *info = &ir_ops[op];
  if (info->nargs == IR_VARIADIC ? nargs > IR_MAX_ARGS : nargs != info->nargs)
    unreachable("ir_emit: wrong operand count");
  IrNode n = {.op = op, .nargs = nargs, .loc = loc, .group = -1, .slot = -1, .offset = -1};
  if (at) n.at = *at;
  ir_attrs_own(f->mod->arena, &n);
  Type in[IR_MAX_ARGS];
  for (int i = 0; i < nargs; i++) {
    if (args[i] < 0 || args[i] >= f->n) unreachable("ir_emit: operand out of range");
    n.args[i] = args[i];
    in[i] = f->nodes[args[i]].ty;
  }
  if (hint) n.ty = *hint;
  else if (info->flags & OPF_TYPED) unreachable("ir_emit: typed op without a type");
  char err[256] = "";
  if (op == OP_SCAN_OUT && !ir_scan_result_type(f, args[0], n.at.index, &n.ty, err, sizeof err)) {
    if (d) diag_error(d, loc, "%s", err);
    return -1;
  }
  if (!info->shape(f->mod, in, nargs, &n.at, &n.ty, err, sizeof err)) {
    if (d) diag_error(d, loc, "%s", err);
    return -1;
  }
  return ir_append(f, &n);
}

int ir_input(IrFunc *f, const char *name, Type ty, Loc loc) {
  int index = 0;
  for (int i = 0; i < f->n; i++) index += f->nodes[i].op == OP_INPUT;
  Attrs at = {.index = index};
  int v = ir_emit(f, OP_INPUT, NULL, 0, &at, &ty, loc, NULL);
  if (v < 0) unreachable("ir_input: bad type");
  f->nodes[v].name = arena_strdup(f->mod->arena, name);
  return v;
}

void ir_ret(IrFunc *f, int value) {
  GROW(f->mod, f->rets, f->nrets, f->retcap);
  f->rets[f->nrets++] = value;
}

static int must(int v) {
  if (v < 0) unreachable("shape error in compiler-generated IR");
  return v;
}

int ir_op1(IrFunc *f, OpKind op, int a, Loc loc) { return must(ir_emit(f, op, &a, 1, NULL, NULL, loc, NULL)); }

int ir_op2(IrFunc *f, OpKind op, int a, int b, Loc loc) {
  int args[2] = {a, b};
  return must(ir_emit(f, op, args, 2, NULL, NULL, loc, NULL));
}

int ir_const(IrFunc *f, double value, const Type *ty, Loc loc) {
  Attrs at = {.value = value};
  return must(ir_emit(f, OP_CONST, NULL, 0, &at, ty, loc, NULL));
}

int ir_scalar(IrFunc *f, double value, Loc loc) {
  Type t = {.dt = DT_F32};
  return ir_const(f, value, &t, loc);
}

int ir_global_ref(IrFunc *f, int global, Loc loc) {
  Attrs at = {.name = f->mod->globals[global].name};
  return must(ir_emit(f, OP_GLOBAL, NULL, 0, &at, &f->mod->globals[global].ty, loc, NULL));
}

IrFunc *ir_func_clone(IrModule *m, const IrFunc *f, const char *name) {
  IrFunc *g = ir_func_new(m, name);
  for (int i = 0; i < f->n; i++) {
    IrNode n = f->nodes[i];
    if (n.name) n.name = arena_strdup(m->arena, n.name);
    ir_attrs_own(m->arena, &n);
    ir_append(g, &n);
  }
  for (int i = 0; i < f->nrets; i++) ir_ret(g, f->rets[i]);
  return g;
}

void ir_func_forget_memory(IrFunc *f) {
  f->mem_planned = false;
  for (int i = 0; i < f->n; i++)
    f->nodes[i].slot = f->nodes[i].offset = -1;
}
