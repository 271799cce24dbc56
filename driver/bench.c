/* bench.c — `nnc bench`: fused against unfused, per kernel and per step.
 *
 * Builds the model twice into a temporary directory, by running this nnc
 * itself (`nnc build`, and `nnc build --no-fuse`), so that each build is
 * exactly what a user gets; runs `<binary> profile --json` of each in its
 * own process (the binaries time their kernels themselves: runtime/
 * rt_profile.c), reads the two JSON reports with the runtime's reader, and
 * prints them side by side (tables with the runtime's printer), as one JSON
 * object (--json: the two reports verbatim plus the ratios), and as an SVG
 * chart (--svg). docs/bench.md explains every number. */
#define _POSIX_C_SOURCE 200809L
#include "driver/bench.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen/backend.h"
#include "runtime/nnrt.h"

extern char **environ;

const char nnc_bench_usage[] =
    "usage: nnc bench <model.nn> [options]\n"
    "\n"
    "Builds the model fused and with --no-fuse, runs each binary's train_step\n"
    "in its own process (`<binary> profile --json`) and compares them: per step\n"
    "(ms, samples/s, kernels, peak resident memory, workspace, and the\n"
    "unfused/fused ratios) and per kernel (ops, bytes, FLOPs, time, GB/s or\n"
    "GFLOP/s, and the share of the machine's triad bandwidth a memory-bound\n"
    "kernel reaches). docs/bench.md explains the columns.\n"
    "\n"
    "options:\n"
    "  --batch N       samples per batch (default: the model's train block)\n"
    "  --steps N       timed steps per binary, run twice: without and with\n"
    "                  kernel timers (default 50)\n"
    "  --threads N     threads for both binaries (default: the online cores)\n"
    "  --data DIR      the data set (default: the model's; see ./model --help)\n"
    "  --rounds N      run the two binaries N times in turn, fused first, and\n"
    "                  report each one's fastest run, so that a burst of\n"
    "                  other load on the machine hits both alike (default 3)\n"
    "  --top N         kernels listed per binary, by time; the rest are one\n"
    "                  line (default 15; 0: all, in call order)\n"
    "  --json          print one JSON object instead of tables\n"
    "  --svg FILE      also write a chart of the kernels' times (SVG)\n"
    "  --target=<t>    the code generator, as for nnc build (default cpu);\n"
    "                  its options (--gpu-arch=, --tf32, --no-lt-epilogue,\n"
    "                  --cpu=, ...) go to both builds. --target=cuda times\n"
    "                  the CUDA binaries on this machine's GPU\n";

#define BENCH_MAX_TARGET_OPTS 8

typedef struct BenchOpts {
  const char *input, *batch, *steps, *threads, *data, *svg;
  int top, json, rounds;
  const char *target;                             /* --target=<t> (NULL: the default backend) */
  const char *target_opts[BENCH_MAX_TARGET_OPTS]; /* its options, as given */
  int ntarget_opts;
} BenchOpts;

/* Whether arg ("--name[=value]") is an option of o's target: its backend's
 * set_option takes it (checked here, so that a typo fails before two
 * builds). */
static bool target_option(const BenchOpts *o, const char *arg, char *err, size_t errlen) {
  const Backend *be = o->target ? cg_backend_find(o->target) : cg_backends[0];
  if (!be || strncmp(arg, "--", 2)) return false;
  char name[64];
  const char *eq = strchr(arg, '=');
  size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
  if (n >= sizeof name) return false;
  memcpy(name, arg + 2, n);
  name[n] = 0;
  CgOptions scratch = {0};
  return be->set_option(&scratch, name, eq ? eq + 1 : NULL, err, errlen);
}

/* A binary's report (rt_profile.c's JSON), read back. */
typedef struct Profile {
  char *text; /* the JSON as printed */
  size_t len;
  RtJsonDoc doc;
  const char *model;
  int64_t batch, threads, steps;
  double ms, prof_ms, samples_s, kernels, peak_rss, workspace, triad;
  RtKernelRow *rows;
  int n;
} Profile;

static int fail(const char *fmt, const char *arg) {
  fprintf(stderr, "nnc: error: ");
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  return 1;
}

static int usage_fail(const char *fmt, const char *arg) {
  fail(fmt, arg);
  fprintf(stderr, "\n%s", nnc_bench_usage);
  return 2;
}

/* ---- options ---- */

/* "--name V" or "--name=V" at argv[*i]; advances *i past V. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **v) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n)) return 0;
  if (argv[*i][n] == '=') return *v = argv[*i] + n + 1, 1;
  if (argv[*i][n] || *i + 1 == argc) return 0;
  return *v = argv[++*i], 1;
}

static bool positive(const char *s, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  return *s && !*end && !errno && v >= 1 && v <= max;
}

/* Returns -1 to go on, or an exit code. */
static int parse(int argc, char **argv, BenchOpts *o) {
  const char *top = NULL;
  /* The target first: its options may come before it. */
  for (int i = 0; i < argc; i++)
    if (!strncmp(argv[i], "--target=", 9)) o->target = argv[i] + 9;
    else if (!strcmp(argv[i], "--target") && i + 1 < argc) o->target = argv[i + 1];
  if (o->target && !cg_backend_find(o->target))
    return usage_fail("unknown target '%s' (nnc --version lists them)", o->target);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    char err[256] = "";
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(nnc_bench_usage, stdout);
      return 0;
    } else if (!strcmp(a, "--json")) {
      o->json = 1;
    } else if (opt_value(argc, argv, &i, "--batch", &v)) {
      if (!positive(o->batch = v, INT32_MAX)) return usage_fail("--batch needs a positive integer, not '%s'", v);
    } else if (opt_value(argc, argv, &i, "--steps", &v)) {
      if (!positive(o->steps = v, LONG_MAX)) return usage_fail("--steps needs a positive integer, not '%s'", v);
    } else if (opt_value(argc, argv, &i, "--threads", &v)) {
      if (!positive(o->threads = v, 1024)) return usage_fail("--threads needs an integer from 1 to 1024, not '%s'", v);
    } else if (opt_value(argc, argv, &i, "--rounds", &v)) {
      if (!positive(v, 100)) return usage_fail("--rounds needs an integer from 1 to 100, not '%s'", v);
      o->rounds = atoi(v);
    } else if (opt_value(argc, argv, &i, "--top", &v)) {
      if (strcmp(top = v, "0") && !positive(v, 100000))
        return usage_fail("--top needs a count (0: all kernels), not '%s'", v);
    } else if (opt_value(argc, argv, &i, "--data", &v)) {
      o->data = v;
    } else if (opt_value(argc, argv, &i, "--svg", &v)) {
      o->svg = v;
    } else if (!strncmp(a, "--target=", 9) || (!strcmp(a, "--target") && i + 1 < argc)) {
      i += a[8] != '='; /* taken above */
    } else if (a[0] == '-' && a[1] && o->ntarget_opts < BENCH_MAX_TARGET_OPTS && target_option(o, a, err, sizeof err)) {
      o->target_opts[o->ntarget_opts++] = a;
    } else if (a[0] == '-' && a[1] && *err && strncmp(err, "unknown option", 14)) {
      return usage_fail("%s", err); /* the target's option, with a bad value */
    } else if (a[0] == '-' && a[1]) {
      return usage_fail("unknown option or missing value '%s'", a);
    } else if (o->input) {
      return usage_fail("more than one input file ('%s')", a);
    } else {
      o->input = a;
    }
  }
  if (!o->input) return usage_fail("no input file%s", "");
  o->top = top ? atoi(top) : 15;
  if (!o->rounds) o->rounds = 3;
  return -1;
}

/* ---- child processes ---- */

/* Runs argv with stdout into *out (malloc'd, NUL-terminated) or, when out
 * is NULL, onto our stderr, so that --json's stdout holds only JSON.
 * Returns the exit status, -1 if it did not run or was killed. */
static int run(char *const argv[], char **out, size_t *outlen) {
  int fd[2];
  if (pipe(fd)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out) {
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
  } else {
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
  }
  posix_spawn_file_actions_addclose(&fa, fd[0]);
  posix_spawn_file_actions_addclose(&fa, fd[1]);
  pid_t pid;
  int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fd[1]);
  size_t len = 0, cap = 1 << 16;
  char *buf = out ? malloc(cap) : NULL;
  if (!err && out) {
    for (ssize_t r; buf && (r = read(fd[0], buf + len, cap - len - 1)) != 0;) {
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      len += (size_t)r;
      if (cap - len < 4096) {
        char *b = realloc(buf, cap *= 2);
        if (!b) free(buf);
        buf = b;
      }
    }
  }
  close(fd[0]);
  int status = 0;
  if (err) {
    errno = err;
    free(buf);
    return -1;
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out) {
    if (buf) buf[len] = 0;
    *out = buf, *outlen = len;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *self_path(void) {
  static char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return NULL;
  self[n] = 0;
  return self;
}

/* nnc build <input> -o <exe> [--no-fuse] */
static int build(const BenchOpts *o, const char *exe, bool no_fuse) {
  char *self = self_path();
  if (!self) return fail("cannot find the nnc executable (/proc/self/exe)%s", "");
  char *argv[8 + BENCH_MAX_TARGET_OPTS] = {self, "build", (char *)o->input, "-o", (char *)exe};
  int n = 5;
  char target[128];
  if (o->target) snprintf(target, sizeof target, "--target=%s", o->target), argv[n++] = target;
  for (int i = 0; i < o->ntarget_opts; i++) argv[n++] = (char *)o->target_opts[i];
  if (no_fuse) argv[n++] = "--no-fuse";
  argv[n] = NULL;
  int rc = run(argv, NULL, NULL);
  if (rc) return fail("nnc build %s failed", no_fuse ? "--no-fuse" : "(fused)");
  return 0;
}

static double num(const Profile *p, const RtJson *obj, const char *key, int *missing) {
  const RtJson *j = rt_json_get(&p->doc, obj, key);
  if (j && j->type == RT_JSON_NUM) return j->num;
  (*missing)++;
  return 0;
}

static const char *str(const Profile *p, const RtJson *obj, const char *key, int *missing) {
  const RtJson *j = rt_json_get(&p->doc, obj, key);
  if (j && j->type == RT_JSON_STR) return j->str;
  (*missing)++;
  return "";
}

/* <exe> profile --json [options] into p. */
static int profile(const BenchOpts *o, const char *exe, Profile *p) {
  char *argv[16];
  int n = 0;
  argv[n++] = (char *)exe, argv[n++] = "profile", argv[n++] = "--json";
  const char *pass[][2] = {{"--batch", o->batch}, {"--steps", o->steps}, {"--threads", o->threads}, {"--data", o->data}};
  for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
    if (pass[i][1]) argv[n++] = (char *)pass[i][0], argv[n++] = (char *)pass[i][1];
  argv[n] = NULL;
  int rc = run(argv, &p->text, &p->len);
  if (rc) return fail("'%s profile' failed", exe);
  RtError e = {.msg = "no output"};
  if (!p->text || rt_json_parse(&p->doc, p->text, p->len, 0, &e)) return fail("cannot read the profile: %s", e.msg);
  const RtJson *root = rt_json_at(&p->doc, 0), *ks = rt_json_get(&p->doc, root, "kernels");
  int missing = 0;
  p->model = str(p, root, "model", &missing);
  p->batch = (int64_t)num(p, root, "batch", &missing);
  p->threads = (int64_t)num(p, root, "threads", &missing);
  p->steps = (int64_t)num(p, root, "steps", &missing);
  p->ms = num(p, root, "ms_per_step", &missing);
  p->prof_ms = num(p, root, "profiled_ms_per_step", &missing);
  p->samples_s = num(p, root, "samples_per_s", &missing);
  p->kernels = num(p, root, "kernels_per_step", &missing);
  p->peak_rss = num(p, root, "peak_rss_bytes", &missing);
  p->workspace = num(p, root, "workspace_bytes", &missing);
  p->triad = num(p, root, "triad_gbs", &missing);
  if (!ks || ks->type != RT_JSON_ARR) return fail("the profile of %s has no kernel list", exe);
  p->rows = calloc(ks->len + 1, sizeof *p->rows);
  if (!p->rows) return fail("out of memory%s", "");
  for (const RtJson *k = rt_json_at(&p->doc, ks->child); k; k = rt_json_at(&p->doc, k->next)) {
    RtKernelRow *r = &p->rows[p->n++];
    r->name = str(p, k, "name", &missing);
    r->ops = str(p, k, "ops", &missing);
    r->bytes = num(p, k, "bytes", &missing);
    r->flops = num(p, k, "flops", &missing);
    r->calls = num(p, k, "calls", &missing);
    r->ms = num(p, k, "ms", &missing);
  }
  if (missing) return fail("the profile of %s lacks fields (a binary from another nnc?)", exe);
  return 0;
}

static void profile_free(Profile *p) {
  free(p->text);
  free(p->rows);
  rt_json_free(&p->doc);
}

/* The fused and unfused binaries' profiles, o->rounds runs each in turn;
 * each keeps its fastest run (by step time without timers). */
static int profile_rounds(const BenchOpts *o, const char *fexe, const char *uexe, Profile *f, Profile *u) {
  const char *exe[2] = {fexe, uexe};
  Profile *best[2] = {f, u};
  for (int r = 0; r < o->rounds; r++)
    for (int v = 0; v < 2; v++) {
      Profile p = {0};
      if (profile(o, exe[v], &p)) return profile_free(&p), 1;
      if (r == 0 || p.ms < best[v]->ms) {
        profile_free(best[v]);
        *best[v] = p;
      } else {
        profile_free(&p);
      }
    }
  return 0;
}

/* ---- reports ---- */

static double ratio(double unfused, double fused) { return fused > 0 ? unfused / fused : 0; }

static void print_tables(const BenchOpts *o, const Profile *f, const Profile *u) {
  printf("nnc bench %s: train_step, batch %lld, %lld threads, %lld timed steps per binary, fastest of %d rounds\n",
         f->model, (long long)f->batch, (long long)f->threads, (long long)f->steps, o->rounds);
  printf("triad bandwidth %.1f GB/s (measured by the fused binary; %.1f by the unfused)\n\n", f->triad, u->triad);
  printf("  %-18s %12s %12s %14s\n", "per step", "fused", "unfused", "unfused/fused");
  printf("  %-18s %12.4f %12.4f %13.2fx\n", "ms", f->ms, u->ms, ratio(u->ms, f->ms));
  printf("  %-18s %12.0f %12.0f %13.2fx\n", "samples/s", f->samples_s, u->samples_s, ratio(u->samples_s, f->samples_s));
  printf("  %-18s %12.0f %12.0f %13.2fx\n", "kernels", f->kernels, u->kernels, ratio(u->kernels, f->kernels));
  char a[32], b[32];
  printf("  %-18s %12s %12s %13.2fx\n", "peak resident", rt_human(a, sizeof a, f->peak_rss, "B"),
         rt_human(b, sizeof b, u->peak_rss, "B"), ratio(u->peak_rss, f->peak_rss));
  printf("  %-18s %12s %12s %13.2fx\n", "workspace", rt_human(a, sizeof a, f->workspace, "B"),
         rt_human(b, sizeof b, u->workspace, "B"), ratio(u->workspace, f->workspace));
  const Profile *ps[2] = {f, u};
  for (int i = 0; i < 2; i++) {
    const Profile *p = ps[i];
    printf("\n%s: %d kernels, %.4f ms per step with timers", i ? "unfused" : "fused", p->n, p->prof_ms);
    if (o->top > 0 && p->n > o->top) printf(", the %d longest first", o->top);
    printf("\n");
    rt_print_kernels(stdout, p->rows, p->n, p->prof_ms, p->triad, o->top);
  }
}

static void print_json(const Profile *f, const Profile *u) {
  printf("{\"model\": ");
  rt_json_write_str(stdout, f->model);
  printf(",\n\"fused\": %.*s,\n\"unfused\": %.*s,\n", (int)f->len, f->text, (int)u->len, u->text);
  printf("\"ratios\": {\"note\": \"unfused / fused\", \"ms_per_step\": %.6g, \"kernels_per_step\": %.6g, "
         "\"peak_rss_bytes\": %.6g, \"workspace_bytes\": %.6g}}\n",
         ratio(u->ms, f->ms), ratio(u->kernels, f->kernels), ratio(u->peak_rss, f->peak_rss),
         ratio(u->workspace, f->workspace));
}

/* ---- chart ----
 * Two step-time bars (fused, unfused), each stacked from its kernels, then
 * each binary's longest kernels as bars on one time scale, so that bar
 * lengths compare across the two; the rest of a binary's kernels is one
 * grey "other" bar. Compute-bound kernels are dark, memory-bound light.
 * Plain SVG 1.1 with <title> tooltips (full op lists): any browser. */

#define SVG_W 1040
#define SVG_LABEL 360 /* bars start here */
#define SVG_BAR 400   /* longest bar */
#define SVG_ROW 18
#define SVG_LABEL_CHARS 54

static void xml_text(FILE *out, const char *s, size_t max) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n && i < max; i++) {
    char c = s[i];
    if (i + 3 == max && n > max) {
      fputs("...", out);
      break;
    }
    if (c == '&') fputs("&amp;", out);
    else if (c == '<') fputs("&lt;", out);
    else if (c == '>') fputs("&gt;", out);
    else if (c == '"') fputs("&quot;", out);
    else fputc(c, out);
  }
}

static const char *const svg_fill[2][3] = {{"#1f5fa8", "#7fb0e6", "#b8b8b8"}, {"#c2571a", "#f2a673", "#b8b8b8"}};

static const char *row_fill(int variant, const RtKernelRow *r) { return svg_fill[variant][rt_kernel_memory_bound(r)]; }

/* "0.107 ms, 52.8 GB/s, 486% of triad" */
static void row_value(char *buf, size_t size, const RtKernelRow *r, double triad) {
  double secs = r->ms * 1e-3;
  if (!(secs > 0))
    snprintf(buf, size, "%.4f ms", r->ms);
  else if (!rt_kernel_memory_bound(r))
    snprintf(buf, size, "%.4f ms, %.1f GFLOP/s", r->ms, r->flops / secs * 1e-9);
  else if (triad > 0)
    snprintf(buf, size, "%.4f ms, %.1f GB/s, %.0f%% of triad", r->ms, r->bytes / secs * 1e-9,
             100 * r->bytes / secs * 1e-9 / triad);
  else
    snprintf(buf, size, "%.4f ms, %.1f GB/s", r->ms, r->bytes / secs * 1e-9);
}

static void svg_kernel_rows(FILE *out, const Profile *p, int variant, int top, double scale, int *y) {
  int *order = malloc(sizeof(int) * (size_t)(p->n + 1));
  if (!order) return;
  rt_kernels_by_time(p->rows, p->n, order);
  int shown = top > 0 && p->n > top ? top : p->n;
  fprintf(out, "<text x=\"10\" y=\"%d\" class=\"h\">%s: ", *y + 12, variant ? "unfused" : "fused");
  if (shown < p->n)
    fprintf(out, "the %d longest of %d kernels</text>\n", shown, p->n);
  else
    fprintf(out, "%d kernels, longest first</text>\n", p->n);
  *y += 20;
  double other = 0;
  for (int i = shown; i < p->n; i++)
    other += p->rows[order[i]].ms;
  for (int i = 0; i <= shown; i++) {
    if (i == shown && shown == p->n) break;
    const RtKernelRow *r = i < shown ? &p->rows[order[i]] : NULL;
    double ms = r ? r->ms : other;
    double w = ms * scale;
    bool cut = w > SVG_BAR; /* "other" may outweigh any one kernel: cut its bar */
    if (cut) w = SVG_BAR;
    char label[128], value[128];
    if (r)
      snprintf(label, sizeof label, "%s  %s", r->name, r->ops), row_value(value, sizeof value, r, p->triad);
    else
      snprintf(label, sizeof label, "other (%d kernels)", p->n - shown),
          snprintf(value, sizeof value, "%.4f ms%s", ms, cut ? " (bar cut, not to scale)" : "");
    fprintf(out, "<g><title>");
    xml_text(out, r ? r->name : label, 200);
    if (r) {
      char b[32], fl[32];
      fprintf(out, ": ");
      xml_text(out, r->ops, 4000);
      fprintf(out, "; %s, %s FLOPs per step", rt_human(b, sizeof b, r->bytes, "B"), rt_human(fl, sizeof fl, r->flops, ""));
    }
    fprintf(out, "</title>\n<text x=\"10\" y=\"%d\">", *y + 13);
    xml_text(out, label, SVG_LABEL_CHARS);
    fprintf(out, "</text><rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>", SVG_LABEL, *y + 3,
            w < 0.5 ? 0.5 : w, SVG_ROW - 5, r ? row_fill(variant, r) : svg_fill[variant][2]);
    fprintf(out, "<text x=\"%.1f\" y=\"%d\">%s</text></g>\n", SVG_LABEL + w + 5, *y + 13, value);
    *y += SVG_ROW;
  }
  *y += 12;
  free(order);
}

static int write_svg(const char *path, const Profile *f, const Profile *u, int top) {
  FILE *out = fopen(path, "w");
  if (!out) return fail("cannot write '%s'", path);
  const Profile *ps[2] = {f, u};
  int rows = 0;
  double most_step = 0, most_kernel = 0;
  for (int v = 0; v < 2; v++) {
    rows += (top > 0 && ps[v]->n > top ? top + 1 : ps[v]->n) + 2;
    if (ps[v]->prof_ms > most_step) most_step = ps[v]->prof_ms;
    for (int i = 0; i < ps[v]->n; i++)
      if (ps[v]->rows[i].ms > most_kernel) most_kernel = ps[v]->rows[i].ms;
  }
  int height = 130 + rows * SVG_ROW + 60;
  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"11\">\n"
          "<style>.h { font-weight: bold; font-size: 12px; } .t { font-size: 14px; font-weight: bold; }</style>\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          SVG_W, height, SVG_W, height);
  fprintf(out, "<text x=\"10\" y=\"20\" class=\"t\">nnc bench ");
  xml_text(out, f->model, 80);
  fprintf(out, ": train_step, batch %lld, %lld threads, fused vs unfused</text>\n", (long long)f->batch,
          (long long)f->threads);
  fprintf(out,
          "<text x=\"10\" y=\"38\">step time (with kernel timers), stacked by kernel; dark: compute-bound, "
          "light: memory-bound (&lt; %g FLOP/byte), grey: the rest</text>\n",
          RT_MEM_BOUND_INTENSITY);
  int y = 50;
  double step_scale = most_step > 0 ? SVG_BAR / most_step : 0;
  for (int v = 0; v < 2; v++) {
    const Profile *p = ps[v];
    fprintf(out, "<text x=\"10\" y=\"%d\" class=\"h\">%s</text>", y + 15, v ? "unfused" : "fused");
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"%.2f\" height=\"20\" fill=\"none\" stroke=\"#888\"/>", SVG_LABEL,
            y + 2, p->prof_ms * step_scale); /* the whole step: the gap is time outside kernels */
    double x = SVG_LABEL;
    for (int i = 0; i < p->n; i++) {
      double w = p->rows[i].ms * step_scale;
      if (w >= 0.05) { /* thinner is invisible; its time still counts */
        fprintf(out, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"20\" fill=\"%s\"><title>", x, y + 2, w,
                row_fill(v, &p->rows[i]));
        xml_text(out, p->rows[i].name, 100);
        fprintf(out, " %.4f ms</title></rect>", p->rows[i].ms);
      }
      x += w;
    }
    fprintf(out, "\n<text x=\"%.1f\" y=\"%d\">%.3f ms, %.0f kernels per step</text>\n",
            SVG_LABEL + p->prof_ms * step_scale + 5, y + 16, p->prof_ms, p->kernels);
    y += 26;
  }
  fprintf(out,
          "<text x=\"10\" y=\"%d\">without timers: fused %.3f ms, unfused %.3f ms per step; unfused / fused: %.2fx "
          "the time, %.2fx the kernels</text>\n",
          y + 14, f->ms, u->ms, ratio(u->ms, f->ms), ratio(u->kernels, f->kernels));
  y += 30;
  double scale = most_kernel > 0 ? SVG_BAR / most_kernel : 0;
  for (int v = 0; v < 2; v++)
    svg_kernel_rows(out, ps[v], v, top, scale, &y);
  fprintf(out, "</svg>\n");
  if (fclose(out) != 0) return fail("cannot write '%s'", path);
  return 0;
}

int nnc_bench(int argc, char **argv) {
  BenchOpts o = {0};
  int rc = parse(argc, argv, &o);
  if (rc >= 0) return rc;
  if (access(o.input, R_OK)) return fail("cannot open '%s'", o.input);
  const char *tmp = getenv("TMPDIR");
  char dir[PATH_MAX], fexe[PATH_MAX + 16], uexe[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/nnc-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) return fail("cannot create a temporary directory: %s", strerror(errno));
  snprintf(fexe, sizeof fexe, "%s/fused", dir);
  snprintf(uexe, sizeof uexe, "%s/unfused", dir);
  Profile f = {0}, u = {0};
  rc = build(&o, fexe, false) || build(&o, uexe, true) || profile_rounds(&o, fexe, uexe, &f, &u);
  if (!rc) {
    if (o.json)
      print_json(&f, &u);
    else
      print_tables(&o, &f, &u);
    if (o.svg) rc = write_svg(o.svg, &f, &u, o.top);
  }
  profile_free(&f);
  profile_free(&u);
  unlink(fexe), unlink(uexe), rmdir(dir);
  return rc;
}
