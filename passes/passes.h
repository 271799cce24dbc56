/* passes.h — the pass manager and the passes it knows.
 *
 * Every pass is one file with one entry point `bool pass_<name>(IrModule *,
 * PassCtx *)`, registered in the table in passes.c under the name used by
 * --passes, --print-after, --disable-pass and --time-passes. A pass returns
 * false only after reporting an error through ctx->diag. */
#ifndef NNC_PASSES_H
#define NNC_PASSES_H
#include "../ir/ir.h"
#include "../ir/timing.h"
#include "../codegen/plan.h"

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
  Timings *times;         /* --time-passes: each pass adds its row (NULL: not timed) */
  bool print_after_all;   /* print the module after every pass */
  const char *print_after; /* print the module after this pass (NULL: none) */
  const char *disabled[PASS_MAX_DISABLED]; /* passes to skip */
  int ndisabled;
  FILE *dump;             /* where printing goes (stdout) */
  int dump_dot;           /* print Graphviz instead of IR text */
  PassOption options[PASS_MAX_OPTIONS];
  int noptions;
  FILE *report;           /* where plan-memory prints its one-line report (NULL: nowhere) */
  CgPlanOptions plan;     /* the backend's: plan-memory plans and reports as it will build */
  bool infer;             /* nnc build/dump/opt --infer: an inference build (forward only; prune_graph) */
  /* Sets the activation scales --quantize=int8 reads (driver/calibrate.c),
   * called by the quantize pass before its rewrite, after graph pruning;
   * false after reporting. NULL: the module must hold them (IR text). */
  bool (*calibrate)(IrModule *m, void *arg);
  void *calibrate_arg;
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
 * prune, quantize, pool-relu, pool-bias, autodiff, simplify, scan-hoist, batch-sum, remat, fuse, plan-memory (prune and quantize
 * do nothing without their options, but prune's graph pruning with --infer). */
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
/* plan_memory_report.c: --plan-memory=report[:BATCH], the values live at
 * f's memory peak at syms (printed as at `batch`). */
bool plan_memory_check_option(const char *value, char *err, size_t errsize);
void plan_memory_report(FILE *out, const IrModule *m, const IrFunc *f, const int64_t *syms, int64_t batch,
                        const CgPlanOptions *o);
bool pass_quantize(IrModule *m, PassCtx *ctx); /* quantize.c */
bool pass_scan_hoist(IrModule *m, PassCtx *ctx); /* scan_hoist.c */
bool pass_batch_sum(IrModule *m, PassCtx *ctx);  /* batch_sum.c */
bool pass_pool_relu(IrModule *m, PassCtx *ctx);  /* pool_relu.c */
bool pass_pool_bias(IrModule *m, PassCtx *ctx);  /* pool_bias.c */
/* Whether f is still as the rewrites before fusion may change it: no node
 * in a fusion group, no memory plan (scan-hoist, batch-sum and remat leave
 * any other function alone). */
bool pass_func_unfused(const IrFunc *f);
/* A rewrite that copied f into `out` (map: f's node ids to out's) makes
 * out f's body: f takes its nodes, and its returns are renumbered. */
void pass_func_adopt(IrFunc *f, const IrFunc *out, const int *map);
/* pool-relu's and pool-bias's rewrite: every maxpool2d whose operand x is
 * read by nothing else (nor returned) and for which through(f, x) names an
 * operand index s >= 0 becomes x's op over the max pool of x's operand s
 * (the other operands as they were), named as the pool was; x goes. */
void pass_pool_commute(IrFunc *f, int (*through)(const IrFunc *f, const IrNode *x));
bool pass_remat(IrModule *m, PassCtx *ctx);      /* remat.c */
bool remat_check_option(const char *value, char *err, size_t errsize);

/* Graph pruning for inference (prune_graph.c; the prune pass runs it when
 * ctx->infer): keeps forward and the scan bodies it runs, drops every other
 * function and the globals nothing left reads. False after reporting. */
bool prune_graph(IrModule *m, PassCtx *ctx);

/* DCE and compact renumbering of one function (dce.c; simplify runs it). */
void pass_dce_func(IrFunc *f);

#endif
