/* test_prune_structured.c — structured pruning computes what the model
 * computes without the removed units.
 *
 * Removing unit u of a layer is the same as cutting its contribution where
 * it is summed: zeroing its slices of the weights that consume it (the next
 * layer's rows, the next conv's input channels; a flatten's whole block of
 * rows). So for each model below, with random weights, forward of the
 * pruned module must equal, in the f64 reference interpreter, forward of
 * the original with exactly those slices zeroed, for the units the pass
 * reports it removed. The models are .nn source, lowered by the frontend:
 * dense -> dense, a residual block (one group across two layers),
 * conv -> batch_norm -> conv -> maxpool -> flatten -> dense, and recurrent
 * layers (an LSTM's units: gate blocks of its weights, the scan's carries;
 * a GRU's sequence output into an LSTM). */
#define _POSIX_C_SOURCE 200809L /* open_memstream: the pass's report, read back */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"
#include "ir/interp.h"
#include "passes/prune.h"
#include "passes/prune_axes.h"

static int npass, nfail;

static uint64_t rng = 88172645463325252ull;
static double uniform(void) { /* xorshift64: the same weights on every run */
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static IrModule *compile(Arena *a, Diag *d, const char *src) {
  FeModel *fm = fe_compile(a, d, "model.nn", src, strlen(src));
  if (!fm) abort();
  return fm->mod;
}

/* Random f32 data for every global (variances positive). */
static void fill(IrModule *m) {
  for (int i = 0; i < m->nglobals; i++) {
    IrGlobal *g = &m->globals[i];
    int64_t n = ir_numel_static(&g->ty.sh);
    float *p = arena_alloc(m->arena, (size_t)n * sizeof *p + 1);
    bool var = strstr(g->name, "running_var") != NULL;
    for (int64_t k = 0; k < n; k++)
      p[k] = (float)(var ? 0.5 + fabs(uniform()) : uniform());
    g->data = p;
  }
}

/* forward(x) in f64 with B = 3. */
static double *run_forward(const IrModule *m, const double *x, int64_t nout) {
  const IrFunc *f = ir_func_find(m, IR_FN_FORWARD);
  double **gl = calloc((size_t)m->nglobals + 1, sizeof *gl);
  for (int i = 0; i < m->nglobals; i++) {
    int64_t n = ir_numel_static(&m->globals[i].ty.sh);
    gl[i] = malloc((size_t)n * sizeof(double) + 8);
    for (int64_t k = 0; k < n; k++)
      gl[i][k] = ((const float *)m->globals[i].data)[k];
  }
  double *out = calloc((size_t)nout, sizeof *out);
  int64_t syms[4] = {3, 1, 1, 1};
  char err[256];
  double *ins[1] = {(double *)x}, *outs[1] = {out};
  if (!ir_interp(f, syms, gl, ins, outs, err, sizeof err)) {
    printf("  interp: %s\n", err);
    abort();
  }
  for (int i = 0; i < m->nglobals; i++)
    free(gl[i]);
  free(gl);
  return out;
}

/* Zeroes unit u's slice of global member mb (n units). */
static void zero_unit(IrGlobal *g, const PsMember *mb, int64_t n, int64_t u) {
  int64_t pre = 1, post = 1, len = g->ty.sh.d[mb->axis];
  for (int i = 0; i < mb->axis; i++)
    pre *= g->ty.sh.d[i];
  for (int i = mb->axis + 1; i < g->ty.sh.rank; i++)
    post *= g->ty.sh.d[i];
  float *p = (float *)g->data;
  for (int64_t a = 0; a < pre; a++)
    for (int64_t i = 0; i < len; i++)
      if (i / mb->inner % n == u)
        for (int64_t q = 0; q < post; q++)
          p[(a * len + i) * post + q] = 0;
}

static void check(const char *name, const char *src, int64_t nin, int64_t nout, int want_pruned) {
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, stderr);
  IrModule *orig = compile(a, &d, src), *pruned = compile(a, &d, src);
  uint64_t seed = rng;
  fill(orig);
  rng = seed;
  fill(pruned);
  char *report = NULL;
  size_t len = 0;
  FILE *rep = open_memstream(&report, &len);
  PassCtx ctx = {.diag = &d, .report = rep};
  bool ok = prune_structured(pruned, 0.5, &ctx) && ir_verify(pruned, &d);
  fclose(rep);
  /* The groups of the original, in the order the report lists them; each
   * pruned one's line ends with the units removed. */
  int ng, npruned = 0;
  PsGroup *gs = ps_find_groups(a, orig, &ng);
  const char *line = report;
  for (int i = 0; ok && i < ng; i++) {
    if (gs[i].n < 2) continue;
    const char *nl = strchr(line, '\n'), *rm = strstr(line, ", removed ");
    if (!gs[i].why) {
      if (!rm || rm > nl) {
        ok = false;
        break;
      }
      npruned++;
      for (const char *s = rm + 10; s < nl; s++) {
        int64_t u = strtoll(s, (char **)&s, 10);
        for (int k = 0; k < gs[i].nmem; k++)
          if (gs[i].mem[k].fn < 0 && gs[i].mem[k].consumes)
            zero_unit(&orig->globals[gs[i].mem[k].id], &gs[i].mem[k], gs[i].n, u);
      }
    }
    line = nl + 1;
  }
  double *x = malloc((size_t)(3 * nin) * sizeof *x), worst = 0, scale = 0;
  for (int64_t k = 0; k < 3 * nin; k++)
    x[k] = uniform();
  double *ya = ok ? run_forward(orig, x, 3 * nout) : NULL, *yb = ok ? run_forward(pruned, x, 3 * nout) : NULL;
  for (int64_t k = 0; ok && k < 3 * nout; k++) {
    worst = fmax(worst, fabs(ya[k] - yb[k]));
    scale = fmax(scale, fabs(ya[k]));
  }
  ok = ok && npruned == want_pruned && worst <= 1e-9 * (1 + scale);
  printf("%s %s: %d groups pruned, max |difference| %.3g (outputs up to %.3g)\n", ok ? "PASS" : "FAIL", name, npruned,
         worst, scale);
  if (!ok) printf("%s", report);
  ok ? npass++ : nfail++;
  free(x), free(ya), free(yb), free(report);
  arena_free(a);
}

int main(void) {
  check("dense -> dense -> dense",
        "model m {\n input x: f32[B, 6]\n input y: i32[B]\n"
        " h = dense(x, 8) |> relu\n h2 = dense(h, 6, activation: tanh)\n logits = dense(h2, 3)\n"
        " output logits\n minimize cross_entropy(logits, y)\n}\n",
        6, 3, 2);
  check("residual block",
        "model m {\n input x: f32[B, 4]\n input y: i32[B]\n"
        " h = dense(x, 6) |> relu\n r = h + dense(h, 6, activation: relu)\n logits = dense(r, 3)\n"
        " output logits\n minimize cross_entropy(logits, y)\n}\n",
        4, 3, 1);
  check("conv -> batch_norm -> conv -> maxpool -> flatten -> dense",
        "model m {\n input x: f32[B, 2, 6, 6]\n input y: i32[B]\n"
        " c = conv2d(x, filters: 6, kernel: 3, padding: 1)\n b = batch_norm(c) |> relu\n"
        " c2 = conv2d(b, filters: 4, kernel: 3, activation: relu)\n p = maxpool(c2, 2)\n"
        " logits = dense(flatten(p), 3)\n output logits\n minimize cross_entropy(logits, y)\n}\n",
        2 * 6 * 6, 3, 2);
  check("lstm -> dense",
        "model m {\n input x: f32[B, 4, 5]\n input y: i32[B]\n h = lstm(x, 6)\n logits = dense(h, 3)\n"
        " output logits\n minimize cross_entropy(logits, y)\n}\n",
        4 * 5, 3, 1);
  check("gru (sequences) -> lstm -> dense",
        "model m {\n input x: f32[B, 4, 5]\n input y: i32[B]\n s = gru(x, 6, sequences: true)\n h = lstm(s, 4)\n"
        " logits = dense(h, 3)\n output logits\n minimize cross_entropy(logits, y)\n}\n",
        4 * 5, 3, 2);
  printf("%d passed, %d failed\n", npass, nfail);
  return nfail != 0;
}
