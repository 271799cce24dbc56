/* cg.h — internals of the CPU backend, shared by its files (not by the rest
 * of nnc; tests include it to JIT-compile modules).
 *
 * The backend lowers the backend-neutral kernel plan (../plan.h: kernels,
 * order, views, storage) of each IR function to LLVM (nest.c, k_*.c,
 * step.c, meta.c): one LLVM function per kernel, the step function that
 * calls them, and the nnrt_model constant.
 *
 * Sections: emission context · per-file entry points. */
#ifndef NNC_CG_H
#define NNC_CG_H
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "../backend.h"
#include "../plan.h"

/* ---- emission context ---- */

/* The instruction behind int8 dot products (k_int8.c): vpdpbusd on 512-bit
 * (AVX-512 VNNI) or 256-bit (AVX-VNNI, or AVX-512 VNNI with VL) vectors,
 * or plain vector code LLVM lowers for any CPU (its tiles sized for 32
 * vector registers where AVX-512 has them: PORTABLE_512). */
typedef enum { CG_QDOT_PORTABLE, CG_QDOT_PORTABLE_512, CG_QDOT_VNNI256, CG_QDOT_VNNI512 } CgQdot;

/* A device target's hooks (codegen/cuda): with them the step functions
 * run on the host but compute nothing themselves. Every planned kernel but
 * a matmul or a scan is built by the device's code generator and launched
 * with nnrt_cu_launch (runtime/nnrt_abi.h); matmuls call nnrt_cu_sgemm and
 * _batch, a GEMM group's epilogue is a device kernel launched after its
 * product, a scan's carries are copied with nnrt_cu_memcpy. Buffer
 * addresses (args, workspace slots, views) are computed exactly as for the
 * CPU: they are device addresses. */
/* How a device runs a GEMM group's product (CgDevice.gemm): plain
 * (ep 0: nnrt_cu_sgemm into the matmul's own buffer), or with a library
 * epilogue (nnrt_cu_sgemm_ep: ep, its result into node d's memory, the
 * bias read or bias gradient written at node bias's, aux at node aux's). */
typedef struct CgDevGemm {
  int ep;
  int d, bias, aux; /* nodes, -1 for none */
  int64_t ldaux;
} CgDevGemm;

typedef struct CgDevice {
  void *gen; /* the device code generator's state */
  /* Builds kernel k (index i in p->ks) for the device: its kernel number,
   * the plan buffers its parameter holds (in order; at most bufcap) and
   * its work items; false after reporting an error. */
  bool (*kernel)(void *gen, const CgPlan *p, const CgKernel *k, int i, int *kid, int *bufs, int bufcap, int *nbufs,
                 CgMono *work);
  int max_bufs, max_syms; /* the launch parameter's capacity */
  /* Kernel k's GEMM (a CK_MATMUL, index i): how the device computes it
   * (NULL hook: plainly). */
  void (*gemm)(void *gen, const CgPlan *p, const CgKernel *k, int i, CgDevGemm *out);
} CgDevice;

typedef struct CgCtx {
  LLVMContextRef llc;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTargetDataRef td;
  const IrModule *m;
  Arena *arena;
  LLVMTypeRef t_void, t_i32, t_i64, t_f32, t_f64, t_ptr;
  LLVMValueRef f_sgemm, f_sgemm_ep, f_sgemm_batch, f_pfor, f_pmulti, f_fail_label, f_fail_id;
  LLVMTypeRef ft_sgemm, ft_sgemm_ep, ft_sgemm_batch, ft_pfor, ft_pmulti, ft_fail_label, ft_fail_id;
  unsigned attr_noalias, attr_nounwind;
  CgQdot qdot;       /* how int8 products are computed (k_int8.c) */
  const char *fname; /* IR function being compiled */
  int kcount;        /* kernels emitted so far, for names */
  bool infer;        /* CgOptions.infer: an inference binary, globals' data embedded */
  bool no_scan_blocks; /* CgOptions.no_scan_blocks */
  bool no_summed_gemm; /* CgOptions.no_summed_gemm */
  const CgDevice *dev;  /* NULL: CPU code; else a device target's hooks */
  LLVMValueRef f_launch, f_memcpy, f_sgemm_lt; /* nnrt_cu_launch, nnrt_cu_memcpy, nnrt_cu_sgemm_ep (dev only) */
  LLVMTypeRef ft_launch, ft_memcpy, ft_sgemm_lt;
  struct CgTwins *twins; /* dedup.c: the kernel functions built so far */
} CgCtx;

/* One LLVM function under construction. */
typedef struct CgFn {
  CgCtx *cx;
  const CgPlan *p;
  LLVMValueRef fn;
  LLVMBasicBlockRef entry, start; /* entry: allocas and loop invariants */
  LLVMBuilderRef pre;             /* appends to entry */
  LLVMValueRef syms;              /* ptr to int64 syms */
  LLVMValueRef symv[CG_MAX_SYMS];
  LLVMValueRef *bufp; /* per plan buffer: pointer, or NULL */
} CgFn;

/* A kernel as the step function calls it. */
typedef struct CgKFn {
  LLVMValueRef fn;   /* (bufs..., syms[, lo, hi]) */
  LLVMValueRef body; /* void(ctx, lo, hi) for nnrt_parallel_for, or NULL */
  int *bufs;         /* plan buffers passed, one per distinct memory */
  int nbufs;
  bool ranged;  /* takes lo, hi over its outer loop: may run in parallel */
  CgMono outer; /* the outer loop's extent */
  CgMono inner; /* elements per outer iteration */
  struct CgTwin *twin; /* dedup.c's record of fn (NULL: not deduplicated) */
} CgKFn;

/* ---- module setup, helpers (target.c) ---- */

LLVMTargetMachineRef cg_target_machine(const CgOptions *o, char **err);
/* A new LLVM context whose diagnostics go to stderr as nnc's: errors and
 * warnings always, optimisation remarks (a loop the vectorizer was asked to
 * vectorize and could not) only with verbose. LLVM's default handler
 * printed every remark: "remark: <unknown>:0:0: loop not vectorized". */
LLVMContextRef cg_context(bool verbose);
/* Builds the whole module (kernels, step functions, nnrt_model) in llc.
 * Returns NULL after reporting through o->diag. */
LLVMModuleRef cg_build_module(const IrModule *m, LLVMContextRef llc, LLVMTargetMachineRef tm, const CgOptions *o);
/* The same for a device target (dev's hooks, see CgDevice): the host
 * module of step functions that launch the device's kernels, and
 * nnrt_model, whose cuda field points to the global "nnrt_cuda" (type
 * cg_meta_cuda_type, no initializer: the device backend sets it once its
 * images are compiled). */
LLVMModuleRef cg_build_module_dev(const IrModule *m, LLVMContextRef llc, LLVMTargetMachineRef tm, const CgOptions *o,
                                  const CgDevice *dev);
/* Runs the new pass manager's default<On> pipeline. */
bool cg_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level, Diag *d);
/* Sets LLVM's process-wide options cg_optimize relies on (once). */
void cg_optimize_init(void);
/* split.c: how many parts an executable's module is compiled in
 * (NNC_BUILD_THREADS, else the online CPUs; at most 8), and the compile
 * itself: objs[0..*nobjs) are the parts' objects (temp()'s malloc'd paths,
 * for the caller to link, unlink and free). */
int cg_split_parts(void);
bool cg_split_compile(LLVMModuleRef mod, const CgOptions *o, int nparts, char *(*temp)(void), char **objs,
                      int *nobjs);
/* Optimizes mod and writes o->out_path as o->emit says: LLVM IR text,
 * assembly, an object, or an executable linked with be's runtime (cg_link).
 * Shared by the backends whose host code is an LLVM module. */
bool cg_write_module(LLVMModuleRef mod, LLVMTargetMachineRef tm, const Backend *be, const CgOptions *o);
void cg_error(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

LLVMValueRef cg_i64(CgCtx *cx, int64_t v);
LLVMValueRef cg_i32(CgCtx *cx, int64_t v);
LLVMValueRef cg_f32(CgCtx *cx, double v);
LLVMValueRef cg_intrinsic(CgCtx *cx, const char *name, LLVMValueRef *args, int nargs);
/* e^x in vector-friendly arithmetic, no libm call (k_elem.c). */
LLVMValueRef cg_exp(CgCtx *cx, LLVMValueRef x);

/* ---- functions and loops (nest.c) ---- */

/* Starts building function fn (whose parameter syms_param is the syms
 * pointer): an entry block for allocas and loop invariants, then the body,
 * where the builder is left. cg_fn_seal closes the entry block once the body
 * is complete. */
void cg_fn_open(CgCtx *cx, CgFn *F, const CgPlan *p, LLVMValueRef fn, int syms_param);
void cg_fn_seal(CgFn *F);
/* An internal function of nptr pointer parameters (noalias when the flag
 * says), a syms pointer, then nextra i64 parameters, opened as above;
 * cg_fn_end returns void and seals it. */
void cg_fn_begin(CgCtx *cx, CgFn *F, const CgPlan *p, const char *name, int nptr, bool noalias, int nextra);
void cg_fn_end(CgFn *F);
LLVMValueRef cg_fn_param(CgFn *F, int i);
LLVMValueRef cg_alloca(CgFn *F, LLVMTypeRef t, const char *name);
LLVMValueRef cg_mono_val(CgFn *F, CgMono m);
LLVMValueRef cg_sym(CgFn *F, int k);
LLVMValueRef cg_buf_ptr(CgFn *F, int buf);
LLVMValueRef cg_gep(CgFn *F, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef off);
/* An element of dt as an LLVM type, and the alignment its loads and stores
 * may assume (its size: buffers are 64-byte aligned, elements packed). */
LLVMTypeRef cg_dtype(CgCtx *cx, DType dt);
unsigned cg_align(DType dt);

typedef struct CgFor {
  LLVMValueRef iv, hi, phi;
  LLVMBasicBlockRef head, body, exit;
} CgFor;
void cg_for_begin(CgFn *F, CgFor *l, LLVMValueRef lo, LLVMValueRef hi, const char *name);
void cg_for_end(CgFn *F, CgFor *l);

/* A loop nest over a kernel's domain with an elementwise evaluator (see
 * nest.c's header comment). */
typedef struct CgLoop {
  int last; /* its innermost domain dim: strides are that dim's */
  int tag;  /* the kernel's: dims with different tags never collapse */
  CgMono ext;
} CgLoop;

typedef struct CgNest {
  const CgPlan *p;
  const CgKernel *k;
  CgFn *F;
  int rank, nloops, nodes;
  CgLoop loops[CG_MAX_LOOPS];
  LLVMValueRef iv[CG_MAX_LOOPS];
  LLVMValueRef ext[CG_MAX_LOOPS];
  LLVMValueRef lo, hi; /* a ranged kernel's bounds of loop 0, else NULL */
  /* per node */
  bool *member; /* computed in this kernel */
  bool *need;   /* a target, or an operand of a needed member */
  int *level;   /* loop depth where its value becomes known */
  LLVMValueRef *value;
  int *acc; /* its memory access, or -1 */
  /* A row kernel's passes (k_reduce.c): when avail is set, a node is
   * emitted only from pass avail[node] on, and a member that is not
   * elementwise (a root) gets its value from root_value. */
  int *avail;
  int pass;
  LLVMValueRef (*root_value)(struct CgNest *N, int node, void *ctx);
  void *root_ctx;
  /* per access (loads, then the caller's extras) */
  CgMono (*dst)[IR_MAX_RANK]; /* stride per domain dim */
  CgMono (*st)[CG_MAX_LOOPS]; /* stride per loop */
  int nacc, first_extra;
} CgNest;

/* order: domain dims in loop order (NULL: row-major); tags: per domain dim
 * (NULL: all alike); targets: nodes whose values the kernel uses; extra:
 * further accesses (in domain strides) that must allow any collapsing. */
void cg_nest_init(CgNest *N, const CgPlan *p, const CgKernel *k, const int *order, const int *tags, const int *targets,
                  int ntargets, CgMono (*extra)[IR_MAX_RANK], int nextra);
const CgMono *cg_nest_extra(CgNest *N, int i); /* extra access i: stride per loop */
/* Forgets values at `level` and deeper, then emits those at `level`. */
void cg_nest_level(CgNest *N, int level);
LLVMValueRef cg_nest_get(CgNest *N, int node);
/* Element offset of an access, summing loops [0, upto). */
LLVMValueRef cg_nest_offset(CgNest *N, const CgMono st[CG_MAX_LOOPS], int upto);
/* Opens loop l over [0, extent) (loop 0 of a ranged kernel: [lo, hi)) and
 * emits level l+1. */
void cg_nest_open(CgNest *N, CgFor *f, int l);
void cg_nest_close(CgNest *N, CgFor *f);

/* Starts kernel k's function nnc_<fn>_k<i>_<what> over nest N (set up by
 * cg_nest_init): one parameter per distinct memory it touches (kf->bufs),
 * the syms, and when ranged the bounds of its outer loop, so that it may
 * run in parallel chunks. cg_kernel_end finishes it, fills kf and frees N.
 * N may be NULL for a kernel that builds its own loops: the caller then
 * reads the bounds from the parameters and sets kf->outer and kf->inner. */
void cg_kernel_begin(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf, CgNest *N, CgFn *F, const char *what,
                     bool ranged);
void cg_kernel_end(CgKFn *kf, CgNest *N, CgFn *F);
/* As cg_kernel_begin, for a GEMM epilogue: not ranged; the function's last
 * four parameters are the block of the product, r0, r1, c0, c1 (N's loops
 * get no bounds of their own: k_epilogue.c opens them). */
void cg_kernel_begin_block(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf, CgNest *N, CgFn *F,
                           const char *what);
/* Wraps a kernel in a function of (ctx, its bounds): void body(ctx, lo, hi)
 * for nnrt_parallel_for, or an NnrtEpilogue (ctx, r0, r1, c0, c1). */
void cg_make_body(CgCtx *cx, CgKFn *kf, const char *name);
/* dedup.c: replaces kf->fn, just built and not yet called, by an identical
 * kernel function built earlier in the module, if there is one (taking its
 * wrapper too); then cg_kernel_body makes kf's wrapper unless the twin had
 * one, and shares it with the twin's later copies. */
void cg_dedup_kernel(CgCtx *cx, CgKFn *kf);
void cg_kernel_body(CgCtx *cx, CgKFn *kf, const char *name);

/* ---- kernels (k_elem.c, k_reduce.c, k_misc.c, k_window.c, k_gather.c) ---- */

/* An elementwise nest over k's domain whose targets are k's exports, each
 * with a contiguous store access (cg_nest_extra(N, e)); tags as for
 * cg_nest_init. cg_nest_store_exports stores them at the current index. */
void cg_nest_init_ew(CgCtx *cx, CgNest *N, const CgPlan *p, const CgKernel *k, const int *tags);
void cg_nest_store_exports(CgNest *N);
/* Value of elementwise node n from its operand values (k_elem.c's table). */
LLVMValueRef cg_ew_op(CgCtx *cx, const IrNode *n, const IrNode *args, LLVMValueRef *a);
/* Converts an element between dtypes as a cast does (ir_dtype_convert). */
LLVMValueRef cg_convert(CgCtx *cx, LLVMValueRef v, DType from, DType to);
/* Each builds kernel k's function and fills kf (k_reduce.c, k_misc.c;
 * elementwise kernels are k_elem.c's own). */
void cg_kernel_reduce(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
void cg_kernel_row(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
void cg_kernel_onehot(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
/* concat, causal_mask: copies that look at indices */
void cg_kernel_range(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
void cg_kernel_window(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf); /* k_window.c */
/* embedding, embedding_grad, dropout (k_gather.c): kernels with their own
 * loops over contiguous operands (views.c materialises others). */
void cg_kernel_gather(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
/* Emits the sgemm call for a matmul kernel at F's insertion point; with
 * an epilogue (ep, an NnrtEpilogue, and its ctx; else both NULL), the call
 * is nnrt_sgemm_ep. */
/* lt: on a device, the product's library epilogue (NULL or lt->ep 0: none). */
void cg_emit_matmul(CgFn *F, const CgKernel *k, LLVMValueRef ep, LLVMValueRef ctx, const CgDevGemm *lt);
/* k_misc.c: a CK_MATMUL the plan marks sums_batch, as one GEMM into the
 * sum's buffer (plan.c, summed_gemms). */
void cg_emit_summed_matmul(CgFn *F, const CgKernel *k);
/* k_epilogue.c: the epilogue of a matmul or qmatmul kernel with more
 * members than its root (a GEMM group), as a function of one block of the
 * product. */
void cg_kernel_epilogue(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
/* k_scan.c: a scan kernel (root: the scan; members: it and its scan_outs)
 * inline at F's insertion point, its scratch at `region`; and how many bytes
 * that region needs (built in F's entry block). */
void cg_emit_scan(CgFn *F, const CgKernel *k, LLVMValueRef region);
/* A scan and the one after it (CgKernel.with_prev) as one job of two tasks,
 * where both run in blocks of rows; cg_scan_region_bytes of the first is the
 * pair's region. */
bool cg_scan_pair(CgFn *F, const CgKernel *k);
void cg_emit_scan_pair(CgFn *F, const CgKernel *k, LLVMValueRef region);
LLVMValueRef cg_scan_region_bytes(CgFn *F, const CgKernel *k);
/* Builds the kernel function for k (any kind but CK_MATMUL and CK_SCAN). */
void cg_kernel(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);

/* k_int8.c: qmatmul and qconv2d kernels (CK_QGEMM) inline at F's
 * insertion point: the weights packed into the scratch region, then the
 * product over row blocks on the pool, each block followed by qmatmul's
 * epilogue (ep, its (ctx, r0, r1, c0, c1) function from
 * cg_kernel_epilogue, and its ctx; else both NULL); the scratch bytes they
 * need (built in F's entry block); and which vpdpbusd the target machine
 * offers. */
void cg_emit_qgemm(CgFn *F, const CgKernel *k, LLVMValueRef region, LLVMValueRef ep, LLVMValueRef ctx);
LLVMValueRef cg_qgemm_region_bytes(CgFn *F, const CgKernel *k);
CgQdot cg_qdot_of(LLVMTargetMachineRef tm);
CgQdot cg_qdot_portable(LLVMTargetMachineRef tm); /* what --no-vnni gives */

/* ---- step functions and metadata (step.c, meta.c) ---- */

/* A compiled step function, as the metadata describes it. */
typedef struct CgStep {
  LLVMValueRef fn, ws; /* nnc_<fn>, nnc_<fn>_workspace; NULL when absent */
  const CgKInfo *k;    /* its kernels in call order (../kinfo.c) */
  int nk;
  const CgPlan *plan;  /* its plan: the kernels' exports (NnrtKernel.writes) */
} CgStep;

/* Emits nnc_<fn> and nnc_<fn>_workspace into *out; returns false on error.
 * prof_fn (NNRT_FN_*) is the id it passes to nnrt_prof_hook around each
 * kernel; -1 for a scan body, whose kernels count as their scan's. */
bool cg_emit_step(CgCtx *cx, const IrFunc *f, int prof_fn, CgStep *out, int *nfused);
/* Emits the nnrt_model constant from forward's, eval_step's and
 * train_step's steps (fn NULL when absent). */
void cg_emit_meta(CgCtx *cx, const CgStep steps[3]);
/* The LLVM struct types mirroring NnrtTensor, NnrtFunc, NnrtModel (tests
 * check their offsets against the C compiler's). */
LLVMTypeRef cg_meta_types(CgCtx *cx, LLVMTypeRef *tensor, LLVMTypeRef *func);
/* The types mirroring NnrtKernel (returned) and NnrtTerm. */
LLVMTypeRef cg_meta_kernel_types(CgCtx *cx, LLVMTypeRef *term);
/* The type mirroring NnrtWrite. */
LLVMTypeRef cg_meta_write_type(CgCtx *cx);
/* The types mirroring NnrtCuda (returned), NnrtCuKernel and NnrtCuImage. */
LLVMTypeRef cg_meta_cuda_types(LLVMContextRef llc, LLVMTypeRef *kernel, LLVMTypeRef *image);
/* A NUL-terminated private constant string in mod; NULL gives a null
 * pointer. */
LLVMValueRef cg_const_str(LLVMContextRef llc, LLVMModuleRef mod, const char *s);

#endif
