/* ir.h — the graph IR: types, nodes, functions, modules, and the builder.
 *
 * A module holds globals (parameters and optimizer state), named symbolic
 * dims (like the batch B), the training configuration, and functions. A
 * function is a list of nodes in execution order; node i defines SSA value
 * i, its operands are earlier values (so the list is also a schedule). Every
 * node has exactly one result (void for stores). Function inputs are INPUT
 * nodes; results are listed in IrFunc.rets.
 *
 * Sections: types · ops (ops.def; the table in ir.c, the shape rules and
 * shape helpers in shape.c) · nodes and functions · module · builder (ir.c)
 * · text and graphs (text_print.c, text_parse.c with text_lex.c, dot.c) ·
 * checking (verify.c). The reference interpreter has its own header,
 * interp.h. */
#ifndef NNC_IR_H
#define NNC_IR_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../runtime/nnrt_abi.h"
#include "arena.h"
#include "diag.h"

/* ---- types ---- */

#define IR_MAX_RANK NNRT_MAX_RANK
#define IR_MAX_ARGS 12 /* a scan's operands (carries, sequences, constants) */

/* Element types, from runtime/nnrt_dtypes.def (shared with the runtime, so
 * a DType is its runtime code). DT_VOID is the type of stores and scans,
 * which have no value; every other row is a tensor element type. */
typedef enum {
#define DTYPE(id, name, bytes, code, st_name, npy, is_float, is_signed, ctype) DT_##id = NNRT_##id,
#include "../runtime/nnrt_dtypes.def"
  DT_COUNT = NNRT_DTYPE_COUNT
} DType;

/* The table's columns (ir.c). Out-of-range values are no type: name "?",
 * size 0, and ir_dtype_valid is false. */
const char *ir_dtype_name(DType dt); /* "f32", "i8", ... */
int ir_dtype_size(DType dt);         /* bytes per element */
bool ir_dtype_is_float(DType dt);
bool ir_dtype_is_signed(DType dt);
/* A tensor element type: in the table and not void. */
bool ir_dtype_valid(DType dt);
/* The element type spelled s[0..len) (not void); false if none is. */
bool ir_dtype_lookup(const char *s, size_t len, DType *out);
/* "f32, i32, ... or i64" in buf (for "expected ..." messages); returns buf. */
#define IR_DTYPE_LISTLEN 64
const char *ir_dtype_list(char *buf, size_t len);
/* Whether value v is an element of dt as it stands: for an integer type,
 * an integer within its range (a const's value must be; NaN never is). */
bool ir_dtype_holds(DType dt, double v);
/* What `cast` does to one element x of type `from` (as the interpreter
 * holds it: a double) when converting to `to`; the one definition, which
 * the backends match bit for bit.
 *  - float -> int truncates toward zero, like C, and saturates where C is
 *    undefined: NaN gives 0, values below (above) the range give its min
 *    (max). f32 -> i8 of 300.7 is 127, of -1e30 is -128, of -1.9 is -1.
 *  - int -> int wraps modulo 2^bits like C's conversions on a two's
 *    complement machine (sign-extends a signed source, zero-extends an
 *    unsigned one): i32 -> i8 of 200 is -56, i8 -> u8 of -1 is 255.
 *  - int -> float rounds to nearest (even), float -> float likewise.
 * The interpreter holds an i64 in a double, exact up to 2^53 in
 * magnitude; beyond that its i64 results are approximations. */
double ir_dtype_convert(double x, DType from, DType to);
/* Element i of a row-major buffer of dt, as a double (exact for every type
 * but i64 beyond 2^53), and the store back: v must be a value of dt
 * (ir_dtype_convert it first), as data read from a checkpoint is. */
double ir_data_get(DType dt, const void *data, int64_t i);
void ir_data_set(DType dt, void *data, int64_t i, double v);

/* A dim >= 0 is a static size; a dim < 0 is the symbolic dim -(d + 1) of the
 * module (its name is IrModule.syms[-(d + 1)]). */
#define IR_SYM(k) (-(int64_t)(k)-1)
#define IR_IS_SYM(d) ((d) < 0)
#define IR_SYM_INDEX(d) ((int)(-(d)-1))

typedef struct Shape {
  int rank;
  int64_t d[IR_MAX_RANK];
} Shape;

typedef struct Type {
  DType dt;
  Shape sh;
} Type;

/* Limits of a valid type (the parser's and the verifier's): a static dim is
 * at most IR_MAX_DIM, and the static dims of a type multiply to at most
 * IR_MAX_NUMEL, so element counts and byte sizes never overflow int64. */
#define IR_MAX_DIM ((int64_t)1 << 31)
#define IR_MAX_NUMEL ((int64_t)1 << 48)

bool ir_type_eq(const Type *a, const Type *b);
bool ir_shape_eq(const Shape *a, const Shape *b);
/* Number of elements if all dims are static, else -1. */
int64_t ir_numel_static(const Shape *s);

/* FNV-1a: the string hash of the name tables (printer, parser, frontend). */
static inline size_t ir_hash_str(const char *s) {
  size_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* ---- shape helpers (shape.c), shared by the rules, passes and frontend ---- */

/* Writes a shape rule's message (printf-style) to err; returns false, so a
 * rule can `return ir_shape_fail(...)`. */
bool ir_shape_fail(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* numpy broadcasting of a against b (align right; equal dims match, a 1
 * stretches) into *out; false if they do not broadcast. */
bool ir_broadcast_shapes(const Shape *a, const Shape *b, Shape *out);
/* Whether s broadcasts to exactly d (d's rank at least s's, and every dim
 * of s equal to d's or 1): the rule of the `broadcast` op. */
bool ir_broadcasts_to(const Shape *s, const Shape *d);
/* The shape of reducing s over axes[0..naxes) (in range, checked by the
 * caller): those dims dropped, or kept as 1 with keepdims. */
Shape ir_reduced_shape(const Shape *s, const int *axes, int naxes, bool keepdims);
/* Output size of a window of size k stepping by stride over n (+ 2 pad)
 * positions: (n + 2 pad - k) / stride + 1, or <= 0 when it does not fit. A
 * symbolic n gives n itself (callers reject symbolic H, W). */
int64_t ir_window_out(int64_t n, int k, int stride, int pad);

/* ---- attributes (attrs.def; the table and its helpers in attrs.c) ---- */

/* Attribute kinds, in print order; an op's attrs column (ops.def) is a mask
 * of their bits A_*. */
typedef enum {
#define ATTR(id, text, value, place, field, max) AK_##id,
#include "attrs.def"
  AK_COUNT
} AttrKind;

enum {
#define ATTR(id, text, value, place, field, max) A_##id = 1 << AK_##id,
#include "attrs.def"
  A_TRANS = A_TA | A_TB, /* matmul's operand transposes, always together */
};

/* The columns of attrs.def (its header comment says what each means). */
typedef enum { AV_INT, AV_REAL, AV_INTS, AV_FUNC, AV_GLOBAL } AttrValue;
typedef enum { AP_SIG, AP_OPERAND, AP_DICT, AP_NODE } AttrPlace;

typedef struct AttrInfo {
  const char *text;
  AttrValue value;
  AttrPlace place;
  size_t off;     /* of the field in IrNode */
  size_t len_off; /* AV_INTS: of the length in IrNode */
  int max;
} AttrInfo;

extern const AttrInfo ir_attrs[AK_COUNT];

/* The values of a node's attributes. index and result share a field (an op
 * has at most one), as do axes and perm. */
typedef struct Attrs {
  int index;
  const char *name;
  double value;
  int axis;
  int naxes;
  int axes[IR_MAX_RANK];
  int keepdims;
  int ta, tb;
  int kernel, stride, pad;
  int start, end;
  const char *body; /* scan: the step function's name */
  int ncarry, nseq, reverse;
  int salt;
  double qmin, qmax; /* fake_quant's integer range (value: its zero point) */
} Attrs;

struct IrNode;
/* Whether node n carries attribute k: its op's attrs column names it, or it
 * is a node annotation (AP_NODE) that is set. */
bool ir_attr_on(const struct IrNode *n, AttrKind k);
/* Prints the value of attribute k of n as the text format writes it (no
 * "text="): 3, 0.5, [0,2], @name ("@?" for a missing name). put_name
 * writes names (NULL: fputs), so that Graphviz can escape them. */
void ir_attr_print(FILE *out, const struct IrNode *n, AttrKind k, void (*put_name)(FILE *out, const char *s));
/* Whether a and b (of one op) carry the same values of the op's attributes,
 * and a hash that agrees with that equality: what CSE compares. Node
 * annotations (AP_NODE) take no part. */
bool ir_attrs_eq(const struct IrNode *a, const struct IrNode *b);
uint64_t ir_attrs_hash(const struct IrNode *n);
/* Copies n's name-valued attributes into the arena, so that the node owns
 * them. */
void ir_attrs_own(Arena *a, struct IrNode *n);

/* ---- ops (ops.def) ---- */

enum {
  OPF_ELEMWISE = 1 << 0,
  OPF_REDUCE = 1 << 1,
  OPF_CONTRACT = 1 << 2,
  OPF_ROWWISE = 1 << 3,
  OPF_LAYOUT = 1 << 4,
  OPF_SOURCE = 1 << 5,
  OPF_EFFECT = 1 << 6,
  OPF_TYPED = 1 << 7,
  OPF_COMMUTATIVE = 1 << 8,
  OPF_WINDOW = 1 << 9,
  OPF_RANGE = 1 << 10,
  OPF_GATHER = 1 << 11,
  OPF_QGEMM = 1 << 12,
};

/* gelu(x) = 0.5 x (1 + tanh(IR_GELU_C (x + IR_GELU_A x^3))): the tanh
 * approximation (PyTorch's approximate="tanh", Keras' approximate=True),
 * shared by the interpreter, the VJP rule and the kernel. */
#define IR_GELU_C 0.7978845608028654 /* sqrt(2 / pi) */
#define IR_GELU_A 0.044715

/* softplus(x) = log(1 + e^x), and x itself where x > IR_SOFTPLUS_THRESHOLD
 * (PyTorch's threshold=20: there log(1 + e^x) rounds to x in f32 and e^x
 * would overflow further on), shared like the gelu constants. */
#define IR_SOFTPLUS_THRESHOLD 20.0

#define IR_VARIADIC (-1)

typedef enum {
#define OP(id, mnem, nargs, flags, attrs, shape, vjp) OP_##id,
#include "ops.def"
  OP_COUNT
} OpKind;

struct IrModule;
/* Computes the result type of an op from its operand types and attributes.
 * For OPF_TYPED ops `out` arrives holding the declared type and the rule only
 * checks it. On error: writes a message (no location) to err and returns
 * false. */
typedef bool (*ShapeFn)(const struct IrModule *m, const Type *in, int nin, const Attrs *at,
                        Type *out, char *err, size_t errlen);

typedef struct OpInfo {
  const char *mnemonic;
  int nargs; /* IR_VARIADIC: any count up to IR_MAX_ARGS (the shape rule checks it) */
  unsigned flags;
  unsigned attrs;
  ShapeFn shape;
} OpInfo;

extern const OpInfo ir_ops[OP_COUNT];
static inline bool op_is(int op, unsigned flag) { return (ir_ops[op].flags & flag) != 0; }
/* OP_COUNT if the mnemonic is unknown. */
OpKind ir_op_by_name(const char *mnemonic);

/* ---- nodes and functions ---- */

typedef struct IrNode {
  OpKind op;
  int nargs;
  int args[IR_MAX_ARGS]; /* value ids, all < this node's id */
  Type ty;
  Attrs at;
  Loc loc;         /* where in the .nn source the node comes from */
  const char *name; /* optional value name, printed %name; NULL: %<id> */
  int group;       /* fusion group (passes/fuse.c), printed {group=N}; -1: none */
  int slot;        /* workspace slot (plan-memory), printed {slot=N}; read
                    * only when the function is mem_planned; -1: none */
  int offset;      /* where in the slot (plan-memory), printed {offset=N}:
                    * bytes per unit of the slot's symbolic size
                    * (codegen/plan.h, CgBuf.at); -1 with no slot */
} IrNode;

typedef struct IrFunc {
  const char *name;
  IrNode *nodes;
  int n, cap;
  int *rets;
  int nrets, retcap;
  struct IrModule *mod;
  bool mem_planned; /* plan-memory assigned IrNode.slot; any later change
                     * to the nodes voids it (fuse and simplify clear it) */
} IrFunc;

/* ---- module ---- */

/* NNRT_*'s: a trained parameter, optimizer state, a layer's statistics,
 * a pruning mask (nnrt_abi.h); "param", "state", "stats", "mask" in the
 * text format. */
typedef enum {
  GLOBAL_PARAM = NNRT_PARAM,
  GLOBAL_STATE = NNRT_STATE,
  GLOBAL_STATS = NNRT_STATS,
  GLOBAL_MASK = NNRT_MASK
} GlobalKind;
extern const char *const ir_global_kind_names[4];

typedef struct IrGlobal {
  const char *name; /* unique, e.g. "dense_1.w" */
  GlobalKind kind;
  Type ty;       /* static shape */
  int init;      /* NNRT_INIT_* */
  double init_a, init_b;
  /* The global's value, row-major bytes of ty (numel x its dtype's size), or
   * NULL: `init` makes it at run time. Set from a trained checkpoint by
   * `nnc build --checkpoint` (driver/checkpoint.c); passes that rewrite
   * weights (structured pruning, int8 quantization) read it and set new
   * data; the CPU backend embeds it in the binary. In IR text it is
   * ` data=[v, ...]` after the init (inline up to IR_DATA_INLINE elements;
   * larger data prints as ` data=(N bytes)`, which does not parse back). */
  const void *data;
  Loc loc;
} IrGlobal;
#define IR_DATA_INLINE 64

typedef enum {
  OPT_SGD = NNRT_OPT_SGD,
  OPT_ADAM = NNRT_OPT_ADAM,
  OPT_ADAMW = NNRT_OPT_ADAMW,
  OPT_RMSPROP = NNRT_OPT_RMSPROP
} OptKind;

typedef struct IrTrain {
  bool present; /* the module has a train block */
  OptKind opt;
  double lr, beta1, beta2, eps, weight_decay, momentum;
  double rho;       /* rmsprop: decay of the mean square (torch's alpha) */
  double clip_norm; /* > 0: gradients scaled to this global L2 norm at most */
  int batch, epochs;
  const char *data; /* dataset name, e.g. "fashion_mnist" */
  int task;         /* NNRT_TASK_* */
  uint64_t seed;
  /* Canonical text of the schedule and early_stop settings (see
   * runtime/nnrt_sched.def), NULL when not set: the runtime's business. */
  const char *schedule, *early_stop;
  /* Canonical text of the pruning schedule (--prune, runtime/nnrt_prune.h),
   * set by the prune pass; NULL: no pruning. */
  const char *prune;
  /* NNRT_LOSS_*: how the loss follows from forward's output, set by graph
   * pruning (prune_graph.c) when it drops eval_step, so that an inference
   * binary's eval can still report it; NNRT_LOSS_NONE otherwise. */
  int output_loss;
} IrTrain;

typedef struct IrModule {
  Arena *arena;
  const char *name;
  const char **syms;
  int nsyms, symcap;
  IrGlobal *globals;
  int nglobals, globalcap;
  IrFunc **funcs;
  int nfuncs, funccap;
  IrTrain train;
} IrModule;

/* Function names with a meaning to the driver and the runtime:
 *   forward    model inputs minus labels -> (model output)
 *   eval_step  all model inputs -> (loss f32[], model output)
 *   train_step eval_step's inputs + lr f32[] -> eval_step's outputs,
 *              stores updated globals (built by the autodiff pass)
 *   loss_step  eval_step in training mode (dropout active), present only
 *              when the modes differ; what autodiff differentiates when it
 *              exists (the backend does not compile it). forward and
 *              eval_step are evaluation mode. */
#define IR_FN_FORWARD "forward"
#define IR_FN_EVAL "eval_step"
#define IR_FN_TRAIN "train_step"
#define IR_FN_LOSS "loss_step"

/* ---- builder (ir.c) ---- */

IrModule *ir_module_new(Arena *a, const char *name);
/* Returns the sym index (existing or new). */
int ir_sym(IrModule *m, const char *name);
/* -1 if absent. */
int ir_sym_find(const IrModule *m, const char *name);
/* Returns the global index; the name must be new (checked by callers). */
int ir_global_add(IrModule *m, IrGlobal g);
int ir_global_find(const IrModule *m, const char *name);
IrFunc *ir_func_new(IrModule *m, const char *name);
IrFunc *ir_func_find(const IrModule *m, const char *name);
/* Removes a function from the module (its memory stays in the arena). */
void ir_func_remove(IrModule *m, IrFunc *f);

/* Appends a node. Computes its type with the op's shape rule (`hint` is the
 * declared type, required for OPF_TYPED ops, else may be NULL). On a shape
 * error reports it at `loc` through d (when d is non-NULL) and returns -1.
 * Returns the new value id. */
int ir_emit(IrFunc *f, OpKind op, const int *args, int nargs, const Attrs *at, const Type *hint,
            Loc loc, Diag *d);
/* Appends a node with a type already known to be right (no shape rule run):
 * for passes that copy nodes. */
int ir_append(IrFunc *f, const IrNode *n);
int ir_input(IrFunc *f, const char *name, Type ty, Loc loc);
void ir_ret(IrFunc *f, int value);

/* Convenience emitters for passes (abort on a shape error: a pass bug). */
int ir_op1(IrFunc *f, OpKind op, int a, Loc loc);
int ir_op2(IrFunc *f, OpKind op, int a, int b, Loc loc);
int ir_const(IrFunc *f, double value, const Type *ty, Loc loc); /* filled tensor */
int ir_scalar(IrFunc *f, double value, Loc loc);                /* f32[] */
int ir_global_ref(IrFunc *f, int global, Loc loc);

/* Drops a function's memory plan (plan-memory's slots and offsets): what
 * any pass that changes nodes after it must do. */
void ir_func_forget_memory(IrFunc *f);

/* Deep-copies a function into module m under a new name. */
IrFunc *ir_func_clone(IrModule *m, const IrFunc *f, const char *name);

/* Element count of a shape, given the values of the module's syms. */
int64_t ir_numel(const Shape *s, const int64_t *syms);
/* Writes "f32[B,784]" (type) into buf. */
const char *ir_type_str(const IrModule *m, const Type *t, char *buf, size_t len);
#define IR_TYPE_STRLEN 128

/* ---- scans (scan.c) ---- */

/* A scan's body function (NULL if absent). */
const IrFunc *ir_scan_body(const IrModule *m, const Attrs *at);
/* How many results a scan has: its body's return count. */
int ir_scan_nresults(const IrModule *m, const IrNode *scan);
/* The type of result `result` of scan node `scan` in f: what scan_out
 * reads. False with a message in err when there is no such result. */
bool ir_scan_result_type(const IrFunc *f, int scan, int result, Type *out, char *err, size_t errlen);
/* Whether scan node S can run on any block of its batch rows on its own
 * (scan_rows.c): then sym is the batch dim's sym index and row[a] says
 * whether operand a has the batch axis (a carry, a sequence step or a
 * constant with it leading; else every block reads the operand whole). */
typedef struct IrScanRows {
  int sym;
  bool row[IR_MAX_ARGS];
} IrScanRows;
bool ir_scan_rows(const IrModule *m, const IrNode *S, IrScanRows *out);
/* Whether some scan of the module runs f as its body. */
bool ir_func_is_scan_body(const IrModule *m, const IrFunc *f);

/* ---- fusion groups (groups.c) ---- */

/* A fusion group's kind, from its roots (docs/ir.md, "Fusion groups"). */
typedef enum { IR_GK_EW, IR_GK_REDUCE, IR_GK_ROW, IR_GK_GEMM } IrGroupKind;

typedef struct IrGroup {
  int group; /* the group id this part belongs to */
  IrGroupKind kind;
  int root;     /* the (first) non-elementwise member; -1 for IR_GK_EW and a row group without one */
  int axis;     /* a row group's row axis; a reduction over that one axis alone: it; else -1 */
  Shape domain; /* the iteration space every member broadcasts to */
  int nmem;     /* members, stores excluded */
} IrGroup;

/* How many group ids f uses: the largest + 1. */
int ir_group_count(const IrFunc *f);
/* Whether op may be a group's root (reductions, the softmax family, a
 * matmul or qmatmul under its epilogue). */
bool ir_group_root_op(OpKind op);
/* Whether op roots a GEMM group (its epilogue): matmul, or int8 qmatmul. */
bool ir_group_gemm_op(OpKind op);
/* Whether node v, of a root op, may root a group; false with the reason in
 * why (a batch of products is a loop of GEMMs, not one with an epilogue). */
bool ir_group_can_root(const IrFunc *f, int v, char *why, size_t len);
/* The axis along which node v computes row by row (a softmax's axis, the
 * one axis a reduction reduces), or -1. */
int ir_group_row_axis(const IrFunc *f, int v);
/* The group that node v starts: as its root, or as an elementwise group
 * whose domain is v's shape. */
IrGroup ir_group_start(const IrFunc *f, int v);
/* Whether node v may join g as a further member: elementwise, or (a row
 * group's further roots) row-local along g's row axis over g's domain;
 * exported: something outside the group reads it. False with the reason in
 * why. */
bool ir_group_admits(const IrFunc *f, const IrGroup *g, int v, bool exported, char *why, size_t len);
/* Adds node v, which g admits, to g: a root joining, or a member exported
 * one value per row, makes g a row group. */
void ir_group_add(const IrFunc *f, IrGroup *g, int v, bool exported);
/* Checks every group of f against the rule, part by part (a part is a
 * connected piece of a group; a group of several runs them as one
 * dispatch). Fills parts[] and part_of[] (node -> part or -1; both sized
 * f->n + 1, either may be NULL). Reports each violation through d (NULL:
 * silently) at the offending node. Returns the number of parts, or -1 when
 * the rule is broken. */
int ir_groups_check(const IrFunc *f, IrGroup *parts, int *part_of, Diag *d);
/* A kernel order: rank[i] is the position of node i's unit (its group, or
 * itself alone) in a topological order of the units that keeps node order
 * where it can (rank may be NULL). False, reported through d, when the
 * groups cannot be ordered. */
bool ir_group_schedule(const IrFunc *f, int *rank, Diag *d);

/* ---- text and graphs (text_print.c, text_parse.c, dot.c) ---- */

/* The text format round-trips: print(parse(print(m))) == print(m). */
void ir_print_module(FILE *out, const IrModule *m);
void ir_print_func(FILE *out, const IrFunc *f);
/* Parses IR text; errors go through d with file:line:col. NULL on error. */
IrModule *ir_parse(Arena *a, Diag *d, const char *path, const char *text, size_t len);
void ir_print_dot(FILE *out, const IrModule *m);

/* ---- checking (verify.c) ---- */

/* Checks types (re-running shape rules), operand counts, SSA order, globals
 * and return values. Reports problems through d; returns true if valid. */
bool ir_verify(const IrModule *m, Diag *d);

#endif
