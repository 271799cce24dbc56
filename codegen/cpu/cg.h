/* cg.h — internals of the CPU backend, shared by its files (not by the rest
 * of nnc; tests include it to JIT-compile modules).
 *
 * The backend works in two stages per IR function:
 *   plan  (plan.c, views.c, memplan.c): decides which nodes become kernels
 *         (one per fusion group), which are free views of other buffers
 *         (reshape, transpose, broadcast, global, input) or inline values
 *         (const, dim), where every materialised value lives (an output
 *         buffer, a global updated in place, or a workspace slot), and the
 *         order kernels run in. No LLVM here: plans are plain data.
 *   emit  (nest.c, k_*.c, step.c, meta.c): one LLVM function per kernel,
 *         the step function that calls them, and the nnrt_model constant.
 *
 * Sections: symbolic sizes · plans · emission context · per-file entry points. */
#ifndef NNC_CG_H
#define NNC_CG_H
#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include "../backend.h"

/* ---- symbolic sizes (views.c) ---- */

/* Every size and stride the backend meets is a product of static sizes and
 * symbolic dims: c * prod(syms[k] ^ e[k]). c == 0 is the zero stride of a
 * broadcast dim. Exact equality of monomials is what decides loop collapsing
 * and matmul layouts at compile time. */
#define CG_MAX_SYMS 16
typedef struct CgMono {
  int64_t c;
  uint8_t e[CG_MAX_SYMS];
} CgMono;

CgMono cg_mono(int64_t c);
CgMono cg_mono_dim(int64_t d); /* an IR dim: static size or symbolic */
CgMono cg_mono_mul(CgMono a, CgMono b);
bool cg_mono_eq(CgMono a, CgMono b);
bool cg_mono_is(CgMono a, int64_t c); /* equal to the constant c */
/* Same symbolic part, so that coefficients compare sizes for every binding. */
bool cg_mono_same_syms(CgMono a, CgMono b);
/* Product of shape dims [from, rank). */
CgMono cg_mono_numel(const Shape *s, int from);

/* ---- plans (plan.c, views.c, memplan.c) ---- */

#define CG_MAX_LOOPS IR_MAX_RANK

/* Where a buffer's memory comes from. Owned buffers (one per materialised
 * value) start as CB_WS and may be redirected to an output or a global. */
typedef enum { CB_GLOBAL, CB_INPUT, CB_OUTPUT, CB_WS } CgBufKind;

typedef struct CgBuf {
  CgBufKind kind;
  int index;     /* global / input / output number; for CB_WS the slot */
  int owner;     /* node whose value the buffer holds (-1 for arguments) */
  int def, last; /* live range in kernel order (inclusive), CB_WS only */
} CgBuf;

/* How consumers outside a node's kernel see its value. */
typedef enum {
  CV_NONE,  /* no value (store), or only visible inside its kernel */
  CV_CONST, /* uniform: every element is the node's constant */
  CV_DIM,   /* uniform: every element is a tensor's size along an axis */
  CV_BUF    /* a strided view of a buffer */
} CgValKind;

typedef struct CgView {
  int buf;
  CgMono st[IR_MAX_RANK]; /* stride per dim, in elements (0: broadcast) */
} CgView;

typedef struct CgVal {
  CgValKind kind;
  double cval;      /* CV_CONST */
  int dim_of, axis; /* CV_DIM: node whose shape is read, and the axis */
  CgView v;         /* CV_BUF */
} CgVal;

typedef enum { CK_EW, CK_REDUCE, CK_ROWWISE, CK_MATMUL, CK_ONEHOT, CK_WINDOW, CK_RANGE, CK_SCAN, CK_GATHER } CgKernKind;

/* A kernel writes each export's value, contiguously, into a buffer. */
typedef struct CgExport {
  int node;
  int buf;
} CgExport;

typedef struct CgKernel {
  CgKernKind kind;
  int root; /* the non-elementwise node (-1 for CK_EW) */
  int pos;  /* schedule key: the last member's node id */
  int *mem; /* member nodes (computed here), ascending */
  int nmem;
  CgExport *exp;
  int nexp;
  Shape domain; /* the iteration space: exports' shape, or the root's operand's */
  bool sink;    /* its values are only stored: it may run last */
  bool end;     /* an end-of-step copy (a return or a deferred store) */
} CgKernel;

typedef struct CgPlan {
  const IrFunc *f;
  Arena *arena;
  int *own; /* per node: the buffer it owns when materialised, or -1 */
  int nglobals, ninputs, noutputs;
  CgVal *val;     /* per node: how it is read */
  CgVal *src;     /* per node: for free nodes, their value computed from operands */
  int *kof;       /* per node: kernel computing it (member), or -1 */
  bool *mat;      /* per node: a free node materialised by a copy kernel */
  bool *exported; /* per node: written to memory by its kernel */
  CgBuf *bufs;
  int nbufs, bufcap;
  CgKernel *ks; /* in execution order */
  int nks;
  CgMono *slot_size; /* per workspace slot, bytes before alignment */
  int nslots;
  int nfused; /* kernels with more than one member */
} CgPlan;

/* Builds the plan of one function; arena-allocated. */
CgPlan *cg_plan(Arena *a, const IrModule *m, const IrFunc *f);

bool cg_is_kernel_op(OpKind op);
/* The values kernel k reads (its leaves), with the node each belongs to;
 * returns their number. */
int cg_kernel_reads(const CgPlan *p, const CgKernel *k, const CgVal **out, int *nodes);

/* views.c: fills p->src and p->val of every node from the mat flags. */
void cg_views(CgPlan *p, const IrModule *m);
/* Marks free nodes that their consumers cannot read as views (matmul
 * operands not in a BLAS layout, uniform onehot labels, reshapes of strided
 * views). Returns true if any flag changed. */
bool cg_mark_mat(CgPlan *p);
/* A view whose strides are the row-major strides of shape s (dims of size 1
 * may hold any stride). */
bool cg_view_rowmajor(const CgView *v, const Shape *s);
void cg_view_contig(CgView *v, int buf, const Shape *s);
/* A 2-d view's BLAS layout: 0 row-major, 1 transposed row-major, -1 neither. */
int cg_view_blas(const CgView *v, const Shape *s);
int cg_buf_new(Arena *a, CgPlan *p, CgBufKind kind, int index, int owner);

/* memplan.c: live ranges and workspace slots for CB_WS buffers. */
void cg_memplan(Arena *a, CgPlan *p);

/* ---- emission context ---- */

typedef struct CgCtx {
  LLVMContextRef llc;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTargetDataRef td;
  const IrModule *m;
  Arena *arena;
  LLVMTypeRef t_void, t_i32, t_i64, t_f32, t_f64, t_ptr;
  LLVMTypeRef t_kernel_body; /* void(ptr ctx, i64 lo, i64 hi) */
  LLVMValueRef f_sgemm, f_pfor, f_fail_label, f_fail_id;
  LLVMTypeRef ft_sgemm, ft_pfor, ft_fail_label, ft_fail_id;
  unsigned attr_noalias, attr_nounwind;
  const char *fname; /* IR function being compiled */
  int kcount;        /* kernels emitted so far, for names */
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
} CgKFn;

/* ---- module setup, helpers (target.c) ---- */

LLVMTargetMachineRef cg_target_machine(const CgOptions *o, char **err);
/* Builds the whole module (kernels, step functions, nnrt_model) in llc.
 * Returns NULL after reporting through o->diag. */
LLVMModuleRef cg_build_module(const IrModule *m, LLVMContextRef llc, LLVMTargetMachineRef tm, const CgOptions *o);
/* Runs the new pass manager's default<On> pipeline. */
bool cg_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level, Diag *d);
void cg_error(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

LLVMValueRef cg_i64(CgCtx *cx, int64_t v);
LLVMValueRef cg_i32(CgCtx *cx, int64_t v);
LLVMValueRef cg_f32(CgCtx *cx, double v);
LLVMValueRef cg_intrinsic(CgCtx *cx, const char *name, LLVMValueRef *args, int nargs);

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
LLVMTypeRef cg_dtype(CgCtx *cx, DType dt);

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
/* Wraps a ranged kernel in void body(ctx, lo, hi) for nnrt_parallel_for. */
void cg_make_body(CgCtx *cx, CgKFn *kf, const char *name);

/* ---- kernels (k_elem.c, k_reduce.c, k_misc.c, k_window.c, k_gather.c) ---- */

/* Value of elementwise node n from its operand values (k_elem.c's table). */
LLVMValueRef cg_ew_op(CgCtx *cx, const IrNode *n, const IrNode *args, LLVMValueRef *a);
/* Converts between f32 and i32 as a cast does. */
LLVMValueRef cg_convert(CgCtx *cx, LLVMValueRef v, DType from, DType to);
/* Each builds kernel k's function and fills kf (k_reduce.c, k_misc.c;
 * elementwise kernels are k_elem.c's own). */
void cg_kernel_reduce(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
void cg_kernel_rowwise(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
void cg_kernel_onehot(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
/* concat, slice, causal_mask: copies that look at indices */
void cg_kernel_range(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
void cg_kernel_window(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf); /* k_window.c */
/* embedding, embedding_grad, dropout (k_gather.c): kernels with their own
 * loops over contiguous operands (views.c materialises others). */
bool cg_is_gather_op(OpKind op);
void cg_kernel_gather(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);
/* Emits the sgemm call for a matmul kernel at F's insertion point. */
void cg_emit_matmul(CgFn *F, const CgKernel *k);
/* k_scan.c: a scan kernel (root: the scan; members: it and its scan_outs)
 * inline at F's insertion point, its scratch at `region`; and how many bytes
 * that region needs (built in F's entry block). */
void cg_emit_scan(CgFn *F, const CgKernel *k, LLVMValueRef region);
LLVMValueRef cg_scan_region_bytes(CgFn *F, const CgKernel *k);
/* Builds the kernel function for k (any kind but CK_MATMUL and CK_SCAN). */
void cg_kernel(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf);

/* ---- step functions and metadata (step.c, meta.c) ---- */

/* Emits nnc_<fn> and nnc_<fn>_workspace; returns false on error. */
bool cg_emit_step(CgCtx *cx, const IrFunc *f, LLVMValueRef *fn, LLVMValueRef *ws_fn, int *nfused);
/* Emits the nnrt_model constant; fns[i]/ws[i] for forward, eval_step,
 * train_step (NULL when absent). */
void cg_emit_meta(CgCtx *cx, LLVMValueRef fns[3], LLVMValueRef ws[3]);
/* The LLVM struct types mirroring NnrtTensor, NnrtFunc, NnrtModel (tests
 * check their offsets against the C compiler's). */
LLVMTypeRef cg_meta_types(CgCtx *cx, LLVMTypeRef *tensor, LLVMTypeRef *func);

#endif
