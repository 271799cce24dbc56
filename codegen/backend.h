/* backend.h — what a code generator implements, and the registry of them.
 *
 * A target is a struct (like QBE's Target): the driver looks it up by the
 * name given to --target (cg_backend_find) and never looks inside. Each
 * backend names its own options (parsed by its set_option hook, listed in
 * its help text), the runtime library its binaries link, and the system
 * libraries after it. Every backend consumes the same backend-neutral kernel
 * plan (plan.h): the CPU backend (codegen/cpu) lowers each planned kernel to
 * an LLVM function; a CUDA backend implements the same struct. */
#ifndef NNC_BACKEND_H
#define NNC_BACKEND_H
#include "../ir/ir.h"
#include "../ir/timing.h"

/* EMIT_CUDA and EMIT_PTX: the CUDA target's kernel source and PTX. */
typedef enum { EMIT_LLVM, EMIT_ASM, EMIT_OBJ, EMIT_EXE, EMIT_CUDA, EMIT_PTX } EmitKind;

typedef struct CgOptions {
  const char *out_path;    /* output file */
  EmitKind emit;
  int opt_level;           /* 0..3 */
  bool cpu_native;         /* host CPU and features; else a portable x86-64 */
  bool no_vnni;            /* cpu: int8 products in portable vector code even
                            * where the CPU has AVX-512 VNNI or AVX-VNNI */
  bool no_scan_blocks;     /* cpu: no scan runs in blocks of batch rows (k_scan.c) */
  bool no_summed_gemm;     /* cpu: a batch of products summed over the batch stays T GEMMs and a sum (k_misc.c) */
  const char *runtime_lib; /* path of libnnrt.a, for EMIT_EXE */
  const char *cc;          /* C compiler driver used to link (default "cc") */
  bool verbose;            /* print the link command */
  /* An inference binary (nnc build --infer): NnrtModel.inference is set and
   * every global that has data (IrGlobal.data, from --checkpoint) is
   * embedded in the object (NnrtModel.embedded). A training binary never
   * embeds: it loads weights with --init or --checkpoint. */
  bool infer;
  /* cuda: --gpu-arch (NULL: the default, sm_90), checked by its set_option;
   * --tf32: GEMMs may use TF32 tensor cores (NnrtCuda.tf32). */
  const char *gpu_arch;
  bool tf32;
  bool no_lt_epilogue; /* --no-lt-epilogue: GEMM epilogues as kernels, not cuBLASLt's (codegen/cuda/lt.c) */
  Diag *diag;
  Timings *times; /* --time-passes: the backend adds a row per phase (NULL: not timed) */
} CgOptions;

typedef struct Backend {
  const char *name;        /* --target=<name> */
  const char *summary;     /* one line, for nnc --version and --help */
  const char *options;     /* help text of the options set_option takes */
  const char *runtime_lib; /* its runtime library's file name, found beside nnc */
  const char *link_libs;   /* what its binaries link after the runtime */
  /* Takes one of its own options (name without "--", value after '='; NULL
   * when there is none) into o. Returns false with a message in err when the
   * option is not its own or the value is bad. */
  bool (*set_option)(CgOptions *o, const char *name, const char *value, char *err, size_t errlen);
  /* Compiles the module's forward/eval_step/train_step functions and the
   * nnrt_model metadata (runtime/nnrt_abi.h) to o->out_path. Returns false
   * after reporting an error through o->diag. */
  bool (*compile)(const IrModule *m, const CgOptions *o);
} Backend;

/* The backends built in (backend.c), the first being the default. */
extern const Backend *const cg_backends[];
extern const int cg_nbackends;
/* NULL when no backend has that name. */
const Backend *cg_backend_find(const char *name);
/* A backend's on/off option (--no-vnni, --tf32): -1 when name is not flag;
 * else 1 with *dst set, or 0 with err saying it takes no value. */
int cg_flag_option(const char *name, const char *value, const char *flag, bool *dst, char *err, size_t errlen);

extern const Backend cg_cpu_backend;
extern const Backend cg_cuda_backend;

/* Links objects objs[0..nobjs) with backend be's runtime (o->runtime_lib),
 * the extra arguments and be's link libraries into executable `exe` with
 * the system C compiler driver (codegen/link.c; shared by every target). */
bool cg_link(const Backend *be, const char *const *objs, int nobjs, const char *exe, const char *extra_libs,
             const CgOptions *o);

#endif
