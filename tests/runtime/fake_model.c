/* fake_model.c — a hand-written stand-in for nnc's generated code: softmax
 * regression on 784 features (logits = x @ w + b, cross-entropy loss, Adam),
 * exposed through nnrt_abi.h exactly as a compiled model would be. It lets
 * the runtime's driver, checkpoints and pool be tested before codegen
 * exists, and documents by example what generated code must provide.
 *
 * Loops run on nnrt_parallel_for with per-chunk outputs and reductions done
 * in a fixed order afterwards, so results do not depend on scheduling. */
#include "nnrt_abi.h"
#include <math.h>
#include <string.h>

enum { IN = 784, OUT = 10 };
/* Globals, in nnrt_model.globals order. */
enum {
  G_W,
  G_B,
  G_WM,
  G_WV,
  G_BM,
  G_BV,
  G_STEP,
#ifdef FAKE_PRUNE
  G_WMASK, /* a pruning mask the runtime recomputes; the model itself does not read it */
#endif
  N_GLOBALS
};

static const char *const sym_names[] = {"B"};
#define SYM_B (-1) /* -(sym 0 + 1) */

static const NnrtTensor globals[N_GLOBALS] = {
    {"w", NNRT_PARAM, NNRT_F32, 2, NNRT_INIT_GLOROT_UNIFORM, {IN, OUT}, IN, OUT},
    {"b", NNRT_PARAM, NNRT_F32, 1, NNRT_INIT_ZEROS, {OUT}, 0, 0},
    {"w.m", NNRT_STATE, NNRT_F32, 2, NNRT_INIT_ZEROS, {IN, OUT}, 0, 0},
    {"w.v", NNRT_STATE, NNRT_F32, 2, NNRT_INIT_ZEROS, {IN, OUT}, 0, 0},
    {"b.m", NNRT_STATE, NNRT_F32, 1, NNRT_INIT_ZEROS, {OUT}, 0, 0},
    {"b.v", NNRT_STATE, NNRT_F32, 1, NNRT_INIT_ZEROS, {OUT}, 0, 0},
    {"opt.step", NNRT_STATE, NNRT_F32, 0, NNRT_INIT_ZEROS, {0}, 0, 0},
#ifdef FAKE_PRUNE
    {"w.mask", NNRT_MASK, NNRT_F32, 2, NNRT_INIT_ONES, {IN, OUT}, 0, 0},
#endif
};

/* Initialisers cannot copy const objects in C, hence macros. */
#define T_X                                                                                                            \
  { "x", 0, NNRT_F32, 2, 0, {SYM_B, IN}, 0, 0 }
#define T_Y                                                                                                            \
  { "y", 0, NNRT_I32, 1, 0, {SYM_B}, 0, 0 }
#define T_LR                                                                                                           \
  { "lr", 0, NNRT_F32, 0, 0, {0}, 0, 0 }
#define T_LOSS                                                                                                         \
  { "loss", 0, NNRT_F32, 0, 0, {0}, 0, 0 }
#define T_LOGITS                                                                                                       \
  { "logits", 0, NNRT_F32, 2, 0, {SYM_B, OUT}, 0, 0 }

static const NnrtTensor fwd_in[] = {T_X};
static const NnrtTensor fwd_out[] = {T_LOGITS};
static const NnrtTensor eval_in[] = {T_X, T_Y};
static const NnrtTensor train_in[] = {T_X, T_Y, T_LR};
static const NnrtTensor step_out[] = {T_LOSS, T_LOGITS};

#define ALIGN64(n) (((n) + 63) & ~(int64_t)63)

/* ---- forward: logits[B, OUT] = x[B, IN] @ w[IN, OUT] + b ---- */

typedef struct {
  const float *x, *w, *b;
  const int32_t *y;
  float *logits, *dlogits, *rowloss; /* dlogits/rowloss: NULL unless needed */
  int64_t batch;
} RowCtx;

static void rows_body(void *vctx, int64_t lo, int64_t hi) {
  RowCtx *c = vctx;
  for (int64_t r = lo; r < hi; r++) {
    const float *xr = c->x + r * IN;
    float *lr = c->logits + r * OUT;
    for (int j = 0; j < OUT; j++)
      lr[j] = c->b[j];
    for (int i = 0; i < IN; i++) {
      float xi = xr[i];
      const float *wi = c->w + i * OUT;
      for (int j = 0; j < OUT; j++)
        lr[j] += xi * wi[j];
    }
    if (!c->rowloss) continue;
    /* log-softmax, stable: subtract the max */
    float mx = lr[0];
    for (int j = 1; j < OUT; j++)
      mx = lr[j] > mx ? lr[j] : mx;
    float sum = 0;
    for (int j = 0; j < OUT; j++)
      sum += expf(lr[j] - mx);
    float lse = mx + logf(sum);
    c->rowloss[r] = lse - lr[c->y[r]];
    if (c->dlogits)
      for (int j = 0; j < OUT; j++)
        c->dlogits[r * OUT + j] = (expf(lr[j] - lse) - (j == c->y[r] ? 1.0f : 0.0f)) / (float)c->batch;
  }
}

static float run_rows(RowCtx *c) {
  nnrt_parallel_for(rows_body, c, c->batch, 16);
  if (!c->rowloss) return 0;
  double loss = 0;
  for (int64_t r = 0; r < c->batch; r++)
    loss += c->rowloss[r];
  return (float)(loss / (double)c->batch);
}

static void forward_fn(void **args, const int64_t *syms, void *ws) {
  (void)ws;
  RowCtx c = {args[N_GLOBALS], args[G_W], args[G_B], NULL, args[N_GLOBALS + 1], NULL, NULL, syms[0]};
  run_rows(&c);
}

static int64_t forward_ws(const int64_t *syms) {
  (void)syms;
  return 0;
}

/* ---- eval_step: [x, y] -> [loss, logits] ---- */

static void eval_fn(void **args, const int64_t *syms, void *ws) {
  RowCtx c = {args[N_GLOBALS], args[G_W], args[G_B], args[N_GLOBALS + 1], args[N_GLOBALS + 3], NULL, ws, syms[0]};
  *(float *)args[N_GLOBALS + 2] = run_rows(&c);
}

static int64_t eval_ws(const int64_t *syms) { return ALIGN64(syms[0] * 4); }

/* ---- train_step: [x, y, lr] -> [loss, logits], Adam on w and b ---- */

typedef struct {
  const float *x, *dlogits;
  float *dw;
  int64_t batch;
} GradCtx;

/* dw[i, :] = sum_r x[r, i] * dlogits[r, :] for i in [lo, hi) */
static void grad_body(void *vctx, int64_t lo, int64_t hi) {
  GradCtx *c = vctx;
  memset(c->dw + lo * OUT, 0, (size_t)(hi - lo) * OUT * sizeof(float));
  for (int64_t r = 0; r < c->batch; r++) {
    const float *xr = c->x + r * IN, *dl = c->dlogits + r * OUT;
    for (int64_t i = lo; i < hi; i++) {
      float xi = xr[i];
      float *d = c->dw + i * OUT;
      for (int j = 0; j < OUT; j++)
        d[j] += xi * dl[j];
    }
  }
}

typedef struct {
  float *p, *m, *v;
  const float *g;
  float lr_t, b1, b2, eps;
} AdamCtx;

static void adam_body(void *vctx, int64_t lo, int64_t hi) {
  AdamCtx *c = vctx;
  for (int64_t i = lo; i < hi; i++) {
    float g = c->g[i];
    c->m[i] = c->b1 * c->m[i] + (1 - c->b1) * g;
    c->v[i] = c->b2 * c->v[i] + (1 - c->b2) * g * g;
    c->p[i] -= c->lr_t * c->m[i] / (sqrtf(c->v[i]) + c->eps);
  }
}

static void train_fn(void **args, const int64_t *syms, void *ws) {
  int64_t batch = syms[0];
  float *rowloss = ws;
  float *dlogits = (float *)((char *)ws + ALIGN64(batch * 4));
  float *dw = (float *)((char *)dlogits + ALIGN64(batch * OUT * 4));
  float *db = (float *)((char *)dw + ALIGN64(IN * OUT * 4));
  RowCtx c = {args[N_GLOBALS], args[G_W], args[G_B], args[N_GLOBALS + 1], args[N_GLOBALS + 4], dlogits, rowloss, batch};
  *(float *)args[N_GLOBALS + 3] = run_rows(&c);

  GradCtx gc = {c.x, dlogits, dw, batch};
  nnrt_parallel_for(grad_body, &gc, IN, 64);
  for (int j = 0; j < OUT; j++) {
    double s = 0;
    for (int64_t r = 0; r < batch; r++)
      s += dlogits[r * OUT + j];
    db[j] = (float)s;
  }

  /* Adam with bias correction folded into the step size (Kingma & Ba, 2.1). */
  float *step = args[G_STEP];
  float t = *step + 1;
  *step = t;
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
  float lr = *(const float *)args[N_GLOBALS + 2];
  float lr_t = lr * sqrtf(1 - powf(b2, t)) / (1 - powf(b1, t));
  AdamCtx aw = {args[G_W], args[G_WM], args[G_WV], dw, lr_t, b1, b2, eps};
  nnrt_parallel_for(adam_body, &aw, IN * OUT, 1024);
  AdamCtx ab = {args[G_B], args[G_BM], args[G_BV], db, lr_t, b1, b2, eps};
  adam_body(&ab, 0, OUT);
}

static int64_t train_ws(const int64_t *syms) {
  return ALIGN64(syms[0] * 4) + ALIGN64(syms[0] * OUT * 4) + ALIGN64(IN * OUT * 4) + ALIGN64(OUT * 4);
}

/* FAKE_PRUNE: with a pruning mask of w on a schedule (the masks are
 * recomputed and the pruned weights zeroed by the runtime, between steps),
 * for the device mirror's pruning path; the model's arithmetic ignores it. */
#ifdef FAKE_CUDA
/* Built as a CUDA binary's model (NnrtModel.cuda set), for the session's
 * device mirror: with tests/runtime/device_double.c the step functions above
 * run on the double's "device" memory; linked with libnnrt_cuda.a, the real
 * runtime opens the GPU (and, without one, must say so). The kernel and the
 * image are never launched or loaded by those tests. */
static const NnrtCuKernel fake_kernels[] = {{"nnc_train_step_k0_ew", 256, 0}};
static const char fake_ptx[] = "// no code: tests never load it\n";
static const NnrtCuImage fake_images[] = {{90, 1, fake_ptx, sizeof fake_ptx - 1}};
static const NnrtCuda fake_cuda = {1, fake_kernels, 1, fake_images, 0};
#ifdef FAKE_CUDA_REAL
/* What a generated step function calls, so the linker takes rt_cuda.o. */
__attribute__((used)) void (*const fake_cuda_launch)(int32_t, const NnrtCuArgs *) = nnrt_cu_launch;
#endif
#endif

const NnrtModel nnrt_model = {
    .abi_version = NNRT_ABI_VERSION,
    .name = "fake_softmax",
    .n_syms = 1,
    .sym_names = sym_names,
    .n_globals = N_GLOBALS,
    .globals = globals,
    .forward = {"forward", forward_fn, forward_ws, 1, 1, fwd_in, fwd_out},
    .eval_step = {"eval_step", eval_fn, eval_ws, 2, 2, eval_in, step_out},
    .train_step = {"train_step", train_fn, train_ws, 3, 2, train_in, step_out},
    .task = NNRT_TASK_CLASSIFY,
    .optimizer = NNRT_OPT_ADAM,
    .lr = 1e-3,
    .beta1 = 0.9,
    .beta2 = 0.999,
    .eps = 1e-7,
    .batch = 32,
    .epochs = 2,
    .dataset = "fashion_mnist",
    .seed = 42,
#ifdef FAKE_CUDA
    .cuda = &fake_cuda,
#endif
#ifdef FAKE_PRUNE
    .prune = "unstructured:0.5,start=0,end=20,every=5",
#endif
};
