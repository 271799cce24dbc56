/* rt_session.c — a compiled model bound to data: checks the model's
 * functions, binds symbolic dims from the data's shapes, owns the globals,
 * the batch buffers and the workspace, and runs one batch at a time.
 *
 * Binding rule (nnrt_abi.h): eval_step's inputs are [features, labels];
 * the first gets the samples, the last the labels, and the model output
 * (eval_step's second output) gives the accuracy. The batch is the symbolic
 * dim named "B" if there is one, else sym 0, and must be the first dim of
 * those tensors so a batch is a contiguous run of samples. */
#include "nnrt.h"
#include "rt_numerics.h"
#include "rt_device.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rt_model_check(const NnrtModel *m, unsigned need, RtError *e) {
  if (m->abi_version != NNRT_ABI_VERSION)
    return rt_fail(e, RT_EXIT_FAIL,
                   "model '%s' was compiled for runtime ABI %d, but this runtime implements ABI %d; rebuild it with "
                   "the matching nnc",
                   m->name, m->abi_version, NNRT_ABI_VERSION);
  const NnrtFunc *fw = &m->forward, *ev = &m->eval_step, *tr = &m->train_step;
  if ((need & RT_NEED_FORWARD) && !(fw->name && fw->fn))
    return rt_fail(e, RT_EXIT_USAGE, "model '%s' has no forward function", m->name);
  if ((need & RT_NEED_EVAL) && !(ev->name && ev->fn))
    return rt_fail(e, RT_EXIT_USAGE, "model '%s' has no eval_step (no loss to evaluate)", m->name);
  if ((need & RT_NEED_TRAIN) && !(tr->name && tr->fn))
    return rt_fail(e, RT_EXIT_USAGE, "model '%s' has no train_step (no optimizer)", m->name);
  if (ev->fn && (ev->n_inputs != 2 || ev->n_outputs != 2))
    return rt_fail(e, RT_EXIT_FAIL,
                   "model '%s': eval_step takes %d inputs and gives %d outputs; this runtime feeds [features, labels] "
                   "-> [loss, output]",
                   m->name, ev->n_inputs, ev->n_outputs);
  if (tr->fn && (tr->n_inputs != 3 || tr->n_outputs != 2))
    return rt_fail(e, RT_EXIT_FAIL,
                   "model '%s': train_step takes %d inputs and gives %d outputs; expected [features, labels, lr] -> "
                   "[loss, output]",
                   m->name, tr->n_inputs, tr->n_outputs);
  if (fw->fn && (fw->n_inputs != 1 || fw->n_outputs != 1))
    return rt_fail(e, RT_EXIT_FAIL,
                   "model '%s': forward takes %d inputs and gives %d outputs; expected [features] -> [output]", m->name,
                   fw->n_inputs, fw->n_outputs);
  return 0;
}

int rt_session_open(RtSession *s, const NnrtModel *m, RtError *e) {
  memset(s, 0, sizeof *s);
  s->m = m;
  s->syms = rt_alloc((size_t)(m->n_syms > 0 ? m->n_syms : 1) * sizeof *s->syms, "syms", e);
  s->step = -1;
  if (!s->syms || rt_globals_alloc(&s->g, m, e) || (m->cuda && rt_mirror_open(s, e))) {
    rt_session_close(s);
    return -1;
  }
  for (int32_t i = 0; i < m->n_syms; i++)
    s->syms[i] = -1;
  s->batch_sym = m->n_syms > 0 ? 0 : -1;
  for (int32_t i = 0; i < m->n_syms; i++)
    if (strcmp(m->sym_names[i], "B") == 0) s->batch_sym = i;
  const NnrtFunc *f = m->eval_step.fn ? &m->eval_step : &m->forward;
  s->x_t = &f->inputs[0];
  s->y_t = m->eval_step.fn ? &m->eval_step.inputs[1] : NULL;
  s->out_t = m->eval_step.fn ? &m->eval_step.outputs[1] : &m->forward.outputs[0];
  if (m->inference && s->out_t->rank > 0) { /* no labels input: the task says what eval compares the output with */
    s->y_own = *s->out_t;
    s->y_own.name = "labels";
    s->y_own.dtype = m->task == NNRT_TASK_CLASSIFY ? NNRT_I32 : NNRT_F32;
    s->y_own.rank -= m->task == NNRT_TASK_CLASSIFY; /* one class id per row of class scores */
    s->y_t = &s->y_own;
  }
  s->static_batch = s->x_t->rank > 0 && s->x_t->dims[0] >= 0 ? s->x_t->dims[0] : 0;
  rt_numerics_attach(s); /* --check-numerics: nothing otherwise */
  return 0;
}

void rt_session_close(RtSession *s) {
  rt_mirror_close(s); /* a CUDA binary's device memory and pinned buffers */
  rt_globals_free(&s->g);
  rt_free(s->syms);
  rt_free(s->x);
  rt_free(s->y);
  rt_free(s->out);
  rt_free(s->ws);
  rt_free(s->args);
  memset(s, 0, sizeof *s);
}

static const char *dim_name(const RtSession *s, int64_t d, char *buf, size_t size) {
  if (d >= 0)
    snprintf(buf, size, "%lld", (long long)d);
  else
    snprintf(buf, size, "%s", s->m->sym_names[-d - 1]);
  return buf;
}

/* "[B, 784]" with sym names. */
static const char *tensor_shape(const RtSession *s, const NnrtTensor *t, char *buf, size_t size) {
  size_t at = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < t->rank && at < size; i++) {
    char d[64];
    at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? ", " : "", dim_name(s, t->dims[i], d, sizeof d));
  }
  if (at < size) snprintf(buf + at, size - at, "]");
  return buf;
}

static int is_batch_dim(const RtSession *s, int64_t d) { return s->batch_sym >= 0 && d == -(int64_t)s->batch_sym - 1; }

/* Elements per sample of t with the syms bound so far; -1 if one is not. */
static int64_t per_sample(const RtSession *s, const NnrtTensor *t) {
  int64_t n = 1;
  for (int i = 1; i < t->rank; i++) {
    int64_t d = t->dims[i] >= 0 ? t->dims[i] : s->syms[-t->dims[i] - 1];
    if (d < 0 || rt_mul64(n, d, &n)) return -1;
  }
  return n;
}

/* Binds t's non-batch symbolic dims from array a's per-sample dims (same
 * rank only) and checks the per-sample element count. */
static int bind_tensor(RtSession *s, const NnrtTensor *t, const RtArray *a, const char *role, RtError *e) {
  char want[256], got[160], where[RT_PATH_MAX + 32];
  if (t->rank < 1 || !(is_batch_dim(s, t->dims[0]) || (s->batch_sym < 0 && t->dims[0] >= 0)))
    return rt_fail(e, RT_EXIT_FAIL, "model input '%s' %s must have the batch as its first dimension", t->name,
                   tensor_shape(s, t, want, sizeof want));
  for (int i = 1; i < t->rank; i++) {
    int64_t d = t->dims[i];
    if (d >= 0 || is_batch_dim(s, d)) continue;
    int64_t *sym = &s->syms[-d - 1];
    if (a->rank != t->rank)
      return rt_fail(e, RT_EXIT_USAGE,
                     "%s: cannot bind dimension '%s' of model input '%s' %s from %s of shape %s (ranks differ)",
                     rt_array_where(a, -1, where, sizeof where), s->m->sym_names[-d - 1], t->name,
                     tensor_shape(s, t, want, sizeof want), role, rt_shape_str(got, sizeof got, a->rank, a->dims));
    if (*sym < 0) *sym = a->dims[i];
  }
  int64_t want_n = per_sample(s, t);
  int64_t have_n = 1;
  for (int i = 1; i < a->rank; i++)
    have_n *= a->dims[i]; /* cannot overflow: numel did not */
  if (want_n != have_n)
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: %s of shape %s have %lld values per sample, but model input '%s' %s takes %lld",
                   rt_array_where(a, -1, where, sizeof where), role, rt_shape_str(got, sizeof got, a->rank, a->dims),
                   (long long)have_n, t->name, tensor_shape(s, t, want, sizeof want), (long long)want_n);
  return 0;
}

int rt_session_bind(RtSession *s, const RtArray *x, const RtArray *y, RtError *e) {
  int with_y = y && s->y_t;
  if (bind_tensor(s, s->x_t, x, "samples", e) || rt_check_ids(s, x, e)) return -1;
  if (with_y && bind_tensor(s, s->y_t, y, "labels", e)) return -1;
  s->x_per = per_sample(s, s->x_t);
  if (with_y) s->y_per = per_sample(s, s->y_t);
  s->out_per = per_sample(s, s->out_t);
  const NnrtTensor *o = s->out_t;
  char shape[256];
  if (s->out_per < 0)
    return rt_fail(e, RT_EXIT_FAIL, "model output '%s' %s has a dimension the data does not determine", o->name,
                   tensor_shape(s, o, shape, sizeof shape));
  if (s->m->task == NNRT_TASK_CLASSIFY) {
    int64_t c = o->rank < 2 ? 0 : o->dims[o->rank - 1];
    if (c < 0) c = s->syms[-c - 1];
    if (c < 1 || s->out_per % c || (with_y && s->out_per / c != s->y_per))
      return rt_fail(e, RT_EXIT_FAIL,
                     "classification model output '%s' %s does not give one row of class scores per label%s%s", o->name,
                     tensor_shape(s, o, shape, sizeof shape), s->y_t ? " of " : "", s->y_t ? s->y_t->name : "");
    s->classes = c;
  } else if (rt_task_binary(s->m->task) && with_y && s->out_per != s->y_per) {
    return rt_fail(e, RT_EXIT_FAIL, "binary model output '%s' %s does not give one probability per label", o->name,
                   tensor_shape(s, o, shape, sizeof shape));
  }
  return 0;
}

int rt_session_load(RtSession *s, const NnrtModel *m, const char *data_dir, int split, RtDataset *d, RtError *e) {
  memset(s, 0, sizeof *s);
  memset(d, 0, sizeof *d);
  char dirbuf[RT_PATH_MAX];
  const char *dir = rt_data_dir(data_dir, m->dataset, dirbuf, sizeof dirbuf, e);
  if (!dir || rt_session_open(s, m, e)) return -1;
  if (rt_data_load(dir, split, rt_session_x_dtype(s), s->y_t->dtype, d, e) || rt_session_bind(s, &d->x, &d->y, e) ||
      rt_check_labels(s, &d->y, e))
    return -1;
  return 0;
}

int rt_globals_embedded(RtGlobals *g, const NnrtModel *m) {
  if (!m->embedded) return 0;
  for (int32_t i = 0; i < m->n_globals; i++)
    if (m->embedded[i]) memcpy(g->ptr[i], m->embedded[i], (size_t)g->numel[i] * rt_dtype_size(m->globals[i].dtype));
  return 1;
}

int rt_session_weights(RtSession *s, const char *ckpt_path, RtError *e) {
  rt_session_globals_changed(s);
  if (ckpt_path) return rt_st_load(ckpt_path, s->m, &s->g, RT_LOAD_PARAMS, NULL, e);
  if (rt_globals_embedded(&s->g, s->m)) return 0;
  return rt_fail(e, RT_EXIT_USAGE,
                 "model '%s' has no embedded weights (it was built without nnc build --checkpoint): give --checkpoint "
                 "FILE",
                 s->m->name);
}

static int64_t ws_need(const RtSession *s, const NnrtFunc *f) {
  return f->fn && f->workspace_size ? f->workspace_size(s->syms) : 0;
}

static int ensure_ws(RtSession *s, int64_t need, RtError *e) {
  if (need <= s->ws_size) return 0;
  if (s->dev) return rt_mirror_ws(s, need, e);
  rt_free(s->ws);
  s->ws_size = 0;
  s->ws = rt_alloc((size_t)need, "workspace", e);
  if (!s->ws) return -1;
  s->ws_size = need;
  return 0;
}

int rt_session_alloc(RtSession *s, int64_t max_batch, RtError *e) {
  if (s->batch_sym < 0) max_batch = s->static_batch;
  if (max_batch < 1) max_batch = 1;
  int64_t xb, yb, ob;
  int64_t xs = (int64_t)rt_dtype_size(s->x_t->dtype), ys = s->y_t ? (int64_t)rt_dtype_size(s->y_t->dtype) : 0;
  if (rt_mul64(max_batch, s->x_per * xs, &xb) || rt_mul64(max_batch, s->y_per * ys, &yb) ||
      rt_mul64(max_batch, s->out_per * (int64_t)rt_dtype_size(s->out_t->dtype), &ob))
    return rt_fail(e, RT_EXIT_USAGE, "batch size %lld is too large", (long long)max_batch);
  s->max_batch = max_batch;
  s->args = rt_alloc(((size_t)s->m->n_globals + 5) * sizeof *s->args, "arguments", e);
  if (!s->args) return -1;
  /* One workspace for the largest batch, sized for every function. */
  if (s->batch_sym >= 0) s->syms[s->batch_sym] = max_batch;
  int64_t need = ws_need(s, &s->m->forward);
  if (ws_need(s, &s->m->eval_step) > need) need = ws_need(s, &s->m->eval_step);
  if (ws_need(s, &s->m->train_step) > need) need = ws_need(s, &s->m->train_step);
  if (s->dev) return rt_mirror_alloc(s, (size_t)xb, (size_t)yb, (size_t)ob, need, e); /* one device arena */
  s->x = rt_alloc((size_t)xb, "input batch", e);
  s->y = rt_alloc((size_t)yb, "label batch", e);
  s->out = rt_alloc((size_t)ob, "output batch", e);
  if (!s->x || !s->y || !s->out) return -1;
  return ensure_ws(s, need, e);
}

int64_t rt_argmax_row(const RtSession *s, int64_t r) {
  const float *p = s->out + r * s->classes;
  int64_t best = 0;
  for (int64_t c = 1; c < s->classes; c++)
    if (p[c] > p[best]) best = c;
  return best;
}

/* A binary prediction of row r: counts for precision and recall, and its
 * score for the AUC when m collects them. */
static void score_binary(RtMetrics *m, int truth, int pred, float score) {
  m->tp += truth && pred;
  m->fp += !truth && pred;
  m->fn += truth && !pred;
  if (m->score && m->n_scores < m->cap) {
    m->score[m->n_scores] = score;
    m->truth[m->n_scores++] = (uint8_t)truth;
  }
}

static void score(const RtSession *s, const void *labels, int64_t bs, RtMetrics *m, int64_t *confusion) {
  int32_t yd = s->y_t->dtype;
  if (s->m->task == NNRT_TASK_CLASSIFY) {
    for (int64_t r = 0; r < bs * s->y_per; r++) {
      int64_t p = rt_argmax_row(s, r), y = (int64_t)rt_dtype_get(yd, labels, r); /* checked: in [0, classes) */
      m->correct += p == y;
      if (confusion) confusion[y * s->classes + p]++;
      /* Two classes: class 1 is the positive one, scored by its logit margin. */
      if (s->classes == 2) score_binary(m, y == 1, p == 1, s->out[2 * r + 1] - s->out[2 * r]);
    }
    m->scored += bs * s->y_per;
  } else if (rt_task_binary(s->m->task)) {
    for (int64_t r = 0; r < bs * s->y_per; r++) {
      double y = rt_dtype_get(yd, labels, r);
      int truth = rt_dtype_is_float(yd) ? y >= 0.5 : y != 0;
      int pred = rt_binary_class(s->m->task, s->out[r]);
      m->correct += pred == truth;
      if (confusion) confusion[truth * 2 + pred]++;
      score_binary(m, truth, pred, s->out[r]);
    }
    m->scored += bs * s->y_per;
  } else if (s->out_per == s->y_per) { /* regression: element-wise targets */
    for (int64_t r = 0; r < bs * s->y_per; r++)
      m->abs_err += fabs((double)s->out[r] - rt_dtype_get(yd, labels, r));
    m->abs_n += bs * s->y_per;
  }
}

/* The mean over the batch's rows of the cross-entropy of the output row as
 * logits against the row's class id (NNRT_LOSS_CROSS_ENTROPY: what
 * cross_entropy(output, labels) computes), in double, the log-sum-exp
 * shifted by the row's largest logit. Labels were checked to be classes. */
static double output_cross_entropy(const RtSession *s, int64_t bs) {
  int64_t rows = bs * s->y_per;
  double total = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float *p = s->out + r * s->classes;
    int64_t y = (int64_t)rt_dtype_get(s->y_t->dtype, s->y, r);
    double top = p[rt_argmax_row(s, r)], z = 0;
    for (int64_t c = 0; c < s->classes; c++)
      z += exp((double)p[c] - top);
    total += log(z) + top - (double)p[y];
  }
  return rows ? total / (double)rows : NAN;
}

/* The batch in flight, for the fail hooks (rt_util.c): generated code
 * knows a row of its batch, the driver which sample of which file that is.
 * Set before the call and cleared after it; the hooks read it only during
 * the call (from pool threads too, which the call waits for). */
static struct {
  const RtDataset *d;
  const int32_t *idx;
  int64_t bs, x_per;
} g_batch;

int64_t rt_batch_sample(int64_t row, int64_t pos, const char **path, int64_t *offset) {
  if (!g_batch.d || row < 0 || row >= g_batch.bs) return -1;
  const RtArray *x = &g_batch.d->x;
  int64_t k = g_batch.idx[row];
  *path = x->path;
  *offset = x->data_offset + (k * g_batch.x_per + pos) * x->elem_bytes;
  return k;
}

/* Whether f's batch from d is scored: eval_step's and train_step's labels
 * are their input; forward's output is scored against them only in an
 * inference binary's eval (it has no eval_step). */
static int batch_scored(const RtSession *s, const NnrtFunc *f, const RtDataset *d) {
  return f != &s->m->forward || (s->m->inference && d->y.data);
}

int32_t rt_session_x_dtype(const RtSession *s) {
  return s->x_t->dtype == NNRT_F32 ? RT_DTYPE_F32_COMPACT : s->x_t->dtype;
}

/* One chunk of rows of rt_stage_batch. */
typedef struct StageRows {
  const RtSession *s;
  const RtDataset *d;
  const int32_t *idx;
  void *x, *y;
  size_t xs, ys; /* bytes per row as stored; ys 0: labels not staged */
  float scale; /* > 0: the rows are pixels stored as bytes, widened by it */
} StageRows;

static void stage_rows(void *vctx, int64_t lo, int64_t hi) {
  const StageRows *c = vctx;
  const RtDataset *d = c->d;
  int64_t per = c->s->x_per;
  for (int64_t i = lo; i < hi; i++) {
    int64_t k = c->idx[i];
    if (c->scale > 0) {
      rt_widen_pixels((float *)c->x + i * per, (const uint8_t *)d->x.data + k * per, per, c->scale);
    } else {
      memcpy((char *)c->x + i * c->xs, (const char *)d->x.data + k * c->xs, c->xs);
    }
    if (c->ys) memcpy((char *)c->y + i * c->ys, (const char *)d->y.data + k * c->ys, c->ys);
  }
}

/* Rows per chunk of the staging loop: about 64 KiB of input, so a batch of
 * a few small rows (a text model's word ids) is staged inline. */
#define STAGE_CHUNK_BYTES (64 << 10)

int rt_stage_batch(const RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs, void *x,
                   void *y) {
  int scored = batch_scored(s, f, d);
  StageRows c = {s, d, idx, x, y, (size_t)s->x_per * rt_dtype_size(s->x_t->dtype),
                 scored ? (size_t)s->y_per * rt_dtype_size(s->y_t->dtype) : 0, d->x.scale};
  /* On the pool: each thread stages the rows it then computes first (the
   * pool's affinity, rt_pool.c), and a batch of 256 images took 0.08 ms of
   * the MLP's 1 ms step on one thread. */
  int64_t grain = STAGE_CHUNK_BYTES / (int64_t)(c.xs ? c.xs : 1);
  nnrt_parallel_for(stage_rows, &c, bs, grain < 1 ? 1 : grain);
  return scored;
}

void rt_session_next(RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs) {
  if (!s->dev) return; /* the CPU has nothing to overlap */
  s->next = (RtBatchRef){f, d, idx, bs};
}

int rt_run_batch(RtSession *s, const NnrtFunc *f, const RtDataset *d, const int32_t *idx, int64_t bs, RtMetrics *m,
                 int64_t *confusion, RtError *e) {
  if (bs < 1 || bs > s->max_batch)
    return rt_fail(e, RT_EXIT_FAIL, "internal: batch %lld outside [1, %lld]", (long long)bs, (long long)s->max_batch);
  if (s->next.bs && (s->next.bs < 1 || s->next.bs > s->max_batch))
    return rt_fail(e, RT_EXIT_FAIL, "internal: next batch %lld outside [1, %lld]", (long long)s->next.bs,
                   (long long)s->max_batch);
  if (s->batch_sym >= 0) s->syms[s->batch_sym] = bs;
  int is_fwd = f == &s->m->forward;
  int scored = batch_scored(s, f, d);
  if (ensure_ws(s, ws_need(s, f), e)) return -1;
  g_batch.d = d, g_batch.idx = idx, g_batch.bs = bs, g_batch.x_per = s->x_per;
  if (s->dev) { /* a CUDA binary: the batch goes up (unless it went up already), the loss and output come down */
    int rc = rt_mirror_run(s, f, d, idx, bs, e);
    g_batch.d = NULL;
    if (rc) return -1;
  } else {
    rt_stage_batch(s, f, d, idx, bs, s->x, s->y);
    int na = 0;
    for (int32_t g = 0; g < s->m->n_globals; g++)
      s->args[na++] = s->g.ptr[g];
    s->args[na++] = s->x;
    if (!is_fwd) s->args[na++] = s->y;
    if (f == &s->m->train_step) s->args[na++] = &s->lr;
    if (!is_fwd) s->args[na++] = &s->loss;
    s->args[na++] = s->out;
    f->fn(s->args, s->syms, s->ws);
    g_batch.d = NULL;
  }
  if (!is_fwd) m->loss_sum += (double)s->loss * (double)bs;
  else if (scored) /* forward computes no loss: the model says whether its output gives it */
    m->loss_sum += s->m->output_loss == NNRT_LOSS_CROSS_ENTROPY ? output_cross_entropy(s, bs) * (double)bs : NAN;
  if (scored) score(s, s->y, bs, m, confusion);
  m->samples += bs;
  return 0;
}

int rt_evaluate(RtSession *s, const RtDataset *d, const int32_t *idx, int64_t n, int64_t batch, RtMetrics *out,
                int64_t *confusion, RtError *e) {
  memset(out, 0, sizeof *out);
  return rt_evaluate_add(s, d, idx, n, batch, out, confusion, e);
}

int rt_evaluate_add(RtSession *s, const RtDataset *d, const int32_t *idx, int64_t n, int64_t batch, RtMetrics *out,
                    int64_t *confusion, RtError *e) {
  if (s->batch_sym < 0) batch = s->static_batch;
  if (batch > s->max_batch) batch = s->max_batch;
  /* idx NULL: samples in order, from two index buffers, this batch's and
   * the next's (a CUDA binary uploads the next while this one runs). */
  int32_t *seq = NULL;
  if (!idx && !(seq = rt_alloc(2 * (size_t)batch * sizeof *seq, "batch indices", e))) return -1;
  const NnrtFunc *f = s->m->eval_step.fn ? &s->m->eval_step : &s->m->forward;
  int rc = 0;
  for (int64_t at = 0, b = 0; at < n && rc == 0; at += batch, b++) {
    int64_t bs = n - at < batch ? n - at : batch, next_at = at + bs;
    int64_t next_bs = n - next_at < batch ? n - next_at : batch;
    if (s->batch_sym < 0 && bs < batch) break; /* a static-batch model cannot run a partial batch */
    int32_t *cur = seq ? seq + (b % 2) * batch : NULL, *nxt = seq ? seq + (1 - b % 2) * batch : NULL;
    for (int64_t i = 0; b == 0 && seq && i < bs; i++)
      cur[i] = (int32_t)(at + i);
    if (next_bs > 0 && !(s->batch_sym < 0 && next_bs < batch)) {
      for (int64_t i = 0; seq && i < next_bs; i++)
        nxt[i] = (int32_t)(next_at + i);
      rt_session_next(s, f, d, idx ? idx + next_at : nxt, next_bs);
    }
    rc = rt_run_batch(s, f, d, idx ? idx + at : cur, bs, out, confusion, e);
  }
  rt_free(seq);
  return rc;
}

double rt_metrics_loss(const RtMetrics *m) { return m->samples ? m->loss_sum / (double)m->samples : NAN; }

double rt_metrics_acc(const RtMetrics *m) { return m->scored ? (double)m->correct / (double)m->scored : NAN; }

/* sklearn.metrics.classification_report's numbers: a score whose
 * denominator is 0 is 0 (its zero_division default, less the warning), and
 * F1 = 2pr / (p + r) is then 0 as well. */
double rt_class_scores(const int64_t *cm, int64_t k, RtClassScore *per, RtClassScore avg[2]) {
  int64_t total = 0, correct = 0;
  memset(avg, 0, 2 * sizeof *avg);
  for (int64_t c = 0; c < k; c++) {
    int64_t tp = cm[c * k + c], support = 0, predicted = 0;
    for (int64_t j = 0; j < k; j++) {
      support += cm[c * k + j];
      predicted += cm[j * k + c];
    }
    RtClassScore *p = &per[c];
    p->precision = predicted ? (double)tp / (double)predicted : 0.0;
    p->recall = support ? (double)tp / (double)support : 0.0;
    p->f1 = p->precision + p->recall > 0 ? 2 * p->precision * p->recall / (p->precision + p->recall) : 0.0;
    p->support = support;
    total += support;
    correct += tp;
  }
  for (int64_t c = 0; c < k; c++) {
    double w = total ? (double)per[c].support / (double)total : 0.0;
    avg[0].precision += per[c].precision / (double)k;
    avg[0].recall += per[c].recall / (double)k;
    avg[0].f1 += per[c].f1 / (double)k;
    avg[1].precision += per[c].precision * w;
    avg[1].recall += per[c].recall * w;
    avg[1].f1 += per[c].f1 * w;
  }
  avg[0].support = avg[1].support = total;
  return total ? (double)correct / (double)total : NAN;
}

/* Generated code's last line of defence against a bad label (see
 * nnrt_abi.h). stdio is thread-safe; _Exit skips atexit handlers that
 * another thread may be running. */
void nnrt_fail_label(int64_t index, int64_t value, int64_t classes) {
  fprintf(stderr, "error: label %lld in row %lld is outside [0, %lld)\n", (long long)value, (long long)index,
          (long long)classes);
  fflush(stderr);
  _Exit(RT_EXIT_USAGE);
}

/* The same for embedding ids (nnrt_abi.h): the row is the sample of the
 * batch, the position its place in that sample's sequence; the driver
 * knows which sample of which file that is (when the ids are the features
 * it fed, as in a text model). */
void nnrt_fail_id(int64_t index, int64_t per_row, int64_t value, int64_t rows) {
  if (per_row < 1) per_row = 1;
  const char *path;
  int64_t offset, sample = rt_batch_sample(index / per_row, index % per_row, &path, &offset);
  if (sample >= 0)
    fprintf(stderr,
            "error: %s: offset %lld: sample %lld, position %lld: input id %lld is out of range for an embedding of "
            "%lld rows (ids must be in [0, %lld))\n",
            path, (long long)offset, (long long)sample, (long long)(index % per_row), (long long)value,
            (long long)rows, (long long)rows);
  else if (per_row > 1)
    fprintf(stderr, "error: input id %lld at row %lld, position %lld is out of range for an embedding of %lld rows\n",
            (long long)value, (long long)(index / per_row), (long long)(index % per_row), (long long)rows);
  else
    fprintf(stderr, "error: input id %lld at row %lld is out of range for an embedding of %lld rows\n",
            (long long)value, (long long)index, (long long)rows);
  fflush(stderr);
  _Exit(RT_EXIT_USAGE);
}
