/* nnrt.h — libnnrt's internal API: the modules behind the main() of every
 * binary nnc builds. nnrt_abi.h is the contract with generated code; this
 * header is the runtime's own, one section per file (the data loaders' in
 * rt_data.h, which it includes). Nothing here is seen by generated code.
 *
 * Conventions: functions that can fail on user input return 0 on success and
 * -1 on failure after filling an RtError (message without the "prog: error:"
 * prefix, plus the exit code main should use). Only rt_main.c touches the
 * extern nnrt_model; everything else takes the model as a parameter, so the
 * unit tests can drive the modules with any model they like. */
#ifndef NNRT_H
#define NNRT_H
#include "nnrt_abi.h"
#include "rt_data.h"  /* data loading: arrays, data sets, CSV, text */
#include "rt_dtype.h" /* rt_dtype_size, _name, _get, ... */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NNRT_VERSION "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define RT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RT_PRINTF(f, a)
#endif

/* Exit codes of the binary (documented in --help). */
enum {
  RT_EXIT_OK = 0,
  RT_EXIT_FAIL = 1,  /* I/O or memory failure, model/runtime mismatch */
  RT_EXIT_USAGE = 2, /* bad command line or bad input file */
  RT_EXIT_NAN = 3,   /* loss became NaN or Inf */
  RT_EXIT_SIGINT = 130,
  RT_EXIT_SIGTERM = 143
};

/* Every slice of the globals, workspace and batch buffers is aligned so. */
#define RT_ALIGN 64

/*
 * rt_util.c
 */
typedef struct RtError {
  int code; /* RT_EXIT_* to exit with */
  char msg[1024];
} RtError;

/* Fills e (if not NULL) and returns -1, so callers can `return rt_fail(...)`. */
int rt_fail(RtError *e, int code, const char *fmt, ...) RT_PRINTF(3, 4);
/* Zeroed, RT_ALIGN-aligned memory; NULL plus an error naming `what` on failure. */
void *rt_alloc(size_t size, const char *what, RtError *e);
void rt_free(void *p);
double rt_now(void); /* monotonic seconds */
/* a * b into *out; returns 0, or -1 when negative or over INT64_MAX. */
int rt_mul64(int64_t a, int64_t b, int64_t *out);
/* "[60000, 28, 28]" into buf. */
const char *rt_shape_str(char *buf, size_t size, int rank, const int64_t *dims);
/* Strict number parsing for the command line: whole string, in range. */
int rt_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
int rt_parse_u64(const char *s, uint64_t *out);
int rt_parse_f64(const char *s, double *out);
/* "dir/name" into buf; -1 when it does not fit. */
/* The next KEY=VALUE of a data-set spec's '&'-separated parameters at *p
 * (advanced past it): 1 with kv = "KEY", *value = "VALUE" (inside kv), 0 at
 * the end, -1 on error; messages quote the whole spec s. */
int rt_spec_param(const char **p, const char *s, char *kv, size_t size, const char **value, RtError *e);
int rt_path_join(char *buf, size_t size, const char *dir, const char *name);
int rt_file_exists(const char *path);
/* Writes the chunks, in order, to `path` atomically: a temp file beside it,
 * fsync, rename, fsync of the directory, so a reader (or a crash) sees the
 * old file or the new one, never a mix (rt_util.c; checkpoints, vocabularies).
 * It first removes the temp files of `path` a killed writer left
 * (rt_clean_temps). A failure (a full disk, the file size limit: SIGXFSZ is
 * ignored so that it is an error) names `path` and leaves it as it was. */
typedef struct RtChunk {
  const void *data;
  size_t n;
} RtChunk;
int rt_write_atomic_chunks(const char *path, const RtChunk *chunks, int nchunks, RtError *e);
int rt_write_atomic(const char *path, const void *data, size_t n, RtError *e);
/* --checkpoint-keep K (K >= 2) before a new checkpoint is written to path:
 * path.(K-2) becomes path.(K-1), ..., path.1 becomes path.2 (the oldest one
 * goes), and path.1 a hard link to path's current file, which the write's
 * rename then replaces: every name always holds a whole checkpoint. */
int rt_rotate_keep(const char *path, int64_t keep, RtError *e);
/* Removes `path`.tmp.XXXXXX files (rt_write_atomic's temp names); returns
 * how many. */
int rt_clean_temps(const char *path);
int rt_dir_exists(const char *path);

/*
 * rt_philox.c — Philox4x32-10 (Salmon et al., SC'11; Random123's constants).
 * A counter-based RNG: the output is a pure function of (counter, key), so any
 * element of any stream can be computed independently, in any order, on any
 * device. The runtime keys every stream by the seed and lays the counter out
 * as {block lo, block hi, stream, purpose}.
 */
enum { RT_RNG_INIT = 0, RT_RNG_SHUFFLE = 1, RT_RNG_SPLIT = 2, RT_RNG_DROPOUT = 3, RT_RNG_SAMPLE = 4 };

void rt_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
float rt_u32_to_unit(uint32_t x); /* [0, 1), 24 bits */
/* Two standard normals from two u32 (Box–Muller). */
void rt_box_muller(uint32_t a, uint32_t b, float *n0, float *n1);

/* A sequential reader over one stream: u32 number i is lane i%4 of block i/4. */
typedef struct RtRng {
  uint32_t key[2];
  uint32_t ctr[4];
  uint32_t buf[4];
  int pos; /* next lane of buf; 4 = refill */
} RtRng;

void rt_rng_init(RtRng *r, uint64_t seed, uint32_t stream, uint32_t purpose);
uint32_t rt_rng_u32(RtRng *r);
uint32_t rt_rng_below(RtRng *r, uint32_t n); /* uniform on [0, n), unbiased */
/* Fisher–Yates shuffle of idx[0..n) with the stream (seed, stream, purpose). */
void rt_shuffle(int32_t *idx, int64_t n, uint64_t seed, uint32_t stream, uint32_t purpose);

/*
 * rt_init.c — the globals: one RT_ALIGN-aligned allocation, one slice each.
 */
typedef struct RtGlobals {
  int32_t n;
  void *base;
  size_t bytes;
  void **ptr;     /* n slices of base */
  int64_t *numel; /* n element counts */
} RtGlobals;

/* Elements of a static tensor (globals, scalars); -1 if it has a symbolic dim. */
int64_t rt_tensor_numel(const NnrtTensor *t);
int rt_globals_alloc(RtGlobals *g, const NnrtModel *m, RtError *e);
void rt_globals_free(RtGlobals *g);
/* Parameters from their NNRT_INIT_*, keyed by seed, counter stream = global
 * index; state globals are zeroed. */
int rt_globals_init(RtGlobals *g, const NnrtModel *m, uint64_t seed, RtError *e);
/* Index of the first global (from `from`) holding a NaN or Inf, or -1. */
int32_t rt_globals_find_nonfinite(const RtGlobals *g, const NnrtModel *m);

/*
 * rt_json.c — a strict JSON (RFC 8259) parser for safetensors headers. Any
 * input is safe: depth is bounded, numbers and strings are validated, and
 * errors carry a byte offset into the text.
 */
enum { RT_JSON_NULL, RT_JSON_BOOL, RT_JSON_NUM, RT_JSON_STR, RT_JSON_ARR, RT_JSON_OBJ };

typedef struct RtJson {
  int type;
  int is_int;      /* a number without fraction/exponent that fits int64 */
  int64_t ival;    /* when is_int, and for BOOL (0/1) */
  double num;      /* every NUM */
  const char *str; /* STR: decoded, NUL-terminated (may contain NULs: len) */
  size_t len;      /* STR: bytes; ARR/OBJ: members */
  const char *key; /* set on object members */
  int32_t child;   /* ARR/OBJ: first member, -1 if none */
  int32_t next;    /* next member of the parent, -1 at the end */
  size_t offset;   /* byte offset of the value in the text */
} RtJson;

typedef struct RtJsonDoc {
  RtJson *nodes; /* nodes[0] is the root */
  int32_t n, cap;
  char *strings; /* decoded strings, one buffer */
} RtJsonDoc;

/* On error: message "offset N: ...", offset relative to text + base_offset. */
int rt_json_parse(RtJsonDoc *doc, const char *text, size_t len, size_t base_offset, RtError *e);
void rt_json_free(RtJsonDoc *doc);
const RtJson *rt_json_at(const RtJsonDoc *doc, int32_t i); /* NULL for -1 */
const RtJson *rt_json_get(const RtJsonDoc *doc, const RtJson *obj, const char *key);
/* s as a JSON string literal, quotes included. */
void rt_json_write_str(FILE *f, const char *s);

/*
 * rt_report.c — per-kernel tables (`profile`; nnc bench prints them too).
 */
typedef struct RtKernelRow {
  const char *name, *ops;
  double bytes, flops; /* per step: read + written, floating-point ops */
  double calls;        /* kernel calls per step (a scan's count its body's) */
  double ms;           /* measured time per step */
} RtKernelRow;

/* A kernel doing fewer FLOPs per byte than this is memory-bound: its rate
 * is judged in GB/s against the triad bandwidth, else in GFLOP/s. Any
 * current CPU does several times more FLOPs per byte of DRAM bandwidth. */
#define RT_MEM_BOUND_INTENSITY 2.0
int rt_kernel_memory_bound(const RtKernelRow *r);
/* "1.07 MB", "25.7 M": three significant digits, decimal prefixes. */
const char *rt_human(char *buf, size_t size, double v, const char *unit);
/* The table: one line per kernel (call order), or with top > 0 the top
 * kernels by time and one line for the rest; then the kernels' total.
 * step_ms gives the step percentages, triad_gbs the triad column. */
void rt_print_kernels(FILE *f, const RtKernelRow *rows, int n, double step_ms, double triad_gbs, int top);
/* order[0..n): row indices by time per step, longest first (ties: call order). */
void rt_kernels_by_time(const RtKernelRow *rows, int n, int *order);

/*
 * rt_safetensors.c — checkpoints (https://github.com/huggingface/safetensors).
 */
#define RT_META_MAX 32
typedef struct RtMeta {
  int n;
  char key[RT_META_MAX][32];
  char value[RT_META_MAX][256];
  /* rt_st_save writes it as "nnrt.vocab" when not NULL: a text data set's
   * vocabulary (rt_vocab_text), too long for value[]; rt_st_load leaves it
   * alone (rt_st_meta_text reads it). */
  const char *vocab;
} RtMeta;

void rt_meta_set(RtMeta *m, const char *key, const char *value);
const char *rt_meta_get(const RtMeta *m, const char *key); /* NULL if absent */

/* Kinds to load: a bit per NNRT_PARAM / NNRT_STATE / NNRT_STATS /
 * NNRT_MASK. The model is its parameters, its layers' statistics and its
 * pruning masks: eval, predict, sample and --init load them all. */
#define RT_LOAD_PARAMS ((1u << NNRT_PARAM) | (1u << NNRT_STATS) | (1u << NNRT_MASK))
#define RT_LOAD_STATE (1u << NNRT_STATE)
/* With it, statistics the file lacks keep their initial values (a note on
 * stderr names them): --init, so that a model with more statistics (--qat's
 * activation observers) fine-tunes from a checkpoint of the plain one. */
#define RT_LOAD_STATS_OPTIONAL (1u << 8)

/* Writes every global plus meta, atomically (temp file, fsync, rename, fsync
 * of the directory): a crash leaves the old checkpoint or the new one. */
int rt_st_save(const char *path, const NnrtModel *m, const RtGlobals *g, const RtMeta *meta, RtError *e);
/* Loads the globals whose kind is in `kinds` by name, checking dtype and
 * shape; validates the whole header first so a bad file changes nothing.
 * meta (may be NULL) receives __metadata__'s string entries. */
int rt_st_load(const char *path, const NnrtModel *m, RtGlobals *g, unsigned kinds, RtMeta *meta, RtError *e);
/* The string __metadata__[key] of the safetensors file at path, read from
 * its header alone: *out is a malloc'd copy, or NULL when the file has no
 * such string. */
int rt_st_meta_text(const char *path, const char *key, char **out, RtError *e);

/*
 * rt_pool.c — the one thread pool; nnrt_parallel_for (nnrt_abi.h) runs on it.
 * It is process-wide because the ABI's nnrt_parallel_for takes no pool.
 */
int rt_pool_start(int threads, RtError *e); /* threads <= 0: online cores */
void rt_pool_stop(void);
int rt_pool_threads(void);
int rt_online_cores(void);

/*
 * rt_blas.c — nnrt_sgemm (nnrt_abi.h) cuts a product into blocks that
 * depend only on its shape (and whether A and B are stored transposed):
 * blocks of C's rows, of its columns, or of K (partial products summed in
 * block order). This says how many and which, for tests and benchmarks;
 * extra_k is the epilogue's weight in multiply-adds per element of C.
 */
typedef enum RtGemmCut { RT_CUT_M, RT_CUT_N, RT_CUT_K } RtGemmCut;
int64_t rt_gemm_cut(int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t extra_k, RtGemmCut *cut);
/* One block's product on the calling thread, row-major:
 * C = alpha op(A) op(B) + beta C — what a GEMM engine computes. */
typedef void (*RtGemmKernel)(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* nnrt_sgemm_batch with another engine's kernel: bench/gemm_libs.c times
 * each library through the runtime's own cut and pool. */
void rt_sgemm_batch_with(RtGemmKernel kernel, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float *a, int64_t lda, int64_t stride_a, const float *b, int64_t ldb, int64_t stride_b,
                         float beta, float *c, int64_t ldc, int64_t stride_c, int64_t count);
/* The matrix-product engine, one runtime/rt_gemm_<engine>.c linked into a CPU
 * binary (rt_gemm_openblas.c unless nnc build --gemm says another) and
 * runtime/cuda/rt_cuda.c in a CUDA binary (libnnrt_cuda.a has no rt_blas.c,
 * so a CUDA binary needs no OpenBLAS): rt_gemm_kernel computes one block;
 * rt_gemm_setup runs once before the pool starts; rt_gemm_engine says what
 * computes the products, for --version and bench ("OpenBLAS Haswell
 * kernels"). */
void rt_gemm_kernel(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                    const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
void rt_gemm_setup(void);
const char *rt_gemm_engine(void);
const char *rt_blas_core(void); /* rt_gemm_openblas.c: the OpenBLAS kernels in use, "Haswell"... */

/*
 * rt_session.c — a model bound to data: globals, syms, batch buffers, args.
 */
typedef struct RtMetrics {
  double loss_sum;         /* sum over samples of the batch-mean loss */
  int64_t samples;         /* samples seen */
  int64_t correct, scored; /* predictions right / scored (samples x rows per sample) */
  /* Binary tasks (rt_session_metrics): true positives, false positives,
   * false negatives; and, when `score` is set, each row's score (higher:
   * more positive) and truth for the AUC, up to cap rows (rt_metrics.c). */
  int64_t tp, fp, fn;
  float *score;
  uint8_t *truth;
  int64_t n_scores, cap;
  double abs_err; /* regression: sum of |output - label| over abs_n elements */
  int64_t abs_n;
} RtMetrics;

/* Which functions a command needs from the model. */
enum { RT_NEED_FORWARD = 1, RT_NEED_EVAL = 2, RT_NEED_TRAIN = 4 };

struct RtDevice; /* rt_device.h */
/* A batch as the session runs it: f on samples idx[0..bs) of d. */
typedef struct RtBatchRef {
  const NnrtFunc *f;
  const RtDataset *d;
  const int32_t *idx;
  int64_t bs;
} RtBatchRef;
typedef struct RtSession {
  const NnrtModel *m;
  RtGlobals g;
  int64_t *syms;                       /* n_syms values, -1 until bound */
  int32_t batch_sym;                   /* index into syms; -1 if the model's batch is static */
  int64_t static_batch;                /* when batch_sym < 0: the batch the model was built for */
  const NnrtTensor *x_t, *y_t, *out_t; /* features, labels (may be NULL), model output */
  NnrtTensor y_own;                    /* an inference binary's labels (y_t points here): see rt_session_open */
  int64_t x_per, y_per, out_per;       /* elements per sample */
  int64_t classes;                     /* NNRT_TASK_CLASSIFY: the output's last dim */
  int64_t max_batch;
  void *x, *y;
  float *out;
  float loss, lr;
  void *ws;
  int64_t ws_size;
  void **args; /* globals, then up to 3 inputs and 2 outputs */
  /* A CUDA binary's session (NnrtModel.cuda; rt_mirror.c): its step
   * functions run on dev (NULL in a CPU binary: nothing below is used). The
   * globals live in device memory, at the start of mirror's arena, laid out
   * as g, which is then their host copy; globals_newer says which side
   * changed since they last agreed. x and y point to the pinned host
   * buffers of the batch slot last run, out is pinned, ws is in the arena. */
  const struct RtDevice *dev;
  struct RtMirror *mirror;
  int globals_newer; /* RT_SYNCED, RT_HOST_NEWER, RT_DEVICE_NEWER */
  int64_t step;      /* the training step rt_run_batch runs, for device errors (-1: none) */
  /* The batch of the rt_run_batch call after the coming one, when the
   * caller knows it (rt_session_next): a CUDA binary uploads it while the
   * coming one runs. Cleared by each run. */
  RtBatchRef next;
} RtSession;
enum { RT_SYNCED = 0, RT_HOST_NEWER = 1, RT_DEVICE_NEWER = 2 };

/* ABI version, presence and arity of the functions in `need`. */
int rt_model_check(const NnrtModel *m, unsigned need, RtError *e);
/* Allocates the globals (zeroed: then rt_globals_init and/or rt_st_load).
 * An inference binary has no labels input; its labels (y_t) are what the
 * task compares forward's output with: class ids i32 per row of class
 * scores (classification), else one f32 per output value. */
int rt_session_open(RtSession *s, const NnrtModel *m, RtError *e);
/* The parameters eval, predict and sample use: those of the checkpoint at
 * ckpt_path when given, else the weights embedded in an inference binary
 * (NnrtModel.embedded); a usage error when there are neither. */
int rt_session_weights(RtSession *s, const char *ckpt_path, RtError *e);
/* Copies the weights embedded in an inference binary into g (globals
 * without embedded data are left as they are); 0 when it has none. */
int rt_globals_embedded(RtGlobals *g, const NnrtModel *m);
/* Binds symbolic dims from a data set's shapes, or checks a second data set
 * against those already bound; y may be NULL (predict). Errors name the
 * file, its shape and the model input's. */
int rt_session_bind(RtSession *s, const RtArray *x, const RtArray *y, RtError *e);
/* The x dtype to load s's data with (rt_data_load): RT_DTYPE_F32_COMPACT
 * for a float input, whose batches rt_stage_batch widens; else its own. */
int32_t rt_session_x_dtype(const RtSession *s);
/* rt_session_open, then loads split RT_SPLIT_* of the data set in data_dir
 * (NULL: the model's own), binds it and checks its labels. s and d are
 * zeroed first, so on failure the caller may close and free them as usual. */
int rt_session_load(RtSession *s, const NnrtModel *m, const char *data_dir, int split, RtDataset *d, RtError *e);
/* Batch buffers and workspace for batches up to max_batch. */
int rt_session_alloc(RtSession *s, int64_t max_batch, RtError *e);
void rt_session_close(RtSession *s);
/*
 * rt_datacheck.c — a data set checked whole when it is loaded, before the
 * first step; each error names the file, the sample and the position (exit 2).
 */
/* --allow-nonfinite: rt_check_finite accepts NaN and infinities. */
void rt_data_allow_nonfinite(int allow);
int rt_data_nonfinite_allowed(void);
/* The first non-finite element of x in [from, from + n), or -1 (and -1 for
 * an integer array). */
int64_t rt_first_nonfinite(const RtArray *x, int64_t from, int64_t n);
/* Every value of a finite, unless --allow-nonfinite (rt_data_load's
 * features and labels, predict's input); `what` names a value ("feature"). */
int rt_check_finite(const RtArray *a, const char *what, RtError *e);
/* Integer features within the bound the model reads them with (an
 * embedding's rows, onehot's classes: the input's init_b). */
int rt_check_ids(const RtSession *s, const RtArray *x, RtError *e);
/* Labels in range for the task (classification: 0 <= y < classes; binary:
 * 0 or 1). */
int rt_check_labels(const RtSession *s, const RtArray *y, RtError *e);
/* A CUDA binary keeps the globals on the device: before the host reads
 * s->g (checkpoints, the NaN guard's search, pruning, reports) it calls
 * rt_session_globals_host, which downloads them if the device changed them;
 * after it changes s->g (init, --init, --checkpoint, --resume, pruning) it
 * calls rt_session_globals_changed, and the next run uploads them. Both are
 * no-ops in a CPU binary. */
int rt_session_globals_host(RtSession *s, RtError *e);
void rt_session_globals_changed(RtSession *s);
/* --device N: the CUDA device a CUDA binary's sessions open (rt_main.c; 0
 * unless given). */
void rt_device_select(int ordinal);
/* Called before rt_run_batch: says that the rt_run_batch call after it
 * will run f on samples idx[0..bs) of d, so a CUDA binary stages and
 * uploads that batch while this one runs (the CPU does nothing with it).
 * idx[0..bs) must stay unchanged until then. The results are those of
 * running the two without it. */
void rt_session_next(RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs);
/* Runs f on samples idx[0..bs) of d (forward: labels unused, but for an
 * inference binary's forward given labels in d: scored, loss NaN); adds loss and
 * accuracy to m, and true x predicted counts to confusion (classes^2;
 * binary: 2x2, class 1 at p >= 0.5) if not NULL. s->out holds the model output afterwards. */
int rt_run_batch(RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs, RtMetrics *m,
                 int64_t *confusion, RtError *e);
/* While rt_run_batch's call runs: the sample (index into its data set) that
 * row `row` of the batch holds, its file in *path and the file offset of
 * element `pos` of that sample's features in *offset; -1 when no batch is
 * in flight or the row is not in it. For the fail hooks' messages. */
int64_t rt_batch_sample(int64_t row, int64_t pos, const char **path, int64_t *offset);
/* eval_step (an inference binary: forward) over idx[0..n) (idx NULL:
 * samples 0..n) in batches. */
int rt_evaluate(RtSession *s, const RtDataset *d, const int32_t *idx, int64_t n, int64_t batch, RtMetrics *out,
                int64_t *confusion, RtError *e);
/* rt_evaluate adding to out as it is (its score buffers, say) instead of
 * zeroing it first. */
int rt_evaluate_add(RtSession *s, const RtDataset *d, const int32_t *idx, int64_t n, int64_t batch, RtMetrics *out,
                    int64_t *confusion, RtError *e);
/* One row of a classification report. */
typedef struct RtClassScore {
  double precision, recall, f1;
  int64_t support; /* samples of the class (averages: all samples) */
} RtClassScore;
/* sklearn.metrics.classification_report's scores from a k x k confusion
 * matrix (rows: true class, columns: predicted): per[0..k) per class,
 * avg[0] the macro average, avg[1] the support-weighted one; returns the
 * accuracy (NaN when the matrix is empty). Undefined ratios are 0. */
double rt_class_scores(const int64_t *cm, int64_t k, RtClassScore *per, RtClassScore avg[2]);
/* Binary classification, from probabilities or from logits. */
static inline int rt_task_binary(int32_t task) {
  return task == NNRT_TASK_BINARY || task == NNRT_TASK_BINARY_LOGITS;
}
/* The class (0 or 1) a binary model's output value says: p >= 0.5 for a
 * probability, z >= 0 for a logit (the same decision, sigmoid(z) >= 0.5). */
static inline int rt_binary_class(int32_t task, float v) { return task == NNRT_TASK_BINARY_LOGITS ? v >= 0 : v >= 0.5f; }
/* Argmax over the classes of output row r (classification). */
int64_t rt_argmax_row(const RtSession *s, int64_t r);
double rt_metrics_loss(const RtMetrics *m);
double rt_metrics_acc(const RtMetrics *m); /* NaN when nothing was scored */

/*
 * rt_metrics.c — metrics beyond loss and accuracy, by index: RT_MET_* on
 * the training set, RT_MET_N + RT_MET_* on the validation set (names and
 * directions in nnrt_sched.def's NNRT_METRICS).
 */
enum { RT_MET_LOSS, RT_MET_ACC, RT_MET_PRECISION, RT_MET_RECALL, RT_MET_AUC, RT_MET_MAE, RT_MET_N };
/* The metrics a session's task has, a bit per RT_MET_*: loss always; acc
 * for classification; precision, recall, auc for binary tasks (a sigmoid
 * output, or softmax over 2 classes); mae for regression. */
unsigned rt_session_metrics(const RtSession *s);
/* Metric `met` (RT_MET_*) of m; NaN when it has no value (nothing scored,
 * no positives for recall, one class only for the AUC...). */
double rt_metrics_value(const RtMetrics *m, int met);
/* Area under the ROC curve of n scores with 0/1 truths: the Mann-Whitney
 * statistic, ties counting one half (sklearn's roc_auc_score); NaN when
 * one class is missing. Sorts a copy; -1 on allocation failure (NaN). */
double rt_auc(const float *score, const uint8_t *truth, int64_t n);
/* Gives m buffers for cap scores (binary tasks' AUC); freed by
 * rt_metrics_free. Other fields are zeroed; rt_metrics_reset keeps the buffers. */
int rt_metrics_alloc(RtMetrics *m, int64_t cap, RtError *e);
void rt_metrics_reset(RtMetrics *m);
void rt_metrics_free(RtMetrics *m);
/* Adds the counts of b into a (scores are recorded by rt_run_batch itself). */
void rt_metrics_add(RtMetrics *a, const RtMetrics *b);

/*
 * rt_sched.c — learning-rate schedules, early stopping, monitors
 * (nnrt_sched.def has the kinds and their parameters).
 */
#include "nnrt_sched.def"
enum {
  RT_SPEC_NONE = -1,
#define K(id, name) RT_SPEC_##id,
  NNRT_SPEC_KINDS(K)
#undef K
      RT_SPEC_NKINDS
};
#define RT_SPEC_MAX_PARAMS 8
typedef struct RtSpec {
  int kind;                      /* RT_SPEC_*, RT_SPEC_NONE when off */
  double v[RT_SPEC_MAX_PARAMS]; /* the kind's parameters in table order; a monitor is its metric index */
} RtSpec;
/* Parses "cosine(warmup: 500)", "cosine" or "none"; with early_stop,
 * "val_loss(patience: 3)", "val_acc" or "none". Messages start with `what`. */
int rt_spec_parse(const char *what, const char *text, int early_stop, RtSpec *sp, RtError *e);
double rt_spec_get(const RtSpec *sp, const char *name);
/* Every parameter spelled out: what the checkpoint records. */
const char *rt_spec_format(const RtSpec *sp, char *buf, size_t size);
/* The learning rate of global step `step` (0-based) in epoch `epoch`
 * (0-based) of a run of `total` steps; plateau_lr: the plateau's current
 * rate (other kinds ignore it). */
double rt_sched_lr(const RtSpec *sp, double base, double plateau_lr, int64_t epoch, int64_t step, int64_t total);
/* "val_auc" for metric RT_MET_N + RT_MET_AUC; the index of a name, or -1. */
const char *rt_metric_name(int metric, char *buf, size_t size);
int rt_metric_find(const char *name, size_t len);
int rt_metric_higher_better(int metric);
/* Keras's improvement test with patience: best value, epochs since. */
typedef struct RtMonitor {
  int metric;
  double min_delta;
  int64_t patience;
  double best;        /* NaN before the first epoch */
  int64_t wait;       /* epochs without improvement */
  int64_t best_epoch; /* 1-based epoch of best */
} RtMonitor;
void rt_monitor_init(RtMonitor *mo, int metric, double min_delta, int64_t patience);
/* Judges one epoch's value: 1 if it improved (then best, best_epoch are
 * it), else 0 and wait grows. A NaN value never improves. */
int rt_monitor_update(RtMonitor *mo, double value, int64_t epoch);
/* "metric best wait best_epoch" for the checkpoint, exact (%.17g); load:
 * -1 if bad. */
void rt_monitor_save(const RtMonitor *mo, char *buf, size_t size);
int rt_monitor_load(RtMonitor *mo, const char *text);

/* What `train` does at the end of each epoch beyond reporting (rt_plan.c):
 * the schedule, early stopping and --checkpoint-best's monitor, set up from
 * the options (flags over the model's train block) and kept in the
 * checkpoint's metadata so --resume continues exactly. */
typedef struct RtPlan {
  RtSpec sched, stop;
  double base_lr, plateau_lr;
  RtMonitor plateau, early, best;
  int keep_best;           /* --checkpoint-best given */
  int64_t stopped;         /* early stopping ended training after this epoch (1-based), 0: no */
  int64_t total_steps;     /* of the whole run: cosine's horizon */
} RtPlan;
enum { RT_PLAN_BEST = 1, RT_PLAN_STOP = 2, RT_PLAN_LR_CUT = 4 };
/* metrics: rt_session_metrics' bits; has_val: a validation set exists. */
struct RtOptions;
int rt_plan_init(RtPlan *p, const NnrtModel *m, const struct RtOptions *o, unsigned metrics, int has_val, RtError *e);
double rt_plan_lr(const RtPlan *p, int64_t epoch, int64_t step);
/* Judges epoch `epoch` (1-based) by its values (train, then validation:
 * RT_MET_N + i); returns RT_PLAN_* bits. */
unsigned rt_plan_epoch_end(RtPlan *p, const double *values, int64_t epoch);
void rt_plan_save(const RtPlan *p, RtMeta *meta);
/* Restores the state a checkpoint saved; warns when its schedule or
 * early_stop differ from this run's. */
int rt_plan_load(RtPlan *p, const RtMeta *meta, const struct RtOptions *o, RtError *e);

/*
 * rt_prune.c — magnitude pruning on the model's schedule (NnrtModel.prune,
 * nnrt_prune.h): the NNRT_MASK globals, and the weights and optimizer
 * state they zero.
 */
#define RT_PRUNE_MAX 256 /* pruned weights of a model */
#define RT_PRUNE_NSTATE 4 /* <w>.m, .v, .momentum, .square_avg */
typedef struct RtPruneLayer {
  int32_t mask, param;            /* global indices */
  int32_t state[RT_PRUNE_NSTATE]; /* -1 where the optimizer has none */
} RtPruneLayer;
typedef struct RtPruneEntry {
  float mag;
  int32_t kept; /* the mask before: 0 sorts a pruned entry first among equals */
  int64_t index;
} RtPruneEntry;
typedef struct RtPrune {
  int n; /* 0: the model prunes nothing */
  RtPruneLayer layer[RT_PRUNE_MAX];
  double sparsity;            /* s_f */
  int64_t start, end, every;  /* in global steps, resolved against the run's total */
  RtPruneEntry *order;        /* scratch: one layer's entries */
} RtPrune;
/* Resolves the model's schedule against total_steps (epochs x steps per
 * epoch) and finds each mask's weight and state; n = 0 without one. */
int rt_prune_init(RtPrune *p, const NnrtModel *m, const RtGlobals *g, int64_t total_steps, RtError *e);
void rt_prune_free(RtPrune *p);
/* s_t: the target sparsity at global step t. */
double rt_prune_target(const RtPrune *p, int64_t t);
/* Before global step t (0-based: t steps done): recomputes the masks if t
 * is on the schedule, zeroing the pruned weights and their state; 1 if it
 * did. */
int rt_prune_step(RtPrune *p, RtGlobals *g, int64_t t);
/* Whether rt_prune_step recomputes the masks before global step t. */
int rt_prune_due(const RtPrune *p, int64_t t);
/* One line "sparsity: <w> 0.900 - ... - all 0.900": the zeros of each
 * pruned weight times its mask (nothing for a model without masks). */
void rt_prune_report(FILE *f, const NnrtModel *m, const RtGlobals *g);

/*
 * rt_plot.c — `train --plot F.svg`: the per-epoch curves as an SVG.
 */
typedef struct RtHistory {
  int64_t n, cap;
  int64_t *epoch;                /* 1-based */
  double (*v)[2 * RT_MET_N];     /* per epoch: train metrics, then validation ones; NaN: none */
} RtHistory;
int rt_history_add(RtHistory *h, int64_t epoch, const double *values, RtError *e);
void rt_history_free(RtHistory *h);
/* Appends the "epoch" rows of epochs 1..upto from a CSV log (--log) to h,
 * by the header's column names: the history of a run before --resume.
 * A missing file adds nothing. */
int rt_history_load_csv(RtHistory *h, const char *path, int64_t upto, RtError *e);
/* Loss (train and validation) on the left panel, the task's other metric
 * (accuracy, else MAE) on the right; written atomically. */
int rt_plot_svg(const char *path, const char *title, const RtHistory *h, unsigned metrics, RtError *e);

/*
 * rt_train.c / rt_commands.c — the subcommands.
 */
typedef struct RtOptions {
  const char *prog;             /* for messages */
  int64_t epochs, batch, steps; /* steps: stop after this many in total, 0: no limit */
  double lr, val_split;
  int threads;
  uint64_t seed;
  const char *data_dir; /* NULL: the model's data set's default */
  const char *init_path, *ckpt_path, *log_path, *input_path;
  int resume, quiet;
  const char *label_column; /* CSV data: --label-column */
  int proba;                /* predict: class probabilities */
  int val_split_given;      /* --val-split was on the command line */
  const char *schedule;     /* --schedule text, NULL: the model's */
  const char *early_stop;   /* --early-stop text, NULL: the model's */
  const char *best_path;    /* --checkpoint-best */
  const char *val_dir;      /* --validation-data */
  const char *plot_path;    /* --plot */
  int64_t samples;          /* data: decoded samples to print */
  const char *prompt;       /* sample: the text to continue (NULL: a new fortune) */
  double temperature;       /* sample: 0 = argmax */
  int64_t length;           /* sample: bytes to generate */
  int json;                 /* profile: JSON instead of a table */
  int overwrite;            /* train: --overwrite, replace an existing --checkpoint with a new run */
  int64_t ckpt_every;       /* train: --checkpoint-every, save every N global steps too (0: per epoch only) */
  int64_t ckpt_keep;        /* train: --checkpoint-keep, checkpoints kept (F, F.1 .. F.(K-1)); 0: unset (1) */
  int allow_nonfinite;      /* --allow-nonfinite: NaN and infinite features accepted */
  int check_numerics;       /* train, eval: --check-numerics (rt_numerics.c) */
} RtOptions;

/* Each returns the process exit code; e holds the message when it is not 0. */
int rt_train(const NnrtModel *m, const RtOptions *o, RtError *e);
int rt_eval(const NnrtModel *m, const RtOptions *o, RtError *e);
int rt_predict(const NnrtModel *m, const RtOptions *o, RtError *e);
/* eval's report for classes up to RT_REPORT_MAX_CLASSES: the scores of
 * rt_class_scores in the layout of sklearn's classification_report (digits
 * decimals; names[c], or c when names or names[c] is NULL), then the
 * confusion matrix. */
#define RT_REPORT_MAX_CLASSES 32
void rt_print_class_report(FILE *out, const int64_t *cm, int64_t k, const char *const *names, int digits);
/* Names of the k classes of the data in `dir` (a directory, file or spec)
 * read by a model trained on `dataset`; NULL when none is known, and a NULL
 * entry for a class without one. sp, csv (free it with rt_names_free) and
 * buf (k entries) hold what the result points to. */
const char *const *rt_class_names(const char *dir, const char *dataset, int64_t k, RtTextSpec *sp, RtNames *csv,
                                  const char **buf);
/* rt_bench.c: times train_step alone; prints ms_per_step and samples_per_s. */
int rt_bench(const NnrtModel *m, const RtOptions *o, RtError *e);
/* The loop bench and profile share: the training set, a session for
 * o->batch (at most the set's size) with parameters from o->seed, and
 * train steps over consecutive batches. */
typedef struct RtBench {
  RtSession s;
  RtDataset train;
  int32_t *idx; /* 0..n-1: batches in file order, no shuffling */
  const NnrtFunc *fn;     /* train_step; an inference binary's forward */
  RtDataset features;     /* for forward: the training set's samples without their labels */
  int64_t batch, per_epoch, done;
} RtBench;
int rt_bench_open(RtBench *b, const NnrtModel *m, const RtOptions *o, RtError *e);
/* Runs `steps` train steps (an inference binary: forward passes); *secs:
 * their wall time. Fails if the loss is not finite afterwards. */
int rt_bench_steps(RtBench *b, int64_t steps, double *secs, RtError *e);
void rt_bench_close(RtBench *b);
/* rt_profile.c: `profile`, train_step with per-kernel timers (a table, or
 * JSON with o->json); and a STREAM-style triad a = b + s*c over arrays
 * beyond the last-level cache on the pool's threads: GB/s (best of a few
 * runs, 3 x 4 bytes per element), 0 if it cannot allocate. */
int rt_profile(const NnrtModel *m, const RtOptions *o, RtError *e);
double rt_triad_gbs(int64_t *array_bytes);
/* rt_sample.c: prints o->prompt and o->length bytes a character model
 * generates after it; "this model cannot sample: ..." for other models. */
int rt_sample(const NnrtModel *m, const RtOptions *o, RtError *e);

#endif
