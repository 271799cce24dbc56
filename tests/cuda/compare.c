/* compare.c — a CUDA binary's emulated kernels against the CPU backend.
 *
 *   cuda_compare [options] CPU.so CUDA.so
 *
 * CPU.so is a model's CPU object (nnc build --emit=obj) as a shared object;
 * CUDA.so the same model's CUDA host object (--target=cuda --emit=obj), its
 * kernel source compiled for the host with tests/cuda/emu.h, and
 * libnnrt_cuemu.a (compare.sh makes both). This program dlopens the two,
 * gives them the same globals (the model's initialisers, one seed) and the
 * same random inputs, and runs forward, eval_step and then --steps
 * train_steps on each (globals carry over, each side its own copy; the CUDA
 * side through rt_cuda_device, the emulation). After every call it compares
 * every output, and after every train_step every global: floats within
 * --tol relative to the tensor's largest magnitude (max |cpu - cuda| /
 * max |cpu|: an element that a sum cancels to almost nothing carries the
 * rounding of its terms, in any order of summation; a wrong index or a lost
 * term shows at the scale of the tensor), integers exactly. One line per tensor: ok/FAIL, the largest
 * error and where. Exit 0 when everything matches.
 *
 * CUDA.so may also be a CPU object: the harness then checks itself (two
 * CPU builds agree exactly).
 *
 * Options: --steps N (default 3), --tol T (default 1e-5), --sym NAME=V
 * (default 3 for every symbolic dim), --int-max K (integer inputs are drawn
 * from [0, K); default 2: valid class labels and token ids for any model),
 * --seed S, --lr X (train_step's learning rate, default 1e-3), --skip GLOB
 * (globals whose names match are not compared; repeatable), --nan-every K
 * (every K-th element of each float input, but lr, is NaN: the kernels'
 * NaN rules against the CPU's). */
#include <dlfcn.h>
#include <fnmatch.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnrt.h"
#include "rt_device.h"

/* The runtime's entry points the models' objects call, kept in this
 * executable (linked with ENABLE_EXPORTS) for dlopen to bind them. */
typedef void (*Entry)(void);
const Entry cuda_compare_runtime_entries[] = {
    (Entry)nnrt_sgemm,          (Entry)nnrt_sgemm_batch, (Entry)nnrt_sgemm_ep, (Entry)nnrt_parallel_for,
    (Entry)nnrt_parallel_multi, (Entry)nnrt_fail_label,  (Entry)nnrt_fail_id,
};

typedef struct Side {
  const char *path;
  void *dl;
  const NnrtModel *m;
  const RtDevice *dev; /* the emulated device, or NULL: a CPU object */
  RtGlobals g;         /* host copies of its globals */
  void **dglob;        /* the globals where its functions see them */
} Side;

typedef struct Opts {
  int steps;
  double tol;
  int int_max;
  int nan_every; /* > 0: every nan_every-th float input element is NaN */
  uint64_t seed;
  double lr;
  int64_t syms[NNRT_MAX_SYMS];
  const char *skip[8]; /* --skip: globals not compared (fnmatch patterns) */
  int nskip;
} Opts;

static int failures, checks;

static void die(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "cuda_compare: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n");
  exit(1);
}

static void open_side(Side *s, const char *path) {
  s->path = path;
  s->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!s->dl) die("cannot load %s: %s", path, dlerror());
  s->m = dlsym(s->dl, "nnrt_model");
  if (!s->m) die("%s has no nnrt_model%s", path, "");
  if (s->m->abi_version != NNRT_ABI_VERSION) die("%s: ABI version mismatch%s", path, "");
  s->dev = NULL;
  if (s->m->cuda) {
    s->dev = dlsym(s->dl, "rt_cuda_device");
    if (!s->dev) die("%s is a CUDA binary without rt_cuda_device (link libnnrt_cuemu.a)%s", path, "");
  }
}

static int64_t numel(const NnrtTensor *t, const int64_t *syms) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->dims[i] < 0 ? syms[-t->dims[i] - 1] : t->dims[i];
  return n;
}

static size_t bytes_of(const NnrtTensor *t, const int64_t *syms) {
  return (size_t)numel(t, syms) * rt_dtype_size(t->dtype);
}

static void *xalloc(size_t n) {
  void *p = aligned_alloc(256, (n + 255) / 256 * 256 + 256);
  if (!p) die("out of memory%s%s", "", "");
  memset(p, 0, (n + 255) / 256 * 256 + 256);
  return p;
}

/* Device memory of side s holding the n bytes at host (or fresh zeros). */
static void *to_side(Side *s, const void *host, size_t n) {
  RtError e = {0};
  if (!s->dev) {
    void *p = xalloc(n);
    if (host) memcpy(p, host, n);
    return p;
  }
  void *p = s->dev->alloc(n ? n : 1, "a buffer", &e);
  if (!p) die("%s: %s", s->path, e.msg);
  if (host && s->dev->upload(p, host, n, &e)) die("%s: %s", s->path, e.msg);
  if (!host) {
    void *z = xalloc(n);
    if (s->dev->upload(p, z, n, &e)) die("%s: %s", s->path, e.msg);
    free(z);
  }
  return p;
}

static void from_side(Side *s, void *host, const void *p, size_t n) {
  RtError e = {0};
  if (!s->dev) memcpy(host, p, n);
  else if (s->dev->download(host, p, n, &e)) die("%s: %s", s->path, e.msg);
}

static void free_side(Side *s, void *p) {
  if (s->dev) s->dev->free(p);
  else free(p);
}

/* Compares tensor `what` (n elements of dtype) of the two sides. */
static void compare(const char *what, int32_t dtype, int64_t n, const void *cpu, const void *cu, double tol) {
  checks++;
  int64_t worst = -1;
  double worst_err = 0, big = 0;
  if (dtype == NNRT_F32) {
    const float *a = cpu, *b = cu;
    for (int64_t i = 0; i < n; i++)
      if (fabs(a[i]) > big) big = fabs(a[i]);
    for (int64_t i = 0; i < n; i++) {
      double err = fabs((double)a[i] - b[i]) / fmax(big, 1e-30);
      if (isnan(a[i]) != isnan(b[i])) err = INFINITY;
      if (isnan(a[i]) && isnan(b[i])) err = 0;
      if (err > worst_err || worst < 0) worst_err = err, worst = i;
    }
    bool ok = worst_err <= tol;
    if (!ok) failures++;
    printf("%s %-48s max rel err %.2g", ok ? "ok  " : "FAIL", what, worst_err);
    if (!ok) printf(" at [%lld]: cpu %.9g, cuda %.9g", (long long)worst, a[worst], b[worst]);
    printf("\n");
    return;
  }
  size_t sz = rt_dtype_size(dtype);
  for (int64_t i = 0; i < n; i++)
    if (memcmp((const char *)cpu + i * sz, (const char *)cu + i * sz, sz)) {
      worst = i;
      break;
    }
  if (worst >= 0) failures++;
  printf("%s %-48s %s", worst < 0 ? "ok  " : "FAIL", what, worst < 0 ? "equal" : "differs");
  if (worst >= 0) printf(" first at [%lld]", (long long)worst);
  printf("\n");
}

/* One input's data, shared by both sides and by every function that takes
 * an input of that name. */
typedef struct Input {
  const char *name;
  void *host;
  size_t bytes;
} Input;

static uint64_t rng;
static double urand(void) { /* xorshift64* */
  rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
  return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static const Input *input_for(Input *ins, int *nin, const NnrtTensor *t, const Opts *o) {
  for (int i = 0; i < *nin; i++)
    if (!strcmp(ins[i].name, t->name)) return &ins[i];
  Input *in = &ins[(*nin)++];
  in->name = t->name;
  in->bytes = bytes_of(t, o->syms);
  in->host = xalloc(in->bytes);
  int64_t n = numel(t, o->syms);
  for (int64_t i = 0; i < n; i++) {
    if (!strcmp(t->name, "lr") && t->dtype == NNRT_F32) {
      ((float *)in->host)[i] = (float)o->lr;
    } else if (t->dtype == NNRT_F32) {
      double u1 = urand() + 1e-12, u2 = urand(); /* N(0, 1) */
      ((float *)in->host)[i] = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2));
      if (o->nan_every > 0 && i % o->nan_every == o->nan_every - 1) ((float *)in->host)[i] = NAN;
    } else {
      int64_t v = (int64_t)(urand() * o->int_max);
      rt_dtype_set(t->dtype, in->host, i, (double)v);
    }
  }
  return in;
}

/* ---- the first kernel that differs ----
 *
 * Both builds' step functions call nnrt_prof_hook(fn, k, 1) after planned
 * kernel k (nnrt_abi.h), and both lay out the workspace by the same memory
 * plan. While the CPU side runs, the hook snapshots the memory the function
 * sees (globals, outputs, workspace) after every kernel; while the CUDA side
 * runs the same call, it compares the same memory after the same kernel
 * with that snapshot and remembers the first kernel after which a 4-byte
 * element differs by more than 1e-3 relative (a wrong result, not
 * rounding). The emulated device memory is host memory, so the hook reads
 * it in place. */
enum { TRACE_MAX_BYTES = 256 << 20 }; /* all snapshots of one call */

typedef struct Region {
  const void *p;
  size_t n;
} Region;

static struct {
  Region *r;
  int nr;
  size_t bytes;   /* of one snapshot: the regions' sizes */
  char **snap;    /* nsnap + 1 slots (trace_hook), or NULL */
  int nsnap;
  bool recording; /* CPU side: record; CUDA side: compare */
  bool off;       /* too big to snapshot */
  int first_bad;  /* kernel, -1: none, -2: differed before the first */
  int64_t bad_at; /* its element (4-byte units into the snapshot) */
} tr;

static bool differs(uint32_t x, uint32_t y, double scale) {
  if (x == y) return false;
  float a, b;
  memcpy(&a, &x, 4);
  memcpy(&b, &y, 4);
  if (!isfinite(a) || !isfinite(b)) return true;
  return fabs((double)a - b) > 1e-3 * fmax(fabs(a), fabs(b)) + 1e-4 * scale;
}

/* Snapshot slot 0 is the memory before kernel 0, slot k + 1 after kernel k. */
static void trace_hook(int32_t fn, int32_t k, int32_t end) {
  (void)fn;
  if (tr.off || k < 0 || k >= tr.nsnap || (!end && k != 0)) return;
  int slot = end ? k + 1 : 0;
  if (tr.recording) {
    if (!tr.snap[slot] && !(tr.snap[slot] = malloc(tr.bytes ? tr.bytes : 1))) die("out of memory%s%s", "", "");
    size_t at = 0;
    for (int i = 0; i < tr.nr; i++) memcpy(tr.snap[slot] + at, tr.r[i].p, tr.r[i].n), at += tr.r[i].n;
    return;
  }
  if (tr.first_bad != -1 || !tr.snap[slot]) return;
  size_t at = 0;
  for (int i = 0; i < tr.nr && tr.first_bad == -1; i++) {
    const char *ref = tr.snap[slot] + at;
    size_t n4 = tr.r[i].n / 4;
    double scale = 0;
    for (size_t j = 0; j < n4; j++) {
      float v;
      memcpy(&v, ref + 4 * j, 4);
      if (isfinite(v) && fabs(v) > scale) scale = fabs(v);
    }
    for (size_t j = 0; j < n4; j++) {
      uint32_t x, y;
      memcpy(&x, ref + 4 * j, 4);
      memcpy(&y, (const char *)tr.r[i].p + 4 * j, 4);
      if (differs(x, y, scale)) {
        tr.first_bad = slot - 1; /* -2 (below): the call started from memory that differs */
        if (slot == 0) tr.first_bad = -2;
        tr.bad_at = (int64_t)((at + 4 * j) / 4);
        break;
      }
    }
    at += tr.r[i].n;
  }
}

/* Points side s's nnrt_prof_hook at the tracer (or NULL) and sets the
 * regions of the coming call. */
static void trace_arm(Side *s, const NnrtFunc *f, void **args, int nargs, void *ws, size_t wsb, const Opts *o,
                      bool recording) {
  NnrtProfHook *hook = dlsym(s->dl, "nnrt_prof_hook");
  if (!hook) return;
  *hook = trace_hook;
  int ng = s->m->n_globals;
  tr.nr = 0;
  tr.r = realloc(tr.r, sizeof *tr.r * (size_t)(nargs + 1));
  tr.bytes = 0;
  for (int i = 0; i < nargs; i++) {
    if (i >= ng && i < ng + f->n_inputs) continue; /* inputs are read only */
    size_t n = i < ng ? (size_t)rt_tensor_numel(&s->m->globals[i]) * rt_dtype_size(s->m->globals[i].dtype)
                      : bytes_of(&f->outputs[i - ng - f->n_inputs], o->syms);
    tr.r[tr.nr++] = (Region){args[i], n};
    tr.bytes += n;
  }
  tr.r[tr.nr++] = (Region){ws, wsb};
  tr.bytes += wsb;
  tr.recording = recording;
  if (recording) {
    for (int k = 0; tr.snap && k <= tr.nsnap; k++) free(tr.snap[k]);
    free(tr.snap);
    tr.nsnap = f->n_kernels;
    tr.snap = calloc((size_t)tr.nsnap + 1, sizeof *tr.snap);
    tr.off = (double)tr.bytes * (tr.nsnap + 1) > TRACE_MAX_BYTES;
  }
  tr.first_bad = -1;
}

static void trace_disarm(Side *s) {
  NnrtProfHook *hook = dlsym(s->dl, "nnrt_prof_hook");
  if (hook) *hook = NULL;
}

/* Runs f on one side: globals as they are, the inputs, fresh outputs and
 * workspace; returns the outputs' host copies. */
static void **run_side(Side *s, const NnrtFunc *f, int fn_id, Input *ins, int *nin, const Opts *o, int64_t step) {
  int ng = s->m->n_globals, nargs = ng + f->n_inputs + f->n_outputs;
  void **args = calloc((size_t)nargs, sizeof *args);
  void **outs = calloc((size_t)f->n_outputs, sizeof *outs);
  for (int i = 0; i < ng; i++) args[i] = s->dglob[i];
  for (int i = 0; i < f->n_inputs; i++) {
    const Input *in = input_for(ins, nin, &f->inputs[i], o);
    args[ng + i] = to_side(s, in->host, in->bytes);
  }
  for (int i = 0; i < f->n_outputs; i++) args[ng + f->n_inputs + i] = to_side(s, NULL, bytes_of(&f->outputs[i], o->syms));
  int64_t wsb = f->workspace_size(o->syms);
  void *ws = to_side(s, NULL, (size_t)wsb);
  trace_arm(s, f, args, nargs, ws, (size_t)wsb, o, !s->dev);
  if (s->dev) {
    RtError e = {0};
    if (s->dev->run(f, fn_id, args, o->syms, ws, step, &e)) die("%s: %s", s->path, e.msg);
  } else {
    f->fn(args, o->syms, ws);
  }
  trace_disarm(s);
  for (int i = 0; i < f->n_outputs; i++) {
    size_t n = bytes_of(&f->outputs[i], o->syms);
    outs[i] = xalloc(n);
    from_side(s, outs[i], args[ng + f->n_inputs + i], n);
  }
  for (int i = ng; i < nargs; i++) free_side(s, args[i]);
  free_side(s, ws);
  free(args);
  return outs;
}

/* What the tracer found in the last call, printed when it had a mismatch. */
static char located[512];

static void run_both(Side *cpu, Side *cu, const NnrtFunc *fc, const NnrtFunc *fu, int fn_id, const char *label,
                     Input *ins, int *nin, const Opts *o, int64_t step) {
  if (!fc->name && !fu->name) return;
  if (!fc->name || !fu->name || fc->n_inputs != fu->n_inputs || fc->n_outputs != fu->n_outputs)
    die("%s: the two builds' %s differ in signature", label, "");
  void **a = run_side(cpu, fc, fn_id, ins, nin, o, step);
  void **b = run_side(cu, fu, fn_id, ins, nin, o, step);
  located[0] = 0;
  if (tr.first_bad >= 0) {
    const NnrtKernel *k = &fc->kernels[tr.first_bad];
    snprintf(located, sizeof located,
             "note %s: the first kernel after which the memory differs (> 1e-3 relative) is nnc_%s_%s (%s), at "
             "4-byte element %lld of [globals, outputs, workspace]\n",
             label, fc->name, k->name, k->ops, (long long)tr.bad_at);
  } else if (tr.first_bad == -2) {
    snprintf(located, sizeof located, "note %s: not located: the call started from globals that already differ\n",
             label);
  } else if (tr.off) {
    snprintf(located, sizeof located, "note %s: too big to locate kernels\n", label);
  }
  char what[256];
  for (int i = 0; i < fc->n_outputs; i++) {
    snprintf(what, sizeof what, "%s output %s", label, fc->outputs[i].name);
    compare(what, fc->outputs[i].dtype, numel(&fc->outputs[i], o->syms), a[i], b[i], o->tol);
    free(a[i]);
    free(b[i]);
  }
  free(a);
  free(b);
}

static void compare_globals(Side *cpu, Side *cu, const char *label, const Opts *o) {
  char what[256];
  for (int i = 0; i < cpu->m->n_globals; i++) {
    const NnrtTensor *t = &cpu->m->globals[i];
    bool skip = false;
    for (int k = 0; k < o->nskip; k++) skip |= fnmatch(o->skip[k], t->name, 0) == 0;
    if (skip) {
      printf("skip %s global %s\n", label, t->name);
      continue;
    }
    size_t n = (size_t)cpu->g.numel[i] * rt_dtype_size(t->dtype);
    void *b = xalloc(n);
    from_side(cu, b, cu->dglob[i], n);
    snprintf(what, sizeof what, "%s global %s", label, t->name);
    compare(what, t->dtype, cpu->g.numel[i], cpu->dglob[i], b, o->tol);
    free(b);
  }
}

int main(int argc, char **argv) {
  Opts o = {.steps = 3, .tol = 1e-5, .int_max = 2, .seed = 1, .lr = 1e-3};
  const char *sym_names[NNRT_MAX_SYMS];
  int64_t sym_vals[NNRT_MAX_SYMS];
  int nsym = 0;
  const char *paths[2];
  int np = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--steps") && i + 1 < argc) o.steps = atoi(argv[++i]);
    else if (!strcmp(a, "--tol") && i + 1 < argc) o.tol = atof(argv[++i]);
    else if (!strcmp(a, "--int-max") && i + 1 < argc) o.int_max = atoi(argv[++i]);
    else if (!strcmp(a, "--nan-every") && i + 1 < argc) o.nan_every = atoi(argv[++i]);
    else if (!strcmp(a, "--seed") && i + 1 < argc) o.seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--lr") && i + 1 < argc) o.lr = atof(argv[++i]);
    else if (!strcmp(a, "--skip") && i + 1 < argc && o.nskip < 8) o.skip[o.nskip++] = argv[++i];
    else if (!strcmp(a, "--sym") && i + 1 < argc && nsym < NNRT_MAX_SYMS) {
      char *eq = strchr(argv[++i], '=');
      if (!eq) die("--sym wants NAME=VALUE, not '%s'%s", argv[i], "");
      *eq = 0;
      sym_names[nsym] = argv[i];
      sym_vals[nsym++] = atoll(eq + 1);
    } else if (a[0] != '-' && np < 2) paths[np++] = a;
    else die("usage: cuda_compare [--steps N] [--tol T] [--sym NAME=V] [--int-max K] [--nan-every K] [--seed S] [--lr X] [--skip GLOB] "
             "CPU.so CUDA.so (at '%s')%s", a, "");
  }
  if (np != 2) die("usage: cuda_compare [options] CPU.so CUDA.so%s%s", "", "");
  rng = 0x9e3779b97f4a7c15ull ^ o.seed;

  Side cpu = {0}, cu = {0};
  open_side(&cpu, paths[0]);
  open_side(&cu, paths[1]);
  if (cpu.m->cuda) die("%s is a CUDA binary; the first must be the CPU build%s", paths[0], "");
  const NnrtModel *m = cpu.m;
  if (cu.m->n_globals != m->n_globals || cu.m->n_syms != m->n_syms) die("the two builds differ in globals or syms%s%s", "", "");
  for (int s = 0; s < m->n_syms; s++) {
    o.syms[s] = 3;
    for (int k = 0; k < nsym; k++)
      if (!strcmp(sym_names[k], m->sym_names[s])) o.syms[s] = sym_vals[k];
  }
  if (cu.dev) {
    RtError e = {0};
    if (cu.dev->open(cu.m, 0, &e)) die("%s: %s", paths[1], e.msg);
  }

  /* The same initial globals on both sides. */
  RtError e = {0};
  if (rt_globals_alloc(&cpu.g, m, &e) || rt_globals_init(&cpu.g, m, o.seed, &e)) die("globals: %s%s", e.msg, "");
  /* An inference binary's trained weights (int8 builds: with their scales). */
  for (int i = 0; m->embedded && i < m->n_globals; i++)
    if (m->embedded[i])
      memcpy(cpu.g.ptr[i], m->embedded[i], (size_t)cpu.g.numel[i] * rt_dtype_size(m->globals[i].dtype));
  cpu.dglob = cpu.g.ptr;
  cu.dglob = calloc((size_t)m->n_globals, sizeof *cu.dglob);
  for (int i = 0; i < m->n_globals; i++) {
    const NnrtTensor *a = &m->globals[i], *b = &cu.m->globals[i];
    if (strcmp(a->name, b->name) || a->dtype != b->dtype || a->rank != b->rank ||
        memcmp(a->dims, b->dims, sizeof a->dims))
      die("global %s differs between the two builds%s", a->name, "");
    cu.dglob[i] = to_side(&cu, cpu.g.ptr[i], (size_t)cpu.g.numel[i] * rt_dtype_size(a->dtype));
  }

  Input ins[64];
  int nin = 0;
  int before = failures;
  run_both(&cpu, &cu, &m->forward, &cu.m->forward, NNRT_FN_FORWARD, "forward", ins, &nin, &o, -1);
  if (failures > before) fputs(located, stdout);
  before = failures;
  run_both(&cpu, &cu, &m->eval_step, &cu.m->eval_step, NNRT_FN_EVAL, "eval_step", ins, &nin, &o, -1);
  if (failures > before) fputs(located, stdout);
  for (int step = 0; step < o.steps && m->train_step.name; step++) {
    char label[64];
    snprintf(label, sizeof label, "train_step[%d]", step);
    before = failures;
    run_both(&cpu, &cu, &m->train_step, &cu.m->train_step, NNRT_FN_TRAIN, label, ins, &nin, &o, step);
    compare_globals(&cpu, &cu, label, &o);
    if (failures > before) fputs(located, stdout);
  }
  before = failures;
  if (m->train_step.name) run_both(&cpu, &cu, &m->eval_step, &cu.m->eval_step, NNRT_FN_EVAL, "eval_step (trained)", ins, &nin, &o, -1);
  if (failures > before) fputs(located, stdout);
  if (cu.dev) cu.dev->close();
  printf("%s: %d of %d tensors match (tol %g)\n", m->name, checks - failures, checks, o.tol);
  return failures ? 1 : 0;
}
