/* rt_numerics.c — `train --check-numerics`, `eval --check-numerics`: the
 * first NaN or Inf a step computes, named with its op and .nn source line.
 *
 * The step functions call nnrt_check_hook (nnrt_abi.h) after each kernel,
 * once per value the kernel wrote to memory (a workspace tensor, an output,
 * a global updated in place), while that memory still holds the value: the
 * memory plan reuses workspace slots, so a check after the step would read
 * whatever was planned there last. The values checked are the kernels'
 * exports; a value computed and consumed inside one fused kernel never
 * reaches memory, and the message then names the fused kernel's first
 * exported value and the ops the kernel computes (nnc build --no-fuse makes
 * every op a kernel of its own). Before the first step the globals are
 * checked as loaded (a checkpoint or --init file with NaN in it).
 *
 * A CUDA binary's step functions call the hook too, with device memory,
 * right after enqueuing the kernel: the hook downloads the value through the
 * session's device (RtDevice.download waits for the work enqueued so far,
 * so the kernel has run) and checks the host copy, with the same message.
 * While the hook is set the CUDA runtime runs each step eagerly, never as a
 * CUDA Graph replay, so that the hook runs after each kernel (rt_cuda.c);
 * the emulated device (rt_cuemu.c) runs a step only when it is waited for,
 * and then kernel by kernel, so the hook sees each value as it is written
 * there too.
 *
 * The first non-finite value ends the process with exit 3 (RT_EXIT_NAN),
 * before anything later in the step runs, so no checkpoint is written with
 * it. Only f32 values are checked (the integer types cannot hold NaN). */
#include "rt_numerics.h"
#include "nnrt.h"
#include "rt_device.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

NnrtCheckHook nnrt_check_hook;

static struct {
  const char *prog; /* set by rt_numerics_request: --check-numerics was given */
  const RtSession *s;
  int globals_checked;
  int32_t last_fn, last_kernel, last_write; /* the hook's previous call */
  int64_t calls[3]; /* step function calls seen, per NNRT_FN_* */
  float *host;      /* a CUDA session: the value being checked, downloaded */
  size_t host_cap;  /* elements */
} g_num = {.last_fn = -1};

static const NnrtFunc *func_of(const NnrtModel *m, int32_t fn) {
  return fn == NNRT_FN_FORWARD ? &m->forward : fn == NNRT_FN_EVAL ? &m->eval_step : &m->train_step;
}

/* "train_step at global step 12", "eval_step call 3". */
static void where(char *buf, size_t size, int32_t fn) {
  const RtSession *s = g_num.s;
  const char *name = func_of(s->m, fn)->name;
  if (fn == NNRT_FN_TRAIN && s->step >= 0)
    snprintf(buf, size, "%s at global step %" PRId64, name, s->step);
  else
    snprintf(buf, size, "%s call %" PRId64 " of this run", name, g_num.calls[fn]);
}

static void die(const char *fmt, ...) RT_PRINTF(1, 2);
static void die(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s: error: --check-numerics: ", g_num.prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(RT_EXIT_NAN);
}

/* Index of the first NaN or Inf of p[0, n), or -1: the exponent bits all
 * ones (integer compares, so fast-math can never fold it away). */
static int64_t first_nonfinite(const float *p, int64_t n) {
  const uint32_t *u = (const uint32_t *)(const void *)p;
  for (int64_t i = 0; i < n; i++)
    if ((u[i] & 0x7f800000u) == 0x7f800000u) return i;
  return -1;
}

/* The n floats at data, on the host: data itself in a CPU session; a CUDA
 * session's device value downloaded, which waits for the kernels enqueued
 * before (the one that wrote it). A device error met there (a kernel that
 * failed) is the run's error, reported as the session would. */
static const float *on_host(const void *data, int64_t n) {
  const RtSession *s = g_num.s;
  if (!s->dev) return data;
  RtError e = {0};
  if ((size_t)n > g_num.host_cap) {
    float *p = realloc(g_num.host, (size_t)n * sizeof *p);
    if (!p)
      rt_fail(&e, RT_EXIT_FAIL, "out of memory: --check-numerics needs %lld bytes to download a value",
              (long long)n * (long long)sizeof *p);
    else
      g_num.host = p, g_num.host_cap = (size_t)n;
  }
  if (!e.code && !s->dev->download(g_num.host, data, (size_t)n * sizeof *g_num.host, &e)) return g_num.host;
  fflush(stdout);
  fprintf(stderr, "%s: error: %s\n", g_num.prog, e.msg);
  exit(e.code);
}

static void check_globals(int32_t fn) {
  const RtSession *s = g_num.s;
  int32_t k = rt_globals_find_nonfinite(&s->g, s->m);
  if (k < 0) return;
  char at[96];
  where(at, sizeof at, fn);
  die("global '%s' holds non-finite values before %s (as loaded or initialised: check the --checkpoint, --init or "
      "--resume file)",
      s->m->globals[k].name, at);
}

static void hook(int32_t fn, int32_t kernel, int32_t w, const void *data, int64_t numel) {
  const RtSession *s = g_num.s;
  /* A new call of the step: back to an earlier value (a kernel may write several) */
  if (fn != g_num.last_fn || kernel < g_num.last_kernel || (kernel == g_num.last_kernel && w <= g_num.last_write))
    g_num.calls[fn]++;
  g_num.last_fn = fn;
  g_num.last_kernel = kernel;
  g_num.last_write = w;
  if (!g_num.globals_checked) {
    g_num.globals_checked = 1;
    check_globals(fn);
  }
  const NnrtKernel *k = &func_of(s->m, fn)->kernels[kernel];
  const NnrtWrite *v = &k->writes[w];
  if (v->dtype != NNRT_F32 || numel <= 0) return;
  const float *p = on_host(data, numel);
  int64_t i = first_nonfinite(p, numel);
  if (i < 0) return;
  char at[96], src[320] = "no .nn source line (a value the compiler added, such as the optimizer's)";
  where(at, sizeof at, fn);
  if (v->file) snprintf(src, sizeof src, "%s:%d:%d", v->file, v->line, v->col);
  char what[200];
  if (v->global >= 0)
    snprintf(what, sizeof what, "global '%s', as updated by %s", v->name, v->op);
  else
    snprintf(what, sizeof what, "'%s' = %s", v->name, v->op);
  die("%s at %s is the first non-finite value of %s: element %" PRId64 " of %" PRId64 " is %s (kernel %s, which "
      "computes %s)",
      what, src, at, i, numel,
      p[i] != p[i] ? "NaN"
      : p[i] > 0   ? "+Inf"
                   : "-Inf",
      k->name, k->ops);
}

void rt_numerics_request(const char *prog) { g_num.prog = prog; }

void rt_numerics_attach(const RtSession *s) {
  if (!g_num.prog) return;
  g_num.s = s;
  nnrt_check_hook = hook;
}
