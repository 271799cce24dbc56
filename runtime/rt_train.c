/* rt_train.c — `train`: the training driver, shaped like Keras's fit.
 *
 * Order of events: load and check all data (train, test) before the first
 * step, so a bad file fails in a second rather than after an epoch; split a
 * validation set off the training set; initialise or load the globals; then
 * per epoch a shuffled pass of train_step, a validation pass of eval_step, a
 * summary line and a checkpoint; at the end the test set.
 *
 * Determinism: the split, each epoch's shuffle and parameter init are Philox
 * streams keyed by the seed (see rt_philox.c), and generated code computes
 * the same values with any number of threads (rt_pool.c, rt_blas.c), so a
 * run is a function of (seed, batch, val-split) and a checkpoint's position
 * (epoch, step within it) is enough for --resume to continue exactly as if
 * never stopped.
 *
 * Each step's learning rate comes from the schedule, and each epoch ends
 * with rt_plan.c's decisions (plateau cuts, early stopping, the best
 * weights); their state rides in the checkpoint with the position. A model
 * built with --prune has its masks recomputed before the steps its
 * schedule names (rt_prune.c), and reports its sparsity after each epoch.
 *
 * Checkpoints are never lost or clobbered (docs/hardening.md): an
 * existing --checkpoint needs --resume or --overwrite; every save first
 * checks the weights and what they compute (check_saveable); --resume cuts
 * the --log back to the checkpoint's step.
 *
 * Exit codes: 3 when the loss, the validation or test loss, or the weights
 * about to be saved stop being finite, 130/143 after SIGINT/SIGTERM (the
 * current step finishes and the checkpoint is saved first); early stopping
 * is a normal end (0). */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_fault.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set by the signal handler, read between steps: the only state a handler
 * may touch. */
static volatile sig_atomic_t g_stop_signal;

static void on_signal(int sig) { g_stop_signal = sig; }

/* Ctrl-C and SIGTERM stop training cleanly; a signal the parent set to be
 * ignored (nohup, a background job of a script) stays ignored. */
static void install_signals(struct sigaction *old_int, struct sigaction *old_term) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
  g_stop_signal = 0;
  sigaction(SIGINT, NULL, old_int);
  sigaction(SIGTERM, NULL, old_term);
  if (old_int->sa_handler != SIG_IGN) sigaction(SIGINT, &sa, NULL);
  if (old_term->sa_handler != SIG_IGN) sigaction(SIGTERM, &sa, NULL);
}

static void restore_signals(const struct sigaction *old_int, const struct sigaction *old_term) {
  sigaction(SIGINT, old_int, NULL);
  sigaction(SIGTERM, old_term, NULL);
}

/* ---- console output ---- */

typedef struct Progress {
  int tty, quiet;
  int64_t steps;
  double t0, last;
  int last_len; /* of the line on screen, to blank leftovers */
} Progress;

static void fmt_time(char *buf, size_t size, double s) {
  if (s < 60)
    snprintf(buf, size, "%.1fs", s);
  else if (s < 3600)
    snprintf(buf, size, "%dm%02ds", (int)s / 60, (int)s % 60);
  else
    snprintf(buf, size, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
}

/* "loss: 0.4123 - acc: 0.8512" */
static int fmt_metrics(char *buf, size_t size, const char *prefix, const RtMetrics *m) {
  double acc = rt_metrics_acc(m);
  if (isnan(acc)) return snprintf(buf, size, "%sloss: %.4f", prefix, rt_metrics_loss(m));
  return snprintf(buf, size, "%sloss: %.4f - %sacc: %.4f", prefix, rt_metrics_loss(m), prefix, acc);
}

static void bar(char *buf, int width, int64_t step, int64_t steps) {
  int filled = steps ? (int)(width * step / steps) : width;
  for (int i = 0; i < width; i++)
    buf[i] = i < filled ? '=' : '.';
  if (filled > 0 && step < steps) buf[filled - 1] = '>';
  buf[width] = '\0';
}

static void show_line(Progress *p, const char *line, int final) {
  int len = (int)strlen(line);
  fprintf(stderr, "\r%s%*s", line, p->last_len > len ? p->last_len - len : 0, "");
  p->last_len = final ? 0 : len;
  if (final) fputc('\n', stderr);
  fflush(stderr);
}

static void progress_step(Progress *p, int64_t step, const RtMetrics *m) {
  if (!p->tty || p->quiet) return;
  double now = rt_now();
  if (now - p->last < 0.1 && step < p->steps) return; /* redraw at 10 Hz: terminals are slow */
  p->last = now;
  double el = now - p->t0;
  char b[40], met[128], eta[32], line[320];
  bar(b, 30, step, p->steps);
  fmt_metrics(met, sizeof met, "", m);
  fmt_time(eta, sizeof eta, step ? el / (double)step * (double)(p->steps - step) : 0);
  snprintf(line, sizeof line, "%*" PRId64 "/%" PRId64 " [%s] %s - %.0f samples/s - ETA %s",
           (int)snprintf(NULL, 0, "%" PRId64, p->steps), step, p->steps, b, met, el > 0 ? (double)m->samples / el : 0.0,
           eta);
  show_line(p, line, 0);
}

/* "loss: 0.41 - acc: 0.85 - auc: 0.93 - val_loss: ..." over the task's
 * metrics (bits), validation ones when it has them, then the rate. */
static void fmt_epoch_metrics(char *buf, size_t size, const double *v, unsigned bits, double lr) {
  size_t at = 0;
  for (int k = 0; k < 2 * RT_MET_N && at < size; k++) {
    if (!(bits & (1u << (k % RT_MET_N))) || (k >= RT_MET_N && isnan(v[RT_MET_N + RT_MET_LOSS]))) continue;
    char name[32];
    at += (size_t)snprintf(buf + at, size - at, "%s%s: %.4f", at ? " - " : "", rt_metric_name(k, name, sizeof name),
                           v[k]);
  }
  if (at < size) snprintf(buf + at, size - at, " - lr: %.6g", lr);
}

/* The epoch's summary; samples/s counts training steps only (train_secs),
 * the time shown includes validation. */
static void progress_end(Progress *p, int64_t epoch, int64_t epochs, int64_t step, const RtMetrics *tr,
                         const double *values, unsigned bits, double lr, double train_secs) {
  if (p->quiet) return;
  double el = rt_now() - p->t0;
  char b[40], met[512], t[32], line[800];
  bar(b, 30, step, p->steps);
  fmt_epoch_metrics(met, sizeof met, values, bits, lr);
  fmt_time(t, sizeof t, el);
  double rate = train_secs > 0 ? (double)tr->samples / train_secs : 0.0;
  if (p->tty) {
    snprintf(line, sizeof line, "%" PRId64 "/%" PRId64 " [%s] %s - %s (%.0f samples/s)", step, p->steps, b, met, t,
             rate);
    show_line(p, line, 1);
  } else {
    fprintf(stderr, "Epoch %" PRId64 "/%" PRId64 ": %" PRId64 "/%" PRId64 " - %s - %s (%.0f samples/s)\n", epoch + 1,
            epochs, step, p->steps, met, t, rate);
  }
}

/* ---- CSV log ----
 * kind,epoch,step,loss,acc,val_loss,val_acc,seconds,lr[,EXTRA...]
 *   step:  one training batch; step is the global step (1-based, continues
 *          across epochs and --resume), seconds since this run started
 *   epoch: the epoch's mean train loss/acc and the validation metrics,
 *          seconds the epoch took
 *   test:  loss/acc on the test set after training
 * lr: the learning rate of the step (epoch: of its last step). EXTRA are
 * the task's other metrics, after the old columns so readers by position
 * keep working: binary tasks precision,recall,auc,val_precision,
 * val_recall,val_auc; regression mae,val_mae (test rows: the test set's
 * in the training columns).
 * Empty fields where a value does not apply (acc for regression). */

static void csv_num(FILE *f, double v) {
  if (isnan(v))
    fputc(',', f);
  else
    fprintf(f, ",%.6g", v);
}

/* The metrics after the first columns: bits beyond loss and acc. */
static unsigned csv_extra(unsigned bits) { return bits & ~(1u << RT_MET_LOSS | 1u << RT_MET_ACC); }

/* v: 2 x RT_MET_N values (train, validation), NaN where none. */
static void csv_row(FILE *f, const char *kind, int64_t epoch, int64_t step, const double *v, unsigned bits, double lr,
                    double secs) {
  if (!f) return;
  fprintf(f, "%s,%" PRId64 ",%" PRId64, kind, epoch, step);
  csv_num(f, v[RT_MET_LOSS]);
  csv_num(f, v[RT_MET_ACC]);
  csv_num(f, v[RT_MET_N + RT_MET_LOSS]);
  csv_num(f, v[RT_MET_N + RT_MET_ACC]);
  fprintf(f, ",%.3f", secs);
  csv_num(f, lr);
  for (int k = 0; k < 2 * RT_MET_N; k++)
    if (csv_extra(bits) & (1u << (k % RT_MET_N))) csv_num(f, v[k]);
  fputc('\n', f);
}

static FILE *csv_open(const char *path, int append, unsigned bits, RtError *e) {
  FILE *f = rt_fault_fopen(path, append ? "a" : "w");
  if (!f) {
    rt_fail(e, RT_EXIT_USAGE, "%s: cannot open the log: %s", path, strerror(errno));
    return NULL;
  }
  if (fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0) {
    fprintf(f, "kind,epoch,step,loss,acc,val_loss,val_acc,seconds,lr");
    char name[32];
    for (int k = 0; k < 2 * RT_MET_N; k++)
      if (csv_extra(bits) & (1u << (k % RT_MET_N))) fprintf(f, ",%s", rt_metric_name(k, name, sizeof name));
    fputc('\n', f);
  }
  return f;
}

/* On --resume: the log keeps its header and its rows up to the
 * checkpoint's global step (the third column); the rows after it, and a
 * last row a kill cut short, are a killed run's, which the resumed run
 * writes again. Rewritten atomically, and only when a row goes. */
static int csv_truncate(const char *path, int64_t step, RtError *e) {
  if (!rt_file_exists(path)) return 0;
  char *buf, *out = NULL;
  int64_t n;
  if (rt_read_whole(path, &buf, &n, e)) return -1;
  int rc = 0;
  if (!(out = rt_fault_malloc((size_t)n + 1))) {
    rc = rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
    goto done;
  }
  size_t kept = 0;
  int dropped = 0;
  for (const char *p = buf, *end = buf + n; p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    const char *c1 = memchr(p, ',', len), *c2 = c1 ? memchr(c1 + 1, ',', len - (size_t)(c1 + 1 - p)) : NULL;
    char *after;
    long long row_step = c2 ? strtoll(c2 + 1, &after, 10) : 0;
    int keep = nl && !(p != buf && c2 && after > c2 + 1 && *after == ',' && row_step > step);
    if (keep) {
      memcpy(out + kept, p, len);
      kept += len;
    }
    dropped += !keep;
    p += len;
  }
  if (dropped) rc = rt_write_atomic(path, out, kept, e);
done:
  free(buf);
  free(out);
  return rc;
}

/* The 2 x RT_MET_N values of training metrics tm and validation ones vm
 * (NULL or empty: NaN). */
static void epoch_values(const RtMetrics *tm, const RtMetrics *vm, unsigned bits, double *v) {
  for (int k = 0; k < 2 * RT_MET_N; k++) {
    const RtMetrics *m = k < RT_MET_N ? tm : vm;
    v[k] = m && m->samples && (bits & (1u << (k % RT_MET_N))) ? rt_metrics_value(m, k % RT_MET_N) : NAN;
  }
}

/* ---- checkpoints ---- */

typedef struct Position {
  int64_t epoch;      /* completed epochs */
  int64_t epoch_step; /* steps done in epoch `epoch` */
  int64_t global_step;
} Position;

/* The checkpoint (--checkpoint) or the best weights (--checkpoint-best) at
 * path, after check_saveable. A text data set's vocabulary rides inside
 * (__metadata__ "nnrt.vocab"): one rename replaces weights and words
 * together. keep > 1 (--checkpoint-keep) first shifts the older ones. */
static int save_checkpoint(const char *path, RtSession *s, const RtOptions *o, const Position *pos, const RtPlan *plan,
                           int64_t keep, RtError *e) {
  if (!path) return 0;
  RtMeta meta = {0};
  char v[64];
  rt_meta_set(&meta, "format", "nnrt");
  rt_meta_set(&meta, "model", s->m->name);
#define META_I(key, val)                                                                                               \
  snprintf(v, sizeof v, "%" PRId64, (int64_t)(val));                                                                   \
  rt_meta_set(&meta, key, v)
  META_I("epoch", pos->epoch);
  META_I("epoch_step", pos->epoch_step);
  META_I("global_step", pos->global_step);
  META_I("batch", o->batch);
#undef META_I
  snprintf(v, sizeof v, "%" PRIu64, o->seed);
  rt_meta_set(&meta, "seed", v);
  snprintf(v, sizeof v, "%.17g", o->val_split);
  rt_meta_set(&meta, "val_split", v);
  rt_plan_save(plan, &meta);
  meta.vocab = rt_text_vocab();
  if (keep > 1 && rt_rotate_keep(path, keep, e)) return -1;
  return rt_st_save(path, s->m, &s->g, &meta, e);
}

static int meta_i64(const RtMeta *meta, const char *key, const char *path, int64_t *out, RtError *e) {
  const char *v = rt_meta_get(meta, key);
  if (!v || rt_parse_i64(v, 0, INT64_MAX, out))
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: __metadata__ has no valid \"%s\"; --resume needs a checkpoint written by train", path, key);
  return 0;
}

static void warn_mismatch(const RtOptions *o, const RtMeta *meta, const char *key, const char *now) {
  const char *was = rt_meta_get(meta, key);
  if (was && strcmp(was, now) != 0) /* a warning even with --quiet */
    fprintf(stderr,
            "%s: warning: resuming with %s %s, but the checkpoint was trained with %s; the run will not match an "
            "uninterrupted one\n",
            o->prog, key, now, was);
}

static int resume(RtSession *s, const RtOptions *o, Position *pos, RtPlan *plan, RtError *e) {
  RtMeta meta = {0};
  if (rt_st_load(o->ckpt_path, s->m, &s->g, RT_LOAD_PARAMS | RT_LOAD_STATE, &meta, e)) return -1;
  if (meta_i64(&meta, "epoch", o->ckpt_path, &pos->epoch, e) ||
      meta_i64(&meta, "epoch_step", o->ckpt_path, &pos->epoch_step, e) ||
      meta_i64(&meta, "global_step", o->ckpt_path, &pos->global_step, e))
    return -1;
  /* Another --batch: keep the position in samples, not in steps. */
  int64_t was_batch;
  const char *b = rt_meta_get(&meta, "batch");
  if (b && rt_parse_i64(b, 1, INT64_MAX, &was_batch) == 0 && was_batch != o->batch &&
      pos->epoch_step <= INT64_MAX / was_batch)
    pos->epoch_step = pos->epoch_step * was_batch / o->batch;
  char v[64];
  snprintf(v, sizeof v, "%" PRIu64, o->seed);
  warn_mismatch(o, &meta, "seed", v);
  snprintf(v, sizeof v, "%" PRId64, o->batch);
  warn_mismatch(o, &meta, "batch", v);
  snprintf(v, sizeof v, "%.17g", o->val_split);
  warn_mismatch(o, &meta, "val_split", v);
  return rt_plan_load(plan, &meta, o, e);
}

/* Fail before training, not at the end of the first epoch. */
static int check_writable_dir(const char *flag, const char *path, RtError *e) {
  char dir[RT_PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  if (access(dir, W_OK) != 0)
    return rt_fail(e, RT_EXIT_USAGE, "%s %s: cannot write to directory %s: %s", flag, path, dir, strerror(errno));
  return 0;
}

/* --init F of a text model: F's embedding rows belong to the words of F's
 * vocabulary; the ids this run's data gets must be the same words. */
static int check_init_vocab(const char *path, RtError *e) {
  const char *mine = rt_text_vocab();
  char *theirs = NULL;
  if (!mine || rt_st_meta_text(path, "nnrt.vocab", &theirs, e)) return mine ? -1 : 0;
  int rc = 0;
  if (theirs && strcmp(theirs, mine) != 0) {
    int64_t a = 0, b = 0;
    for (const char *c = theirs; *c; c++)
      a += *c == '\n';
    for (const char *c = mine; *c; c++)
      b += *c == '\n';
    rc = rt_fail(e, RT_EXIT_USAGE,
                 "--init %s was trained with another vocabulary (%" PRId64 " ids) than this data set's (%" PRId64
                 " ids): its embedding rows would be read as other words; train on the data %s was trained on",
                 path, a, b, path);
  }
  free(theirs);
  return rc;
}

/* ---- the loop ---- */

typedef struct Run {
  RtSession s;
  RtDataset train, test;
  RtDataset val;  /* --validation-data; else the validation set is part of train */
  int32_t *order; /* train indices, then validation ones */
  int32_t *idx;   /* this epoch's shuffled training indices */
  int64_t n_train, n_val;
  FILE *log;
  unsigned metrics; /* rt_session_metrics */
  RtMetrics tm, vm; /* an epoch's training and validation metrics, with AUC buffers */
  RtPlan plan;
  RtHistory hist; /* for --plot */
  RtPrune prune;
  int masks;          /* the model has pruning masks: each epoch reports their sparsity */
  int64_t saved_step; /* global step of the last --checkpoint-every save, -1: none */
} Run;

static void run_free(Run *r) {
  rt_session_close(&r->s);
  rt_data_free(&r->train);
  rt_data_free(&r->test);
  rt_data_free(&r->val);
  rt_free(r->order);
  rt_free(r->idx);
  rt_metrics_free(&r->tm);
  rt_metrics_free(&r->vm);
  rt_history_free(&r->hist);
  rt_prune_free(&r->prune);
  if (r->log) fclose(r->log);
}

/* The validation set and its indices: --validation-data's, or the tail of
 * the shuffled training set. */
static const RtDataset *val_set(const Run *r) { return r->val.x.data ? &r->val : &r->train; }
static const int32_t *val_idx(const Run *r) { return r->val.x.data ? NULL : r->order + r->n_train; }

/* Paths train writes besides --checkpoint: checked before the first step. */
static int check_outputs(const RtOptions *o, RtError *e) {
  /* A new run would replace a checkpoint someone trained for hours at its
   * first save: only when asked to. */
  if (o->ckpt_path && !o->resume && !o->overwrite && rt_file_exists(o->ckpt_path))
    return rt_fail(e, RT_EXIT_USAGE,
                   "--checkpoint %s already exists; add --resume to continue training it, or --overwrite to replace "
                   "it with a new run (nothing was written)",
                   o->ckpt_path);
  if (o->ckpt_path && check_writable_dir("--checkpoint", o->ckpt_path, e)) return -1;
  if (o->best_path && check_writable_dir("--checkpoint-best", o->best_path, e)) return -1;
  if (o->plot_path && check_writable_dir("--plot", o->plot_path, e)) return -1;
  if (o->best_path && o->ckpt_path && strcmp(o->best_path, o->ckpt_path) == 0)
    return rt_fail(e, RT_EXIT_USAGE, "--checkpoint-best %s is also the --checkpoint file; give them different names",
                   o->best_path);
  if (o->val_dir && o->val_split_given && o->val_split > 0)
    return rt_fail(e, RT_EXIT_USAGE, "--validation-data and --val-split both choose the validation set; give one");
  return 0;
}

static int setup(Run *r, const NnrtModel *m, const RtOptions *o, Position *pos, RtError *e) {
  if (check_outputs(o, e)) return -1;
  char dirbuf[RT_PATH_MAX];
  const char *dir = rt_data_dir(o->data_dir, m->dataset, dirbuf, sizeof dirbuf, e);
  if (!dir || rt_session_open(&r->s, m, e)) return -1;
  RtSession *s = &r->s;
  int32_t xd = rt_session_x_dtype(s), yd = s->y_t->dtype;
  if (rt_data_load(dir, RT_SPLIT_TRAIN, xd, yd, &r->train, e) || rt_data_load(dir, RT_SPLIT_TEST, xd, yd, &r->test, e))
    return -1;
  if (rt_session_bind(s, &r->train.x, &r->train.y, e) || rt_session_bind(s, &r->test.x, &r->test.y, e) ||
      rt_check_labels(s, &r->train.y, e) || rt_check_labels(s, &r->test.y, e))
    return -1;
  if (o->val_dir && (rt_data_load(o->val_dir, RT_SPLIT_TRAIN, xd, yd, &r->val, e) ||
                     rt_session_bind(s, &r->val.x, &r->val.y, e) || rt_check_labels(s, &r->val.y, e)))
    return -1;
  int64_t n = r->train.x.dims[0];
  r->n_val = o->val_dir ? 0 : (int64_t)((double)n * o->val_split);
  r->n_train = n - r->n_val;
  if (r->n_train < 1)
    return rt_fail(e, RT_EXIT_USAGE, "--val-split %g leaves no training samples out of %" PRId64, o->val_split, n);
  if (s->batch_sym < 0 && (o->batch != s->static_batch || r->n_train < o->batch))
    return rt_fail(e, RT_EXIT_USAGE,
                   "model '%s' was built for batches of exactly %" PRId64
                   " (no symbolic batch dim); use --batch %" PRId64 " and at least that many training samples",
                   m->name, s->static_batch, s->static_batch);
  r->order = rt_alloc((size_t)n * sizeof *r->order, "sample order", e);
  r->idx = rt_alloc((size_t)r->n_train * sizeof *r->idx, "sample order", e);
  if (!r->order || !r->idx) return -1;
  for (int64_t i = 0; i < n; i++)
    r->order[i] = (int32_t)i;
  /* One fixed shuffle before the split, so the validation set is a random
   * sample rather than the file's tail (often sorted by class). */
  rt_shuffle(r->order, n, o->seed, 0, RT_RNG_SPLIT);
  if (o->val_dir) r->n_val = r->val.x.dims[0];
  int64_t largest = r->n_train > r->n_val ? r->n_train : r->n_val;
  if (r->test.x.dims[0] > largest) largest = r->test.x.dims[0];
  if (rt_session_alloc(s, o->batch < largest ? o->batch : largest, e)) return -1;
  s->lr = (float)o->lr;
  memset(pos, 0, sizeof *pos);
  r->metrics = rt_session_metrics(s);
  /* AUC needs every score of the epoch (the test set reuses tm's). */
  int auc = (r->metrics >> RT_MET_AUC) & 1;
  int64_t most = r->n_train > r->test.x.dims[0] ? r->n_train : r->test.x.dims[0];
  if (rt_metrics_alloc(&r->tm, auc ? most * s->y_per : 0, e) ||
      rt_metrics_alloc(&r->vm, auc ? r->n_val * s->y_per : 0, e))
    return -1;
  if (rt_plan_init(&r->plan, m, o, r->metrics, r->n_val > 0, e)) return -1;
  if (rt_globals_init(&s->g, m, o->seed, e)) return -1;
  if (o->init_path && (rt_st_load(o->init_path, m, &s->g, RT_LOAD_PARAMS | RT_LOAD_STATS_OPTIONAL, NULL, e) ||
                       check_init_vocab(o->init_path, e)))
    return -1;
  if (o->resume && resume(s, o, pos, &r->plan, e)) return -1;
  if (o->resume && o->log_path && csv_truncate(o->log_path, pos->global_step, e)) return -1;
  rt_session_globals_changed(s); /* a CUDA binary uploads them before the first step */
  for (int32_t k = 0; k < m->n_globals; k++)
    r->masks |= m->globals[k].kind == NNRT_MASK;
  /* The plot of a resumed run starts with the epochs the log recorded. */
  if (o->plot_path && o->resume && o->log_path && rt_history_load_csv(&r->hist, o->log_path, pos->epoch, e)) return -1;
  if (o->plot_path && o->resume && !o->log_path && pos->epoch > 0)
    fprintf(stderr,
            "%s: warning: --plot starts at epoch %" PRId64 "; with --log the plot keeps the epochs before --resume\n",
            o->prog, pos->epoch + 1);
  if (o->log_path && !(r->log = csv_open(o->log_path, o->resume, r->metrics, e))) return -1;
  return 0;
}

/* Names the first non-finite global, if the step already spread the NaN. */
static int nan_error(Run *r, const RtOptions *o, int64_t epoch, int64_t step, int64_t global, RtError *e) {
  if (rt_session_globals_host(&r->s, e)) return -1;
  int32_t k = rt_globals_find_nonfinite(&r->s.g, r->s.m);
  char where[192] = "";
  if (k >= 0) snprintf(where, sizeof where, "; '%s' now holds non-finite values", r->s.m->globals[k].name);
  return rt_fail(e, RT_EXIT_NAN,
                 "loss is %s at epoch %" PRId64 ", step %" PRId64 " (global step %" PRId64 ")%s; try a smaller --lr%s",
                 isnan(r->s.loss) ? "NaN" : "infinite", epoch + 1, step + 1, global, where,
                 o->ckpt_path ? " (the checkpoint was not updated)" : "");
}

/* Before a save: the weights after the step's update, and what they
 * compute, are finite. The training loss is checked before each step's
 * update, so the last update before a save can blow the weights up unseen:
 * a checkpoint is never replaced by such weights (every save passes here).
 * The validation loss of a finished epoch is checked by the caller
 * (validated); otherwise one batch (of the validation set, else of the
 * training set) is evaluated: weights that are finite but huge give an
 * infinite or NaN loss there. */
static int check_saveable(Run *r, const RtOptions *o, const char *path, const Position *pos, int validated,
                          RtError *e) {
  RtSession *s = &r->s;
  if (rt_session_globals_host(s, e)) return -1;
  const char *kept = rt_file_exists(path) ? " (it keeps its previous contents)" : "";
  int32_t bad = rt_globals_find_nonfinite(&s->g, s->m);
  if (bad >= 0)
    return rt_fail(e, RT_EXIT_NAN,
                   "'%s' holds non-finite values after global step %" PRId64
                   "; %s was not written%s; try a smaller --lr",
                   s->m->globals[bad].name, pos->global_step, path, kept);
  if (validated) return 0;
  int val = r->n_val > 0;
  int64_t have = val ? r->n_val : r->n_train, n = have < o->batch ? have : o->batch;
  RtMetrics pm = {0};
  if (rt_evaluate_add(s, val ? val_set(r) : &r->train, val ? val_idx(r) : r->order, n, o->batch, &pm, NULL, e))
    return -1;
  double loss = rt_metrics_loss(&pm);
  if (pm.samples > 0 && !isfinite(loss))
    return rt_fail(
        e, RT_EXIT_NAN,
        "the loss on a probe batch of %" PRId64 " %s samples is %s with the weights after global step %" PRId64
        " (they are finite but unusable); %s was not written%s; try a smaller --lr",
        pm.samples, val ? "validation" : "training", isnan(loss) ? "NaN" : "infinite", pos->global_step, path, kept);
  return 0;
}

/* What rt_plan decided after epoch `epoch` (1-based), said on stderr. */
static void tell_decisions(const Run *r, const RtOptions *o, unsigned d, int64_t epoch) {
  const RtPlan *p = &r->plan;
  char name[32];
  if ((d & RT_PLAN_LR_CUT) && !o->quiet)
    fprintf(stderr, "Epoch %" PRId64 ": %s has not improved for %" PRId64 " epochs; learning rate now %.6g\n", epoch,
            rt_metric_name(p->plateau.metric, name, sizeof name), (int64_t)rt_spec_get(&p->sched, "patience"),
            p->plateau_lr);
  if (d & RT_PLAN_STOP) /* even with --quiet: it changes what the run did */
    fprintf(stderr,
            "%s: early stopping after epoch %" PRId64 ": %s has not improved for %" PRId64
            " epochs (best %.6g at epoch %" PRId64 ")%s%s\n",
            o->prog, epoch, rt_metric_name(p->early.metric, name, sizeof name), p->early.wait, p->early.best,
            p->early.best_epoch, o->best_path ? "; best weights in " : "", o->best_path ? o->best_path : "");
}

/* The end of an epoch with `finished` steps all done: report, judge, save. */
static int epoch_end(Run *r, const RtOptions *o, Position *pos, Progress *p, int64_t step, int finished,
                     double train_secs, RtError *e) {
  RtSession *s = &r->s;
  int64_t epoch = pos->epoch;
  if (finished && r->n_val > 0 && rt_evaluate_add(s, val_set(r), val_idx(r), r->n_val, o->batch, &r->vm, NULL, e))
    return -1;
  double v[2 * RT_MET_N];
  epoch_values(&r->tm, finished ? &r->vm : NULL, r->metrics, v);
  int reported = r->tm.samples > 0 || finished;
  if (reported) {
    progress_end(p, epoch, o->epochs, step, &r->tm, v, r->metrics, s->lr, train_secs);
    csv_row(r->log, "epoch", epoch + 1, pos->global_step, v, r->metrics, s->lr, rt_now() - p->t0);
    if (!o->quiet && r->masks && rt_session_globals_host(s, e)) return -1;
    if (!o->quiet) rt_prune_report(stderr, s->m, &s->g);
  }
  unsigned d = 0;
  if (finished) {
    d = rt_plan_epoch_end(&r->plan, v, epoch + 1);
    if (rt_history_add(&r->hist, epoch + 1, v, e)) return -1;
    if (o->plot_path && rt_plot_svg(o->plot_path, s->m->name, &r->hist, r->metrics, e)) return -1;
    pos->epoch++;
    pos->epoch_step = 0;
  }
  /* A full disk is found at the epoch's end, not after the last one. */
  if (r->log && fflush(r->log) != 0)
    return rt_fail(e, RT_EXIT_FAIL, "%s: cannot write the log: %s", o->log_path, strerror(errno));
  /* A finished epoch's validation loss: a NaN one means the weights are
   * broken, whether or not they are saved. */
  int validated = finished && r->n_val > 0;
  double val_loss = v[RT_MET_N + RT_MET_LOSS];
  if (validated && !isfinite(val_loss))
    return rt_fail(e, RT_EXIT_NAN,
                   "val_loss is %s after epoch %" PRId64 " (global step %" PRId64 "): the weights no longer compute "
                   "finite values%s%s%s; try a smaller --lr",
                   isnan(val_loss) ? "NaN" : "infinite", epoch + 1, pos->global_step, o->ckpt_path ? "; " : "",
                   o->ckpt_path ? o->ckpt_path : "",
                   !o->ckpt_path                  ? ""
                   : rt_file_exists(o->ckpt_path) ? " was not written (it keeps its previous contents)"
                                                  : " was not written");
  int best = (d & RT_PLAN_BEST) && r->plan.keep_best && o->best_path;
  /* Stopped (--steps, a signal) right after a --checkpoint-every save: the
   * same position is saved already (again would rotate a copy of it). */
  int save = reported && o->ckpt_path && !(!finished && r->saved_step == pos->global_step);
  if ((save || best) && check_saveable(r, o, save ? o->ckpt_path : o->best_path, pos, validated, e)) return -1;
  if (save && save_checkpoint(o->ckpt_path, s, o, pos, &r->plan, o->ckpt_keep, e)) return -1;
  if (best && save_checkpoint(o->best_path, s, o, pos, &r->plan, 0, e)) return -1;
  tell_decisions(r, o, d, epoch + 1);
  return 0;
}

static int train_loop(Run *r, const RtOptions *o, Position *pos, RtError *e) {
  RtSession *s = &r->s;
  const NnrtModel *m = s->m;
  int64_t batch = s->batch_sym < 0 ? s->static_batch : o->batch;
  if (batch > s->max_batch) batch = s->max_batch;
  int64_t steps = s->batch_sym < 0 ? r->n_train / batch : (r->n_train + batch - 1) / batch;
  /* Cosine's horizon: --epochs of training. Not --steps, which only stops
   * a run early: a run cut short by --steps and resumed must match one that
   * never stopped. */
  r->plan.total_steps = o->epochs > INT64_MAX / steps ? INT64_MAX : o->epochs * steps;
  /* The pruning schedule spans --epochs too, for the same reason. */
  if (rt_prune_init(&r->prune, m, &s->g, r->plan.total_steps, e)) return -1;
  int tty = isatty(STDERR_FILENO);
  double t_run = rt_now();
  if (pos->epoch_step >= steps) { /* resumed at the very end of an epoch */
    pos->epoch++;
    pos->epoch_step = 0;
  }
  if (r->plan.stopped) {
    if (!o->quiet)
      fprintf(stderr, "%s: early stopping ended this training after epoch %" PRId64 "; nothing to train\n", o->prog,
              r->plan.stopped);
    return 0;
  }
  if (pos->epoch >= o->epochs && !o->quiet)
    fprintf(stderr,
            "%s: the checkpoint has trained %" PRId64 " epochs already (--epochs %" PRId64 "); nothing to train\n",
            o->prog, pos->epoch, o->epochs);
  while (pos->epoch < o->epochs && !r->plan.stopped) {
    if (o->steps && pos->global_step >= o->steps) break;
    int64_t epoch = pos->epoch;
    memcpy(r->idx, r->order, (size_t)r->n_train * sizeof *r->idx);
    rt_shuffle(r->idx, r->n_train, o->seed, (uint32_t)epoch, RT_RNG_SHUFFLE);
    if (tty && !o->quiet) fprintf(stderr, "Epoch %" PRId64 "/%" PRId64 "\n", epoch + 1, o->epochs);
    Progress p = {tty, o->quiet, steps, rt_now(), 0, 0};
    rt_metrics_reset(&r->tm);
    rt_metrics_reset(&r->vm);
    int64_t step = pos->epoch_step;
    for (; step < steps; step++) {
      if ((o->steps && pos->global_step >= o->steps) || g_stop_signal) break;
      int64_t at = step * batch;
      int64_t bs = r->n_train - at < batch ? r->n_train - at : batch;
      /* The batch records its scores straight into the epoch's buffer. */
      RtMetrics bm = {.score = r->tm.score ? r->tm.score + r->tm.n_scores : NULL,
                      .truth = r->tm.truth ? r->tm.truth + r->tm.n_scores : NULL,
                      .cap = r->tm.cap - r->tm.n_scores};
      s->lr = (float)rt_plan_lr(&r->plan, epoch, pos->global_step);
      if (rt_prune_due(&r->prune, pos->global_step)) { /* on the host: a CUDA binary's weights come and go back */
        if (rt_session_globals_host(s, e)) return -1;
        rt_prune_step(&r->prune, &s->g, pos->global_step);
        rt_session_globals_changed(s);
      }
      if (step + 1 < steps) /* a CUDA binary uploads the next batch while this one runs */
        rt_session_next(s, &m->train_step, &r->train, r->idx + at + bs,
                        r->n_train - (at + bs) < batch ? r->n_train - (at + bs) : batch);
      s->step = pos->global_step + 1; /* device errors name the step as the NaN guard does */
      int bad = rt_run_batch(s, &m->train_step, &r->train, r->idx + at, bs, &bm, NULL, e);
      s->step = -1;
      if (bad) return -1;
      pos->global_step++;
      pos->epoch_step = step + 1;
      if (!isfinite(s->loss)) return nan_error(r, o, epoch, step, pos->global_step, e);
      rt_metrics_add(&r->tm, &bm);
      r->tm.n_scores += bm.n_scores;
      double v[2 * RT_MET_N];
      for (int k = 0; k < 2 * RT_MET_N; k++)
        v[k] = NAN;
      v[RT_MET_LOSS] = s->loss;
      v[RT_MET_ACC] = rt_metrics_acc(&bm);
      csv_row(r->log, "step", epoch + 1, pos->global_step, v, r->metrics, s->lr, rt_now() - t_run);
      progress_step(&p, step + 1, &r->tm);
      /* --checkpoint-every: mid-epoch saves (the epoch's last step saves at
       * its end anyway); the log's rows up to here are on disk first. */
      if (o->ckpt_every && pos->global_step % o->ckpt_every == 0 && step + 1 < steps) {
        if (r->log) fflush(r->log);
        if (check_saveable(r, o, o->ckpt_path, pos, 0, e) ||
            save_checkpoint(o->ckpt_path, s, o, pos, &r->plan, o->ckpt_keep, e))
          return -1;
        r->saved_step = pos->global_step;
      }
    }
    int finished = step == steps;
    if (epoch_end(r, o, pos, &p, step, finished, rt_now() - p.t0, e)) return -1;
    if (!finished) break;
  }
  return 0;
}

int rt_train(const NnrtModel *m, const RtOptions *o, RtError *e) {
  if (rt_model_check(m, RT_NEED_EVAL | RT_NEED_TRAIN, e)) return e->code;
  Run r;
  memset(&r, 0, sizeof r);
  r.saved_step = -1;
  Position pos;
  struct sigaction old_int, old_term;
  int rc = RT_EXIT_OK;
  if (setup(&r, m, o, &pos, e)) {
    rc = e->code;
    goto out;
  }
  install_signals(&old_int, &old_term);
  int loop_rc = train_loop(&r, o, &pos, e);
  restore_signals(&old_int, &old_term);
  if (loop_rc) {
    rc = e->code;
    goto out;
  }
  if (g_stop_signal) {
    int sig = g_stop_signal;
    fprintf(stderr, "%s: %s at epoch %" PRId64 ", step %" PRId64 "; %s%s\n", o->prog,
            sig == SIGINT ? "interrupted" : "terminated", pos.epoch + 1, pos.epoch_step,
            o->ckpt_path ? "checkpoint saved to " : "no --checkpoint given, nothing saved",
            o->ckpt_path ? o->ckpt_path : "");
    rc = sig == SIGINT ? RT_EXIT_SIGINT : RT_EXIT_SIGTERM;
    goto out;
  }
  rt_metrics_reset(&r.tm);
  if (rt_evaluate_add(&r.s, &r.test, NULL, r.test.x.dims[0], o->batch, &r.tm, NULL, e)) {
    rc = e->code;
    goto out;
  }
  double v[2 * RT_MET_N];
  epoch_values(&r.tm, NULL, r.metrics, v);
  if (r.tm.samples > 0 && !isfinite(v[RT_MET_LOSS])) { /* never "test_loss: nan" and exit 0 */
    rt_fail(e, RT_EXIT_NAN,
            "test_loss is %s after global step %" PRId64 ": the trained weights do not compute finite values%s%s; "
            "try a smaller --lr",
            isnan(v[RT_MET_LOSS]) ? "NaN" : "infinite", pos.global_step, o->ckpt_path ? "; they were saved to " : "",
            o->ckpt_path ? o->ckpt_path : "");
    csv_row(r.log, "test", pos.epoch, pos.global_step, v, r.metrics, NAN, 0);
    rc = RT_EXIT_NAN;
    goto out;
  }
  char line[512] = "", name[32];
  for (int k = 0, at = 0; k < RT_MET_N && at < (int)sizeof line; k++)
    if ((r.metrics & (1u << k)) && !isnan(v[k]))
      at += snprintf(line + at, sizeof line - (size_t)at, "%stest_%s: %.4f", at ? " - " : "",
                     rt_metric_name(k, name, sizeof name), v[k]);
  printf("%s\n", line);
  fflush(stdout);
  csv_row(r.log, "test", pos.epoch, pos.global_step, v, r.metrics, NAN, 0);
out:
  if (r.log) {
    int bad = fflush(r.log) != 0 || ferror(r.log);
    int err = errno;
    bad |= fclose(r.log) != 0;
    r.log = NULL;
    if (bad && rc == RT_EXIT_OK) {
      rt_fail(e, RT_EXIT_FAIL, "%s: cannot write the log: %s", o->log_path, strerror(err ? err : EIO));
      rc = RT_EXIT_FAIL;
    }
  }
  run_free(&r);
  return rc;
}
