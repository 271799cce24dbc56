/* host.c — the host half of a CUDA binary: the CPU backend's step functions
 * with the CUDA kernel generator as their device hook, and the NnrtCuda
 * table (kernels and images) that nnrt_model points to. */
#include <stdlib.h>
#include <string.h>

#include "host.h"

static bool device_kernel(void *gen, const CgPlan *p, const CgKernel *k, int i, int *kid, int *bufs, int bufcap,
                          int *nbufs, CgMono *work) {
  CuGen *g = gen;
  CuLaunch l;
  if (!cu_kernel(g, p, k, i, &l)) return false;
  if (l.nbufs > bufcap) unreachable("a CUDA kernel takes more buffers than NnrtCuArgs holds");
  *kid = l.kid, *nbufs = l.nbufs, *work = l.work;
  memcpy(bufs, l.bufs, sizeof(int) * (size_t)l.nbufs);
  return true;
}

static void device_gemm(void *gen, const CgPlan *p, const CgKernel *k, int i, CgDevGemm *out) {
  (void)k; /* cu_lt knows it by its index */
  const CuLt *t = cu_lt(gen, p, i);
  *out = (CgDevGemm){t->ep, t->d, t->bias, t->aux, t->ldaux};
}

LLVMModuleRef cu_build_host(const IrModule *m, LLVMContextRef llc, LLVMTargetMachineRef tm, const CgOptions *o,
                            CuGen *g) {
  cu_prelude(&g->src);
  CgDevice dev = {
      .gen = g, .kernel = device_kernel, .max_bufs = NNRT_CU_MAX_BUFS, .max_syms = NNRT_MAX_SYMS, .gemm = device_gemm};
  LLVMModuleRef mod = cg_build_module_dev(m, llc, tm, o, &dev);
  if (g->error) {
    cg_error(o->diag, "%s", g->error);
    if (mod) LLVMDisposeModule(mod);
    return NULL;
  }
  if (!mod) return NULL;
  /* The emulation (tests/cuda/emu.h) finds kernels by name in this list. */
  cu_printf(&g->src, "\n#ifdef NNRT_CUDA_EMU\nNNRT_EMU_KERNELS_BEGIN\n");
  for (int i = 0; i < g->nk; i++)
    cu_printf(&g->src, "NNRT_EMU_KERNEL(%s)\n", g->ktab[i].name);
  cu_printf(&g->src, "NNRT_EMU_KERNELS_END\n#endif\n");
  return mod;
}

static LLVMValueRef const_array(LLVMModuleRef mod, LLVMTypeRef t, LLVMValueRef *v, int n, const char *name) {
  if (!n) return LLVMConstNull(LLVMPointerType(t, 0));
  LLVMValueRef init = LLVMConstArray2(t, v, (uint64_t)n);
  LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

void cu_define_images(LLVMModuleRef mod, const CuGen *g, const CuImage *images, int n, bool tf32) {
  LLVMContextRef llc = LLVMGetModuleContext(mod);
  LLVMTypeRef kt, it, ct = cg_meta_cuda_types(llc, &kt, &it);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(llc), i64 = LLVMInt64TypeInContext(llc);
  LLVMValueRef *rows = malloc(sizeof(LLVMValueRef) * (size_t)(g->nk + n + 1));
  if (!rows) unreachable("out of memory");
  for (int i = 0; i < g->nk; i++) {
    LLVMValueRef f[] = {cg_const_str(llc, mod, g->ktab[i].name), LLVMConstInt(i32, (unsigned)g->ktab[i].block, 0),
                        LLVMConstInt(i32, (unsigned)g->ktab[i].rows, 0)};
    rows[i] = LLVMConstNamedStruct(kt, f, 3);
  }
  LLVMValueRef ktab = const_array(mod, kt, rows, g->nk, "nnrt.cu_kernels");
  for (int i = 0; i < n; i++) {
    /* PTX keeps its NUL (cuModuleLoadData reads it as a C string). */
    LLVMValueRef init = LLVMConstStringInContext2(llc, images[i].data, images[i].size, images[i].is_ptx ? 0 : 1);
    LLVMValueRef data = LLVMAddGlobal(mod, LLVMTypeOf(init), "nnrt.cu_image");
    LLVMSetInitializer(data, init);
    LLVMSetGlobalConstant(data, 1);
    LLVMSetLinkage(data, LLVMPrivateLinkage);
    LLVMSetAlignment(data, 64);
    LLVMValueRef f[] = {LLVMConstInt(i32, (unsigned)images[i].arch, 0), LLVMConstInt(i32, images[i].is_ptx, 0), data,
                        LLVMConstInt(i64, images[i].size, 0)};
    rows[i] = LLVMConstNamedStruct(it, f, 4);
  }
  LLVMValueRef itab = const_array(mod, it, rows, n, "nnrt.cu_images");
  free(rows);
  LLVMValueRef v[] = {LLVMConstInt(i32, (unsigned)g->nk, 0), ktab, LLVMConstInt(i32, (unsigned)n, 0), itab,
                      LLVMConstInt(i32, tf32, 0)};
  LLVMValueRef cuda = LLVMGetNamedGlobal(mod, "nnrt_cuda");
  if (!cuda) unreachable("the host module has no nnrt_cuda (cu_build_host)");
  LLVMSetInitializer(cuda, LLVMConstNamedStruct(ct, v, 5));
}
