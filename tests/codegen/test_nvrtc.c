/* test_nvrtc.c — codegen/cuda/nvrtc.c: --gpu-arch parsing, and NVRTC
 * compiling a kernel written as the CUDA backend writes them (cuda.h's
 * rules) to cubins and PTX, ptxas's -v report, and compile errors that name
 * their kernel. Exit 77 (ctest: skipped) where NVRTC cannot be loaded. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/cuda/nvrtc.h"

static int failures;
#define CHECK(c)                                                                                                       \
  do {                                                                                                                 \
    if (!(c)) {                                                                                                        \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                                            \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static void test_parse(void) {
  CuArchs a;
  char err[256];
  CHECK(cu_parse_archs("sm_90", &a, err, sizeof err) && a.n == 1 && a.sm[0] == 90);
  CHECK(cu_parse_archs("sm_90,sm_80,sm_120", &a, err, sizeof err) && a.n == 3 && a.sm[0] == 80 && a.sm[1] == 90 &&
        a.sm[2] == 120);
  static const struct {
    const char *arg, *msg;
  } bad[] = {
      {"", "empty entry"},
      {"sm_80,", "empty entry"},
      {",sm_80", "empty entry"},
      {"sm_80,,sm_90", "empty entry"},
      {"sm80", "not 'sm80'"},
      {"compute_90", "not 'compute_90'"},
      {"sm_", "not 'sm_'"},
      {"sm_9x", "not 'sm_9x'"},
      {"sm_90a", "not 'sm_90a'"},
      {"sm_70", "sm_70 is older"},
      {"sm_90,sm_90", "sm_90 twice"},
      {"sm_99999999", "not 'sm_99999999'"},
      {"sm_75,sm_80,sm_86,sm_87,sm_88,sm_89,sm_90,sm_100,sm_120", "more than 8"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    bool ok = cu_parse_archs(bad[i].arg, &a, err, sizeof err);
    if (ok || !strstr(err, bad[i].msg)) {
      fprintf(stderr, "--gpu-arch=%s: want an error with '%s', got %s '%s'\n", bad[i].arg, bad[i].msg,
              ok ? "success" : "", err);
      failures++;
    }
  }
}

/* Two kernels as codegen/cuda writes them: one over elements (grid-stride),
 * one over rows with a shared-memory block reduction. */
static const char *const good_src =
    "struct NnrtCuArgs { void *b[48]; long long s[16]; long long work; };\n"
    "extern \"C\" __global__ void __launch_bounds__(256) nnc_forward_k0_ew(NnrtCuArgs a) {\n"
    "  const float *x = (const float *)a.b[0];\n"
    "  float *y = (float *)a.b[1];\n"
    "  for (long long i = blockIdx.x * 256LL + threadIdx.x; i < a.work; i += (long long)gridDim.x * 256)\n"
    "    y[i] = fmaxf(x[i], 0.0f);\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(128) nnc_forward_k1_row(NnrtCuArgs a) {\n"
    "  __shared__ float part[128];\n"
    "  const float *x = (const float *)a.b[0];\n"
    "  float *y = (float *)a.b[1];\n"
    "  long long n = a.s[0];\n"
    "  for (long long r = blockIdx.x; r < a.work; r += gridDim.x) {\n"
    "    float s = 0.0f;\n"
    "    for (long long j = threadIdx.x; j < n; j += 128) s += x[r * n + j];\n"
    "    part[threadIdx.x] = s;\n"
    "    __syncthreads();\n"
    "    for (int w = 64; w > 0; w >>= 1) {\n"
    "      if (threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];\n"
    "      __syncthreads();\n"
    "    }\n"
    "    if (threadIdx.x == 0) y[r] = part[0];\n"
    "    __syncthreads();\n"
    "  }\n"
    "}\n";

/* Line 6 uses an undefined name inside the second kernel. */
static const char *const bad_src =
    "struct NnrtCuArgs { void *b[48]; long long s[16]; long long work; };\n"
    "extern \"C\" __global__ void __launch_bounds__(256) nnc_train_step_k0_ew(NnrtCuArgs a) {\n"
    "  ((float *)a.b[0])[0] = 1.0f;\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(256) nnc_train_step_k1_reduce(NnrtCuArgs a) {\n"
    "  ((float *)a.b[0])[0] = undefined_value;\n"
    "}\n";

static bool elf_cubin(const CuImage *im) {
  const unsigned char *p = im->data;
  return im->size > 64 && p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F';
}

/* Compiles src; the diagnostics land in *msgs (malloc'd). */
static bool compile(const char *src, const char *archs_arg, CuCompileWhat what, char **report, CuImages *im,
                    char **msgs) {
  CuArchs archs;
  char err[256];
  if (!cu_parse_archs(archs_arg, &archs, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    exit(1);
  }
  size_t mlen = 0, rlen = 0;
  FILE *mf = open_memstream(msgs, &mlen), *rf = report ? open_memstream(report, &rlen) : NULL;
  Diag d;
  diag_init(&d, mf);
  bool ok = cu_compile(src, "test.cu", &archs, what, rf, im, &d);
  fclose(mf);
  if (rf) fclose(rf);
  return ok;
}

int main(void) {
  test_parse();

  CuImages im;
  char *msgs, *report;
  bool ok = compile(good_src, "sm_90,sm_80", CU_COMPILE_ALL, &report, &im, &msgs);
  if (!ok && strstr(msgs, "needs NVRTC")) {
    printf("skipped: %s", msgs);
    return failures ? 1 : 77;
  }
  if (!ok) fprintf(stderr, "%s", msgs);
  CHECK(ok);
  /* cubins ascending, then the newest arch's PTX */
  CHECK(im.n == 3);
  if (im.n == 3) {
    CHECK(im.img[0].arch == 80 && !im.img[0].is_ptx && elf_cubin(&im.img[0]));
    CHECK(im.img[1].arch == 90 && !im.img[1].is_ptx && elf_cubin(&im.img[1]));
    CHECK(im.img[2].arch == 90 && im.img[2].is_ptx);
    const char *ptx = im.img[2].data;
    CHECK(strlen(ptx) == im.img[2].size);
    CHECK(strstr(ptx, ".target sm_90") && strstr(ptx, ".entry nnc_forward_k0_ew") &&
          strstr(ptx, ".entry nnc_forward_k1_row"));
  }
  /* one report line per kernel and arch */
  const char *kernels[] = {"nnc_forward_k0_ew", "nnc_forward_k1_row"};
  for (int k = 0; k < 2; k++)
    for (int sm = 80; sm <= 90; sm += 10) {
      char want[128];
      snprintf(want, sizeof want, "nnc: ptxas sm_%d %s: Used ", sm, kernels[k]);
      const char *line = strstr(report, want);
      CHECK(line && strstr(line, "registers") && strstr(line, "spill stores") && strstr(line, "spill loads"));
    }
  free(report);
  free(msgs);
  cu_images_free(&im);

  /* --emit=ptx: one image, the PTX; no report asked, none printed */
  CHECK(compile(good_src, "sm_80", CU_COMPILE_PTX, NULL, &im, &msgs));
  CHECK(im.n == 1 && im.img[0].is_ptx && im.img[0].arch == 80 && strstr(im.img[0].data, ".target sm_80"));
  free(msgs);
  cu_images_free(&im);

  /* an arch this NVRTC does not know */
  CHECK(!compile(good_src, "sm_80,sm_99", CU_COMPILE_ALL, NULL, &im, &msgs));
  CHECK(im.n == 0 && strstr(msgs, "cannot compile for sm_99; it supports ") && strstr(msgs, "sm_90"));
  free(msgs);

  /* a compile error: NVRTC's message, the source line, the kernel */
  CHECK(!compile(bad_src, "sm_90", CU_COMPILE_ALL, NULL, &im, &msgs));
  CHECK(im.n == 0);
  CHECK(strstr(msgs, "internal error: NVRTC"));
  CHECK(strstr(msgs, "test.cu(6): error: identifier \"undefined_value\" is undefined (in kernel "
                     "nnc_train_step_k1_reduce)"));
  CHECK(strstr(msgs, "((float *)a.b[0])[0] = undefined_value;"));
  if (failures) fprintf(stderr, "messages were:\n%s\n", msgs);
  free(msgs);

  if (failures)
    fprintf(stderr, "%d checks failed\n", failures);
  else
    printf("ok\n");
  return failures ? 1 : 0;
}
