/* test_cugen.c — the CUDA backend's kernel generators on every example.
 *
 * For each example model (examples/), the kernel coverage models of
 * tests/cuda/models and the int8 IR module tests/ir/int8.nnir, fused and
 * unfused, every function's plan: every kernel (but matmuls without an
 * epilogue and scans, which are host code) gets its CUDA C generated (one
 * translation unit per model), and NVRTC compiles it: the coverage models
 * for sm_80 and sm_90, the unfused examples for sm_90; the fused examples'
 * kernels are what `nnc build --target=cuda` compiles, for both archs, in
 * the e2e_cuda_build_* tests, so here they are only generated (CI time:
 * NVRTC is most of this test's).
 * A generator failure or a compile error fails the test, printing the
 * compiler's log and leaving the source in the build directory. Without
 * NVRTC the compile half is a visible skip (exit 77). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

static int passed, failed;

static IrModule *compile_nn(Arena *a, const char *path, bool fused) {
  Diag d;
  diag_init(&d, stdout);
  size_t len;
  char *text = fe_read_file(a, &d, path, &len);
  if (!text) return NULL;
  FeModel *fm = fe_compile(a, &d, path, text, len);
  if (!fm) return NULL;
  PassCtx pc = {.diag = &d, .verify = true};
  if (!pass_run_pipeline(fm->mod, pass_default_pipeline, pass_default_pipeline_len, &pc)) return NULL;
  PassCtx fc = {.diag = &d, .options = {{"fuse", "vertical,horizontal,epilogue,shared,qepilogue"}}, .noptions = 1};
  if (fused) pass_fuse(fm->mod, &fc);
  for (int i = 0; i < fm->mod->nfuncs && !fused; i++)
    for (int j = 0; j < fm->mod->funcs[i]->n; j++)
      fm->mod->funcs[i]->nodes[j].group = -1;
  pass_plan_memory(fm->mod, &fc);
  return fm->mod;
}

/* An IR module (.nnir: the int8 ops, which no example has before
 * quantization), fused and planned like a model. */
static IrModule *compile_nnir(Arena *a, const char *path, bool fused) {
  Diag d;
  diag_init(&d, stdout);
  size_t len;
  char *text = fe_read_file(a, &d, path, &len);
  IrModule *m = text ? ir_parse(a, &d, path, text, len) : NULL;
  if (!m) return NULL;
  PassCtx fc = {.diag = &d, .options = {{"fuse", "vertical,horizontal,epilogue,shared,qepilogue"}}, .noptions = 1};
  if (fused) pass_fuse(m, &fc);
  pass_plan_memory(m, &fc);
  return m;
}

/* ---- NVRTC, loaded at run time ---- */

typedef int (*NvCreate)(void **, const char *, const char *, int, const char *const *, const char *const *);
typedef int (*NvCompile)(void *, int, const char *const *);
typedef int (*NvLogSize)(void *, size_t *);
typedef int (*NvLog)(void *, char *);
typedef int (*NvDestroy)(void **);
static NvCreate nv_create;
static NvCompile nv_compile;
static NvLogSize nv_logsize;
static NvLog nv_log;
static NvDestroy nv_destroy;

static bool nvrtc_open(void) {
  void *h = dlopen("libnvrtc.so", RTLD_NOW);
  if (!h) h = dlopen("/usr/local/cuda/lib64/libnvrtc.so", RTLD_NOW);
  if (!h) return false;
  /* ISO C has no cast from dlsym's object pointer to a function pointer;
   * POSIX guarantees that copying its bits works. */
  void *sym[5] = {dlsym(h, "nvrtcCreateProgram"), dlsym(h, "nvrtcCompileProgram"), dlsym(h, "nvrtcGetProgramLogSize"),
                  dlsym(h, "nvrtcGetProgramLog"), dlsym(h, "nvrtcDestroyProgram")};
  memcpy(&nv_create, &sym[0], sizeof sym[0]);
  memcpy(&nv_compile, &sym[1], sizeof sym[1]);
  memcpy(&nv_logsize, &sym[2], sizeof sym[2]);
  memcpy(&nv_log, &sym[3], sizeof sym[3]);
  memcpy(&nv_destroy, &sym[4], sizeof sym[4]);
  return nv_create && nv_compile && nv_logsize && nv_log && nv_destroy;
}

static bool nvrtc_check(const char *src, const char *arch, const char *name) {
  void *prog;
  if (nv_create(&prog, src, name, 0, NULL, NULL)) return false;
  char opt[64];
  snprintf(opt, sizeof opt, "--gpu-architecture=%s", arch);
  const char *opts[] = {opt, "-default-device"};
  int rc = nv_compile(prog, 2, opts);
  size_t n = 0;
  nv_logsize(prog, &n);
  if (rc || n > 1) {
    char *log = malloc(n + 1);
    nv_log(prog, log);
    printf("%s (%s): NVRTC says:\n%s\n", name, arch, log);
    free(log);
  }
  nv_destroy(&prog);
  return rc == 0;
}

/* ---- the generators ---- */

static bool mine(const CgKernel *k) {
  return k->kind != CK_SCAN && (k->kind != CK_MATMUL || k->nmem > 1);
}

static int counts[CK_QGEMM + 2];

static bool gen_kernel(CuGen *g, const CgPlan *p, const CgKernel *k, int i) {
  CuLaunch l;
  bool ok = false;
  switch (k->kind) {
  case CK_EW: ok = cu_kernel_ew(g, p, k, i, &l); break;
  case CK_MATMUL: ok = cu_kernel_epilogue(g, p, k, i, &l); break;
  case CK_ONEHOT: ok = cu_kernel_onehot(g, p, k, i, &l); break;
  case CK_RANGE: ok = cu_kernel_range(g, p, k, i, &l); break;
  case CK_GATHER: ok = cu_kernel_gather(g, p, k, i, &l); break;
  case CK_REDUCE: ok = cu_kernel_reduce(g, p, k, i, &l); break;
  case CK_ROW: ok = cu_kernel_row(g, p, k, i, &l); break;
  case CK_WINDOW: ok = cu_kernel_window(g, p, k, i, &l); break;
  case CK_QGEMM: ok = cu_kernel_qgemm(g, p, k, i, &l); break;
  default: return true;
  }
  counts[k->kind]++;
  return ok;
}

static void check_model(const char *file, bool fused, bool have_nvrtc) {
  bool example = strncmp(file, "examples/", 9) == 0;
  int first_arch = example ? 1 : 0, last_arch = example && fused ? 0 : 1; /* 0: sm_80, 1: sm_90 */
  char path[512], name[256];
  snprintf(path, sizeof path, "%s/%s", NNC_SOURCE_DIR, file);
  const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
  snprintf(name, sizeof name, "%s%s", base, fused ? "" : ".unfused");
  Arena *a = arena_new();
  size_t n = strlen(file);
  IrModule *m = n > 5 && !strcmp(file + n - 5, ".nnir") ? compile_nnir(a, path, fused) : compile_nn(a, path, fused);
  if (!m) {
    printf("FAIL %s: does not compile\n", name);
    failed++;
    arena_free(a);
    return;
  }
  Diag d;
  diag_init(&d, stdout);
  CuGen g;
  cu_gen_init(&g, m, a, &d);
  cu_prelude(&g.src);
  int nk = 0;
  for (int fi = 0; fi < m->nfuncs && !g.error; fi++) {
    const IrFunc *f = m->funcs[fi];
    if (!strcmp(f->name, IR_FN_LOSS)) continue;
    CgPlan *p = cg_plan(a, m, f);
    for (int i = 0; i < p->nks && !g.error; i++)
      if (mine(&p->ks[i])) {
        if (!gen_kernel(&g, p, &p->ks[i], i) && !g.error) cu_gen_fail(&g, "generator failed silently");
        nk++;
      }
  }
  if (g.error) {
    printf("FAIL %s: %s\n", name, g.error);
    failed++;
  } else {
    passed++;
    char out[600];
    snprintf(out, sizeof out, "cugen_%s.cu", name);
    FILE *fo = fopen(out, "w");
    if (fo) fwrite(g.src.s, 1, g.src.n, fo), fclose(fo);
    for (int v = first_arch; have_nvrtc && v <= last_arch; v++) {
      const char *arch = v ? "sm_90" : "sm_80";
      if (nvrtc_check(g.src.s, arch, out)) passed++;
      else printf("FAIL %s: NVRTC (%s) rejects the kernels (source in %s)\n", name, arch, out), failed++;
    }
    printf("%s: %d kernels generated\n", name, nk);
  }
  cu_free(&g.src);
  arena_free(a);
}

int main(void) {
  static const char *const models[] = {"examples/fashion_mlp.nn",     "examples/fashion_cnn.nn",
                                       "examples/fashion_rows_lstm.nn", "examples/text_lstm.nn",
                                       "examples/text_bilstm_dropout.nn", "examples/char_gpt.nn",
                                       "tests/cuda/models/windows.nn",  "tests/ir/int8.nnir"};
  bool have = nvrtc_open();
  /* NNC_CUGEN_ONLY=<substring>: only the models whose path contains it
   * (while working on one generator). */
  const char *only = getenv("NNC_CUGEN_ONLY");
  for (size_t i = 0; i < sizeof models / sizeof *models; i++)
    for (int fused = 1; fused >= 0 && (!only || strstr(models[i], only)); fused--)
      check_model(models[i], fused, have);
  printf("kernels: ew %d, epilogue %d, onehot %d, range %d, gather %d, reduce %d, row %d, window %d, qgemm %d\n",
         counts[CK_EW], counts[CK_MATMUL], counts[CK_ONEHOT], counts[CK_RANGE], counts[CK_GATHER], counts[CK_REDUCE],
         counts[CK_ROW], counts[CK_WINDOW], counts[CK_QGEMM]);
  printf("%d passed, %d failed\n", passed, failed);
  if (failed) return 1;
  if (!have) {
    printf("skipped: no NVRTC (the CUDA toolkit's libnvrtc.so): sources generated, not compiled\n");
    return 77;
  }
  return 0;
}
