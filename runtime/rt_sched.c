/* rt_sched.c — learning-rate schedules, early stopping and the monitors
 * behind them (and behind --checkpoint-best).
 *
 * A spec is the text of the train block's setting or of the flag:
 * "cosine(warmup: 500, min_lr: 0)", a bare "cosine" (all defaults), "none";
 * early stopping names the metric it watches: "val_acc(patience: 5)". Names,
 * defaults and ranges are the rows of nnrt_sched.def, which the compiler
 * checks .nn files against too.
 *
 * The learning rate of a step is a pure function of (epoch, global step,
 * total steps) for step and cosine, and of the plateau state for plateau;
 * that state and the monitors' are plain numbers the checkpoint stores, so
 * --resume continues bit-exactly. */
#include "nnrt.h"
#include "nnrt_sched.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* nnrt.h's RT_SPEC_* and nnrt_sched.h's NNRT_SPEC_* both count the rows of
 * NNRT_SPEC_KINDS. */
_Static_assert((int)RT_SPEC_NKINDS == (int)NNRT_SPEC_NKINDS && (int)RT_SPEC_EARLY_STOP == (int)NNRT_SPEC_EARLY_STOP,
               "spec kinds");
#define params nnrt_spec_params
#define NPARAMS NNRT_SPEC_NPARAMS
#define kind_names nnrt_spec_kinds
#define metrics nnrt_metrics

const char *rt_metric_name(int metric, char *buf, size_t size) {
  snprintf(buf, size, "%s%s", metric >= RT_MET_N ? "val_" : "", metrics[metric % RT_MET_N].name);
  return buf;
}

int rt_metric_find(const char *name, size_t len) {
  int val = len > 4 && strncmp(name, "val_", 4) == 0;
  const char *base = val ? name + 4 : name;
  size_t blen = val ? len - 4 : len;
  for (int i = 0; i < RT_MET_N; i++)
    if (strlen(metrics[i].name) == blen && strncmp(metrics[i].name, base, blen) == 0) return i + (val ? RT_MET_N : 0);
  return -1;
}

int rt_metric_higher_better(int metric) { return metrics[metric % RT_MET_N].higher_better; }

/* The index of the first row of kind's parameters; *n: how many. */
static int kind_rows(int kind, int *n) {
  int first = -1;
  *n = 0;
  for (int i = 0; i < NPARAMS; i++)
    if (params[i].kind == kind) {
      if (first < 0) first = i;
      ++*n;
    }
  return first;
}

static const char *skip_space(const char *s) {
  while (isspace((unsigned char)*s))
    s++;
  return s;
}

static size_t word_len(const char *s) {
  size_t n = 0;
  while (isalnum((unsigned char)s[n]) || s[n] == '_')
    n++;
  return n;
}

/* One value of row r from s; *end past it. */
static int parse_value(const char *what, int r, const char *s, const char **end, double *out, RtError *e) {
  if (params[r].type == NNRT_SPEC_T_MONITOR) {
    size_t n = word_len(s);
    int k = rt_metric_find(s, n);
    if (k < 0)
      return rt_fail(e, RT_EXIT_USAGE,
                     "%s: monitor '%.*s' is not a metric (loss, acc, precision, recall, auc, mae, each also with "
                     "val_)",
                     what, (int)(n > 40 ? 40 : n), s);
    *out = k;
    *end = s + n;
    return 0;
  }
  char *stop, msg[160];
  double v = strtod(s, &stop);
  if (stop == s) return rt_fail(e, RT_EXIT_USAGE, "%s: %s needs a number", what, params[r].name);
  *end = stop;
  if (nnrt_spec_check(&params[r], v, msg, sizeof msg)) return rt_fail(e, RT_EXIT_USAGE, "%s: %s", what, msg);
  *out = v;
  return 0;
}

static void set_defaults(RtSpec *sp, int kind) {
  int n, first = kind_rows(kind, &n);
  sp->kind = kind;
  for (int i = 0; i < n; i++) {
    const char *d = params[first + i].def;
    sp->v[i] = params[first + i].type == NNRT_SPEC_T_MONITOR ? rt_metric_find(d, strlen(d)) : strtod(d, NULL);
  }
}

/* "key: value, key: value" up to `close` ('\0' or ')'); parameters in
 * seen[] are taken already. */
static int parse_args(const char *what, const char *s, char close, RtSpec *sp, int *seen, const char **end,
                      RtError *e) {
  int n, first = kind_rows(sp->kind, &n);
  s = skip_space(s);
  while (*s != close) {
    size_t len = word_len(s);
    int k = 0;
    while (k < n && !(strlen(params[first + k].name) == len && strncmp(params[first + k].name, s, len) == 0))
      k++;
    if (k == n) {
      char names[256] = "";
      for (int i = 0; i < n; i++)
        if (!seen[i] || params[first + i].type != NNRT_SPEC_T_MONITOR)
          snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "",
                   params[first + i].name);
      if (!len) return rt_fail(e, RT_EXIT_USAGE, "%s: expected an argument (%s) at '%.20s'", what, names, s);
      return rt_fail(e, RT_EXIT_USAGE, "%s: %s has no argument '%.*s' (it has %s)", what, kind_names[sp->kind],
                     (int)(len > 40 ? 40 : len), s, names);
    }
    if (seen[k]++ && params[first + k].type == NNRT_SPEC_T_MONITOR && sp->kind == RT_SPEC_EARLY_STOP)
      return rt_fail(e, RT_EXIT_USAGE, "%s: the metric before the parentheses is the monitor", what);
    if (seen[k] > 1) return rt_fail(e, RT_EXIT_USAGE, "%s: %s is given twice", what, params[first + k].name);
    s = skip_space(s + len);
    if (*s != ':') return rt_fail(e, RT_EXIT_USAGE, "%s: expected ':' after %s", what, params[first + k].name);
    s = skip_space(s + 1);
    if (parse_value(what, first + k, s, &s, &sp->v[k], e)) return -1;
    s = skip_space(s);
    if (*s == ',')
      s = skip_space(s + 1);
    else if (*s != close)
      return rt_fail(e, RT_EXIT_USAGE, "%s: expected ',' or '%s' at '%.20s'", what, close ? ")" : "the end", s);
  }
  *end = s;
  return 0;
}

int rt_spec_parse(const char *what, const char *text, int early_stop, RtSpec *sp, RtError *e) {
  memset(sp, 0, sizeof *sp);
  sp->kind = RT_SPEC_NONE;
  const char *s = skip_space(text);
  size_t len = word_len(s);
  if (len == 4 && strncmp(s, "none", 4) == 0 && !*skip_space(s + 4)) return 0;
  int kind = -1, seen[RT_SPEC_MAX_PARAMS] = {0};
  if (early_stop) { /* the name is the metric watched: val_loss(patience: 3) */
    int metric = rt_metric_find(s, len);
    if (metric < 0)
      return rt_fail(e, RT_EXIT_USAGE,
                     "%s: '%.*s' is not a metric to monitor (loss, acc, precision, recall, auc, mae, each also with "
                     "val_; or none)",
                     what, (int)(len > 40 ? 40 : len), s);
    kind = RT_SPEC_EARLY_STOP;
    set_defaults(sp, kind);
    sp->v[0] = metric; /* nnrt_sched.def: early_stop's first parameter is its monitor */
    seen[0] = 1;
  } else {
    for (int k = 0; k < RT_SPEC_NKINDS; k++)
      if (k != RT_SPEC_EARLY_STOP && strlen(kind_names[k]) == len && strncmp(kind_names[k], s, len) == 0) kind = k;
    if (kind < 0)
      return rt_fail(e, RT_EXIT_USAGE, "%s: unknown schedule '%.*s' (expected step, cosine, plateau or none)", what,
                     (int)(len > 40 ? 40 : len), s);
    set_defaults(sp, kind);
  }
  s = skip_space(s + len);
  if (*s == '(') {
    if (parse_args(what, s + 1, ')', sp, seen, &s, e)) return -1;
    s = skip_space(s + 1);
  }
  if (*s) return rt_fail(e, RT_EXIT_USAGE, "%s: unexpected '%.20s' after the %s", what, s, kind_names[kind]);
  return 0;
}

double rt_spec_get(const RtSpec *sp, const char *name) {
  int n, first = kind_rows(sp->kind, &n);
  for (int i = 0; i < n; i++)
    if (strcmp(params[first + i].name, name) == 0) return sp->v[i];
  return NAN; /* a name of another kind: a bug, and NaN shows it */
}

const char *rt_spec_format(const RtSpec *sp, char *buf, size_t size) {
  if (sp->kind == RT_SPEC_NONE) {
    snprintf(buf, size, "none");
    return buf;
  }
  int n, first = kind_rows(sp->kind, &n), i = 0;
  char name[32];
  size_t at = (size_t)snprintf(buf, size, "%s(",
                               sp->kind == RT_SPEC_EARLY_STOP ? rt_metric_name((int)sp->v[i++], name, sizeof name)
                                                              : kind_names[sp->kind]);
  for (int i0 = i; i < n && at < size; i++) {
    char v[64];
    if (params[first + i].type == NNRT_SPEC_T_MONITOR)
      rt_metric_name((int)sp->v[i], v, sizeof v);
    else if (snprintf(v, sizeof v, "%.15g", sp->v[i]), strtod(v, NULL) != sp->v[i])
      snprintf(v, sizeof v, "%.17g", sp->v[i]); /* the shortest that reads back exactly */
    at += (size_t)snprintf(buf + at, size - at, "%s%s: %s", i > i0 ? ", " : "", params[first + i].name, v);
  }
  if (at < size) snprintf(buf + at, size - at, ")");
  return buf;
}

/* ---- the learning rate ---- */

double rt_sched_lr(const RtSpec *sp, double base, double plateau_lr, int64_t epoch, int64_t step, int64_t total) {
  switch (sp->kind) {
  case RT_SPEC_STEP: /* PyTorch's StepLR, stepped once per epoch */
    return base * pow(rt_spec_get(sp, "gamma"), (double)(epoch / (int64_t)rt_spec_get(sp, "every")));
  case RT_SPEC_COSINE: { /* linear warm-up from base/warmup, then half a cosine down to min_lr at the last step */
    int64_t warm = (int64_t)rt_spec_get(sp, "warmup");
    double min_lr = rt_spec_get(sp, "min_lr");
    if (step < warm) return base * (double)(step + 1) / (double)warm;
    int64_t span = total - warm - 1; /* the last step (total - 1) gets min_lr */
    double t = span > 0 ? (double)(step - warm) / (double)span : 1.0;
    if (t > 1) t = 1;
    return min_lr + (base - min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * t));
  }
  case RT_SPEC_PLATEAU:
    return plateau_lr;
  default:
    return base;
  }
}

/* ---- monitors ---- */

void rt_monitor_init(RtMonitor *mo, int metric, double min_delta, int64_t patience) {
  mo->metric = metric;
  mo->min_delta = min_delta;
  mo->patience = patience;
  mo->best = NAN;
  mo->wait = 0;
  mo->best_epoch = 0;
}

/* Keras's rule: an improvement beats the best by more than min_delta; the
 * first value always improves. */
int rt_monitor_update(RtMonitor *mo, double value, int64_t epoch) {
  int better = isnan(mo->best) || (rt_metric_higher_better(mo->metric) ? value - mo->min_delta > mo->best
                                                                       : value + mo->min_delta < mo->best);
  if (isnan(value)) better = 0;
  if (better) {
    mo->best = value;
    mo->best_epoch = epoch;
    mo->wait = 0;
  } else {
    mo->wait++;
  }
  return better;
}

void rt_monitor_save(const RtMonitor *mo, char *buf, size_t size) {
  char name[32];
  snprintf(buf, size, "%s %.17g %lld %lld", rt_metric_name(mo->metric, name, sizeof name), mo->best,
           (long long)mo->wait, (long long)mo->best_epoch);
}

int rt_monitor_load(RtMonitor *mo, const char *text) {
  const char *s = skip_space(text);
  size_t n = word_len(s);
  int metric = rt_metric_find(s, n);
  char *end;
  double best = strtod(s + n, &end);
  if (metric < 0 || end == s + n) return -1;
  long long wait = strtoll(end, &end, 10), at = strtoll(end, &end, 10);
  if (*skip_space(end) || wait < 0 || at < 0) return -1;
  mo->metric = metric, mo->best = best, mo->wait = wait, mo->best_epoch = at;
  return 0;
}
