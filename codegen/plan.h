/* plan.h — the backend-neutral kernel plan: what every target consumes.
 *
 * From one IR function (after fuse and plan-memory) the plan decides:
 *   kernels  one per fusion group as the IR gives it (the fuse pass and the
 *            verifier own legality; the plan trusts them), one per other
 *            computing node; a scan and its scan_outs are one kernel;
 *   views    reshape, transpose, broadcast, global and input are strided
 *            views of other storage; const and dim are inline values; a
 *            free node is materialised only when a consumer cannot take
 *            its view (views.c);
 *   order    kernels in schedule order, update-only kernels last;
 *   storage  every materialised value in an output buffer, a global
 *            updated in place, or a workspace slot (memplan.c), slots
 *            reused by liveness.
 * No LLVM and no CUDA here: plans are plain data. codegen/cpu lowers a plan
 * to LLVM; codegen/cuda (a later target) to CUDA C.
 *
 * Sections: symbolic sizes · plans · kernel facts. */
#ifndef NNC_PLAN_H
#define NNC_PLAN_H
#include "../ir/ir.h"

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
/* Bytes of dims [from, rank) of t: their product times the element size. */
CgMono cg_mono_bytes(const Type *t, int from);

/* ---- plans (plan.c, views.c, memplan.c) ---- */

#define CG_MAX_LOOPS IR_MAX_RANK

/* Where a buffer's memory comes from. Owned buffers (one per materialised
 * value) start as CB_WS and may be redirected to an output or a global. */
typedef enum { CB_GLOBAL, CB_INPUT, CB_OUTPUT, CB_WS } CgBufKind;

typedef struct CgBuf {
  CgBufKind kind;
  int index;     /* global / input / output number; for CB_WS the slot */
  int64_t at;    /* CB_WS: offset in its slot, in bytes per unit of the slot's
                  * symbolic size (x B for a slot of B-sized values) */
  int owner;     /* node whose value the buffer holds (-1 for arguments) */
  int def, last; /* live range in kernel order (inclusive), CB_WS only */
  int64_t split_at;  /* CB_WS of a scaled plan: offset in the split layout,
                      * in bytes at the planned syms, in its region (memplan.c) */
  bool split_scaled; /* ... in the batch-sized region, scaled */
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
  CgMono off;             /* where element 0 is, in elements (a slice's start) */
} CgView;

typedef struct CgVal {
  CgValKind kind;
  double cval;      /* CV_CONST */
  int dim_of, axis; /* CV_DIM: node whose shape is read, and the axis */
  CgView v;         /* CV_BUF */
} CgVal;

typedef enum { CK_EW, CK_REDUCE, CK_ROW, CK_MATMUL, CK_ONEHOT, CK_WINDOW, CK_RANGE, CK_SCAN, CK_GATHER, CK_QGEMM } CgKernKind;

/* A kernel writes each export's value, contiguously, into a buffer. */
typedef struct CgExport {
  int node;
  int buf;
} CgExport;

typedef struct CgKernel {
  CgKernKind kind;
  int root; /* the non-elementwise node (-1 for CK_EW), a CK_ROW's first; a
             * CK_MATMUL's (or CK_QGEMM's) other members are its epilogue,
             * run on each block of the product */
  int axis; /* a CK_ROW's row axis: each row along it is one unit of work */
  int64_t pos; /* sort key while ordering: its unit's rank in ir_group_schedule's order */
  int hgroup;  /* its IR group, or -1; the kernels of one group's parts
                * sit side by side and run as one dispatch */
  int step;    /* the index of the first kernel of its dispatch: kernels of
                * one step may run at once, so liveness and in-place
                * decisions count time in steps */
  int *mem; /* member nodes (computed here), ascending */
  int nmem;
  CgExport *exp;
  int nexp;
  Shape domain; /* the iteration space: exports' shape, or the root's operand's */
  /* A batch of products summed over the batch (plan.c, summed_gemms):
   * the CK_MATMUL of sum(matmul(A[T,K,M], B[T,K,N], ta=1), axes=[0]) is
   * one GEMM over T*K rows that writes the sum's value (its export), and
   * the sum's kernel has nothing left to run (done_in: that matmul's
   * kernel; -1 everywhere else). */
  bool sums_batch;
  int done_in;
  bool sink;    /* its values are only stored: it may run last */
  bool with_prev; /* a scan in one step with the scan before it (plan.c,
                   * pair_scans): a CPU binary runs the two at once */
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
  /* The workspace (memplan.c): slots laid out one after another, buffer b
   * at offset bufs[b].at in slot bufs[b].index, in units of slot_unit.
   * Scaled (every size depends on the batch sym alone): one slot planned
   * at the sym values plan_syms (the train block's batch), unit 1 byte,
   * arena0 bytes; at other sym values every offset and the size are
   * multiplied by the integer cg_mem_scale(). Else one slot per symbolic
   * size class, valid for every sym value as it is (scale 1). */
  bool scaled;
  int64_t plan_syms[CG_MAX_SYMS];
  int64_t arena0;
  /* Scaled, the split layout, which the step function takes instead when
   * it needs fewer bytes at the call's scale (cg_mem_split): fixed-size
   * values in the first split_fixed bytes (64-byte aligned), at split_at,
   * and batch-sized ones after them at split_fixed + scale * split_at,
   * split_batch bytes at the planned syms. */
  int64_t split_fixed, split_batch;
  bool has_split; /* false: the split layout could not keep every in-place
                   * pair of the one-arena plan (memplan.c) */
  CgMono *units; /* scaled: the distinct size monomials (coefficient 1) */
  int nunits;
  CgMono *slot_size; /* per slot, bytes before alignment (times the scale) */
  CgMono *slot_unit; /* per slot: what an offset counts (times the scale) */
  int nslots;
  int nfused; /* kernels with more than one member */
  const char *bad_memory; /* why the IR's memory record is wrong, or NULL */
  bool no_summed_gemm;    /* CgPlanOptions.no_summed_gemm */
} CgPlan;

/* What a backend may ask of the plan. The plan-memory pass records the
 * defaults' memory plan in the IR; a plan with other options makes its own. */
typedef struct CgPlanOptions {
  bool no_summed_gemm; /* a batch of products summed over the batch stays T
                        * products and a sum (CgKernel.sums_batch) */
} CgPlanOptions;

/* Builds the plan of one function; arena-allocated. o may be NULL (the
 * defaults). */
CgPlan *cg_plan(Arena *a, const IrModule *m, const IrFunc *f, const CgPlanOptions *o);

bool cg_is_kernel_op(OpKind op);
/* The values kernel k reads (its leaves), with the node each belongs to;
 * returns their number. */
int cg_kernel_reads(const CgPlan *p, const CgKernel *k, const CgVal **out, int *nodes);
/* A row kernel's passes over each row (CK_ROW; codegen/cpu/k_reduce.c says
 * why): avail[x], the first pass that knows node x, for every member need
 * marks (NULL: every member), 0 for the rest (values read from memory);
 * returns the kernel's last pass. Both backends' row kernels count their
 * passes with it. */
int cg_row_passes(const CgPlan *p, const CgKernel *k, const bool *need, int *avail);

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

/* memplan.c: live ranges and workspace slots for CB_WS buffers: as the IR
 * records them (IrFunc.mem_planned), or assigned here. */
void cg_memplan(Arena *a, CgPlan *p);

/* The workspace a plan needs for given sym values: the arena (the slots,
 * each 64-byte aligned) and its lower bound, the most bytes live at once,
 * first reached in kernel `peak`. */
typedef struct CgMemStats {
  int64_t arena, lower;
  int peak;
  bool split; /* the arena is the split layout's (cg_mem_split) */
} CgMemStats;
CgMemStats cg_memstats(const CgPlan *p, const int64_t *syms);
/* The bytes buffer b takes while kernel i runs at syms: 0 when it is not a
 * live workspace buffer then, or shares the bytes of one dying in place. */
int64_t cg_mem_live_bytes(const CgPlan *p, int b, int i, const int64_t *syms);
/* The sym values a module's memory is planned at: the batch sym (named B,
 * else the first) at the train block's batch (64 without one), the others
 * 1, as the runtime binds them (rt_session.c). */
void cg_plan_point(const IrModule *m, int64_t *syms);
/* The factor the arena and every offset are scaled by at syms: the least
 * integer >= 1 with size(syms) <= factor * size(plan_syms) for every
 * workspace buffer's size monomial. */
int64_t cg_mem_scale(const CgPlan *p, const int64_t *syms);
/* Does the step function lay the workspace out split at this scale: fixed-
 * size values first, batch-sized ones scaled after them (fewer bytes than
 * the one arena scaled whole)? */
bool cg_mem_split(const CgPlan *p, int64_t scale);

/* ---- kernel facts (kinfo.c) ---- */

/* A sum of monomials with distinct symbolic parts (a cost in the syms). */
typedef struct CgPoly {
  CgMono *t;
  int n, cap;
} CgPoly;

/* What a planned kernel is and what one run of it costs, for profiles and
 * reports (the nnrt_model kernel tables, `nnc bench`). The counting rules
 * are docs/bench.md's: bytes are the buffers it reads (its leaves, each
 * buffer once, broadcast dims not repeated) and writes (its exports) at
 * their element sizes; FLOPs are 2*M*N*K per matmul, about one per
 * elementwise op per element, one per reduced input element. A scan costs
 * its body's kernels times its steps. */
typedef struct CgKInfo {
  const char *name; /* "k<index in p->ks>_<kind>": "k12_ew", "k3_matmul" */
  const char *ops;  /* members' mnemonics in order: "sub,mul,exp" */
  CgPoly bytes, flops;
  CgPoly calls; /* kernel calls per run: 1, or a scan's steps x its body's */
} CgKInfo;

/* One CgKInfo per kernel of p, in p->ks order; arena-allocated. */
CgKInfo *cg_kinfo(Arena *a, const IrModule *m, const CgPlan *p);
/* The value of a cost for the given syms. */
double cg_poly_eval(const CgPoly *q, const int64_t *syms);

#endif
