/* host.h — the host half of a CUDA binary (host.c): the LLVM module of step
 * functions and nnrt_model, built by the CPU backend with device hooks
 * (codegen/cpu/cg.h, CgDevice), while gen.c collects the kernels' CUDA C.
 * Only the CUDA backend's driver (backend.c) and tests use it. */
#ifndef NNC_CUDA_HOST_H
#define NNC_CUDA_HOST_H
#include "../cpu/cg.h"
#include "cuda.h"

/* Builds the host module of m in llc and fills g (cu_gen_init'ed by the
 * caller) with the whole CUDA C translation unit (prelude, kernels, and
 * the emulation's kernel list under #ifdef NNRT_CUDA_EMU) and the kernel
 * table. NULL after reporting an error through o->diag. */
LLVMModuleRef cu_build_host(const IrModule *m, LLVMContextRef llc, LLVMTargetMachineRef tm, const CgOptions *o,
                            CuGen *g);

/* An image to embed: a cubin for sm_<arch>, or PTX for compute_<arch>. */
typedef struct CuImage {
  int arch;
  bool is_ptx;
  const void *data;
  size_t size; /* PTX: without its NUL */
} CuImage;

/* Gives the host module's nnrt_cuda its value: g's kernel table, the
 * images (cubins in ascending arch, then the PTX) and the TF32 flag. */
void cu_define_images(LLVMModuleRef mod, const CuGen *g, const CuImage *images, int n, bool tf32);

#endif
