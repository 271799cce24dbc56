/* main.c — the nnc command line: build, check, summary, dump, opt, bench.
 *
 * The driver is a flat sequence: read → frontend (or the IR parser) → the
 * pass pipeline → a backend. Every stage reports through one Diag; a user
 * error exits 1, a bad command line exits 2. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codegen/backend.h"
#include "codegen/plan.h"
#include "driver/bench.h"
#include "driver/calibrate.h"
#include "driver/checkpoint.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

#ifndef NNC_VERSION
#define NNC_VERSION "0.0.0"
#endif

static const char *const usage_top =
    "usage: nnc <command> [options] <file>\n"
    "\n"
    "nnc compiles a model written in the .nn language into a standalone\n"
    "training binary (forward, gradient and optimizer step in native code).\n"
    "\n"
    "commands:\n"
    "  build    compile a .nn model to an executable (or LLVM IR, asm, object)\n"
    "  check    type- and shape-check a .nn model; exit 0 when it is valid\n"
    "  summary  print a layer / output shape / parameter table\n"
    "  dump     print the IR of a .nn model, after any pass (text or Graphviz)\n"
    "  opt      run passes on IR text (.nnir) and print the result\n"
    "  bench    build fused and unfused, time both per kernel and per step\n"
    "\n"
    "  nnc <command> --help   options of one command\n"
    "  nnc --version          print the version\n"
    "\n"
    "example:\n"
    "  nnc build examples/fashion_mlp.nn -o mlp && ./mlp train --epochs 5\n";

static const char *const usage_build =
    "usage: nnc build <model.nn> [-o <output>] [options]\n"
    "\n"
    "Compiles the model's forward, eval_step and train_step functions and\n"
    "links them with the nnc runtime into a standalone training binary that\n"
    "needs only libc, libm, pthreads, libopenblas and libz at run time, and\n"
    "uses libdnnl (oneDNN) where it is installed (--gemm; --target=cuda: no\n"
    "libopenblas, and an NVIDIA driver; docs/cuda.md).\n"
    "\n"
    "options:\n"
    "  -o <file>            output path (default: the model file's name without .nn)\n"
    "  --emit=<kind>        exe (default): a training binary; obj: an object file;\n"
    "                       asm: assembly; llvm: LLVM IR text; with --target=cuda\n"
    "                       also cuda: the kernels' CUDA C; ptx: their PTX\n"
    "  -O0 -O1 -O2 -O3      LLVM optimisation level (default -O2)\n"
    "  --target=<name>      the code generator (default cpu; nnc --version lists\n"
    "                       the targets built in; each takes the options below)\n"
    "  --no-fuse            skip the fusion pass: every op is its own kernel\n"
    "  --<pass>=<options>   options of one pass (nnc build --list-passes says which)\n"
    "  --qat                quantization-aware training: --quantize=qat\n"
    "  --disable-pass=<p>   skip pass p (repeatable)\n"
    "  --print-after=<p>    print the IR after pass p to stdout\n"
    "  --print-after-all    print the IR after every pass\n"
    "  --time-passes        print the time each pass and each build phase (front end,\n"
    "                       LLVM IR, optimisation, machine code, NVRTC, link) took, to stderr\n"
    "  --verify-each        run the IR verifier after every pass\n"
    "  --checkpoint <file>  start from a trained model: its parameters (a\n"
    "                       .safetensors file of this model) are the globals'\n"
    "                       values for the passes; the model's weights after\n"
    "                       them are written beside the output as\n"
    "                       <output>.safetensors (for train --init, eval)\n"
    "  --infer              an inference binary: only the forward pass (no loss,\n"
    "                       labels, backward or optimizer; commands predict,\n"
    "                       eval, bench, no train); with --checkpoint the weights\n"
    "                       are embedded: eval and predict need no --checkpoint\n"
    "  --quantize=int8      with --infer and --checkpoint: an int8 inference binary\n"
    "                       (docs/optimize.md, \"Post-training int8\")\n"
    "  --calibrate <N>      its activation scales from the first N training samples\n"
    "                       (default 1000; a QAT checkpoint's own scales are used\n"
    "                       instead when it has them)\n"
    "  --calibrate-percentile <p>  each scale from the p-th percentile of |x|\n"
    "                       (default 100: the maximum)\n"
    "  --calibrate-data <dir>  the calibration data (default: the model's data set)\n"
    "  --cc=<driver>        C compiler driver used to link (default: cc)\n"
    "  --runtime=<lib>      the runtime library (default: the target's beside nnc:\n"
    "                       libnnrt.a; --target=cuda: libnnrt_cuda.a)\n"
    "  --gemm=<engine>      what computes the CPU binary's matrix products:\n"
    "                       auto (default): oneDNN's sgemm, JIT-compiled for the\n"
    "                       CPU it runs on, when the binary finds libdnnl.so.3\n"
    "                       or .2 as it starts, else OpenBLAS (always linked);\n"
    "                       openblas: OpenBLAS only; onednn: oneDNN only, an\n"
    "                       error without libdnnl. `./model --version` says which\n"
    "                       (docs/bench.md, \"GEMM libraries\")\n"
    "  -v, --verbose        print the link command, and LLVM's optimisation\n"
    "                       remarks (--target=cuda: and ptxas's registers and\n"
    "                       spills per kernel)\n";

static const char *const usage_check =
    "usage: nnc check <model.nn>\n"
    "\n"
    "Parses, type- and shape-checks the model. Prints each problem as\n"
    "file:line:col: error: message, with the source line and a caret, and\n"
    "exits 1 if there was any; exits 0 when the model is valid.\n";

static const char *const usage_summary =
    "usage: nnc summary <model.nn> [--prune=structured:R --checkpoint <file>]\n"
    "\n"
    "Prints a table of the model's layers: name and type, output shape (B is\n"
    "the batch), parameter count; then the totals.\n"
    "\n"
    "options:\n"
    "  --prune=structured:R  the model as nnc build prunes it: new shapes and\n"
    "                        parameter counts (needs --checkpoint)\n"
    "  --checkpoint <file>   the trained model's parameters\n";

static const char *const usage_dump =
    "usage: nnc dump <model.nn> [options]\n"
    "\n"
    "Prints the model's IR. Without --after: the IR as lowered from the source\n"
    "(functions forward and eval_step).\n"
    "\n"
    "options:\n"
    "  --after=<pass>       run the default pipeline up to <pass> and print\n"
    "                       the IR then (autodiff adds train_step: forward, loss,\n"
    "                       backward and the optimizer update)\n"
    "  --print-after-all    print the IR after every pass of the pipeline\n"
    "  --passes=<a,b,..>    run these passes instead of the default pipeline\n"
    "  --<pass>=<options>   options of one pass, as for nnc build (and --qat)\n"
    "  --format=text|dot    IR text (default) or Graphviz\n"
    "  --verify-each        run the IR verifier after every pass\n"
    "  --print-kernels      after the IR, one line per function: how many kernels\n"
    "                       the backends run (fused groups, and ops alone)\n"
    "  --checkpoint <file>  a trained model's parameters as the globals' values\n"
    "                       (as nnc build takes them)\n"
    "  --calibrate <N>, --calibrate-percentile <p>, --calibrate-data <dir>\n"
    "                       activation scales for --quantize=int8 (as nnc build)\n"
    "  --infer              an inference build (as nnc build --infer): without\n"
    "                       --after or --passes, the IR after the prune pass,\n"
    "                       which keeps only forward and the globals it reads\n"
    "  --list-passes        list the passes and exit\n";

static const char *const usage_opt =
    "usage: nnc opt [--passes=<a,b,..>] <file.nnir> [options]\n"
    "\n"
    "Parses IR text, runs the given passes (none: parse and print), verifies\n"
    "the result and prints it. print -> parse -> print is byte-identical.\n"
    "\n"
    "options:\n"
    "  --passes=<a,b,..>    passes to run, in order (see --list-passes)\n"
    "  --print-after=<p>    print the IR after pass p as well\n"
    "  --print-after-all    print the IR after every pass\n"
    "  --time-passes        print the time each pass took to stderr\n"
    "  --format=text|dot    IR text (default) or Graphviz\n"
    "  --print-kernels      after the IR, one line per function: how many kernels\n"
    "                       the backends run (fused groups, and ops alone)\n"
    "  --infer              passes run as in an inference build (nnc build --infer)\n"
    "  -o <file>            write the result to a file instead of stdout\n"
    "  --list-passes        list the passes and exit\n";

#define MAX_TARGET_OPTS 8

/* Options of every command; each command reads the ones it documents. */
typedef struct Opts {
  const char *input, *output;
  const char *after, *passes, *print_after;
  const char *cc, *runtime;
  const char *gemm; /* --gemm: the CPU binary's GEMM engine (NULL: the default runtime's, auto) */
  const char *checkpoint; /* --checkpoint: trained weights as the globals' data */
  CalibOptions calib;     /* --calibrate*: for --quantize=int8 */
  bool calib_given;
  const char *disabled[PASS_MAX_DISABLED - 1]; /* the last slot of PassCtx's is --no-fuse's */
  int ndisabled;
  PassOption pass_opts[PASS_MAX_OPTIONS];
  int npass_opts;
  const char *target;                       /* --target (NULL: the first backend) */
  const char *target_opts[MAX_TARGET_OPTS]; /* options for it, "name" or "name=value" */
  int ntarget_opts;
  EmitKind emit;
  int opt_level;
  bool print_kernels, no_fuse, print_after_all, time_passes, verify_each, dot, verbose;
  bool infer; /* --infer: an inference build (PassCtx.infer, CgOptions.infer) */
  Timings times; /* --time-passes: every phase's row, printed by main */
} Opts;

static int usage_error(const char *usage, const char *fmt, const char *arg) {
  fprintf(stderr, "nnc: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n\n%s", usage);
  return 2;
}

static void list_passes(void) {
  printf("passes (default pipeline:");
  for (int i = 0; i < pass_default_pipeline_len; i++) printf(" %s", pass_default_pipeline[i]);
  printf("):\n");
  for (int i = 0; i < pass_count; i++) {
    printf("  %-12s %s\n", pass_table[i].name, pass_table[i].summary);
    if (pass_table[i].options) printf("  %-12s   --%s=%s\n", "", pass_table[i].name, pass_table[i].options);
  }
}

/* The pass whose option "--<pass>=<value>" is (arg without "--"), or NULL. */
static const PassInfo *pass_option_of(const char *arg) {
  size_t n = strcspn(arg, "=");
  if (!arg[n]) return NULL;
  for (int i = 0; i < pass_count; i++)
    if (pass_table[i].options && strlen(pass_table[i].name) == n && !strncmp(pass_table[i].name, arg, n))
      return &pass_table[i];
  return NULL;
}

/* The value of --<pass>=, or NULL. */
static const char *opt_of_pass(const Opts *o, const char *pass) {
  for (int i = 0; i < o->npass_opts; i++)
    if (!strcmp(o->pass_opts[i].pass, pass)) return o->pass_opts[i].value;
  return NULL;
}

static bool quantize_int8(const Opts *o) {
  const char *q = opt_of_pass(o, "quantize");
  return q && !strcmp(q, "int8");
}

/* Post-training int8 needs the trained weights and an inference build; the
 * calibration options mean nothing without it. */
static int check_quantize_opts(const char *usage, const Opts *o) {
  if (usage != usage_build && usage != usage_dump) return 0;
  if (quantize_int8(o) && !o->checkpoint)
    return usage_error(usage, "--quantize=int8 quantizes a trained model: give its weights with --checkpoint <file>%s",
                       "");
  if (quantize_int8(o) && !o->infer)
    return usage_error(usage, "--quantize=int8 makes an int8 inference model: add --infer%s", "");
  if (o->calib_given && !quantize_int8(o))
    return usage_error(usage, "--calibrate options set the activation scales of --quantize=int8, which is not given%s",
                       "");
  return 0;
}

/* Returns 0 to go on, or an exit code (help printed: 0; bad option: 2). */
static int parse_opts(int argc, char **argv, const char *usage, Opts *o, int *done) {
  *done = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v;
#define IS(s) (!strcmp(a, s))
#define VAL(s) (!strncmp(a, s "=", sizeof s) ? (v = a + sizeof s, 1) : 0)
    if (IS("-h") || IS("--help")) {
      fputs(usage, stdout);
      if (usage == usage_build) printf("\ntarget options:\n");
      if (usage == usage_build)
        for (int b = 0; b < cg_nbackends; b++)
          printf("  %s:\n%s", cg_backends[b]->name, cg_backends[b]->options ? cg_backends[b]->options : "    (none)\n");
      *done = 1;
      return 0;
    } else if (IS("--list-passes")) {
      list_passes();
      *done = 1;
      return 0;
    } else if (IS("-o")) {
      if (++i == argc) return usage_error(usage, "%s needs a file name", a);
      o->output = argv[i];
    } else if (VAL("--emit")) {
      if (!strcmp(v, "exe")) o->emit = EMIT_EXE;
      else if (!strcmp(v, "obj")) o->emit = EMIT_OBJ;
      else if (!strcmp(v, "asm")) o->emit = EMIT_ASM;
      else if (!strcmp(v, "llvm")) o->emit = EMIT_LLVM;
      else if (!strcmp(v, "cuda")) o->emit = EMIT_CUDA;
      else if (!strcmp(v, "ptx")) o->emit = EMIT_PTX;
      else return usage_error(usage, "--emit must be exe, obj, asm, llvm, cuda or ptx, not '%s'", v);
    } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
      o->opt_level = a[2] - '0';
    } else if (VAL("--target")) {
      if (!cg_backend_find(v)) return usage_error(usage, "unknown target '%s' (nnc --version lists the targets)", v);
      o->target = v;
    } else if (IS("--no-fuse")) {
      o->no_fuse = true;
    } else if (VAL("--disable-pass")) {
      if (o->ndisabled == PASS_MAX_DISABLED - 1) return usage_error(usage, "too many --disable-pass options%s", "");
      o->disabled[o->ndisabled++] = v;
    } else if (VAL("--after")) {
      o->after = v;
    } else if (VAL("--passes")) {
      o->passes = v;
    } else if (VAL("--print-after")) {
      o->print_after = v;
    } else if (IS("--print-after-all")) {
      o->print_after_all = true;
    } else if (IS("--time-passes")) {
      o->time_passes = true;
    } else if (IS("--print-kernels")) {
      o->print_kernels = true;
    } else if (IS("--verify-each")) {
      o->verify_each = true;
    } else if (VAL("--format")) {
      if (!strcmp(v, "dot")) o->dot = true;
      else if (!strcmp(v, "text")) o->dot = false;
      else return usage_error(usage, "--format must be text or dot, not '%s'", v);
    } else if ((IS("--checkpoint") || VAL("--checkpoint")) &&
               (usage == usage_build || usage == usage_dump || usage == usage_summary)) {
      if (IS("--checkpoint") && ++i == argc) return usage_error(usage, "%s needs a file name", a);
      o->checkpoint = IS("--checkpoint") ? argv[i] : v;
    } else if ((IS("--calibrate") || VAL("--calibrate") || IS("--calibrate-percentile") ||
                VAL("--calibrate-percentile") || IS("--calibrate-data") || VAL("--calibrate-data")) &&
               (usage == usage_build || usage == usage_dump)) {
      const char *name = a;
      if (!strchr(a, '=') && ++i == argc) return usage_error(usage, "%s needs a value", a);
      const char *val = strchr(a, '=') ? strchr(a, '=') + 1 : argv[i];
      char *end;
      o->calib_given = true;
      if (!strncmp(name, "--calibrate-data", 16)) {
        o->calib.data = val;
      } else if (!strncmp(name, "--calibrate-percentile", 22)) {
        o->calib.percentile = strtod(val, &end);
        if (end == val || *end || !(o->calib.percentile > 0 && o->calib.percentile <= 100))
          return usage_error(usage, "--calibrate-percentile takes a number in (0, 100], not '%s'", val);
      } else {
        long n = strtol(val, &end, 10);
        if (end == val || *end || n < 1 || n > 10000000)
          return usage_error(usage, "--calibrate takes a sample count from 1 to 10000000, not '%s'", val);
        o->calib.samples = (int)n;
      }
    } else if (IS("--infer") && (usage == usage_build || usage == usage_dump || usage == usage_opt)) {
      o->infer = true;
    } else if (VAL("--cc")) {
      o->cc = v;
    } else if (VAL("--runtime")) {
      o->runtime = v;
    } else if (VAL("--gemm") && usage == usage_build) {
      if (strcmp(v, "auto") && strcmp(v, "openblas") && strcmp(v, "onednn"))
        return usage_error(usage, "--gemm must be auto, openblas or onednn, not '%s'", v);
      o->gemm = v;
    } else if (IS("-v") || IS("--verbose")) {
      o->verbose = true;
    } else if ((a[0] == '-' && a[1] == '-' && pass_option_of(a + 2)) || IS("--qat")) {
      /* --qat is --quantize=qat */
      const PassInfo *p = IS("--qat") ? pass_find("quantize") : pass_option_of(a + 2);
      const char *value = IS("--qat") ? "qat" : a + 3 + strlen(p->name);
      char err[256];
      if (p->check_option && !p->check_option(value, err, sizeof err)) return usage_error(usage, "%s", err);
      for (int k = 0; k < o->npass_opts; k++)
        if (!strcmp(o->pass_opts[k].pass, p->name) && strcmp(o->pass_opts[k].value, value)) {
          snprintf(err, sizeof err, "--%s=%s and --%s=%s (or --qat) contradict each other", p->name,
                   o->pass_opts[k].value, p->name, value);
          return usage_error(usage, "%s", err);
        }
      if (o->npass_opts == PASS_MAX_OPTIONS) return usage_error(usage, "too many pass options%s", "");
      o->pass_opts[o->npass_opts++] = (PassOption){p->name, value};
    } else if (a[0] == '-' && a[1] == '-' && a[2] && usage == usage_build) {
      /* A target's own option: checked by the backend once --target is
       * known (it may come later on the line). */
      if (o->ntarget_opts == MAX_TARGET_OPTS) return usage_error(usage, "too many target options%s", "");
      o->target_opts[o->ntarget_opts++] = a + 2;
    } else if (a[0] == '-' && a[1]) {
      return usage_error(usage, "unknown option '%s'", a);
    } else if (o->input) {
      return usage_error(usage, "more than one input file ('%s')", a);
    } else {
      o->input = a;
    }
#undef IS
#undef VAL
  }
  if (!o->input) return usage_error(usage, "no input file%s", "");
  /* Structured pruning measures trained weights; a .nn file has none (IR
   * text for nnc opt may carry them inline). */
  for (int i = 0; i < o->npass_opts && usage != usage_opt; i++)
    if (!strcmp(o->pass_opts[i].pass, "prune") && !strncmp(o->pass_opts[i].value, "structured:", 11) && !o->checkpoint)
      return usage_error(usage, "--prune=%s needs the trained weights: add --checkpoint <file>", o->pass_opts[i].value);
  return check_quantize_opts(usage, o);
}

/* Splits "a,b,c" into names (empty ones skipped); returns the count, or -1
 * after reporting a list of more than max. */
static int split_passes(Arena *a, Diag *d, const char *list, const char **names, int max) {
  int n = 0;
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    if (len) {
      if (n == max) {
        diag_fatal(d, "too many passes in --passes (at most %d)", max);
        return -1;
      }
      names[n++] = arena_strndup(a, p, len);
    }
    p += len + (p[len] == ',');
  }
  return n;
}

/* The quantize pass's calibration hook (PassCtx.calibrate). */
typedef struct CalibHook {
  const Opts *o;
  Diag *d;
} CalibHook;

static bool run_calibration(IrModule *m, void *arg) {
  const CalibHook *h = arg;
  CalibOptions c = h->o->calib;
  if (!c.samples) c.samples = CALIB_DEFAULT_SAMPLES;
  if (!c.percentile) c.percentile = 100;
  return calib_act_scales(m, h->o->checkpoint, &c, stderr, h->d) == 0;
}

/* hook: where PassCtx.calibrate's argument lives (--quantize=int8 of a
 * .nn model; NULL: no calibration, as for IR text). */
static PassCtx pass_ctx(Diag *d, Opts *o, CalibHook *hook) {
  PassCtx c = {.diag = d, .dump = stdout, .dump_dot = o->dot, .times = o->time_passes ? &o->times : NULL,
               .print_after_all = o->print_after_all, .print_after = o->print_after};
  if (hook && quantize_int8(o)) {
    *hook = (CalibHook){o, d};
    c.calibrate = run_calibration, c.calibrate_arg = hook;
  }
#ifndef NDEBUG
  c.verify = true;
#endif
  c.verify |= o->verify_each;
  for (int i = 0; i < o->ndisabled; i++) c.disabled[c.ndisabled++] = o->disabled[i];
  for (int i = 0; i < o->npass_opts; i++) c.options[c.noptions++] = o->pass_opts[i];
  /* On a GPU a GEMM group's epilogue is cuBLASLt's own (codegen/cuda/lt.c):
   * it saves a pass over the product, so --target=cuda forms GEMM groups
   * unless --fuse says which fusions to do. */
  if (o->target && !strcmp(o->target, "cuda") && !opt_of_pass(o, "fuse") && c.noptions < PASS_MAX_OPTIONS)
    c.options[c.noptions++] = (PassOption){"fuse", "vertical,horizontal,epilogue,shared,qepilogue,siblings"};
  /* Those epilogues pair an activation kept from the forward pass with its
   * GEMMs (RELU_AUX_BIAS, DRELU_BGRAD): recomputing it would undo that, so
   * --target=cuda skips remat unless --remat is given. */
  if (o->target && !strcmp(o->target, "cuda") && !opt_of_pass(o, "remat") && c.ndisabled < PASS_MAX_DISABLED)
    c.disabled[c.ndisabled++] = "remat";
  if (o->no_fuse) c.disabled[c.ndisabled++] = "fuse";
  c.infer = o->infer;
  return c;
}

/* "# kernels: <fn> <N> (<F> fused), <D> dispatches" per function: the
 * kernel plan's count, which every backend runs (codegen/plan.h); the parts
 * of one group (horizontal fusion) are kernels of one dispatch. */
static bool print_kernels(FILE *out, const IrModule *m, Diag *d) {
  for (int i = 0; i < m->nfuncs; i++) {
    Arena *a = arena_new();
    const CgPlan *p = cg_plan(a, m, m->funcs[i], NULL);
    if (p->bad_memory) {
      diag_fatal(d, "the IR's memory plan is wrong: %s", p->bad_memory);
      arena_free(a);
      return false;
    }
    int dispatches = 0;
    for (int k = 0; k < p->nks; k++)
      dispatches += k == 0 || p->ks[k].hgroup < 0 || p->ks[k].hgroup != p->ks[k - 1].hgroup;
    fprintf(out, "# kernels: %s %d (%d fused), %d dispatches\n", m->funcs[i]->name, p->nks, p->nfused, dispatches);
    arena_free(a);
  }
  return true;
}

/* False after reporting a wrong memory record (--print-kernels plans it). */
static bool print_module(const Opts *o, FILE *out, const IrModule *m, Diag *d) {
  if (o->dot) ir_print_dot(out, m);
  else ir_print_module(out, m);
  return !o->print_kernels || o->dot || print_kernels(out, m, d);
}

/* Default output name: the model file's base name without ".nn". */
static const char *default_output(Arena *a, const char *input, EmitKind emit) {
  const char *base = strrchr(input, '/');
  base = base ? base + 1 : input;
  size_t n = strlen(base);
  if (n > 3 && !strcmp(base + n - 3, ".nn")) n -= 3;
  static const char *const ext[] = {[EMIT_LLVM] = ".ll", [EMIT_ASM] = ".s", [EMIT_OBJ] = ".o",
                                    [EMIT_EXE] = "",     [EMIT_CUDA] = ".cu", [EMIT_PTX] = ".ptx"};
  return arena_printf(a, "%.*s%s", (int)n, base, ext[emit]);
}

/* A backend's runtime library (libnnrt.a for the CPU) lives beside the nnc
 * executable (build tree), or in ../lib/nnc/ (installed). NNC_RUNTIME
 * overrides both (env_overrides). */
static const char *find_runtime(Arena *a, const char *lib, bool env_overrides) {
  const char *env = env_overrides ? getenv("NNC_RUNTIME") : NULL;
  if (env && *env) return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return lib;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  const char *beside = arena_printf(a, "%s/%s", self, lib);
  if (access(beside, R_OK) == 0) return beside;
  const char *installed = arena_printf(a, "%s/../lib/nnc/%s", self, lib);
  if (access(installed, R_OK) == 0) return installed;
  return beside;
}

/* The runtime library of a CPU binary whose matrix products run on --gemm's
 * engine: libnnrt.a (auto: oneDNN when it loads, else OpenBLAS) or
 * libnnrt_<engine>.a, never NNC_RUNTIME for another engine (it overrides
 * the default runtime; it must not silently undo --gemm). */
static const char *gemm_runtime(Arena *a, const Backend *be, const char *gemm) {
  if (!strcmp(gemm, "auto")) return find_runtime(a, be->runtime_lib, true);
  return find_runtime(a, arena_printf(a, "libnnrt_%s.a", gemm), false);
}

/* Whether paths a and b name one existing file. */
static bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The front end (parse, check, lower to IR), timed for --time-passes. */
static FeModel *front_end(Arena *a, Diag *d, Opts *o) {
  double t0 = timing_now();
  FeModel *fm = fe_compile(a, d, o->input, NULL, 0);
  if (o->time_passes) timing_add(&o->times, "front end: parse, check, lower", timing_now() - t0);
  return fm;
}

static int cmd_build(Arena *a, Diag *d, Opts *o) {
  const Backend *be = o->target ? cg_backend_find(o->target) : cg_backends[0];
  if ((o->emit == EMIT_CUDA || o->emit == EMIT_PTX) && be != &cg_cuda_backend)
    return usage_error(usage_build, "--emit=%s writes GPU kernels: it needs --target=cuda",
                       o->emit == EMIT_CUDA ? "cuda" : "ptx");
  if (o->gemm && be != &cg_cpu_backend)
    return usage_error(usage_build, "--gemm picks the CPU binary's matrix-product engine; --target=%s has its own",
                       be->name);
  if (o->gemm && o->runtime)
    return usage_error(usage_build, "--gemm=%s and --runtime both choose the runtime library: give one", o->gemm);
  CgOptions cg = {.out_path = o->output ? o->output : default_output(a, o->input, o->emit),
                  .emit = o->emit, .opt_level = o->opt_level, .cpu_native = true,
                  .runtime_lib = o->runtime ? o->runtime
                                 : o->gemm  ? gemm_runtime(a, be, o->gemm)
                                            : find_runtime(a, be->runtime_lib, true),
                  .cc = o->cc ? o->cc : "cc", .verbose = o->verbose, .infer = o->infer, .diag = d,
                  .times = o->time_passes ? &o->times : NULL};
  for (int i = 0; i < o->ntarget_opts; i++) {
    const char *arg = o->target_opts[i], *eq = strchr(arg, '=');
    const char *name = eq ? arena_strndup(a, arg, (size_t)(eq - arg)) : arg;
    char err[256];
    if (!be->set_option(&cg, name, eq ? eq + 1 : NULL, err, sizeof err)) {
      fprintf(stderr, "nnc: error: %s\n\n%s", err, usage_build);
      return 2;
    }
  }
  FeModel *fm = front_end(a, d, o);
  if (!fm) return 1;
  int rc = o->checkpoint ? ckpt_load(fm->mod, o->checkpoint, d) : 0;
  if (rc) return rc;
  /* Checked before compiling: a build must not overwrite the file it reads. */
  const char *weights_out = o->checkpoint && o->emit == EMIT_EXE ? arena_printf(a, "%s.safetensors", cg.out_path) : NULL;
  if (weights_out && same_file(o->checkpoint, weights_out)) {
    diag_fatal(d, "the output's checkpoint '%s' would overwrite the input --checkpoint; choose another -o", weights_out);
    return 2;
  }
  CalibHook hook;
  PassCtx pc = pass_ctx(d, o, &hook);
  pc.report = stderr;
  pc.plan.no_summed_gemm = cg.no_summed_gemm;
  if (!pass_run_pipeline(fm->mod, pass_default_pipeline, pass_default_pipeline_len, &pc)) return 1;
  if (o->emit == EMIT_EXE && access(cg.runtime_lib, R_OK) != 0) {
    diag_fatal(d, "cannot find the runtime library '%s' (set --runtime= or NNC_RUNTIME)", cg.runtime_lib);
    return 1;
  }
  if (!be->compile(fm->mod, &cg)) return 1;
  return weights_out && !ckpt_write(fm->mod, weights_out, d) ? 1 : 0;
}

static int cmd_dump(Arena *a, Diag *d, Opts *o) {
  FeModel *fm = front_end(a, d, o);
  if (!fm) return 1;
  int rc = o->checkpoint ? ckpt_load(fm->mod, o->checkpoint, d) : 0;
  if (rc) return rc;
  const char *names[32];
  int n = 0;
  if (o->passes) {
    if ((n = split_passes(a, d, o->passes, names, 32)) < 0) return 1;
  } else if (o->after || o->print_after_all) {
    /* The default pipeline, cut after --after. */
    for (int i = 0; i < pass_default_pipeline_len; i++) {
      names[n++] = pass_default_pipeline[i];
      if (o->after && !strcmp(o->after, pass_default_pipeline[i])) break;
    }
    if (o->after && strcmp(names[n - 1], o->after)) {
      if (!pass_find(o->after)) diag_fatal(d, "unknown pass '%s' (see nnc dump --list-passes)", o->after);
      else diag_fatal(d, "pass '%s' is not in the default pipeline; use --passes=", o->after);
      return 1;
    }
  } else if (o->infer) {
    names[n++] = "prune"; /* what an inference build keeps of the lowered IR */
  }
  CalibHook hook;
  PassCtx pc = pass_ctx(d, o, &hook);
  if (!pass_run_pipeline(fm->mod, names, n, &pc)) return 1;
  return o->print_after_all || print_module(o, stdout, fm->mod, d) ? 0 : 1;
}

static int cmd_opt(Arena *a, Diag *d, Opts *o) {
  size_t len;
  char *text = fe_read_file(a, d, o->input, &len);
  if (!text) return 1;
  IrModule *m = ir_parse(a, d, o->input, text, len);
  if (!m || !ir_verify(m, d)) return 1;
  const char *names[32];
  int n = o->passes ? split_passes(a, d, o->passes, names, 32) : 0;
  if (n < 0) return 1;
  PassCtx pc = pass_ctx(d, o, NULL);
  pc.verify = true;
  if (!pass_run_pipeline(m, names, n, &pc)) return 1;
  FILE *out = stdout;
  if (o->output && !(out = fopen(o->output, "w"))) {
    diag_fatal(d, "cannot write '%s': %s", o->output, strerror(errno));
    return 1;
  }
  bool printed = print_module(o, out, m, d);
  if (out != stdout && fclose(out) != 0) {
    diag_fatal(d, "cannot write '%s'", o->output);
    return 1;
  }
  return printed ? 0 : 1;
}

static int cmd_check(Arena *a, Diag *d, Opts *o) { return fe_compile(a, d, o->input, NULL, 0) ? 0 : 1; }

/* With --prune=..., the model after the prune pass (the shapes nnc build
 * would compile). */
static int cmd_summary(Arena *a, Diag *d, Opts *o) {
  FeModel *fm = fe_compile(a, d, o->input, NULL, 0);
  if (!fm) return 1;
  int rc = o->checkpoint ? ckpt_load(fm->mod, o->checkpoint, d) : 0;
  if (rc) return rc;
  PassCtx pc = pass_ctx(d, o, NULL);
  pc.report = stderr;
  static const char *const prune[] = {"prune"};
  if (!pass_run_pipeline(fm->mod, prune, 1, &pc)) return 1;
  fe_print_summary(stdout, fm);
  return 0;
}

typedef struct Command {
  const char *name;
  const char *usage;
  int (*run)(Arena *a, Diag *d, Opts *o);
  int (*own)(int argc, char **argv); /* or a command with options of its own */
} Command;

static const Command commands[] = {
    {"build", usage_build, cmd_build, NULL},  {"check", usage_check, cmd_check, NULL},
    {"summary", usage_summary, cmd_summary, NULL}, {"dump", usage_dump, cmd_dump, NULL},
    {"opt", usage_opt, cmd_opt, NULL},        {"bench", nnc_bench_usage, NULL, nnc_bench},
};

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    fputs(usage_top, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("nnc %s\ntargets:\n", NNC_VERSION);
    for (int i = 0; i < cg_nbackends; i++)
      printf("  %-8s %s%s\n", cg_backends[i]->name, cg_backends[i]->summary, i ? "" : " (default)");
    return 0;
  }
  const char *cmd = argv[1];
  const Command *c = NULL;
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(cmd, commands[i].name)) c = &commands[i];
  if (!c) {
    fprintf(stderr, "nnc: error: unknown command '%s'\n\n%s", cmd, usage_top);
    return 2;
  }
  if (c->own) return c->own(argc - 2, argv + 2);
  Opts o = {.emit = EMIT_EXE, .opt_level = 2};
  int done, rc = parse_opts(argc - 2, argv + 2, c->usage, &o, &done);
  if (rc || done) return rc;

  Arena *a = arena_new();
  Diag d;
  diag_init(&d, stderr);
  d.color = isatty(2);
  rc = c->run(a, &d, &o);
  if (d.nerrors && !rc) rc = 1;
  if (o.time_passes && o.times.n) timing_print(stderr, &o.times);
  arena_free(a);
  return rc;
}
