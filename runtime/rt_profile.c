/* rt_profile.c — `profile`: where a training step's time goes, kernel by
 * kernel, and what fraction of the machine's memory bandwidth it reaches.
 *
 * The loop is bench's (rt_bench.c): warm-up steps, then `--steps` steps
 * timed as `bench` times them (ms per step), alternating with as many steps
 * with nnrt_prof_hook set, so that the step functions time every kernel
 * (nnrt_abi.h). Kernels run one at a time on the calling thread (each
 * parallel loop joins before the next kernel starts), so a kernel's time is
 * the wall time between its hook calls. Bytes and FLOPs come from the
 * model's kernel table, evaluated for the batch; the triad is measured last,
 * after the peak resident size is read, so its arrays do not count.
 *
 * The hook is process-wide because the generated code reaches it by name. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

NnrtProfHook nnrt_prof_hook;

enum { PROF_WARMUP_MAX = 10, PROF_DEFAULT_STEPS = 50, TRIAD_RUNS = 5 };
#define TRIAD_MIN_BYTES ((int64_t)32 << 20) /* per array, when no cache size is known */

static struct {
  int32_t fn, n;
  double *start, *secs;
} g_prof;

static void prof_hook(int32_t fn, int32_t k, int32_t end) {
  double t = rt_now();
  if (fn != g_prof.fn || k < 0 || k >= g_prof.n) return;
  if (end)
    g_prof.secs[k] += t - g_prof.start[k];
  else
    g_prof.start[k] = t;
}

/* A cost polynomial of the kernel table for the bound syms. */
static double cost(const NnrtTerm *t, int32_t n, const int64_t *syms, int32_t nsyms) {
  double s = 0;
  for (int32_t i = 0; i < n; i++) {
    double v = t[i].c;
    for (int32_t k = 0; k < nsyms && k < NNRT_MAX_SYMS; k++)
      for (int e = 0; e < t[i].e[k]; e++)
        v *= (double)syms[k];
    s += v;
  }
  return s;
}

/* ---- triad ---- */

typedef struct Triad {
  float *a, *b, *c;
  float s;
} Triad;

static void triad_body(void *ctx, int64_t lo, int64_t hi) {
  Triad *t = ctx;
  float *restrict a = t->a;
  const float *restrict b = t->b, *restrict c = t->c;
  float s = t->s;
  for (int64_t i = lo; i < hi; i++)
    a[i] = b[i] + s * c[i];
}

/* Size of the highest cache level (sysfs, "266240K"), 0 if unknown. */
static int64_t llc_bytes(void) {
  int64_t best = 0;
  int best_level = 0;
  for (int i = 0; i < 10; i++) {
    char path[96], text[32];
    int level = 0;
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
    FILE *f = fopen(path, "r");
    if (!f) break;
    if (fscanf(f, "%d", &level) != 1) level = 0;
    fclose(f);
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
    if (!(f = fopen(path, "r"))) continue;
    long long v = 0;
    char unit = 0;
    if (fgets(text, sizeof text, f) && sscanf(text, "%lld%c", &v, &unit) >= 1 && level >= best_level) {
      best_level = level;
      best = v * (unit == 'K' ? 1024 : unit == 'M' ? 1 << 20 : unit == 'G' ? 1 << 30 : 1);
    }
    fclose(f);
  }
  return best;
}

double rt_triad_gbs(int64_t *array_bytes) {
  /* Each array at least the last-level cache, so that a run cannot be
   * served from it (STREAM asks for 4x; 3 arrays of 1x already stream). */
  int64_t per = llc_bytes();
  if (per < TRIAD_MIN_BYTES) per = TRIAD_MIN_BYTES;
  int64_t n = per / (int64_t)sizeof(float);
  *array_bytes = n * (int64_t)sizeof(float);
  /* rt_alloc: zeroed (so every page is there before the clock starts),
   * on huge pages where the kernel offers them, like the model's buffers. */
  Triad t = {rt_alloc((size_t)*array_bytes, "triad", NULL), rt_alloc((size_t)*array_bytes, "triad", NULL),
             rt_alloc((size_t)*array_bytes, "triad", NULL), 3};
  double best = 0;
  if (t.a && t.b && t.c) {
    int64_t grain = n / (4 * rt_pool_threads()) + 1;
    for (int r = 0; r < TRIAD_RUNS; r++) {
      double t0 = rt_now();
      nnrt_parallel_for(triad_body, &t, n, grain);
      double secs = rt_now() - t0;
      if (secs > 0 && (best == 0 || secs < best)) best = secs;
    }
  }
  rt_free(t.a), rt_free(t.b), rt_free(t.c);
  return best > 0 ? 3.0 * (double)*array_bytes / best * 1e-9 : 0;
}

/* ---- the report ---- */

typedef struct Report {
  const NnrtModel *m;
  int64_t batch, steps, warmup;
  double ms, prof_ms, kernel_ms, samples_s, calls;
  int64_t peak_rss, workspace, triad_array;
  double triad;
  RtKernelRow *rows;
  int n;
} Report;

static void print_json(const Report *r) {
  printf("{\"model\": ");
  rt_json_write_str(stdout, r->m->name);
  printf(", \"function\": \"train_step\", \"batch\": %" PRId64 ", \"threads\": %d, \"steps\": %" PRId64
         ", \"warmup_steps\": %" PRId64 ",\n",
         r->batch, rt_pool_threads(), r->steps, r->warmup);
  printf(" \"ms_per_step\": %.6g, \"profiled_ms_per_step\": %.6g, \"kernel_ms_per_step\": %.6g, "
         "\"samples_per_s\": %.6g,\n",
         r->ms, r->prof_ms, r->kernel_ms, r->samples_s);
  printf(" \"kernels_per_step\": %.0f, \"kernels_in_table\": %d, \"peak_rss_bytes\": %" PRId64
         ", \"workspace_bytes\": %" PRId64 ",\n",
         r->calls, r->n, r->peak_rss, r->workspace);
  printf(" \"triad_gbs\": %.6g, \"triad_array_bytes\": %" PRId64 ", \"memory_bound_below_flops_per_byte\": %g,\n",
         r->triad, r->triad_array, RT_MEM_BOUND_INTENSITY);
  printf(" \"kernels\": [");
  for (int i = 0; i < r->n; i++) {
    const RtKernelRow *k = &r->rows[i];
    double secs = k->ms * 1e-3;
    int mem = rt_kernel_memory_bound(k);
    printf("%s\n  {\"name\": ", i ? "," : "");
    rt_json_write_str(stdout, k->name);
    printf(", \"ops\": ");
    rt_json_write_str(stdout, k->ops);
    printf(", \"bytes\": %.0f, \"flops\": %.0f, \"calls\": %.0f, \"ms\": %.6g, \"memory_bound\": %s", k->bytes,
           k->flops, k->calls, k->ms, mem ? "true" : "false");
    if (secs > 0) {
      printf(", \"gbs\": %.6g, \"gflops\": %.6g", k->bytes / secs * 1e-9, k->flops / secs * 1e-9);
      if (mem && r->triad > 0) printf(", \"triad_fraction\": %.4g", k->bytes / secs * 1e-9 / r->triad);
    }
    printf("}");
  }
  printf("\n ]}\n");
}

static void print_table(const Report *r) {
  char rss[32], ws[32], arr[32];
  printf("profile of %s train_step: batch %" PRId64 ", %d threads, %" PRId64 " timed steps after %" PRId64
         " warm-up steps\n",
         r->m->name, r->batch, rt_pool_threads(), r->steps, r->warmup);
  printf("  step     %.4f ms, %.0f samples/s (with timers %.4f ms, of which kernels %.4f ms)\n", r->ms, r->samples_s,
         r->prof_ms, r->kernel_ms);
  printf("  kernels  %.0f calls per step (%d in train_step's table; a scan calls its body's)\n", r->calls, r->n);
  printf("  memory   peak resident %s, train_step workspace %s\n", rt_human(rss, sizeof rss, (double)r->peak_rss, "B"),
         rt_human(ws, sizeof ws, (double)r->workspace, "B"));
  printf("  triad    %.1f GB/s (3 arrays of %s, %d threads)\n\n", r->triad,
         rt_human(arr, sizeof arr, (double)r->triad_array, "B"), rt_pool_threads());
  rt_print_kernels(stdout, r->rows, r->n, r->prof_ms, r->triad, 0);
}

int rt_profile(const NnrtModel *m, const RtOptions *o, RtError *e) {
  const NnrtFunc *f = &m->train_step;
  RtBench b;
  Report r = {.m = m, .steps = o->steps > 0 ? o->steps : PROF_DEFAULT_STEPS};
  r.warmup = r.steps < PROF_WARMUP_MAX ? r.steps : PROF_WARMUP_MAX;
  double *start = NULL, *secs = NULL, warm, t, pt;
  int rc = -1;
  if (rt_bench_open(&b, m, o, e)) goto out;
  int32_t n = f->n_kernels;
  if (!(start = rt_alloc(sizeof(double) * (size_t)(n + 1), "kernel timers", e)) ||
      !(secs = rt_alloc(sizeof(double) * (size_t)(n + 1), "kernel timers", e)) ||
      !(r.rows = rt_alloc(sizeof(RtKernelRow) * (size_t)(n + 1), "kernel rows", e)))
    goto out;
  if (rt_bench_steps(&b, r.warmup, &warm, e)) goto out;
  /* Steps with and without timers alternate, so that both see the same
   * machine (a busy neighbour slows both, not one). */
  g_prof.fn = NNRT_FN_TRAIN, g_prof.n = n, g_prof.start = start, g_prof.secs = secs;
  t = pt = 0;
  for (int64_t k = 0; k < 2 * r.steps; k++) {
    double dt;
    nnrt_prof_hook = k % 2 ? prof_hook : NULL;
    int bad = rt_bench_steps(&b, 1, &dt, e);
    nnrt_prof_hook = NULL;
    if (bad) goto out;
    *(k % 2 ? &pt : &t) += dt;
  }

  struct rusage ru;
  r.peak_rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (int64_t)ru.ru_maxrss * 1024 : 0; /* Linux: KiB */
  const int64_t *syms = b.s.syms;
  r.batch = b.batch;
  r.workspace = f->workspace_size(syms);
  r.ms = t * 1e3 / (double)r.steps;
  r.prof_ms = pt * 1e3 / (double)r.steps;
  r.samples_s = (double)(r.steps * b.batch) / t;
  r.n = n;
  for (int32_t i = 0; i < n; i++) {
    const NnrtKernel *k = &f->kernels[i];
    const NnrtTerm *tm = k->terms;
    RtKernelRow *row = &r.rows[i];
    row->name = k->name;
    row->ops = k->ops;
    row->bytes = cost(tm, k->n_bytes, syms, m->n_syms);
    row->flops = cost(tm + k->n_bytes, k->n_flops, syms, m->n_syms);
    row->calls = cost(tm + k->n_bytes + k->n_flops, k->n_calls, syms, m->n_syms);
    row->ms = secs[i] * 1e3 / (double)r.steps;
    r.calls += row->calls;
    r.kernel_ms += row->ms;
  }
  r.triad = rt_triad_gbs(&r.triad_array);
  if (o->json)
    print_json(&r);
  else
    print_table(&r);
  rc = 0;
out:
  rt_free(start);
  rt_free(secs);
  rt_free(r.rows);
  rt_bench_close(&b);
  return rc ? e->code : RT_EXIT_OK;
}
