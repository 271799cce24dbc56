/* gradcheck.h — helpers shared by the gradient-check test files. */
#ifndef NNC_TEST_GRADCHECK_H
#define NNC_TEST_GRADCHECK_H
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/interp.h"
#include "passes/autodiff.h"
#include "passes/passes.h"

extern int npass, nfail; /* test_gradcheck.c */

static inline void result(bool ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  if (ok) npass++;
  else nfail++;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline double urand(double lo, double hi) { /* xorshift64* */
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return lo + (hi - lo) * (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

#define B -1 /* the symbolic batch dim, sym 0 */
enum { BATCH = 4 }; /* the value of B in every run */
static const int64_t SYMS[] = {BATCH};
static const Loc L0 = {0};

/* T(F, 2, 3, 4) is f32[3,4]; a dim B is symbolic. */
#define F DT_F32
#define I DT_I32
static inline Type T(int dt, int rank, ...) {
  Type t = {.dt = (DType)dt, .sh.rank = rank};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) t.sh.d[i] = va_arg(ap, int);
  va_end(ap);
  return t;
}

static inline int64_t numel(const Type *t) { return ir_numel(&t->sh, SYMS); }

static inline double *alloc_for(const Type *t) {
  double *p = calloc((size_t)numel(t) + 1, sizeof *p);
  if (!p) abort();
  return p;
}

static inline IrModule *new_module(Arena *a) {
  IrModule *m = ir_module_new(a, "t");
  ir_sym(m, "B");
  return m;
}

static inline bool run(const IrFunc *f, double **globals, double **inputs, double **outs) {
  char err[256];
  bool ok = ir_interp(f, SYMS, globals, inputs, outs, err, sizeof err);
  if (!ok) printf("  interp: %s\n", err);
  return ok;
}

static inline bool verify(IrModule *m) {
  Diag d;
  diag_init(&d, stdout);
  return ir_verify(m, &d);
}

/* The central difference (f(x + h) - f(x - h)) / 2h of g's first result,
 * which g writes to *loss (scratch[0]), in the global entry *x; *ok turns
 * false when the interpreter fails. */
static inline double central_diff(const IrFunc *g, double **gl, double **in, double **scratch, const double *loss,
                                  double *x, double h, bool *ok) {
  double keep = *x, lp, lm;
  *x = keep + h;
  *ok = *ok && run(g, gl, in, scratch);
  lp = *loss;
  *x = keep - h;
  *ok = *ok && run(g, gl, in, scratch);
  lm = *loss;
  *x = keep;
  return (lp - lm) / (2 * h);
}

/* |a - n| relative to the larger magnitude, with a floor so that gradients
 * near 0 are compared absolutely (where central differences are noise). */
static inline double rel_err(double a, double n) {
  double s = fmax(fmax(fabs(a), fabs(n)), 1e-2);
  return fabs(a - n) / s;
}

/* The MLP of test_gradcheck_mlp.c, shared with test_gradcheck_prune.c:
 * dense(x, NIN -> NHID) |> relu |> dense(NOUT), mean cross-entropy, params
 * dense_1.w, dense_1.b, dense_2.w, dense_2.b (globals 0..3); with l2 a
 * second read of dense_1.w adds 1e-3 sum(w1^2). */
enum { NIN = 12, NHID = 8, NOUT = 5 };
IrModule *build_mlp(Arena *a, const IrTrain *tr, bool l2);
/* Data for every global of m: random parameters, zeros elsewhere. */
double **alloc_globals(const IrModule *m);
void free_all(double **p, int n);
void random_batch(double *x, double *y); /* x [BATCH, NIN], labels < NOUT */

/* Whole-model, optimizer and pipeline checks (test_gradcheck_mlp.c). */
void mlp_checks(void);  /* test_gradcheck_mlp.c */
void prune_checks(void); /* test_gradcheck_prune.c */
void scan_checks(void); /* test_gradcheck_scan.c */
void loss_checks(void); /* test_gradcheck_loss.c */
void quant_checks(void); /* test_gradcheck_quant.c */

#endif
