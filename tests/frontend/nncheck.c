/* nncheck.c — the frontend's test driver (`nnc check` with a few dumps, and
 * no pass or backend in the way): compiles argv[1] and exits 1 if there were
 * errors, 0 otherwise. The diagnostics go to stderr, where the bad-program
 * tests FileCheck them.
 *   nncheck FILE [--summary] [--dump] [--ir] [--verify]
 * --summary prints the layer table; --dump a plain node listing that needs
 * no IR printer; --ir the IR text; --verify runs the IR verifier. */
#include <stdio.h>
#include <string.h>

#include "frontend/frontend.h"

static void dump(const IrModule *m) {
  char buf[IR_TYPE_STRLEN];
  printf("module %s\n", m->name);
  for (int g = 0; g < m->nglobals; g++)
    printf("param @%s : %s init=%d(%g, %g)\n", m->globals[g].name, ir_type_str(m, &m->globals[g].ty, buf, sizeof buf),
           m->globals[g].init, m->globals[g].init_a, m->globals[g].init_b);
  for (int i = 0; i < m->nfuncs; i++) {
    const IrFunc *f = m->funcs[i];
    printf("func %s\n", f->name);
    for (int k = 0; k < f->n; k++) {
      const IrNode *n = &f->nodes[k];
      printf("  %%%s = %s", n->name ? n->name : "", ir_ops[n->op].mnemonic);
      if (!n->name) printf("  (#%d)", k);
      for (int j = 0; j < n->nargs; j++) {
        const IrNode *a = &f->nodes[n->args[j]];
        if (a->name) printf(" %%%s", a->name);
        else printf(" #%d", n->args[j]);
      }
      printf(" : %s\n", ir_type_str(m, &n->ty, buf, sizeof buf));
    }
    printf("  return");
    for (int r = 0; r < f->nrets; r++) printf(" #%d", f->rets[r]);
    printf("\n");
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: nncheck FILE.nn [--summary] [--dump] [--ir] [--verify]\n");
    return 2;
  }
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, stderr);
  FeModel *fm = fe_compile(a, &d, argv[1], NULL, 0);
  for (int i = 2; fm && i < argc; i++) {
    if (!strcmp(argv[i], "--summary")) fe_print_summary(stdout, fm);
    if (!strcmp(argv[i], "--dump")) dump(fm->mod);
    if (!strcmp(argv[i], "--ir")) ir_print_module(stdout, fm->mod);
    if (!strcmp(argv[i], "--verify") && !ir_verify(fm->mod, &d)) fm = NULL;
  }
  int rc = fm && d.nerrors == 0 ? 0 : 1;
  arena_free(a);
  return rc;
}
