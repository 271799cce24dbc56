/* frontend.h — from .nn source to IR.
 *
 * lex.c (tokens with file:line:col) → parse.c (AST, ast.h) → lower.c (IR with
 * shape inference; layer calls create their parameters) · summary.c (the
 * Keras-style table of `nnc summary`). */
#ifndef NNC_FRONTEND_H
#define NNC_FRONTEND_H
#include "../ir/ir.h"

/* A layer as `nnc summary` shows it: a layer call (dense, ...), an
 * activation, or an input. */
typedef struct FeLayer {
  const char *name; /* "dense_1" */
  const char *kind; /* "dense" */
  Type out;         /* output type, with symbolic dims */
  int64_t params;   /* parameter count */
  Loc loc;
} FeLayer;

typedef struct FeModel {
  IrModule *mod; /* functions forward and eval_step, globals, train config */
  FeLayer *layers;
  int nlayers;
} FeModel;

/* Reads, parses, checks and lowers a .nn file. Reports every error it can
 * find through d (several per run where sensible) and returns NULL if there
 * was any. `text` may be NULL: the file at `path` is read. */
FeModel *fe_compile(Arena *a, Diag *d, const char *path, const char *text, size_t len);
void fe_print_summary(FILE *out, const FeModel *fm);

#endif
