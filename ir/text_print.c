/* text_print.c — the IR text printer (docs/ir.md, "Text format").
 *
 * The output is canonical: the same module always prints the same bytes,
 * and text_parse.c reads it back into a module that prints identically. That
 * rests on three choices made here:
 *   - every attribute of an op prints every time, in attrs.def's order, so
 *     the parser never has to guess a default (a node annotation such as
 *     the fusion group prints only when set: unset is its one default);
 *   - unnamed values print as %<node id>, which fixes where each node sits
 *     (the parser places the inputs, printed only in the signature, around
 *     those ids);
 *   - value names that could not be read back (duplicates, all digits, odd
 *     characters) are made unique and readable here, never in the module.
 * The printer never trusts the module: on broken IR (say, printed after a
 * pass that failed verification) it prints what is there and never reads
 * out of bounds. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* The keyword tables of the text format (text.h), for both directions. */
const char *const ir_text_opt_names[4] = {[OPT_SGD] = "sgd", [OPT_ADAM] = "adam", [OPT_ADAMW] = "adamw",
                                         [OPT_RMSPROP] = "rmsprop"};
const char *const ir_text_task_names[4] = {[NNRT_TASK_CLASSIFY] = "classify", [NNRT_TASK_BINARY] = "binary",
                                          [NNRT_TASK_REGRESS] = "regress", [NNRT_TASK_BINARY_LOGITS] = "binary_logits"};
const char *const ir_text_output_loss_names[2] = {[NNRT_LOSS_NONE] = "none",
                                                 [NNRT_LOSS_CROSS_ENTROPY] = "cross_entropy"};
const char *const ir_text_init_names[9] = {
    [NNRT_INIT_ZEROS] = "zeros",           [NNRT_INIT_ONES] = "ones",
    [NNRT_INIT_NORMAL] = "normal",         [NNRT_INIT_UNIFORM] = "uniform",
    [NNRT_INIT_HE_NORMAL] = "he_normal",   [NNRT_INIT_GLOROT_UNIFORM] = "glorot_uniform",
    [NNRT_INIT_SEED] = "seed",             [NNRT_INIT_ORTHOGONAL] = "orthogonal",
    [NNRT_INIT_UNIT_FORGET] = "unit_forget_bias"};
const int ir_text_init_nargs[9] = {[NNRT_INIT_ZEROS] = 0,      [NNRT_INIT_ONES] = 0,
                                   [NNRT_INIT_NORMAL] = 2,     [NNRT_INIT_UNIFORM] = 2,
                                   [NNRT_INIT_HE_NORMAL] = 1,  [NNRT_INIT_GLOROT_UNIFORM] = 2,
                                   [NNRT_INIT_SEED] = 0,       [NNRT_INIT_ORTHOGONAL] = 0,
                                   [NNRT_INIT_UNIT_FORGET] = 1};

static bool all_digits(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

static void print_dim(FILE *out, const IrModule *m, int64_t d) {
  /* -(d + 1), not IR_SYM_INDEX: that one overflows on a garbage dim. */
  int64_t k = -(d + 1);
  if (!IR_IS_SYM(d))
    fprintf(out, "%" PRId64, d);
  else if (m && k < m->nsyms)
    fputs(m->syms[k], out);
  else
    fprintf(out, "?%" PRId64, k); /* broken IR: shown, not parseable */
}

/* Not ir_type_str: its fixed buffer would cut long sym names, and a cut
 * type would not read back. */
static void print_type(FILE *out, const IrModule *m, const Type *t) {
  fputs(ir_dtype_name(t->dt), out);
  if (t->dt == DT_VOID) return;
  fputc('[', out);
  int rank = t->sh.rank < 0 ? 0 : t->sh.rank > IR_MAX_RANK ? IR_MAX_RANK : t->sh.rank;
  for (int i = 0; i < rank; i++) {
    if (i) fputc(',', out);
    print_dim(out, m, t->sh.d[i]);
  }
  fputc(']', out);
}

/* ---- value names ---- */

/* A string set for the names already given out in one function: open
 * addressing, so that naming n values costs O(n), not O(n^2). */
typedef struct NameSet {
  char **slot;
  size_t cap;
} NameSet;

static bool nameset_has(const NameSet *s, const char *name) {
  for (size_t i = ir_hash_str(name) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
    if (!strcmp(s->slot[i], name)) return true;
  return false;
}

static void nameset_add(NameSet *s, char *name) {
  size_t i = ir_hash_str(name) & (s->cap - 1);
  while (s->slot[i])
    i = (i + 1) & (s->cap - 1);
  s->slot[i] = name;
}

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) unreachable("out of memory");
  return p;
}

/* The printed name of every value of f (without the '%'), malloc'd; free
 * with free_names. Unnamed values are their node id. A name that would not
 * read back as itself is repaired: odd characters become '_', and a
 * duplicate or all-digit name (which would read as a node id) gets
 * ".<id>" appended until it is unique. */
static char **value_names(const IrFunc *f) {
  char **names = xmalloc(sizeof *names * (size_t)(f->n > 0 ? f->n : 1));
  NameSet set = {0};
  set.cap = 16;
  while (set.cap < 2 * (size_t)f->n + 2)
    set.cap *= 2;
  set.slot = xmalloc(sizeof *set.slot * set.cap);
  for (int i = 0; i < f->n; i++) {
    const char *nm = f->nodes[i].name;
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%d", i);
    if (!nm || !*nm || !strcmp(nm, idbuf)) {
      names[i] = xmalloc(strlen(idbuf) + 1);
      strcpy(names[i], idbuf);
      continue; /* ids never clash with names: a name is never all digits */
    }
    size_t len = strlen(nm), cap = len + 1;
    char *s = xmalloc(cap);
    for (size_t k = 0; k < len; k++)
      s[k] = irt_ident_char(nm[k]) ? nm[k] : '_';
    while (all_digits(s) || nameset_has(&set, s)) {
      size_t n = strlen(s), need = n + strlen(idbuf) + 2;
      if (need > cap) {
        char *t = xmalloc(need);
        memcpy(t, s, n);
        free(s);
        s = t;
        cap = need;
      }
      s[n] = '.';
      strcpy(s + n + 1, idbuf);
    }
    nameset_add(&set, s);
    names[i] = s;
  }
  free(set.slot);
  return names;
}

static void free_names(char **names, int n) {
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

static void print_ref(FILE *out, char *const *names, const IrFunc *f, int v) {
  if (v >= 0 && v < f->n)
    fprintf(out, "%%%s", names[v]);
  else
    fprintf(out, "%%%d", v); /* out of range: broken IR, shown as is */
}

/* ---- attributes ---- */

/* Prints " {a=.., b=..}": the node's attributes that go in braces
 * (attrs.def's AP_DICT and AP_NODE), in the table's order. */
static void print_attrs(FILE *out, const IrNode *n) {
  bool any = false;
  for (int k = 0; k < AK_COUNT; k++) {
    AttrPlace place = ir_attrs[k].place;
    if ((place != AP_DICT && place != AP_NODE) || !ir_attr_on(n, (AttrKind)k)) continue;
    fprintf(out, "%s%s=", any ? ", " : " {", ir_attrs[k].text);
    ir_attr_print(out, n, (AttrKind)k, NULL);
    any = true;
  }
  if (any) fputc('}', out);
}

/* ---- functions ---- */

static void print_node(FILE *out, const IrFunc *f, char *const *names, int i) {
  const IrNode *n = &f->nodes[i];
  if ((unsigned)n->op >= OP_COUNT) {
    fprintf(out, "  %%%s = <bad op %d>\n", names[i], (int)n->op);
    return;
  }
  const OpInfo *info = &ir_ops[n->op];
  fputs("  ", out);
  /* A store's result is void: it has nothing to name. */
  if (n->op != OP_STORE) fprintf(out, "%%%s = ", names[i]);
  fputs(info->mnemonic, out);
  const char *sep = " ";
  for (int k = 0; k < AK_COUNT; k++)
    if (ir_attrs[k].place == AP_OPERAND && ir_attr_on(n, (AttrKind)k)) {
      fputc(' ', out);
      ir_attr_print(out, n, (AttrKind)k, NULL);
      sep = ", ";
    }
  int nargs = n->nargs < 0 ? 0 : n->nargs > IR_MAX_ARGS ? IR_MAX_ARGS : n->nargs;
  for (int k = 0; k < nargs; k++) {
    fputs(k ? ", " : sep, out);
    print_ref(out, names, f, n->args[k]);
  }
  print_attrs(out, n);
  if (n->op != OP_STORE && n->op != OP_SCAN) {
    fputs(" : ", out);
    print_type(out, f->mod, &n->ty);
  }
  fputc('\n', out);
}

void ir_print_func(FILE *out, const IrFunc *f) {
  char **names = value_names(f);
  /* The signature lists the INPUT nodes in node order, which the verifier
   * guarantees is their index order. */
  fprintf(out, "func %s(", f->name);
  const char *sep = "";
  for (int i = 0; i < f->n; i++) {
    if (f->nodes[i].op != OP_INPUT) continue;
    fprintf(out, "%s%%%s: ", sep, names[i]);
    print_type(out, f->mod, &f->nodes[i].ty);
    sep = ", ";
  }
  fputs(") -> (", out);
  for (int r = 0; r < f->nrets; r++) {
    if (r) fputs(", ", out);
    int v = f->rets[r];
    if (v >= 0 && v < f->n)
      print_type(out, f->mod, &f->nodes[v].ty);
    else
      fputs("?", out);
  }
  fputs(") {\n", out);
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op != OP_INPUT) print_node(out, f, names, i);
  fputs("  return", out);
  for (int r = 0; r < f->nrets; r++) {
    fputs(r ? ", " : " ", out);
    print_ref(out, names, f, f->rets[r]);
  }
  fputs("\n}\n", out);
  free_names(names, f->n);
}

/* ---- module header ---- */

/* Dataset names are usually identifiers; anything else (a path, say) is
 * quoted so that it still reads back. NULL and "" both print as "". */
static void print_word(FILE *out, const char *s) {
  /* Bare only if the lexer reads it back as one identifier. */
  bool bare = s && irt_ident_start(s[0]);
  for (const char *p = s; bare && *p; p++)
    bare = irt_ident_char(*p);
  if (bare) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (const char *p = s ? s : ""; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20 || c >= 0x7f)
      fprintf(out, "\\x%02x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

static const char *name_or(const char *const *tab, int n, int i, const char *dflt) {
  return i >= 0 && i < n && tab[i] ? tab[i] : dflt;
}

static void print_train(FILE *out, const IrTrain *t) {
  fprintf(out, "train {optimizer=%s, ", name_or(ir_text_opt_names, NELEM(ir_text_opt_names), (int)t->opt, "?"));
  fprintf(out, "lr=%.9g, beta1=%.9g, beta2=%.9g, eps=%.9g, weight_decay=%.9g, momentum=%.9g, ", t->lr, t->beta1,
          t->beta2, t->eps, t->weight_decay, t->momentum);
  /* Printed only where they matter, so other modules' text stays as it was. */
  if (t->opt == OPT_RMSPROP) fprintf(out, "rho=%.9g, ", t->rho);
  if (t->clip_norm > 0) fprintf(out, "clip_norm=%.9g, ", t->clip_norm);
  fprintf(out, "batch=%d, epochs=%d, data=", t->batch, t->epochs);
  print_word(out, t->data);
  fprintf(out, ", task=%s, seed=%" PRIu64, name_or(ir_text_task_names, NELEM(ir_text_task_names), t->task, "?"),
          t->seed);
  /* Written only when set, so modules without them print as before. */
  if (t->schedule) fputs(", schedule=", out), print_word(out, t->schedule);
  if (t->early_stop) fputs(", early_stop=", out), print_word(out, t->early_stop);
  if (t->output_loss)
    fprintf(out, ", output_loss=%s",
            name_or(ir_text_output_loss_names, NELEM(ir_text_output_loss_names), t->output_loss, "?"));
  if (t->prune) fputs(", prune=", out), print_word(out, t->prune);
  fputs("}\n", out);
}

/* " data=[v, ...]": each element as its dtype holds it (floats to 9
 * significant digits, which read back as the same f32), or " data=(N bytes)"
 * past IR_DATA_INLINE elements: a dump stays readable. */
static void print_global_data(FILE *out, const IrGlobal *g) {
  int64_t n = ir_numel_static(&g->ty.sh);
  int size = ir_dtype_size(g->ty.dt);
  if (n > IR_DATA_INLINE) {
    fprintf(out, " data=(%lld bytes)", (long long)(n * size));
    return;
  }
  fputs(" data=[", out);
  for (int64_t i = 0; i < n; i++)
    fprintf(out, i ? ", %.9g" : "%.9g", ir_data_get(g->ty.dt, g->data, i));
  fputc(']', out);
}

static void print_global(FILE *out, const IrModule *m, const IrGlobal *g) {
  fprintf(out, "%s @%s : ", ir_global_kind_names[g->kind], g->name);
  print_type(out, m, &g->ty);
  fprintf(out, " = %s", name_or(ir_text_init_names, NELEM(ir_text_init_names), g->init, "?"));
  int nargs = g->init >= 0 && g->init < NELEM(ir_text_init_nargs) ? ir_text_init_nargs[g->init] : 0;
  if (nargs >= 1) fprintf(out, "(%.9g", g->init_a);
  if (nargs >= 2) fprintf(out, ", %.9g", g->init_b);
  if (nargs) fputc(')', out);
  if (g->data) print_global_data(out, g);
  fputc('\n', out);
}

void ir_print_module(FILE *out, const IrModule *m) {
  fprintf(out, "module %s\n", m->name);
  for (int i = 0; i < m->nsyms; i++)
    fprintf(out, "sym %s\n", m->syms[i]);
  if (m->train.present) print_train(out, &m->train);
  for (int i = 0; i < m->nglobals; i++)
    print_global(out, m, &m->globals[i]);
  /* Scan bodies first, so that text read top to bottom defines a body
   * before the scan that runs it (bodies run no scans themselves). */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < m->nfuncs; i++)
      if (ir_func_is_scan_body(m, m->funcs[i]) == (pass == 0)) {
        fputc('\n', out);
        ir_print_func(out, m->funcs[i]);
      }
}
