/* rt_report.c — per-kernel tables: `<prog> profile` prints one, and the
 * nnc driver (nnc bench) prints the fused and the unfused binary's with
 * this same code, so the two reports read alike. Plain formatting, no other
 * runtime module: the driver links it alone (with rt_json.c, rt_error.c). */
#include "nnrt.h"
#include <stdlib.h>
#include <string.h>

const char *rt_human(char *buf, size_t size, double v, const char *unit) {
  static const char prefix[] = " kMGTP";
  int p = 0;
  while (v >= 999.95 && p < 5)
    v /= 1000, p++;
  if (p == 0)
    snprintf(buf, size, "%.0f %s", v, unit);
  else
    snprintf(buf, size, "%.*f %c%s", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, prefix[p], unit);
  return buf;
}

int rt_kernel_memory_bound(const RtKernelRow *r) { return r->flops < RT_MEM_BOUND_INTENSITY * r->bytes; }

static double sum_ms(const RtKernelRow *rows, int n) {
  double s = 0;
  for (int i = 0; i < n; i++)
    s += rows[i].ms;
  return s;
}

/* "12.3 GB/s" or "209 GFLOP/s", and the triad percentage ("-" when the
 * kernel is compute-bound or took no measurable time). */
static void rates(const RtKernelRow *r, double triad_gbs, char *rate, size_t rsize, char *tri, size_t tsize) {
  snprintf(rate, rsize, "-");
  snprintf(tri, tsize, "-");
  if (!(r->ms > 0)) return;
  double secs = r->ms * 1e-3;
  if (rt_kernel_memory_bound(r)) {
    snprintf(rate, rsize, "%.1f GB/s", r->bytes / secs * 1e-9);
    if (triad_gbs > 0) snprintf(tri, tsize, "%.0f%%", 100 * r->bytes / secs * 1e-9 / triad_gbs);
  } else {
    snprintf(rate, rsize, "%.1f GFLOP/s", r->flops / secs * 1e-9);
  }
}

#define OPS_SHOWN 44

static void print_row(FILE *f, int nw, const char *name, const char *ops, double ms, double step_ms, const char *rate,
                      const char *tri, double bytes, double flops) {
  char b[32], fl[32], o[OPS_SHOWN + 4];
  size_t n = strlen(ops);
  if (n > OPS_SHOWN)
    snprintf(o, sizeof o, "%.*s...", OPS_SHOWN - 3, ops);
  else
    snprintf(o, sizeof o, "%s", ops);
  fprintf(f, "  %-*s %9.4f %6.1f%% %14s %6s %10s %10s  %s\n", nw, name, ms, step_ms > 0 ? 100 * ms / step_ms : 0.0,
          rate, tri, rt_human(b, sizeof b, bytes, "B"), rt_human(fl, sizeof fl, flops, ""), o);
}

static const RtKernelRow *g_sort_rows; /* qsort has no context argument */

static int by_time(const void *a, const void *b) {
  double x = g_sort_rows[*(const int *)a].ms, y = g_sort_rows[*(const int *)b].ms;
  return x < y ? 1 : x > y ? -1 : *(const int *)a - *(const int *)b;
}

void rt_kernels_by_time(const RtKernelRow *rows, int n, int *order) {
  for (int i = 0; i < n; i++)
    order[i] = i;
  g_sort_rows = rows;
  qsort(order, (size_t)n, sizeof *order, by_time);
}

void rt_print_kernels(FILE *f, const RtKernelRow *rows, int n, double step_ms, double triad_gbs, int top) {
  int *order = malloc(sizeof(int) * (size_t)(n + 1));
  if (!order) return;
  for (int i = 0; i < n; i++)
    order[i] = i;
  int shown = n;
  if (top > 0 && n > top) {
    rt_kernels_by_time(rows, n, order);
    shown = top;
  }
  int nw = (int)strlen("other (99999)"); /* the name column: the longest name */
  for (int i = 0; i < n; i++)
    if ((int)strlen(rows[i].name) > nw) nw = (int)strlen(rows[i].name);
  fprintf(f, "  %-*s %9s %7s %14s %6s %10s %10s  %s\n", nw, "kernel", "ms/step", "step", "rate", "triad", "bytes",
          "FLOPs", "ops");
  char rate[32], tri[16];
  for (int i = 0; i < shown; i++) {
    const RtKernelRow *r = &rows[order[i]];
    rates(r, triad_gbs, rate, sizeof rate, tri, sizeof tri);
    print_row(f, nw, r->name, r->ops, r->ms, step_ms, rate, tri, r->bytes, r->flops);
  }
  if (shown < n) {
    double ms = 0, bytes = 0, flops = 0;
    for (int i = shown; i < n; i++)
      ms += rows[order[i]].ms, bytes += rows[order[i]].bytes, flops += rows[order[i]].flops;
    char name[32];
    snprintf(name, sizeof name, "other (%d)", n - shown);
    print_row(f, nw, name, "", ms, step_ms, "", "", bytes, flops);
  }
  double bytes = 0, flops = 0;
  for (int i = 0; i < n; i++)
    bytes += rows[i].bytes, flops += rows[i].flops;
  print_row(f, nw, "all kernels", "", sum_ms(rows, n), step_ms, "", "", bytes, flops);
  free(order);
}
