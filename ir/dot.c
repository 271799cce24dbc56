/* dot.c — the module as a Graphviz graph (`nnc dump|opt --format=dot`), for
 * looking at what a pass did: `dot -Tsvg`.
 *
 * One cluster per function; a box per node labelled with its value, op,
 * attributes and type; an edge per operand (numbered when the op has more
 * than one, since matmul's and sub's operands do not commute). Module globals
 * are drawn once, outside the clusters, as cylinders, joined by dashed edges
 * to the `global` nodes that read them and from the `store` nodes that write
 * them: that is where functions share state. Each fusion group is a nested
 * cluster, shaded, labelled "kernel <group id>": what runs as one loop nest
 * is what is drawn in one box. Like the printer, it never trusts the module
 * (it may be drawing IR that failed verification). */
#include <string.h>

#include "ir.h"

#define GLOBAL_COLOR "\"#fde9c8\""
#define INPUT_COLOR "\"#d7e8fb\""
#define GROUP_COLOR "\"#eeeeee\""

/* Writes s inside a double-quoted dot string. */
static void put_escaped(FILE *out, const char *s) {
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\') fputc('\\', out);
    if (*s == '\n')
      fputs("\\n", out);
    else
      fputc(*s, out);
  }
}

static void put_value(FILE *out, const IrFunc *f, int v) {
  if (v >= 0 && v < f->n && f->nodes[v].name && *f->nodes[v].name) {
    fputc('%', out);
    put_escaped(out, f->nodes[v].name);
  } else {
    fprintf(out, "%%%d", v);
  }
}

static void put_type(FILE *out, const IrModule *m, const Type *t) {
  char buf[IR_TYPE_STRLEN];
  if (t->sh.rank < 0 || t->sh.rank > IR_MAX_RANK)
    fputs("<bad type>", out);
  else
    put_escaped(out, ir_type_str(m, t, buf, sizeof buf));
}

static void put_node(FILE *out, const IrFunc *f, int fi, int i) {
  const IrNode *n = &f->nodes[i];
  fprintf(out, "    f%d_%d [label=\"", fi, i);
  if ((unsigned)n->op >= OP_COUNT) {
    fprintf(out, "bad op %d\"];\n", (int)n->op);
    return;
  }
  if (n->op != OP_STORE) {
    put_value(out, f, i);
    fputs(" = ", out);
  }
  fputs(ir_ops[n->op].mnemonic, out);
  /* As the text format writes them (attrs.def), space-separated: the
   * index and the global bare, the rest text=value. */
  for (int k = 0; k < AK_COUNT; k++) {
    if (!ir_attr_on(n, (AttrKind)k)) continue;
    fputc(' ', out);
    if (ir_attrs[k].place == AP_DICT || ir_attrs[k].place == AP_NODE) fprintf(out, "%s=", ir_attrs[k].text);
    ir_attr_print(out, n, (AttrKind)k, put_escaped);
  }
  if (n->op != OP_STORE) {
    fputs("\\n", out);
    put_type(out, f->mod, &n->ty);
  }
  fputc('"', out);
  if (n->op == OP_INPUT) fputs(", shape=invhouse, style=filled, fillcolor=" INPUT_COLOR, out);
  if (n->op == OP_GLOBAL || n->op == OP_STORE) fputs(", style=filled, fillcolor=" GLOBAL_COLOR, out);
  fputs("];\n", out);
}

static void put_func(FILE *out, const IrModule *m, const IrFunc *f, int fi) {
  fprintf(out, "  subgraph cluster_%d {\n    label=\"", fi);
  put_escaped(out, f->name);
  fputs("\";\n", out);
  int ng = 0;
  for (int i = 0; i < f->n; i++) {
    int g = f->nodes[i].group;
    if (g < 0 || g > f->n) put_node(out, f, fi, i); /* alone (or a bad id: drawn, not grouped) */
    else if (g >= ng) ng = g + 1;
  }
  /* One pass over the nodes per group: groups are few next to nodes only
   * after fusion, and this is a debugging aid. */
  for (int g = 0; g < ng; g++) {
    bool open = false;
    for (int i = 0; i < f->n; i++) {
      if (f->nodes[i].group != g) continue;
      if (!open)
        fprintf(out, "    subgraph cluster_%d_k%d {\n      label=\"kernel %d\"; style=filled; fillcolor=" GROUP_COLOR ";\n  ",
                fi, g, g);
      open = true;
      put_node(out, f, fi, i);
      fputs("  ", out);
    }
    if (open) fputs("  }\n", out);
  }
  fprintf(out, "    f%d_ret [label=\"return\", shape=house];\n  }\n", fi);
  for (int i = 0; i < f->n; i++) {
    const IrNode *n = &f->nodes[i];
    if ((unsigned)n->op >= OP_COUNT) continue;
    int nargs = n->nargs < 0 ? 0 : n->nargs > IR_MAX_ARGS ? IR_MAX_ARGS : n->nargs;
    for (int k = 0; k < nargs; k++) {
      if (n->args[k] < 0 || n->args[k] >= f->n) continue; /* dangling: nothing to draw from */
      fprintf(out, "  f%d_%d -> f%d_%d", fi, n->args[k], fi, i);
      if (nargs > 1) fprintf(out, " [label=\"%d\"]", k);
      fputs(";\n", out);
    }
    int g = (ir_ops[n->op].attrs & A_NAME) && n->at.name ? ir_global_find(m, n->at.name) : -1;
    if (g >= 0 && n->op == OP_STORE)
      fprintf(out, "  f%d_%d -> g%d [style=dashed];\n", fi, i, g);
    else if (g >= 0)
      fprintf(out, "  g%d -> f%d_%d [style=dashed];\n", g, fi, i);
  }
  for (int r = 0; r < f->nrets; r++)
    if (f->rets[r] >= 0 && f->rets[r] < f->n)
      fprintf(out, "  f%d_%d -> f%d_ret [label=\"%d\"];\n", fi, f->rets[r], fi, r);
}

void ir_print_dot(FILE *out, const IrModule *m) {
  fputs("digraph \"", out);
  put_escaped(out, m->name);
  fputs("\" {\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n", out);
  for (int i = 0; i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    fprintf(out, "  g%d [label=\"%s @", i, ir_global_kind_names[g->kind]);
    put_escaped(out, g->name);
    fputs("\\n", out);
    put_type(out, m, &g->ty);
    fputs("\", shape=cylinder, style=filled, fillcolor=" GLOBAL_COLOR "];\n", out);
  }
  for (int i = 0; i < m->nfuncs; i++)
    put_func(out, m, m->funcs[i], i);
  fputs("}\n", out);
}
