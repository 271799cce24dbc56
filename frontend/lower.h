/* lower.h — shared between lower.c (statements, expressions, the two IR
 * functions), builtins.c (the table of builtin functions, initialisers and
 * optimizers; builtins_seq.c holds the callbacks of the sequence layers,
 * builtins_loss.c the losses) and train.c (the train block). Internal to
 * frontend/.
 *
 * Lowering produces IR values; FE_ERR stands for a value that failed. It
 * was reported where it failed, and every later use of it fails silently, so
 * one mistake gives one message. */
#ifndef NNC_FE_LOWER_H
#define NNC_FE_LOWER_H
#include "ast.h"
#include "frontend.h"

#define FE_ERR (-1)

/* Integers in .nn (dims, axes, units) stay below FE_MAX_INT, and a tensor
 * below FE_MAX_ELEMS elements, so that no size computation can overflow
 * (both inside the IR's own limits, IR_MAX_DIM and IR_MAX_NUMEL). */
#define FE_MAX_INT 2147483647.0
#define FE_MAX_ELEMS ((int64_t)1 << 40)
_Static_assert(FE_MAX_ELEMS <= IR_MAX_NUMEL && 2147483647 < IR_MAX_DIM, "the frontend's limits exceed the IR's");

/* A set of names, each with the next numeric suffix to try when it is used
 * as a base ("h" → "h.1", "h.2", ...), so that giving n values the same
 * base costs O(n) in all, not O(n^2) probes of O(n) each. Open addressing;
 * lower.c. */
typedef struct FeNameTab {
  const char **key;
  int *next;
  int cap, n;
} FeNameTab;

#define FE_MAX_PARAMS 12 /* conv2d has 11 */

/* What a name in the model refers to. */
typedef enum {
  NK_INPUT,
  NK_PARAM,
  NK_LET,
  NK_CONST, /* a compile-time number: a def's number argument, a repeat's index, `d = 128` */
  NK_GONE,  /* a repeat's index after its repeat: skipped by lookups */
} NameKind;

typedef struct FeName {
  const char *name;
  NameKind kind;
  int val; /* IR value, or FE_ERR */
  Loc loc;
  double num; /* NK_CONST */
  bool is_int;
  bool is_index; /* a repeat's index: cannot be rebound */
} FeName;

/* A value whose meaning depends on the mode (batch_norm): `train` in
 * training mode, `eval` in evaluation mode (forward, eval_step); or, with
 * eval = -1, a store only training mode makes (the running statistics). */
typedef struct FeModal {
  int train, eval;
} FeModal;

/* The result of `output` or `minimize`. */
typedef struct FeResult {
  bool seen;
  int v;
  Loc loc;
} FeResult;

/* One level of expansion, innermost last: each error inside gets a note
 * per level ("in call of 'block' (block_2)"), pointing at the call or the
 * repeat. */
typedef struct FeFrame {
  const char *def; /* the def called, or NULL for a repeat's iteration */
  const char *instance; /* the call's instance name: block_2 */
  Loc loc;
  int64_t iter, count; /* a repeat's iteration (from 0) and count */
  const char *index;   /* its index name, or NULL */
} FeFrame;

/* Statements lowered in all, counting each expansion: bounds what nested
 * repeats and defs can blow up into. */
#define FE_MAX_EXPANDED 100000

typedef struct Lower {
  Arena *a;
  Diag *d;
  const Program *prog;
  IrModule *m;
  IrFunc *f;    /* the scratch function everything is lowered into */
  int cur_stmt; /* for "used before it is defined" */
  FeName *names;
  int nnames, namecap;
  FeNameTab used; /* IR value names taken in f (they must be unique) */
  FeLayer *layers;
  int nlayers, layercap;
  FeNameTab layer_names; /* the names of layers[] (and of rows dropped later) */
  int *inputs; /* the INPUT nodes, in declaration order (FE_ERR for bad ones) */
  int ninputs, inputcap;
  bool in_loss; /* lowering `minimize`: no summary rows for its activations */
  bool task_set;
  int task; /* NNRT_TASK_* of the first loss function called */
  int bce_logits; /* the logits binary_cross_entropy read (FE_ERR: none): when
                   * they are the output, the task is NNRT_TASK_BINARY_LOGITS */
  FeModal *modal;
  int nmodal, modalcap;
  /* The statement list being lowered (the model's, a def's, a repeat's)
   * and the current one in it, for "used before it is defined". */
  const Stmt *body;
  int nbody;
  FeResult out, loss;
  /* Names are looked up from scope_base on: a def's body sees only its
   * parameters and its own bindings. */
  int scope_base;
  const char *prefix; /* the def instance being expanded ("block_2"), or NULL */
  FeFrame *frames;
  int nframes, framecap;
  int *rets; /* where the def call being expanded puts its return values */
  int64_t expanded;
  struct BParam **def_params; /* per prog->defs[i]: its parameters as a builtin's (lower_def.c) */
} Lower;

/* ---- lower.c ---- */

int fe_lower_expr(Lower *L, const Expr *e);
/* ir_emit that reports shape errors at loc. FE_ERR on error. */
int fe_emit(Lower *L, OpKind op, const int *args, int nargs, const Attrs *at, const Type *hint, Loc loc);
int fe_emit1(Lower *L, OpKind op, int x, Loc loc);
int fe_emit2(Lower *L, OpKind op, int x, int y, Loc loc);
int fe_scalar(Lower *L, double v, Loc loc);
const Type *fe_type(const Lower *L, int v);
/* True if name is bound to a value (an input, a parameter, a binding). */
bool fe_is_value_name(Lower *L, const char *name);
/* The binding of name in the current scope, or NULL. */
FeName *fe_lookup(Lower *L, const char *name);
/* Binds name in the current scope (rebinding it if it is bound there). */
FeName *fe_define(Lower *L, const char *name, NameKind kind, int v, Loc loc);
/* name = v: binds a tensor (not a repeat's index) and names its node. */
void fe_bind_name(Lower *L, const char *name, Loc loc, int v);
/* Lowers a list of statements in the current scope. */
void fe_lower_stmts(Lower *L, const Stmt *stmts, int n);
/* Keeps name (a layer or def instance) from being given to another. */
void fe_take_layer_name(Lower *L, const char *name);
/* A fresh name for an IR value: base, or base.1, base.2, ... if taken. */
const char *fe_unique_name(Lower *L, const char *base);
void fe_add_layer(Lower *L, const char *name, const char *kind, int v, int64_t params, Loc loc);
/* Records train_v as the training-mode value of what eval_v computes in
 * evaluation mode; eval_v = -1 makes train_v a training-only store. */
void fe_add_modal(Lower *L, int train_v, int eval_v);
/* "dense_1", "dense_2", ...: the next layer name of a kind not yet taken. */
const char *fe_auto_layer_name(Lower *L, const char *kind);
bool fe_layer_name_taken(const Lower *L, const char *name);
/* Maps a possibly negative axis onto [0, rank); reports and returns -1 if
 * it is out of range. */
int fe_norm_axis(Lower *L, int64_t axis, int rank, Loc loc);
/* Writes "f32[B,784]" into a buffer of IR_TYPE_STRLEN bytes. */
const char *fe_type_str(const Lower *L, const Type *t, char *buf);

/* ---- builtins.c ---- */

/* Kinds of builtin parameters: how an argument is read. Only P_TENSOR
 * arguments are lowered; the others are compile-time constants. */
typedef enum {
  P_TENSOR, /* any expression; a number becomes an f32[] constant */
  P_INT,    /* an integer literal (maybe negative) */
  P_NUM,    /* a number literal (maybe negative) */
  P_AXES,   /* an integer or a list of integers */
  P_SHAPE,  /* a list of positive integers, dim names, and at most one -1 */
  P_BOOL,   /* true | false */
  P_CHOICE, /* one name out of `choices` ("relu|sigmoid|none") */
  P_INIT,   /* an initialiser: he_normal, normal(std: 0.1), ... */
  P_STR,    /* a string literal */
  P_PAD,    /* padding: an integer >= 0, or "same" (read as -1) or "valid" (0) */
  P_ANY,    /* a def's parameter: a constant number (is_const), else a tensor */
} ParamKind;

/* def: the default written as source text; FE_REQUIRED: must be given;
 * FE_OPTIONAL: may be left out, the builtin then decides (BArg.present is
 * false). */
#define FE_REQUIRED NULL
#define FE_OPTIONAL ""

typedef struct BParam {
  const char *name;
  ParamKind kind;
  const char *def;
  const char *choices; /* P_CHOICE */
} BParam;


/* A parameter initialiser before its fans are known. */
typedef struct FeInit {
  int kind; /* NNRT_INIT_* */
  double a, b;
} FeInit;

/* A bound argument. */
typedef struct BArg {
  bool present;
  Loc loc; /* the argument, or the call for a default */
  int v;   /* P_TENSOR */
  int64_t i;
  double num;
  bool is_const, is_int; /* P_ANY: num holds a constant (an integer if is_int) */
  bool b;
  const char *s; /* P_CHOICE, P_STR */
  int n;         /* P_AXES, P_SHAPE: list length */
  int64_t list[IR_MAX_RANK]; /* P_SHAPE: syms as IR_SYM(k) */
  int infer;                 /* P_SHAPE: index of the -1, or -1 */
  FeInit init;
} BArg;

typedef struct Builtin Builtin;
typedef int (*LowerFn)(Lower *L, const Builtin *b, const Expr *call, BArg *args);

enum {
  B_LAYER = 1 << 0, /* shows as a row of the summary (activations, flatten) */
  B_LOSS = 1 << 1,  /* a loss: sets the task (NNRT_TASK_*) of the module */
};

struct Builtin {
  const char *name;
  OpKind op; /* for the shared lowering callbacks (unary ops, reductions) */
  unsigned flags;
  int task;
  BParam params[FE_MAX_PARAMS]; /* ends at the first NULL name */
  LowerFn lower;
};

const Builtin *fe_builtin_find(const char *name);
/* Creates parameter <layer>.<suffix> (initialiser fans already set, or read
 * off a [.., in, out] shape by fe_layer_param) and loads it. */
int fe_layer_param_init(Lower *L, const char *layer, const char *suffix, Shape sh, FeInit init, Loc loc);
int fe_layer_param(Lower *L, const char *layer, const char *suffix, Shape sh, FeInit init, Loc loc);
/* A layer's name: the `name:` argument (an identifier not taken yet) or
 * made up from kind; NULL after an error. */
const char *fe_layer_name(Lower *L, const BArg *a, const char *kind);
/* Reduces x over the axes listed in `axes` (absent or NULL: all axes). */
int fe_reduce(Lower *L, OpKind op, int x, const BArg *axes, bool keepdims, Loc loc);
/* x as f32 (a cast when it is not). */
int fe_to_f32(Lower *L, int x, Loc loc);
/* x reshaped to s (same elements). */
int fe_reshape_to(Lower *L, int x, const Shape *s, Loc loc);
/* The losses (builtins_loss.c) and the recurrent layers (builtins_rnn.c),
 * searched after builtins.c's table. */
extern const Builtin fe_loss_builtins[];
extern const int fe_loss_nbuiltins;
extern const Builtin fe_rnn_builtins[];
extern const int fe_rnn_nbuiltins;
/* The convolution, pooling and normalisation layers (builtins_layers.c). */
extern const Builtin fe_layer_builtins[];
extern const int fe_layer_nbuiltins;
/* Comparisons, where, mean_pool and multihead_attention (builtins_attn.c). */
extern const Builtin fe_attn_builtins[];
extern const int fe_attn_nbuiltins;
/* The elementwise activations a layer's `activation:` may name. */
#define FE_ACTIVATIONS "relu|sigmoid|tanh|gelu|leaky_relu|elu|silu|softplus"
/* y through the activation `name` (fe_activation in builtins.c). */
int fe_activation(Lower *L, const char *name, int y, int axis, Loc loc);
int fe_lower_call(Lower *L, const Expr *call);
/* Reads an initialiser expression (a name or a call). */
bool fe_read_init(Lower *L, const Expr *e, FeInit *out);
/* Fills in fans for he_normal / glorot_uniform from a parameter's shape
 * (Keras's rule: [.., in, out] with the leading dims as receptive field). */
void fe_init_fans(FeInit *init, const Shape *s);
/* Matches a call's arguments against params (by position, then by key) and
 * reads them. Reports every problem; false if there was any (or a tensor
 * argument failed). `what` names the callee in messages. */
bool fe_bind(Lower *L, const char *what, const BParam *params, const Expr *call, BArg *out);
/* A number literal, maybe negated (-1, -1e-3): the constant arguments. */
bool fe_const_num(const Expr *e, double *v, bool *is_int);
/* Every builtin name (NULL-terminated, in the arena), for suggestions. */
const char **fe_builtin_names(Arena *a, int *n);
/* A layer's name: the `name:` argument (an identifier not taken yet) or
 * "<kind>_<n>"; NULL after reporting a bad one. */
const char *fe_layer_name(Lower *L, const BArg *a, const char *kind);
/* Creates parameter <layer>.<suffix> [sh] with fans for he_normal and
 * glorot_uniform read off its [.., in, out] shape, and loads it. */
int fe_layer_param(Lower *L, const char *layer, const char *suffix, Shape sh, FeInit init, Loc loc);

/* ---- lower_def.c: defs, repeat, constants ---- */

/* Checks the program's defs (names, parameters, defaults) once, before the
 * model is lowered. */
void fe_check_defs(Lower *L);
/* Every builtin's and def's name, for suggestions. */
const char **fe_callable_names(Lower *L, int *n);
/* The def called name, or NULL. */
const Def *fe_def_find(const Lower *L, const char *name);
/* Expands a call of a def giving one value (an expression). */
int fe_lower_def_call(Lower *L, const Def *df, const Expr *call);
void fe_lower_unpack(Lower *L, const Stmt *s); /* a, b = f(x) */
void fe_lower_repeat(Lower *L, const Stmt *s);
void fe_lower_return(Lower *L, const Stmt *s);
/* A compile-time number: literals, names bound to constants and + - * /
 * ** of them (integers stay integers where the result is whole). False,
 * without a message, if e is not one. */
bool fe_const_value(Lower *L, const Expr *e, double *v, bool *is_int);
/* A string argument with {name} replaced by the constant name holds
 * ("block{i}" → "block2"); NULL after reporting a bad one. */
const char *fe_interpolate(Lower *L, const Expr *str);
/* name, or "<prefix>.name" inside a def's expansion. */
const char *fe_prefixed(Lower *L, const char *name);
/* The note for each frame of the expansion: the Diag's context hook. */
void fe_note_frames(void *lower);

/* ---- builtins_seq.c: the layers of sequence models ---- */

/* The global `name` of a kind other than a parameter (GLOBAL_STATE,
 * GLOBAL_STATS), type t, NNRT_INIT_* init, created unless it exists, read
 * into the model function. */
int fe_state(Lower *L, const char *name, GlobalKind kind, Type t, int init, Loc loc);
int fe_lower_embedding(Lower *L, const Builtin *b, const Expr *call, BArg *args);
int fe_lower_dropout(Lower *L, const Builtin *b, const Expr *call, BArg *args);

/* ---- train.c ---- */

void fe_lower_train(Lower *L);

#endif
