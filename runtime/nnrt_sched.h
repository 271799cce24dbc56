/* nnrt_sched.h — nnrt_sched.def's rows as tables, and the range check of a
 * parameter's value, shared by the compiler (frontend/train.c: errors with
 * carets) and the runtime (rt_sched.c: --schedule, --early-stop and the
 * compiled model's text), so both accept exactly the same values with the
 * same words. Only those two files include it: the tables are static. */
#ifndef NNRT_SCHED_H
#define NNRT_SCHED_H
#include "nnrt_sched.def"
#include <math.h>
#include <stdio.h>

enum { NNRT_SPEC_T_INT, NNRT_SPEC_T_NUM, NNRT_SPEC_T_OPEN, NNRT_SPEC_T_MONITOR };
enum {
#define K(id, name) NNRT_SPEC_##id,
  NNRT_SPEC_KINDS(K)
#undef K
      NNRT_SPEC_NKINDS
};

static const char *const nnrt_spec_kinds[] = {
#define K(id, name) name,
    NNRT_SPEC_KINDS(K)
#undef K
};

typedef struct NnrtSpecParam {
  int kind; /* NNRT_SPEC_<kind id> */
  const char *name;
  int type; /* NNRT_SPEC_T_* */
  const char *def;
  double lo, hi;
} NnrtSpecParam;

static const NnrtSpecParam nnrt_spec_params[] = {
#define P(kind, name, type, def, lo, hi) {NNRT_SPEC_##kind, name, NNRT_SPEC_T_##type, def, lo, hi},
    NNRT_SPEC_PARAMS(P)
#undef P
};
#define NNRT_SPEC_NPARAMS ((int)(sizeof nnrt_spec_params / sizeof *nnrt_spec_params))

static const struct {
  const char *name;
  int higher_better;
} nnrt_metrics[] = {
#define M(name, hb) {name, hb},
    NNRT_METRICS(M)
#undef M
};
#define NNRT_NMETRICS ((int)(sizeof nnrt_metrics / sizeof *nnrt_metrics))

/* 0 when v is a valid value of the numeric parameter p; else -1 and a
 * message ("warmup must be an integer from 0 to ..., got 2.5") in buf. */
static inline int nnrt_spec_check(const NnrtSpecParam *p, double v, char *buf, size_t size) {
  switch (p->type) {
  case NNRT_SPEC_T_INT:
    if (v >= p->lo && v <= p->hi && v == floor(v)) return 0;
    snprintf(buf, size, "%s must be an integer from %.0f to %.0f, got %g", p->name, p->lo, p->hi, v);
    return -1;
  case NNRT_SPEC_T_NUM:
    if (v >= p->lo && v <= p->hi) return 0;
    snprintf(buf, size, "%s must be %g or more, got %g", p->name, p->lo, v);
    return -1;
  default: /* NNRT_SPEC_T_OPEN */
    if (v > p->lo && v < p->hi) return 0;
    if (p->hi >= 1e300)
      snprintf(buf, size, "%s must be positive, got %g", p->name, v);
    else
      snprintf(buf, size, "%s must be in (%g, %g), got %g", p->name, p->lo, p->hi, v);
    return -1;
  }
}
#endif
