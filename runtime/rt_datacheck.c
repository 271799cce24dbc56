/* rt_datacheck.c — a data set checked whole when it is loaded, before the
 * first step (docs/hardening.md, "Strict data"): a value the model would
 * only trip over later (an id past the embedding table in the test set,
 * found after every epoch has run) or never notice at all (a NaN feature
 * that relu used to hide, a binary label of 2 that trains with exit 0)
 * stops the run at once, exit 2, with the file, the sample and the
 * position:
 *   - features (and float labels): every value must be finite, unless
 *     --allow-nonfinite;
 *   - integer features: in [0, bound) where the model reads them as rows
 *     of an embedding table or onehot classes (the bound the compiler put
 *     in the input's descriptor, nnrt_abi.h);
 *   - labels: a class in [0, classes) for a classifier, 0 or 1 for a
 *     binary model. */
#include <math.h>
#include <stdio.h>

#include "nnrt.h"

static int g_allow_nonfinite;

void rt_data_allow_nonfinite(int allow) { g_allow_nonfinite = allow; }
int rt_data_nonfinite_allowed(void) { return g_allow_nonfinite; }

int64_t rt_first_nonfinite(const RtArray *x, int64_t from, int64_t n) {
  if (!rt_dtype_is_float(x->dtype)) return -1;
  for (int64_t i = from; i < from + n && i < x->numel; i++)
    if (!isfinite(rt_dtype_get(x->dtype, x->data, i))) return i;
  return -1;
}

/* "FILE: offset N: sample S, position P" (a binary file) or "FILE:LINE:
 * sample S, position P" (a text file) for element i of x. */
static const char *place(const RtArray *x, int64_t i, char *buf, size_t size) {
  char where[RT_PATH_MAX + 32];
  int64_t per = x->dims[0] > 0 ? x->numel / x->dims[0] : 1;
  if (per < 1) per = 1;
  snprintf(buf, size, "%s: sample %lld, position %lld", rt_array_where(x, i, where, sizeof where),
           (long long)(i / per), (long long)(i % per));
  return buf;
}

int rt_check_finite(const RtArray *a, const char *what, RtError *e) {
  if (g_allow_nonfinite) return 0;
  int64_t i = rt_first_nonfinite(a, 0, a->numel);
  if (i < 0) return 0;
  char at[RT_PATH_MAX + 96];
  return rt_fail(e, RT_EXIT_USAGE,
                 "%s: %s is %g; %ss must be finite (clean the data, or give --allow-nonfinite to use it as it is)",
                 place(a, i, at, sizeof at), what, rt_dtype_get(a->dtype, a->data, i), what);
}

int rt_check_ids(const RtSession *s, const RtArray *x, RtError *e) {
  double bound = s->x_t->init_b;
  if (bound <= 0 || rt_dtype_is_float(x->dtype) || x->scale > 0) return 0;
  for (int64_t i = 0; i < x->numel; i++) {
    double v = rt_dtype_get(x->dtype, x->data, i);
    if (v >= 0 && v < bound) continue;
    char at[RT_PATH_MAX + 96];
    /* nnrt_fail_id's words, which this check now comes before */
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: input id %.17g is out of range for an embedding of %.17g rows (ids must be in [0, %.17g))",
                   place(x, i, at, sizeof at), v, bound, bound);
  }
  return 0;
}

int rt_check_labels(const RtSession *s, const RtArray *y, RtError *e) {
  int binary = rt_task_binary(s->m->task);
  if (s->m->task != NNRT_TASK_CLASSIFY && !binary) return 0;
  for (int64_t i = 0; i < y->numel; i++) {
    double v = rt_dtype_get(y->dtype, y->data, i);
    char at[RT_PATH_MAX + 96];
    if (binary && !(v == 0 || v == 1))
      return rt_fail(e, RT_EXIT_USAGE, "%s: label is %.17g, but model '%s' is a binary classifier (labels must be 0 or 1)",
                     place(y, i, at, sizeof at), v, s->m->name);
    char where[RT_PATH_MAX + 32]; /* the message tests and users know: label i is the sample's */
    if (!binary && !(v >= 0 && v < (double)s->classes))
      return rt_fail(e, RT_EXIT_USAGE,
                     "%s: label %lld is %.17g, but the model has %lld classes (labels must be in [0, %lld))",
                     rt_array_where(y, i, where, sizeof where), (long long)i, v, (long long)s->classes,
                     (long long)s->classes);
  }
  return 0;
}
