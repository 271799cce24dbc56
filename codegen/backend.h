/* backend.h — what a code generator implements.
 *
 * A target is a struct of function pointers (like QBE's Target): the driver
 * picks one by name and never looks inside. The CPU backend (codegen/cpu)
 * lowers each group of IR nodes to an LLVM function; a CUDA backend will
 * implement the same struct. */
#ifndef NNC_BACKEND_H
#define NNC_BACKEND_H
#include "../ir/ir.h"

typedef enum { EMIT_LLVM, EMIT_ASM, EMIT_OBJ, EMIT_EXE } EmitKind;

typedef struct CgOptions {
  const char *out_path;    /* output file */
  EmitKind emit;
  int opt_level;           /* 0..3 */
  bool cpu_native;         /* host CPU and features; else a portable x86-64 */
  const char *runtime_lib; /* path of libnnrt.a, for EMIT_EXE */
  const char *cc;          /* C compiler driver used to link (default "cc") */
  bool verbose;            /* print the link command */
  Diag *diag;
} CgOptions;

typedef struct Backend {
  const char *name;
  /* Compiles the module's forward/eval_step/train_step functions and the
   * nnrt_model metadata (runtime/nnrt_abi.h) to o->out_path. Returns false
   * after reporting an error through o->diag. */
  bool (*compile)(const IrModule *m, const CgOptions *o);
} Backend;

extern const Backend cg_cpu_backend;

/* Links object `obj` with the runtime into executable `exe` with the system C
 * compiler driver (codegen/link.c; shared by every target). */
bool cg_link(const char *obj, const char *exe, const char *extra_libs, const CgOptions *o);

#endif
