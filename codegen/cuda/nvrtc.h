/* nvrtc.h — ahead-of-time compilation of a CUDA binary's kernels (nvrtc.c).
 *
 * nnc itself never links the CUDA toolkit: NVRTC is loaded with dlopen when
 * a --target=cuda build first needs it, so nnc builds and runs on machines
 * without CUDA and only a CUDA build says what is missing. The images it
 * makes are what cu_define_images embeds (NnrtCuda.images): one cubin per
 * --gpu-arch, ascending, then the PTX of the newest, which the driver
 * compiles for GPUs newer than every cubin. */
#ifndef NNC_CUDA_NVRTC_H
#define NNC_CUDA_NVRTC_H
#include <stdbool.h>
#include <stdio.h>

#include "host.h" /* CuImage */

/* --gpu-arch's default, and the oldest SM it takes: the oldest CUDA 13's
 * NVRTC compiles for (nvrtcGetSupportedArchs: 75 80 86 ... 121). */
#define CU_DEFAULT_ARCH "sm_90"
#define CU_MIN_SM 75
#define CU_MAX_ARCHS 8

/* SM versions (80 for sm_80), ascending, no repeats. */
typedef struct CuArchs {
  int sm[CU_MAX_ARCHS];
  int n;
} CuArchs;

/* Parses --gpu-arch's value ("sm_90", "sm_80,sm_90"). False with a message
 * in err for anything else: empty entries, repeats, a name that is not
 * sm_<number>, an SM older than CU_MIN_SM, more than CU_MAX_ARCHS. */
bool cu_parse_archs(const char *list, CuArchs *out, char *err, size_t errlen);

/* The compiled images (data malloc'd; cu_images_free). */
typedef struct CuImages {
  CuImage img[CU_MAX_ARCHS + 1];
  int n;
} CuImages;

/* What cu_compile makes. */
typedef enum {
  CU_COMPILE_ALL, /* a cubin per arch, then the newest arch's PTX */
  CU_COMPILE_PTX  /* only the newest arch's PTX (--emit=ptx) */
} CuCompileWhat;

/* Compiles the CUDA C translation unit src (called `name` in messages,
 * e.g. "mlp.cu") for archs. With report non-NULL (nnc build -v) prints
 * ptxas's register and spill report there, one line per kernel and arch.
 * A compile error is a compiler bug: reported through d with NVRTC's log,
 * each error naming the kernel it is in; false. So is a missing NVRTC or
 * an arch it cannot compile for (with what to do about it). */
bool cu_compile(const char *src, const char *name, const CuArchs *archs, CuCompileWhat what, FILE *report,
                CuImages *out, Diag *d);
void cu_images_free(CuImages *im);

#endif
