/* timing.h — wall-clock time per phase of a build, for --time-passes.
 *
 * One table for the whole of `nnc build`: the front end, each pass of the
 * pipeline, and the backend's phases (LLVM IR, optimisation, machine code,
 * NVRTC, linking), so a user sees where build time goes, not only the
 * passes' few milliseconds. Whoever owns a phase adds its row; the driver
 * prints the table once at the end. A NULL table records nothing, so a
 * phase can time itself unconditionally. */
#ifndef NNC_TIMING_H
#define NNC_TIMING_H
#include <stdio.h>

#define TIMING_MAX_ROWS 64

typedef struct Timings {
  int n;
  const char *names[TIMING_MAX_ROWS]; /* static strings */
  double secs[TIMING_MAX_ROWS];
} Timings;

/* Seconds on a monotonic clock. */
double timing_now(void);
/* Adds secs to the row called name (a new row the first time). */
void timing_add(Timings *t, const char *name, double secs);
/* The rows in the order they were first added, with their share, and the
 * total. */
void timing_print(FILE *out, const Timings *t);

#endif
