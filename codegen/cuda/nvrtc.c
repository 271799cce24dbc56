/* nvrtc.c — compiles a CUDA binary's kernels ahead of time with NVRTC.
 *
 * NVRTC is dlopen'ed on first use, never linked: nnc must build and run on
 * machines without the CUDA toolkit (CI's CPU-only jobs, users of the CPU
 * target), and only --target=cuda needs it. It is looked for, in order, as
 * $NNC_NVRTC (an exact file: a test, or a toolkit in an odd place), then
 * libnvrtc.so.13 and libnvrtc.so in $CUDA_HOME/lib64, /usr/local/cuda/lib64
 * and on the loader's path (LD_LIBRARY_PATH, ldconfig). The functions are
 * declared here, not taken from <nvrtc.h>, for the same reason.
 *
 * One NVRTC program per arch, compiled with -arch=sm_XX (each on a thread
 * of its own): its cubin is that arch's image and, for the newest arch, its
 * PTX (.target sm_XX, which the driver JIT-compiles for any newer GPU) is
 * the forward-compatible fallback. The PTX comes out of the same compile,
 * so the fallback costs nothing.
 * With a report stream, --ptxas-options=-v makes ptxas log each kernel's
 * registers, barriers, shared memory, stack and spills; that log is cut into
 * one line per kernel (report_ptxas). A compile error is a bug in the
 * generated source: the log already quotes the source line with a caret, and
 * each "file(line): error" gets the name of the kernel it is in. */
#define _GNU_SOURCE /* dladdr, Dl_info */
#include "nvrtc.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- --gpu-arch ---- */

bool cu_parse_archs(const char *list, CuArchs *out, char *err, size_t errlen) {
  out->n = 0;
  for (const char *p = list;;) {
    size_t len = strcspn(p, ",");
    if (!len) return snprintf(err, errlen, "--gpu-arch has an empty entry in '%s'", list), false;
    const char *q = p + 3;
    int sm = 0;
    bool ok = len > 3 && !strncmp(p, "sm_", 3);
    for (; ok && q < p + len; q++) {
      ok = *q >= '0' && *q <= '9' && sm < 10000;
      sm = sm * 10 + (*q - '0');
    }
    if (!ok)
      return snprintf(err, errlen, "--gpu-arch takes SM versions such as sm_80 or sm_80,sm_90, not '%.*s'", (int)len,
                      p),
             false;
    if (sm < CU_MIN_SM)
      return snprintf(err, errlen, "--gpu-arch: sm_%d is older than CUDA 13 supports (sm_%d and newer)", sm, CU_MIN_SM),
             false;
    for (int i = 0; i < out->n; i++)
      if (out->sm[i] == sm) return snprintf(err, errlen, "--gpu-arch names sm_%d twice", sm), false;
    if (out->n == CU_MAX_ARCHS)
      return snprintf(err, errlen, "--gpu-arch names more than %d archs", CU_MAX_ARCHS), false;
    /* Insertion keeps the list ascending: NnrtCuda's images are. */
    int i = out->n++;
    for (; i > 0 && out->sm[i - 1] > sm; i--)
      out->sm[i] = out->sm[i - 1];
    out->sm[i] = sm;
    if (!p[len]) return true;
    p += len + 1;
  }
}

/* ---- loading NVRTC ---- */

typedef int NvResult; /* nvrtcResult; 0 is NVRTC_SUCCESS */
typedef struct NvProgram *NvProgram;

/* The NVRTC entry points nnc calls: name, return type, parameters. */
#define NVRTC_FUNCS(X)                                                                                                 \
  X(GetErrorString, const char *, (NvResult))                                                                          \
  X(Version, NvResult, (int *, int *))                                                                                 \
  X(GetNumSupportedArchs, NvResult, (int *))                                                                           \
  X(GetSupportedArchs, NvResult, (int *))                                                                              \
  X(CreateProgram, NvResult, (NvProgram *, const char *, const char *, int, const char *const *, const char *const *)) \
  X(DestroyProgram, NvResult, (NvProgram *))                                                                           \
  X(CompileProgram, NvResult, (NvProgram, int, const char *const *))                                                   \
  X(GetPTXSize, NvResult, (NvProgram, size_t *))                                                                       \
  X(GetPTX, NvResult, (NvProgram, char *))                                                                             \
  X(GetCUBINSize, NvResult, (NvProgram, size_t *))                                                                     \
  X(GetCUBIN, NvResult, (NvProgram, char *))                                                                           \
  X(GetProgramLogSize, NvResult, (NvProgram, size_t *))                                                                \
  X(GetProgramLog, NvResult, (NvProgram, char *))

typedef struct Nvrtc {
  void *lib;
  char path[1024];
  int major, minor;
#define FIELD(name, ret, params) ret(*name) params;
  NVRTC_FUNCS(FIELD)
#undef FIELD
} Nvrtc;

/* Tries one file; on failure keeps dlerror's reason in why. */
static bool try_open(Nvrtc *nv, const char *path, char *why, size_t whylen) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *e = dlerror();
    snprintf(why, whylen, "%s", e ? e : "dlopen failed");
    return false;
  }
  Nvrtc t = {.lib = lib};
  /* ISO C has no object-to-function pointer conversion; POSIX guarantees
   * dlsym's result has the function's representation, so copy its bytes. */
#define LOAD(name, ret, params)                                                                                        \
  {                                                                                                                    \
    void *sym = dlsym(lib, "nvrtc" #name);                                                                             \
    if (!sym) {                                                                                                        \
      snprintf(why, whylen, "%s has no nvrtc%s: not NVRTC, or too old", path, #name);                                  \
      dlclose(lib);                                                                                                    \
      return false;                                                                                                    \
    }                                                                                                                  \
    memcpy(&t.name, &sym, sizeof t.name);                                                                              \
  }
  NVRTC_FUNCS(LOAD)
#undef LOAD
  /* The file the loader took (a bare name says nothing): dladdr of an entry point. */
  Dl_info info;
  void *fn;
  memcpy(&fn, &t.Version, sizeof fn);
  snprintf(t.path, sizeof t.path, "%s", dladdr(fn, &info) && info.dli_fname ? info.dli_fname : path);
  if (t.Version(&t.major, &t.minor) != 0) t.major = t.minor = 0;
  *nv = t;
  return true;
}

/* The NVRTC of this process, loaded once; NULL after reporting why not. */
static const Nvrtc *nvrtc(Diag *d) {
  static Nvrtc nv;
  static bool tried;
  static char why[600];
  if (nv.lib) return &nv;
  if (!tried) {
    tried = true;
    const char *forced = getenv("NNC_NVRTC");
    const char *home = getenv("CUDA_HOME");
    static const char *const names[] = {"libnvrtc.so.13", "libnvrtc.so"};
    char path[1100];
    if (forced && *forced) {
      try_open(&nv, forced, why, sizeof why);
    } else {
      /* Directories first, then the bare names for the loader's own path. */
      const char *dirs[] = {home && *home ? home : NULL, "/usr/local/cuda", ""};
      for (int di = 0; di < 3 && !nv.lib; di++)
        for (int ni = 0; ni < 2 && !nv.lib && dirs[di]; ni++) {
          if (*dirs[di])
            snprintf(path, sizeof path, "%s/lib64/%s", dirs[di], names[ni]);
          else
            snprintf(path, sizeof path, "%s", names[ni]);
          char e[600];
          /* The first reason is the telling one (usually: no such file). */
          if (!try_open(&nv, path, e, sizeof e) && !why[0]) snprintf(why, sizeof why, "%s", e);
        }
    }
  }
  if (nv.lib) return &nv;
  const char *forced = getenv("NNC_NVRTC");
  if (forced && *forced)
    diag_fatal(d, "--target=cuda needs NVRTC, the CUDA toolkit's runtime compiler: cannot load NNC_NVRTC='%s': %s",
               forced, why);
  else
    diag_fatal(d,
               "--target=cuda needs NVRTC, the CUDA toolkit's runtime compiler, to build: no libnvrtc.so.13 or "
               "libnvrtc.so in $CUDA_HOME/lib64%s, /usr/local/cuda/lib64 or the loader's path (%s); install the CUDA "
               "toolkit (13 or newer) or set CUDA_HOME to where it is",
               getenv("CUDA_HOME") && *getenv("CUDA_HOME") ? "" : " (CUDA_HOME is not set)", why);
  return NULL;
}

/* False after reporting an arch this NVRTC cannot compile for. */
static bool check_archs(const Nvrtc *nv, const CuArchs *archs, Diag *d) {
  int n = 0;
  if (nv->GetNumSupportedArchs(&n) != 0 || n <= 0 || n > 256) return true; /* cannot ask: let the compile say */
  int sup[256];
  if (nv->GetSupportedArchs(sup) != 0) return true;
  for (int i = 0; i < archs->n; i++) {
    bool found = false;
    for (int k = 0; k < n; k++)
      found |= sup[k] == archs->sm[i];
    if (found) continue;
    char list[1200];
    size_t len = 0;
    for (int k = 0; k < n && len < sizeof list - 16; k++)
      len += (size_t)snprintf(list + len, sizeof list - len, "%ssm_%d", k ? " " : "", sup[k]);
    diag_fatal(d, "NVRTC %d.%d (%s) cannot compile for sm_%d; it supports %s", nv->major, nv->minor, nv->path,
               archs->sm[i], list);
    return false;
  }
  return true;
}

/* ---- compiling ---- */

/* The kernel whose body holds 1-based line `line` of src: the name of the
 * nearest __global__ function that starts at or before it, or NULL. */
static const char *kernel_at(const char *src, long line, char *name, size_t namelen) {
  const char *found = NULL;
  long l = 1;
  for (const char *p = src; *p && l <= line; l++) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    for (size_t i = 0; i + 10 <= n; i++)
      if (!strncmp(p + i, "__global__", 10)) found = p + i;
    p += n + (eol != NULL);
  }
  if (!found) return NULL;
  /* The identifier before the first '(' that does not open
   * __launch_bounds__(...). */
  for (const char *open = strchr(found, '('); open; open = strchr(open + 1, '(')) {
    const char *e = open;
    while (e > found && e[-1] == ' ')
      e--;
    const char *s = e;
    while (s > found && (s[-1] == '_' || (s[-1] >= 'a' && s[-1] <= 'z') || (s[-1] >= 'A' && s[-1] <= 'Z') ||
                         (s[-1] >= '0' && s[-1] <= '9')))
      s--;
    if (s == e || (e - s == 17 && !strncmp(s, "__launch_bounds__", 17))) continue;
    snprintf(name, namelen, "%.*s", (int)(e - s), s);
    return name;
  }
  return NULL;
}

/* NVRTC's log with each "name(line): error" line followed by the kernel it
 * is in. Returns a malloc'd string. */
static char *annotate_errors(const char *log, const char *src, const char *name) {
  size_t cap = strlen(log) * 2 + 1024, len = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  size_t nlen = strlen(name);
  for (const char *p = log; *p;) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    char kname[256];
    const char *k = NULL;
    if (n > nlen + 2 && !strncmp(p, name, nlen) && p[nlen] == '(') {
      long line = strtol(p + nlen + 1, NULL, 10);
      k = line > 0 ? kernel_at(src, line, kname, sizeof kname) : NULL;
    }
    if (len + n + 300 >= cap) {
      cap = (cap + n + 300) * 2;
      char *grown = realloc(out, cap);
      if (!grown) return free(out), NULL;
      out = grown;
    }
    len += (size_t)snprintf(out + len, cap - len, "%.*s%s%s%s\n", (int)n, p, k ? " (in kernel " : "", k ? k : "",
                            k ? ")" : "");
    p += n + (eol != NULL);
  }
  while (len && out[len - 1] == '\n')
    out[--len] = 0;
  return out;
}

/* Copies "...<what>..." up to the end of the line into buf. */
static void rest_of_line(const char *p, char *buf, size_t len) {
  size_t n = strcspn(p, "\n");
  snprintf(buf, len, "%.*s", (int)n, p);
}

/* One kernel's line of the report, and where the kernel is in the source
 * (ptxas compiles kernels in no particular order; the report follows the
 * source, which is plan order). */
typedef struct ReportLine {
  long at;
  char text[600];
} ReportLine;

static int by_source_position(const void *a, const void *b) {
  long x = ((const ReportLine *)a)->at, y = ((const ReportLine *)b)->at;
  return (x > y) - (x < y);
}

/* ptxas -v's log, one line per kernel:
 *   nnc: ptxas sm_90 <kernel>: Used 20 registers, used 1 barriers, 1024 bytes smem; 0 bytes stack frame, ...
 * The log says, per kernel, "Compiling entry function 'K' for 'sm_90'",
 * then its stack and spill line, then "Used N registers...". */
static void report_ptxas(FILE *out, const char *log, const char *src, int sm) {
  char kernel[256] = "", frame[256] = "", used[256];
  ReportLine *lines = NULL;
  size_t n = 0, cap = 0;
  for (const char *p = log; *p;) {
    const char *s;
    if (!strncmp(p, "ptxas info    : Compiling entry function '", 42)) {
      s = p + 42;
      size_t len = strcspn(s, "'\n");
      snprintf(kernel, sizeof kernel, "%.*s", (int)len, s);
      frame[0] = 0;
    } else if ((s = strstr(p, "bytes stack frame")) && s < p + strcspn(p, "\n")) {
      while (*p == ' ' || *p == '.' || (*p >= 'a' && *p <= 'z'))
        p++; /* "ptxas         .     " */
      rest_of_line(p, frame, sizeof frame);
    } else if (!strncmp(p, "ptxas info    : Used ", 21) && kernel[0]) {
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        ReportLine *grown = realloc(lines, cap * sizeof *lines);
        if (!grown) break;
        lines = grown;
      }
      rest_of_line(p + 16, used, sizeof used);
      const char *def = strstr(src, kernel);
      lines[n].at = def ? (long)(def - src) : -1;
      snprintf(lines[n++].text, sizeof lines->text, "nnc: ptxas sm_%d %s: %s%s%s\n", sm, kernel, used,
               frame[0] ? "; " : "", frame);
      kernel[0] = 0;
    }
    p += strcspn(p, "\n");
    p += *p == '\n';
  }
  qsort(lines, n, sizeof *lines, by_source_position);
  for (size_t i = 0; i < n; i++)
    fputs(lines[i].text, out);
  free(lines);
}

/* The text NVRTC logged, malloc'd ("" when none). */
static char *program_log(const Nvrtc *nv, NvProgram prog) {
  size_t n = 0;
  if (nv->GetProgramLogSize(prog, &n) != 0 || !n) n = 1;
  char *log = calloc(n, 1);
  if (log && n > 1 && nv->GetProgramLog(prog, log) != 0) log[0] = 0;
  return log;
}

/* One output of a compiled program (cubin, or PTX with its NUL), malloc'd
 * into img. */
static bool take_output(const Nvrtc *nv, NvProgram prog, bool ptx, int sm, CuImage *img) {
  size_t n = 0;
  if ((ptx ? nv->GetPTXSize : nv->GetCUBINSize)(prog, &n) != 0 || n < 2) return false;
  char *data = malloc(n);
  if (!data || (ptx ? nv->GetPTX : nv->GetCUBIN)(prog, data) != 0) return free(data), false;
  *img = (CuImage){.arch = sm, .is_ptx = ptx, .data = data, .size = ptx ? strlen(data) : n};
  return true;
}

/* One arch's compile: run on a thread of its own, so that a build for
 * several archs takes about as long as one where there are cores to spare
 * (NVRTC allows concurrent calls on different programs). */
typedef struct ArchJob {
  const Nvrtc *nv;
  const char *src, *name;
  int sm;
  bool verbose, want_cubin, want_ptx;
  /* results */
  NvResult created, compiled;
  char *log;
  CuImage cubin, ptx;
  bool have_cubin, have_ptx;
} ArchJob;

static void *compile_arch(void *arg) {
  ArchJob *j = arg;
  const Nvrtc *nv = j->nv;
  char arch[32];
  snprintf(arch, sizeof arch, "-arch=sm_%d", j->sm);
  const char *opts[] = {arch, "--ptxas-options=-v"};
  NvProgram prog = NULL;
  if ((j->created = nv->CreateProgram(&prog, j->src, j->name, 0, NULL, NULL)) != 0) return NULL;
  j->compiled = nv->CompileProgram(prog, j->verbose ? 2 : 1, opts);
  j->log = program_log(nv, prog);
  if (j->compiled == 0) {
    j->have_cubin = j->want_cubin && take_output(nv, prog, false, j->sm, &j->cubin);
    j->have_ptx = j->want_ptx && take_output(nv, prog, true, j->sm, &j->ptx);
  }
  nv->DestroyProgram(&prog);
  return NULL;
}

/* The job's outcome into out (its images moved there); false after
 * reporting its error. */
static bool finish_arch(ArchJob *j, const char *src, const char *name, FILE *report, CuImages *out, Diag *d) {
  const Nvrtc *nv = j->nv;
  if (j->created != 0) {
    diag_fatal(d, "NVRTC cannot create a program: %s", nv->GetErrorString(j->created));
    return false;
  }
  if (j->compiled != 0) {
    char *shown = j->log ? annotate_errors(j->log, src, name) : NULL;
    diag_fatal(d, "internal error: NVRTC %d.%d rejected the generated CUDA C for sm_%d (%s):\n%s", nv->major, nv->minor,
               j->sm, nv->GetErrorString(j->compiled),
               shown    ? shown
               : j->log ? j->log
                        : "");
    free(shown);
    return false;
  }
  if (report && j->log) report_ptxas(report, j->log, src, j->sm);
  bool ok = true;
  if (j->want_cubin && !j->have_cubin)
    ok = false, diag_fatal(d, "internal error: NVRTC made no cubin for sm_%d", j->sm);
  if (j->want_ptx && !j->have_ptx) ok = false, diag_fatal(d, "internal error: NVRTC made no PTX for sm_%d", j->sm);
  if (ok && j->have_cubin) out->img[out->n++] = j->cubin, j->have_cubin = false;
  return ok;
}

bool cu_compile(const char *src, const char *name, const CuArchs *archs, CuCompileWhat what, FILE *report,
                CuImages *out, Diag *d) {
  out->n = 0;
  const Nvrtc *nv = nvrtc(d);
  if (!nv || !check_archs(nv, archs, d)) return false;
  /* --emit=ptx compiles only the newest arch, whose program also gives the
   * PTX; every other arch gives its cubin. */
  int first = what == CU_COMPILE_PTX ? archs->n - 1 : 0, njobs = archs->n - first;
  ArchJob jobs[CU_MAX_ARCHS];
  pthread_t threads[CU_MAX_ARCHS];
  bool threaded[CU_MAX_ARCHS];
  for (int k = 0; k < njobs; k++) {
    int i = first + k;
    jobs[k] = (ArchJob){.nv = nv,
                        .src = src,
                        .name = name,
                        .sm = archs->sm[i],
                        .verbose = report != NULL,
                        .want_cubin = what == CU_COMPILE_ALL,
                        .want_ptx = i == archs->n - 1};
    /* The last job runs here; so does any a thread cannot be made for. */
    threaded[k] = k < njobs - 1 && pthread_create(&threads[k], NULL, compile_arch, &jobs[k]) == 0;
    if (!threaded[k] && k < njobs - 1) compile_arch(&jobs[k]);
  }
  compile_arch(&jobs[njobs - 1]);
  for (int k = 0; k < njobs; k++)
    if (threaded[k]) pthread_join(threads[k], NULL);
  bool ok = true;
  /* In ascending arch: cubins, then the PTX, and the report, in order. */
  for (int k = 0; k < njobs && ok; k++) {
    ok = finish_arch(&jobs[k], src, name, report, out, d);
    if (ok && k == njobs - 1) out->img[out->n++] = jobs[k].ptx, jobs[k].have_ptx = false;
  }
  for (int k = 0; k < njobs; k++) {
    free(jobs[k].log);
    if (jobs[k].have_cubin) free((void *)jobs[k].cubin.data);
    if (jobs[k].have_ptx) free((void *)jobs[k].ptx.data);
  }
  if (!ok) cu_images_free(out);
  return ok;
}

void cu_images_free(CuImages *im) {
  for (int i = 0; i < im->n; i++)
    free((void *)im->img[i].data);
  im->n = 0;
}
