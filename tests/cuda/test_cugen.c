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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/cuda.h"
#include "codegen/cuda/nvrtc.h"
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

/* ---- NVRTC: nnc's own (codegen/cuda/nvrtc.c) ---- */

/* Whether nnc can load NVRTC here: a trivial kernel compiles. */
static bool nvrtc_open(void) {
  Diag d;
  diag_init(&d, stdout);
  CuArchs archs = {.sm = {90}, .n = 1};
  CuImages im = {0};
  bool ok = cu_compile("extern \"C\" __global__ void probe() {}\n", "probe.cu", &archs, CU_COMPILE_PTX, NULL, &im, &d);
  cu_images_free(&im);
  return ok;
}

/* NVRTC compiles src for sm_<sm> (a cubin and the PTX, as nnc build
 * does); a rejection prints NVRTC's log with the kernel it is in. */
static bool nvrtc_check(const char *src, int sm, const char *name) {
  Diag d;
  diag_init(&d, stdout);
  CuArchs archs = {.sm = {sm}, .n = 1};
  CuImages im = {0};
  bool ok = cu_compile(src, name, &archs, CU_COMPILE_ALL, NULL, &im, &d);
  cu_images_free(&im);
  return ok;
}

/* ---- the generators ---- */

static bool mine(const CgKernel *k) {
  return k->kind != CK_SCAN && (k->kind != CK_MATMUL || k->nmem > 1);
}

static int counts[CK_QGEMM + 2];

static bool gen_kernel(CuGen *g, const CgPlan *p, const CgKernel *k, int i) {
  CuLaunch l;
  if (!cu_kernel(g, p, k, i, &l)) return false;
  counts[k->kind]++;
  return true;
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
    CgPlan *p = cg_plan(a, m, f, NULL);
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
      int sm = v ? 90 : 80;
      if (nvrtc_check(g.src.s, sm, out)) passed++;
      else printf("FAIL %s: NVRTC (sm_%d) rejects the kernels (source in %s)\n", name, sm, out), failed++;
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
