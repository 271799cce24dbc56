/* passes.h — the pass manager and the passes it knows.
 *
 * Every pass is one file with one entry point `bool pass_<name>(IrModule *,
 * PassCtx *)`, registered in the table in passes.c under the name used by
 * --passes, --print-after, --disable-pass and --time-passes. A pass returns
 * false only after reporting an error through ctx->diag. */
#ifndef NNC_PASSES_H
#define NNC_PASSES_H
#include "../ir/ir.h"

#define PASS_MAX_DISABLED 16
#define PASS_MAX_OPTIONS 16

/* An option string for one pass (--<pass>=<value> on the command line, for
 * passes whose PassInfo.options says what they take). */
typedef struct PassOption {
  const char *pass;
  const char *value;
} PassOption;

typedef struct PassCtx {
  Diag *diag;
  bool verify;            /* run ir_verify after every pass (debug builds, tests) */
  bool time_passes;       /* print a timing table to stderr at the end */
  bool print_after_all;   /* print the module after every pass */
  const char *print_after; /* print the module after this pass (NULL: none) */
  const char *disabled[PASS_MAX_DISABLED]; /* passes to skip */
  int ndisabled;
  FILE *dump;             /* where printing goes (stdout) */
  int dump_dot;           /* print Graphviz instead of IR text */
  PassOption options[PASS_MAX_OPTIONS];
  int noptions;
  FILE *report;           /* where plan-memory prints its one-line report (NULL: nowhere) */
} PassCtx;

typedef bool (*PassFn)(IrModule *m, PassCtx *ctx);

typedef struct PassInfo {
  const char *name;
  const char *summary;
  PassFn run;
  const char *options; /* what --<name>=<value> takes (help text), or NULL: no options */
  /* Checks an option value when the command line is read, so a bad one is a
   * usage error (exit 2) before anything is compiled: false with a message
   * in err. NULL: any value is taken and the pass checks it when it runs. */
  bool (*check_option)(const char *value, char *err, size_t errsize);
} PassInfo;

extern const PassInfo pass_table[];
extern const int pass_count;
const PassInfo *pass_find(const char *name);
/* The option string given to pass `name`, or NULL. */
const char *pass_option(const PassCtx *ctx, const char *name);

/* The default pipeline of `nnc build` and `nnc dump --after=...`:
 * prune, autodiff, simplify, fuse, plan-memory. */
extern const char *const pass_default_pipeline[];
extern const int pass_default_pipeline_len;

/* Runs the named passes in order, printing/verifying/timing as ctx says:
 * disabled passes are skipped; after each, ir_verify (ctx->verify), then the
 * module printed under "# -- after <pass> --" (print_after_all, or the name
 * is print_after). Unknown names to run are reported before anything runs
 * (disabled names may be unknown: --no-fuse works on any pipeline). Returns
 * false on the first failure. */
bool pass_run_pipeline(IrModule *m, const char *const *names, int n, PassCtx *ctx);

/* The passes (autodiff.c, simplify.c, dce.c, fuse.c). */
bool pass_autodiff(IrModule *m, PassCtx *ctx);
bool pass_simplify(IrModule *m, PassCtx *ctx);
bool pass_dce(IrModule *m, PassCtx *ctx);
bool pass_fuse(IrModule *m, PassCtx *ctx);
bool pass_plan_memory(IrModule *m, PassCtx *ctx);

/* DCE and compact renumbering of one function (dce.c; simplify runs it). */
void pass_dce_func(IrFunc *f);

#endif
