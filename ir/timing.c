/* timing.c — see timing.h. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_MONOTONIC */
#include "timing.h"

#include <string.h>
#include <time.h>

double timing_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void timing_add(Timings *t, const char *name, double secs) {
  if (!t) return;
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->names[i], name)) {
      t->secs[i] += secs;
      return;
    }
  if (t->n == TIMING_MAX_ROWS) return; /* more phases than any pipeline has */
  t->names[t->n] = name;
  t->secs[t->n++] = secs;
}

void timing_print(FILE *out, const Timings *t) {
  double total = 0;
  for (int i = 0; i < t->n; i++) total += t->secs[i];
  fprintf(out, "===-- pass timing (wall) --===\n%12s %7s  %s\n", "seconds", "%", "pass");
  for (int i = 0; i < t->n; i++)
    fprintf(out, "%12.6f %6.1f%%  %s\n", t->secs[i], total > 0 ? 100 * t->secs[i] / total : 0.0, t->names[i]);
  fprintf(out, "%12.6f %6.1f%%  total\n", total, 100.0);
}
