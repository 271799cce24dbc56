/* calibrate.c — activation scales for post-training int8 quantization
 * (`nnc build --quantize=int8 --calibrate N`), set before the pass
 * pipeline as the data of the scale globals the quantize pass reads
 * (passes/quantize_ptq.h).
 *
 * Calibration runs `forward` in the reference interpreter (ir/interp.c), on
 * the first N samples of the model's training data loaded by the runtime's
 * own loader (rt_data_load, linked into nnc), returning the activation
 * operand of every contraction to be quantized. The interpreter, not a
 * compiled f32 binary, because it is the definition of what forward
 * computes and it needs no second build; it is slow, but N samples of a
 * Fashion-MNIST model take seconds (docs/optimize.md has the times).
 *
 * The estimator is per tensor: s = |x|_p / QUANT_A_LEVEL, where |x|_p is
 * the maximum of |x| over the samples (percentile 100, the default) or its
 * p-th percentile (--calibrate-percentile p: outliers then clip instead of
 * stretching the scale). A QAT checkpoint already holds these scales (the
 * observers quantize.h names), and they are used as they are. */
#define _POSIX_C_SOURCE 200809L
#include "driver/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver/checkpoint.h"
#include "ir/interp.h"
#include "nnrt.h"
#include "passes/quantize_ptq.h"

static double now_s(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The scale global of site s (f32[] stats), added when absent. */
static int scale_global(IrModule *m, const QuantSite *s) {
  int g = ir_global_find(m, s->act_scale);
  if (g >= 0) return g;
  IrGlobal gl = {.name = s->act_scale,
                 .kind = GLOBAL_STATS,
                 .ty = {.dt = DT_F32},
                 .init = NNRT_INIT_ZEROS,
                 .loc = m->globals[s->weight].loc};
  return ir_global_add(m, gl);
}

/* The samples' |x| of one site: the maximum, and with a percentile below
 * 100 every value (sorted at the end). */
typedef struct Stat {
  double amax;
  float *all;
  int64_t n, cap;
} Stat;

static bool stat_add(Stat *st, const double *v, int64_t n, bool keep) {
  for (int64_t i = 0; i < n; i++)
    st->amax = fmax(st->amax, fabs(v[i]));
  if (!keep) return true;
  if (st->n + n > st->cap) {
    int64_t cap = 2 * (st->n + n);
    float *p = realloc(st->all, (size_t)cap * sizeof *p);
    if (!p) return false;
    st->all = p, st->cap = cap;
  }
  for (int64_t i = 0; i < n; i++)
    st->all[st->n++] = (float)fabs(v[i]);
  return true;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* The p-th percentile of |x| (nearest rank), or the maximum at 100. */
static double stat_estimate(Stat *st, double p) {
  if (p >= 100 || !st->n) return st->amax;
  qsort(st->all, (size_t)st->n, sizeof *st->all, cmp_float);
  int64_t k = (int64_t)ceil(p / 100 * (double)st->n) - 1;
  return st->all[k < 0 ? 0 : k];
}

/* forward's one input (f32 [B, ...], B the batch and its only sym) must
 * take a sample of per_sample values; returns that input's node or -1. */
static int check_input(const IrFunc *f, int64_t per_sample, const char *data, Diag *d) {
  int in = -1, count = 0;
  for (int v = 0; v < f->n; v++)
    if (f->nodes[v].op == OP_INPUT) in = v, count++;
  const Type *t = in >= 0 ? &f->nodes[in].ty : NULL;
  bool ok = count == 1 && t->dt == DT_F32 && t->sh.rank >= 1 && IR_IS_SYM(t->sh.d[0]);
  for (int k = 1; ok && k < t->sh.rank; k++)
    ok = !IR_IS_SYM(t->sh.d[k]);
  if (!ok) {
    diag_fatal(d,
               "--calibrate: forward must take one f32 input [B, ...] with static sample dims (this one takes %d "
               "input%s); start from a QAT checkpoint instead",
               count, count == 1 ? "" : "s");
    return -1;
  }
  int64_t want = 1;
  for (int k = 1; k < t->sh.rank; k++)
    want *= t->sh.d[k];
  if (want != per_sample) {
    diag_fatal(d, "--calibrate: the data set %s has %lld values per sample; the model's input takes %lld", data,
               (long long)per_sample, (long long)want);
    return -1;
  }
  return in;
}

/* Runs forward's site activations over the samples into st[]. */
static int run_samples(IrModule *m, IrFunc *cal, const RtArray *x, int64_t nsamples, Stat *st, bool keep, Diag *d) {
  enum { BATCH = 100 };
  int64_t per_sample = x->numel / x->dims[0];
  double **globals = calloc((size_t)m->nglobals + 1, sizeof *globals);
  double **outs = calloc((size_t)cal->nrets + 1, sizeof *outs);
  double *in = malloc((size_t)(BATCH * per_sample) * sizeof *in);
  int64_t *syms = calloc((size_t)m->nsyms + 1, sizeof *syms);
  int rc = !globals || !outs || !in || !syms;
  for (int i = 0; !rc && i < m->nglobals; i++) {
    const IrGlobal *g = &m->globals[i];
    int64_t n = ir_numel_static(&g->ty.sh);
    if (!(globals[i] = calloc((size_t)n + 1, sizeof **globals))) rc = 1;
    for (int64_t k = 0; !rc && g->data && k < n; k++)
      globals[i][k] = ir_data_get(g->ty.dt, g->data, k);
  }
  for (int r = 0; !rc && r < cal->nrets; r++) {
    const Shape *sh = &cal->nodes[cal->rets[r]].ty.sh;
    int64_t per = 1;
    for (int k = 0; k < sh->rank; k++)
      per *= IR_IS_SYM(sh->d[k]) ? BATCH : sh->d[k];
    if (!(outs[r] = malloc((size_t)per * sizeof **outs))) rc = 1;
  }
  if (rc) diag_fatal(d, "--calibrate: out of memory");
  const float *xs = x->data;
  char err[256];
  for (int64_t s0 = 0; !rc && s0 < nsamples; s0 += BATCH) {
    int64_t b = nsamples - s0 < BATCH ? nsamples - s0 : BATCH;
    for (int k = 0; k < m->nsyms; k++)
      syms[k] = b;
    for (int64_t i = 0; i < b * per_sample; i++)
      in[i] = xs[s0 * per_sample + i];
    if (!ir_interp(cal, syms, globals, (double *const[]){in}, outs, err, sizeof err)) {
      diag_fatal(d, "--calibrate: running forward on samples %lld..%lld: %s", (long long)s0, (long long)(s0 + b - 1),
                 err);
      rc = 1;
    }
    for (int r = 0; !rc && r < cal->nrets; r++)
      if (!stat_add(&st[r], outs[r], ir_numel(&cal->nodes[cal->rets[r]].ty.sh, syms), keep)) {
        diag_fatal(d, "--calibrate: out of memory keeping |x| for the percentile");
        rc = 1;
      }
  }
  for (int i = 0; globals && i < m->nglobals; i++)
    free(globals[i]);
  for (int r = 0; outs && r < cal->nrets; r++)
    free(outs[r]);
  free(globals), free(outs), free(in), free(syms);
  return rc;
}

/* Calibrates the sites' scales on the training data; returns an exit code. */
static int calibrate(IrModule *m, IrFunc *f, const QuantSite *sites, int nsites, const int *scale,
                     const CalibOptions *o, FILE *report, Diag *d) {
  char buf[RT_PATH_MAX];
  const char *dir = o->data ? o->data : rt_data_default_dir(m->train.data, buf, sizeof buf);
  if (!dir) {
    diag_fatal(d, "--calibrate: the model names no data set (its train block has no 'data' line); give one with "
                  "--calibrate-data DIR");
    return 2;
  }
  double t0 = now_s();
  RtDataset ds;
  RtError e = {0};
  if (rt_data_load(dir, RT_SPLIT_TRAIN, NNRT_F32, RT_DTYPE_AS_STORED, &ds, &e)) {
    diag_fatal(d, "--calibrate: %s", e.msg);
    return e.code ? e.code : 2;
  }
  int rc = 0;
  if (o->samples > ds.x.dims[0]) {
    diag_fatal(d, "--calibrate %d: the training data %s has %lld samples", o->samples, dir, (long long)ds.x.dims[0]);
    rc = 2;
  }
  if (!rc && check_input(f, ds.x.numel / ds.x.dims[0], dir, d) < 0) rc = 2;
  Stat *st = calloc((size_t)nsites + 1, sizeof *st);
  IrFunc *cal = NULL;
  if (!rc) {
    /* forward returning the activations, cut after the last of them. */
    cal = ir_func_clone(m, f, "calibrate");
    cal->nrets = 0;
    for (int k = 0; k < nsites; k++)
      ir_ret(cal, sites[k].act);
    pass_dce_func(cal);
    rc = run_samples(m, cal, &ds.x, o->samples, st, o->percentile < 100, d);
    ir_func_remove(m, cal);
  }
  for (int k = 0; !rc && k < nsites; k++) {
    float *s = arena_alloc(m->arena, sizeof *s);
    *s = (float)fmax(stat_estimate(&st[k], o->percentile) / QUANT_A_LEVEL, QUANT_SCALE_MIN);
    m->globals[scale[k]].data = s;
  }
  if (!rc && report) {
    fprintf(report, "calibrate: %d activation scale%s from %d samples of %s (", nsites, nsites == 1 ? "" : "s",
            o->samples, dir);
    if (o->percentile < 100)
      fprintf(report, "percentile %g of |x|", o->percentile);
    else
      fputs("max |x|", report);
    fprintf(report, ") in %.1f s\n", now_s() - t0);
  }
  for (int k = 0; k < nsites; k++)
    free(st[k].all);
  free(st);
  rt_data_free(&ds);
  return rc;
}

int calib_act_scales(IrModule *m, const char *ckpt, const CalibOptions *o, FILE *report, Diag *d) {
  IrFunc *f = ir_func_find(m, IR_FN_FORWARD);
  if (!f) return 0;
  int nsites;
  const QuantSite *sites = quant_sites(f, &nsites);
  if (!nsites) return 0;
  int *scale = arena_alloc(m->arena, (size_t)nsites * sizeof *scale);
  for (int k = 0; k < nsites; k++)
    scale[k] = scale_global(m, &sites[k]);
  if (ckpt && ckpt_load_if_present(m, ckpt, scale, nsites)) {
    if (report)
      fprintf(report, "calibrate: %d activation scale%s from the QAT observers in %s\n", nsites, nsites == 1 ? "" : "s",
              ckpt);
    return 0;
  }
  return calibrate(m, f, sites, nsites, scale, o, report, d);
}
