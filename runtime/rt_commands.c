/* rt_commands.c — `eval` and `predict`: a trained checkpoint applied to the
 * test set, or to the rows of an input file. Both load only parameters
 * (kind NNRT_PARAM), so a checkpoint without optimizer state works, e.g.
 * one written from PyTorch. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <inttypes.h>
#include <math.h>
#include <string.h>

/* Per-class precision/recall and the confusion matrix, for a readable number
 * of classes. */
#define REPORT_MAX_CLASSES 32

static void class_report(const int64_t *cm, int64_t k) {
  printf("\nclass  precision  recall  support\n");
  for (int64_t c = 0; c < k; c++) {
    int64_t tp = cm[c * k + c], support = 0, predicted = 0;
    for (int64_t j = 0; j < k; j++) {
      support += cm[c * k + j];
      predicted += cm[j * k + c];
    }
    printf("%5" PRId64 "  %9.4f  %6.4f  %7" PRId64 "\n", c, predicted ? (double)tp / (double)predicted : 0.0,
           support ? (double)tp / (double)support : 0.0, support);
  }
  printf("\nconfusion matrix (rows: true class, columns: predicted class)\n     ");
  for (int64_t j = 0; j < k; j++)
    printf(" %5" PRId64, j);
  printf("\n");
  for (int64_t c = 0; c < k; c++) {
    printf("%5" PRId64, c);
    for (int64_t j = 0; j < k; j++)
      printf(" %5" PRId64, cm[c * k + j]);
    printf("\n");
  }
}

int rt_eval(const NnrtModel *m, const RtOptions *o, RtError *e) {
  if (rt_model_check(m, RT_NEED_EVAL, e)) return e->code;
  RtSession s;
  RtDataset test;
  int64_t *cm = NULL;
  int rc = -1;
  if (rt_session_load(&s, m, o->data_dir, RT_SPLIT_TEST, &test, e)) goto out;
  int64_t n = test.x.dims[0];
  if (rt_session_alloc(&s, o->batch < n ? o->batch : n, e) ||
      rt_st_load(o->ckpt_path, m, &s.g, RT_LOAD_PARAMS, NULL, e))
    goto out;
  int64_t k = s.classes;
  if (k > 0 && k <= REPORT_MAX_CLASSES && !(cm = rt_alloc((size_t)(k * k) * sizeof *cm, "confusion matrix", e)))
    goto out;
  RtMetrics mt;
  if (rt_evaluate(&s, &test, NULL, n, o->batch, &mt, cm, e)) goto out;
  double acc = rt_metrics_acc(&mt);
  if (isnan(acc))
    printf("test_loss: %.4f (%" PRId64 " samples)\n", rt_metrics_loss(&mt), mt.samples);
  else
    printf("test_loss: %.4f - test_acc: %.4f (%" PRId64 " samples)\n", rt_metrics_loss(&mt), acc, mt.samples);
  if (cm) class_report(cm, k);
  rc = 0;
out:
  rt_free(cm);
  rt_data_free(&test);
  rt_session_close(&s);
  return rc ? e->code : RT_EXIT_OK;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void print_prediction(const RtSession *s, int64_t row) {
  const NnrtModel *m = s->m;
  if (m->task == NNRT_TASK_CLASSIFY) {
    int64_t rows = s->out_per / s->classes; /* > 1 for per-token outputs */
    for (int64_t r = 0; r < rows; r++)
      printf(r ? " %" PRId64 : "%" PRId64, rt_argmax_row(s, row * rows + r));
  } else if (m->task == NNRT_TASK_BINARY) {
    for (int64_t r = 0; r < s->out_per; r++)
      printf(r ? " %d" : "%d", s->out[row * s->out_per + r] >= 0.5f);
  } else {
    for (int64_t r = 0; r < s->out_per; r++)
      printf(r ? " %.6g" : "%.6g", (double)s->out[row * s->out_per + r]);
  }
  putchar('\n');
}

int rt_predict(const NnrtModel *m, const RtOptions *o, RtError *e) {
  if (rt_model_check(m, RT_NEED_FORWARD, e)) return e->code;
  RtSession s;
  RtDataset in = {0};
  int32_t *idx = NULL;
  int rc = -1;
  if (rt_session_open(&s, m, e)) return e->code;
  /* .npy, or an IDX image file (scaled to [0, 1] as in training). */
  int npy = ends_with(o->input_path, ".npy");
  if ((npy ? rt_npy_load(o->input_path, &in.x, e) : rt_idx_load(o->input_path, 1, &in.x, e)) ||
      rt_array_convert(&in.x, s.x_t->dtype, e))
    goto out;
  if (in.x.rank < 1) {
    rt_fail(e, RT_EXIT_USAGE, "%s: expected rows of samples, found a scalar", in.x.path);
    goto out;
  }
  if (rt_session_bind(&s, &in.x, NULL, e)) goto out;
  int64_t n = in.x.dims[0];
  int64_t batch = o->batch < n ? o->batch : (n > 0 ? n : 1);
  if (rt_session_alloc(&s, batch, e) || rt_st_load(o->ckpt_path, m, &s.g, RT_LOAD_PARAMS, NULL, e)) goto out;
  batch = s.max_batch;
  if (!(idx = rt_alloc((size_t)batch * sizeof *idx, "batch indices", e))) goto out;
  for (int64_t at = 0; at < n; at += batch) {
    int64_t bs = n - at < batch ? n - at : batch;
    RtMetrics unused = {0};
    int64_t pad = s.batch_sym < 0 ? batch : bs; /* a static batch is padded with row 0 */
    for (int64_t i = 0; i < pad; i++)
      idx[i] = (int32_t)(i < bs ? at + i : 0);
    if (rt_run_batch(&s, &m->forward, &in, idx, pad, &unused, NULL, e)) goto out;
    for (int64_t i = 0; i < bs; i++)
      print_prediction(&s, i);
  }
  if (fflush(stdout) != 0) {
    rt_fail(e, RT_EXIT_FAIL, "cannot write the predictions");
    goto out;
  }
  rc = 0;
out:
  rt_free(idx);
  rt_data_free(&in);
  rt_session_close(&s);
  return rc ? e->code : RT_EXIT_OK;
}
