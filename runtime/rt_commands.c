/* rt_commands.c — `eval` and `predict`: a trained checkpoint applied to the
 * test set, or to the rows of an input file. Both load only parameters
 * (kind NNRT_PARAM), so a checkpoint without optimizer state works, e.g.
 * one written from PyTorch. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <inttypes.h>
#include <math.h>
#include <string.h>

/* Report digits: sklearn's classification_report default. */
#define REPORT_DIGITS 2

static int64_t count_width(int64_t v) {
  int64_t w = 1;
  for (; v >= 10; v /= 10)
    w++;
  return w;
}

/* The layout is sklearn's, character for character:
 *   head "{:>W} " + " {:>9}" * 4, a blank line, one row per class
 *   "{:>W} " + " {:>9.Df}" * 3 + " {:>9}", a blank line, then accuracy (in
 *   the f1-score column, precision and recall blank), macro and weighted
 *   averages, W = max(longest name, len("weighted avg"), D).
 * sklearn leaves out classes absent from both truth and predictions; here
 * every class of the model has a row (as with sklearn's labels=range(k)),
 * so the macro average counts them too. */
void rt_print_class_report(FILE *out, const int64_t *cm, int64_t k, const char *const *names, int digits) {
  RtClassScore per[RT_REPORT_MAX_CLASSES], avg[2];
  if (k < 1 || k > RT_REPORT_MAX_CLASSES) return;
  double acc = rt_class_scores(cm, k, per, avg);
  char label[RT_REPORT_MAX_CLASSES][64];
  int width = (int)strlen("weighted avg"), name_width = 0;
  if (digits > width) width = digits;
  for (int64_t c = 0; c < k; c++) {
    if (names && names[c])
      snprintf(label[c], sizeof label[c], "%s", names[c]);
    else
      snprintf(label[c], sizeof label[c], "%" PRId64, c);
    int n = (int)strlen(label[c]);
    if (n > width) width = n;
    if (n > name_width) name_width = n;
  }
  fprintf(out, "%*s  %9s %9s %9s %9s\n\n", width, "", "precision", "recall", "f1-score", "support");
  for (int64_t c = 0; c < k; c++)
    fprintf(out, "%*s  %9.*f %9.*f %9.*f %9" PRId64 "\n", width, label[c], digits, per[c].precision, digits,
            per[c].recall, digits, per[c].f1, per[c].support);
  fprintf(out, "\n%*s  %9s %9s %9.*f %9" PRId64 "\n", width, "accuracy", "", "", digits, acc, avg[0].support);
  static const char *const avg_name[2] = {"macro avg", "weighted avg"};
  for (int a = 0; a < 2; a++)
    fprintf(out, "%*s  %9.*f %9.*f %9.*f %9" PRId64 "\n", width, avg_name[a], digits, avg[a].precision, digits,
            avg[a].recall, digits, avg[a].f1, avg[a].support);

  /* Columns are class indices; rows say index and name, so a column's
   * class is the row with its index. */
  int64_t most = k - 1;
  for (int64_t i = 0; i < k * k; i++)
    if (cm[i] > most) most = cm[i];
  int cw = (int)count_width(most) + 1, iw = (int)count_width(k - 1);
  if (cw < 6) cw = 6;
  int lw = names ? iw + 1 + name_width : iw; /* row label */
  fprintf(out, "\nconfusion matrix (rows: true class, columns: predicted class)\n%*s", lw, "");
  for (int64_t j = 0; j < k; j++)
    fprintf(out, "%*" PRId64, cw, j);
  fputc('\n', out);
  for (int64_t c = 0; c < k; c++) {
    if (names)
      fprintf(out, "%*" PRId64 " %-*s", iw, c, name_width, label[c]);
    else
      fprintf(out, "%*" PRId64, iw, c);
    for (int64_t j = 0; j < k; j++)
      fprintf(out, "%*" PRId64, cw, cm[c * k + j]);
    fputc('\n', out);
  }
}

/* Fashion-MNIST's classes, in label order (Xiao et al., 2017). */
static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* Names of the k classes of the data in `dir` (a directory or a text spec),
 * read by a model trained on `dataset`; NULL when none is known, and a NULL
 * entry for a class without one. A fortunes: spec's labels are its
 * categories in order (a model with more classes than categories has the
 * rest unnamed); Fashion-MNIST is recognised by the model's data set, since
 * its files do not name their classes. sp holds the category names the
 * result points to. */
static const char *const *class_names(const char *dir, const char *dataset, int64_t k, RtTextSpec *sp,
                                      const char **buf) {
  RtError ignored;
  if (rt_text_is_spec(dir)) {
    if (rt_text_parse_spec(dir, sp, &ignored) || sp->chars) return NULL;
    for (int64_t c = 0; c < k; c++)
      buf[c] = c < sp->ncat ? sp->cat[c] : NULL;
    return buf;
  }
  if (dataset && strcmp(dataset, "fashion_mnist") == 0 && k == 10) return fashion_names;
  return NULL;
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
  int64_t k = rt_task_binary(m->task) ? 2 : s.classes; /* binary: classes 0 and 1 at p >= 0.5 */
  if (k > 0 && k <= RT_REPORT_MAX_CLASSES && !(cm = rt_alloc((size_t)(k * k) * sizeof *cm, "confusion matrix", e)))
    goto out;
  RtMetrics mt;
  if (rt_evaluate(&s, &test, NULL, n, o->batch, &mt, cm, e)) goto out;
  double acc = rt_metrics_acc(&mt);
  if (isnan(acc))
    printf("test_loss: %.4f (%" PRId64 " samples)\n", rt_metrics_loss(&mt), mt.samples);
  else
    printf("test_loss: %.4f - test_acc: %.4f (%" PRId64 " samples)\n", rt_metrics_loss(&mt), acc, mt.samples);
  if (cm) {
    char dirbuf[RT_PATH_MAX];
    const char *dir = rt_data_dir(o->data_dir, m->dataset, dirbuf, sizeof dirbuf, e);
    const char *buf[RT_REPORT_MAX_CLASSES];
    RtTextSpec *sp = rt_alloc(sizeof *sp, "text spec", e);
    if (!sp) goto out;
    putchar('\n');
    rt_print_class_report(stdout, cm, k, dir ? class_names(dir, m->dataset, k, sp, buf) : NULL, REPORT_DIGITS);
    rt_free(sp);
  }
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
  } else if (rt_task_binary(m->task)) {
    for (int64_t r = 0; r < s->out_per; r++)
      printf(r ? " %d" : "%d", rt_binary_class(m->task, s->out[row * s->out_per + r]));
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
