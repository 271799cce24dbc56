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
 * A CUDA binary refuses the flag (rt_main.c): its step functions call the
 * hook too, with device memory, but the runtime replays the step as a CUDA
 * Graph and the values would have to be downloaded kernel by kernel; not
 * done yet.
 *
 * The first non-finite value ends the process with exit 3 (RT_EXIT_NAN),
 * before anything later in the step runs, so no checkpoint is written with
 * it. Only f32 values are checked (the integer types cannot hold NaN). */
#include "rt_numerics.h"
#include "nnrt.h"
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

NnrtCheckHook nnrt_check_hook;

static struct {
  const char *prog; /* set by rt_numerics_request: --check-numerics was given */
  const RtSession *s;
  int globals_checked;
  int32_t last_fn, last_kernel;
  int64_t calls[3]; /* step function calls seen, per NNRT_FN_* */
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
  if (fn != g_num.last_fn || kernel <= g_num.last_kernel) g_num.calls[fn]++; /* a new call of the step */
  g_num.last_fn = fn;
  g_num.last_kernel = kernel;
  if (!g_num.globals_checked) {
    g_num.globals_checked = 1;
    check_globals(fn);
  }
  const NnrtKernel *k = &func_of(s->m, fn)->kernels[kernel];
  const NnrtWrite *v = &k->writes[w];
  if (v->dtype != NNRT_F32 || numel <= 0) return;
  const float *p = data;
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
