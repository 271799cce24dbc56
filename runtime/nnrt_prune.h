/* nnrt_prune.h — the pruning spec: nnc's --prune=SPEC, and its canonical
 * text in the compiled model (NnrtModel.prune). The compiler parses it to
 * check the option and to write the canonical text (passes/prune.c), the
 * runtime to run the schedule (rt_prune.c), so both read it with this one
 * parser. Header-only (static inline), like nnrt_sched.h.
 *
 *   unstructured:S[,start=N][,end=N][,every=N][,params=GLOB|GLOB...]
 *   structured:R
 *
 * S, R in (0, 1): the final sparsity (the fraction of each pruned weight set
 * to zero), the fraction of units removed. start, end, every: a number of
 * training steps (an integer, 500), or a fraction of the run's total steps
 * (--epochs x steps per epoch, known only at run time) written with a
 * decimal point (0.75). Defaults: start=0, end=0.75, every=0.01 (masks
 * recomputed 75 times over the first three quarters of training). params:
 * '|'-separated globs (fnmatch) of the parameter names to prune; the
 * default is every weight a matmul or conv2d reads but those under 1 % of
 * the largest one's size (passes/prune.c). */
#ifndef NNRT_PRUNE_H
#define NNRT_PRUNE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A point or length on the step axis: v steps, or v x total steps (frac). */
typedef struct NnrtPruneAt {
  double v;
  int frac;
} NnrtPruneAt;

typedef struct NnrtPruneSpec {
  int structured;   /* structured:R (only `sparsity` is set) */
  double sparsity;  /* S or R */
  NnrtPruneAt start, end, every;
  char params[512]; /* "" for the default */
} NnrtPruneSpec;

/* One "key=value" number of the spec text at s[0..n): 0, or -1 with a
 * message. */
static inline int nnrt_prune_at(const char *text, const char *key, const char *s, size_t n, NnrtPruneAt *out, char *err,
                                size_t size) {
  char buf[64], *end;
  if (n == 0 || n >= sizeof buf) {
    snprintf(err, size, "--prune=%s: %s needs a number of steps or a fraction of training, like %s=1000 or %s=0.5", text,
             key, key, key);
    return -1;
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  out->frac = strpbrk(buf, ".eE") != NULL;
  out->v = strtod(buf, &end);
  int every = !strcmp(key, "every");
  if (*end || !(out->v >= 0) || (out->frac && out->v > 1) || (!out->frac && out->v > 1e15) ||
      (every && !(out->v > 0))) {
    snprintf(err, size,
             "--prune=%s: %s=%s: expected a whole number of steps%s, or a fraction of training from 0 to 1 written "
             "with a decimal point",
             text, key, buf, every ? " (at least 1)" : "");
    return -1;
  }
  return 0;
}

/* Parses text into *p: 0, or -1 with the message in err. */
static inline int nnrt_prune_parse(const char *text, NnrtPruneSpec *p, char *err, size_t size) {
  memset(p, 0, sizeof *p);
  p->end = (NnrtPruneAt){0.75, 1};
  p->every = (NnrtPruneAt){0.01, 1};
  const char *s = text;
  if (!strncmp(s, "unstructured:", 13)) {
    s += 13;
  } else if (!strncmp(s, "structured:", 11)) {
    p->structured = 1;
    s += 11;
  } else {
    snprintf(err, size, "--prune=%s: expected unstructured:S or structured:R, like --prune=unstructured:0.9", text);
    return -1;
  }
  char *end;
  size_t n = strcspn(s, ",");
  p->sparsity = strtod(s, &end);
  if (n == 0 || end != s + n || !(p->sparsity > 0 && p->sparsity < 1)) {
    snprintf(err, size, "--prune=%s: the %s must be a number between 0 and 1 (exclusive), like 0.9", text,
             p->structured ? "fraction of units to remove" : "sparsity");
    return -1;
  }
  s += n;
  unsigned seen = 0;
  while (*s == ',') {
    s++;
    n = strcspn(s, ",");
    size_t k = strcspn(s, "=");
    static const char *const keys[] = {"start", "end", "every", "params"};
    int key = 0;
    while (key < 4 && !(k == strlen(keys[key]) && k < n && !strncmp(s, keys[key], k)))
      key++;
    if (key == 4) {
      snprintf(err, size, "--prune=%s: unknown setting '%.*s' (expected start=, end=, every= or params=)", text, (int)n,
               s);
      return -1;
    }
    if (p->structured) {
      snprintf(err, size, "--prune=%s: structured pruning takes no %s=", text, keys[key]);
      return -1;
    }
    if (seen & (1u << key)) {
      snprintf(err, size, "--prune=%s: %s= is given twice", text, keys[key]);
      return -1;
    }
    seen |= 1u << key;
    const char *v = s + k + 1;
    size_t vn = n - k - 1;
    if (key == 3) {
      if (vn == 0 || vn >= sizeof p->params) {
        snprintf(err, size, "--prune=%s: params= needs globs of parameter names, like params=dense_*.w", text);
        return -1;
      }
      memcpy(p->params, v, vn);
      p->params[vn] = '\0';
    } else {
      NnrtPruneAt *at[] = {&p->start, &p->end, &p->every};
      if (nnrt_prune_at(text, keys[key], v, vn, at[key], err, size)) return -1;
    }
    s += n;
  }
  if (*s) {
    snprintf(err, size, "--prune=%s: unexpected '%s'", text, s);
    return -1;
  }
  if (p->start.frac == p->end.frac && p->start.v >= p->end.v) {
    snprintf(err, size, "--prune=%s: start must come before end", text);
    return -1;
  }
  return 0;
}

/* "0.75" for a fraction (always with a point, so it reads back as one),
 * "500" for steps. */
static inline void nnrt_prune_at_format(const NnrtPruneAt *a, char *buf, size_t size) {
  int n = snprintf(buf, size, "%.9g", a->v);
  if (a->frac && !strpbrk(buf, ".eE") && n > 0 && (size_t)n + 2 < size) strcat(buf, ".0");
}

/* The canonical text of p (every setting, defaults included): what the
 * compiled model holds. */
static inline void nnrt_prune_format(const NnrtPruneSpec *p, char *buf, size_t size) {
  if (p->structured) {
    snprintf(buf, size, "structured:%.9g", p->sparsity);
    return;
  }
  char a[3][40];
  nnrt_prune_at_format(&p->start, a[0], sizeof a[0]);
  nnrt_prune_at_format(&p->end, a[1], sizeof a[1]);
  nnrt_prune_at_format(&p->every, a[2], sizeof a[2]);
  int n = snprintf(buf, size, "unstructured:%.9g,start=%s,end=%s,every=%s", p->sparsity, a[0], a[1], a[2]);
  if (p->params[0] && n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, ",params=%s", p->params);
}

#endif
