/* backend.c — the CUDA target (--target=cuda): cg_cuda_backend.
 *
 * One build makes both halves of a CUDA binary (cuda.h):
 *
 *   cu_build_host     the host LLVM module (step functions that launch the
 *                     kernels, nnrt_model) and the kernels' CUDA C source;
 *   --emit=cuda       stops here and writes the source;
 *   cu_compile        NVRTC: a cubin per --gpu-arch and the newest arch's
 *                     PTX (nvrtc.c); --emit=ptx stops here, writes the PTX;
 *   cu_define_images  embeds them in the host module (NnrtCuda.images);
 *   cg_write_module   optimizes the host module and writes it as the CPU
 *                     target does (--emit=llvm|asm|obj), or links it with
 *                     the CUDA binaries' runtime, libnnrt_cuda.a (the
 *                     runtime's core and runtime/cuda, without rt_blas.c).
 *
 * The binary links no CUDA library: the runtime dlopens the driver and
 * cuBLASLt when it starts, so it starts anywhere and says "no CUDA device"
 * where there is none. It links no OpenBLAS either (GEMMs run on cuBLASLt;
 * GPU machines need not have Debian's OpenBLAS). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "host.h"
#include "nvrtc.h"

/* Writes n bytes to path; false after reporting. */
static bool write_file(const char *path, const void *data, size_t n, Diag *d) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
    diag_fatal(d, "cannot write %s: %s", path, strerror(errno));
    if (f) fclose(f);
    return false;
  }
  return true;
}

/* Kernels (source, table) and the host module; then the emit asked for. */
static bool cuda_compile(const IrModule *m, const CgOptions *o) {
  CuArchs archs;
  char err[256];
  if (!cu_parse_archs(o->gpu_arch ? o->gpu_arch : CU_DEFAULT_ARCH, &archs, err, sizeof err)) {
    cg_error(o->diag, "%s", err); /* set_option checked it: only a caller that skipped it gets here */
    return false;
  }
  /* The host code only computes addresses and enqueues work, so it gains
   * nothing from this machine's CPU extensions, and a CUDA binary is built
   * to travel to GPU machines: portable x86-64, whatever the driver's
   * default --cpu=native. */
  CgOptions host = *o;
  host.cpu_native = false;
  o = &host;
  char *tmerr = NULL;
  LLVMTargetMachineRef tm = cg_target_machine(o, &tmerr);
  if (!tm) {
    cg_error(o->diag, "%s", tmerr ? tmerr : "no target");
    if (tmerr) LLVMDisposeMessage(tmerr);
    return false;
  }
  LLVMContextRef llc = cg_context(o->verbose);
  Arena *arena = arena_new();
  CuGen g;
  cu_gen_init(&g, m, arena, o->diag);
  g.lt_on = !o->no_lt_epilogue;
  g.verbose = o->verbose ? stderr : NULL;
  double t0 = timing_now();
  LLVMModuleRef mod = cu_build_host(m, llc, tm, o, &g);
  timing_add(o->times, "codegen: CUDA C and host LLVM IR", timing_now() - t0);
  bool ok = mod != NULL;
  CuImages im = {0};
  if (ok && o->emit == EMIT_CUDA) {
    ok = write_file(o->out_path, g.src.s, g.src.n, o->diag);
  } else if (ok) {
    /* The translation unit's name in NVRTC's messages: the model's. */
    const char *name = arena_printf(arena, "%s.cu", m->name ? m->name : "nnc");
    t0 = timing_now();
    ok = cu_compile(g.src.s, name, &archs, o->emit == EMIT_PTX ? CU_COMPILE_PTX : CU_COMPILE_ALL,
                    o->verbose ? stderr : NULL, &im, o->diag);
    timing_add(o->times, "codegen: NVRTC", timing_now() - t0);
    const CuImage *ptx = ok ? &im.img[im.n - 1] : NULL;
    if (ok && o->emit == EMIT_PTX) {
      ok = write_file(o->out_path, ptx->data, ptx->size, o->diag);
    } else if (ok) {
      cu_define_images(mod, &g, im.img, im.n, o->tf32);
      ok = cg_write_module(mod, tm, &cg_cuda_backend, o);
    }
  }
  cu_images_free(&im);
  cu_free(&g.src);
  if (mod) LLVMDisposeModule(mod);
  arena_free(arena);
  LLVMContextDispose(llc);
  LLVMDisposeTargetMachine(tm);
  return ok;
}

static bool cuda_set_option(CgOptions *o, const char *name, const char *value, char *err, size_t errlen) {
  if (!strcmp(name, "gpu-arch")) {
    CuArchs archs;
    if (!value) return snprintf(err, errlen, "--gpu-arch needs a value: --gpu-arch=sm_90"), false;
    if (!cu_parse_archs(value, &archs, err, errlen)) return false;
    o->gpu_arch = value;
    return true;
  }
  int r = cg_flag_option(name, value, "no-lt-epilogue", &o->no_lt_epilogue, err, errlen);
  if (r < 0) r = cg_flag_option(name, value, "tf32", &o->tf32, err, errlen);
  if (r >= 0) return r;
  snprintf(err, errlen, "unknown option '--%s' for target cuda", name);
  return false;
}

const Backend cg_cuda_backend = {
    .name = "cuda",
    .summary = "NVIDIA GPUs: CUDA C kernels compiled by NVRTC ahead of time; GEMMs on cuBLASLt",
    .options = "  --gpu-arch=<sm_XX,..> the GPUs to compile for (default " CU_DEFAULT_ARCH "): a cubin for each,\n"
               "                       e.g. --gpu-arch=sm_80,sm_90, and PTX for the newest, which\n"
               "                       the driver compiles for newer GPUs (sm_75 and newer)\n"
               "  --tf32               GEMMs may use TF32 tensor cores (faster; products then\n"
               "                       round to 10-bit mantissas and differ from the CPU's)\n"
               "  --no-lt-epilogue     GEMM epilogues always as kernels of their own, never\n"
               "                       cuBLASLt's (bias, ReLU/GELU + bias, DRELU + bias gradient)\n"
               "  --emit=cuda|ptx      write the generated kernel source, or its PTX\n"
               "  -v                   also print ptxas's registers and spills per kernel, and\n"
               "                       which cuBLASLt epilogue each GEMM uses\n",
    .runtime_lib = "libnnrt_cuda.a",
    .link_libs = "-lz -lm -lpthread -ldl",
    .set_option = cuda_set_option,
    .compile = cuda_compile,
};
