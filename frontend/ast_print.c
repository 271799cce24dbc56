/* ast_print.c — the syntax tree as S-expressions, for tests and debugging
 * (parse_print_expr in ast.h). */
#include <stdio.h>

#include "ast.h"

void parse_print_expr(FILE *out, const Expr *e) {
  static const char *const ops[] = {"+", "-", "*", "/", "@", "**"};
  switch (e->kind) {
  case EX_ERROR: fputs("<error>", out); break;
  case EX_NUM: fprintf(out, "%g", e->num); break;
  case EX_STR: fprintf(out, "\"%s\"", e->name); break;
  case EX_NAME: fputs(e->name, out); break;
  case EX_LIST:
    fputc('[', out);
    for (int i = 0; i < e->nitems; i++) {
      if (i) fputc(' ', out);
      parse_print_expr(out, e->items[i]);
    }
    fputc(']', out);
    break;
  case EX_NEG:
    fputs("(neg ", out);
    parse_print_expr(out, e->lhs);
    fputc(')', out);
    break;
  case EX_BINARY:
    fprintf(out, "(%s ", ops[e->op]);
    parse_print_expr(out, e->lhs);
    fputc(' ', out);
    parse_print_expr(out, e->rhs);
    fputc(')', out);
    break;
  case EX_CALL:
    fprintf(out, "(%s", e->name);
    for (int i = 0; i < e->nargs; i++) {
      fputc(' ', out);
      if (e->args[i].key) fprintf(out, "%s=", e->args[i].key);
      parse_print_expr(out, e->args[i].val);
    }
    fputc(')', out);
    break;
  }
}
