/* frontend.h — from .nn source to IR.
 *
 * lex.c (tokens with file:line:col) → parse.c (AST, ast.h) → lower.c (IR with
 * shape inference; lower.h) with builtins.c (the builtin functions and
 * layers, whose parameters they create; builtins_loss.c the losses),
 * bind.c (arguments), lower_def.c (def, repeat, compile-time numbers) and
 * train.c (the train block) · suggest.c ("did you mean", Keras's
 * spellings) · summary.c (the Keras-style table of `nnc summary`) ·
 * main.c, the `nnc` driver. */
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
  int value;        /* its output: the value id in forward, or -1 (not in forward) */
  Loc loc;
} FeLayer;

typedef struct FeModel {
  IrModule *mod; /* functions forward and eval_step, globals, train config */
  FeLayer *layers;
  int nlayers;
  /* Each global's element count as lowered: a pass that shrinks globals
   * (structured pruning) leaves the layer rows' counts to be corrected by
   * the difference (summary.c). */
  int64_t *numel0;
} FeModel;

/* Reads, parses, checks and lowers a .nn file. Reports every error it can
 * find through d (several per run where sensible) and returns NULL if there
 * was any. `text` may be NULL: the file at `path` is read. */
FeModel *fe_compile(Arena *a, Diag *d, const char *path, const char *text, size_t len);
/* The table of `nnc summary`: the layers' output shapes as forward has
 * them and their parameter counts as the globals are now, so a summary
 * printed after passes that shrink the model (--prune=structured:R) shows
 * the pruned model. */
void fe_print_summary(FILE *out, const FeModel *fm);
/* Reads a whole file into the arena (NUL-terminated; *len excludes the NUL).
 * NULL after reporting through d if it cannot be opened or read. */
char *fe_read_file(Arena *a, Diag *d, const char *path, size_t *len);

#endif
