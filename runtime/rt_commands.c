/* rt_commands.c — `eval`: a trained checkpoint applied to the test set,
 * with sklearn's per-class report (predict is in rt_predict.c). It loads
 * only parameters (kind NNRT_PARAM), so a checkpoint without optimizer
 * state works, e.g. one written from PyTorch. */
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

/* A fortunes: spec's labels are its categories in order (a model with more
 * classes than categories has the rest unnamed), a CSV's label names are
 * its classes in strcmp order; Fashion-MNIST is recognised by the model's
 * data set, since its files do not name their classes. */
const char *const *rt_class_names(const char *dir, const char *dataset, int64_t k, RtTextSpec *sp, RtNames *csv,
                                  const char **buf) {
  RtError ignored;
  memset(csv, 0, sizeof *csv);
  if (rt_csv_is_spec(dir) || rt_csv_is_dir(dir)) {
    if (rt_csv_class_names(dir, csv, &ignored) || csv->n == 0) return NULL;
    for (int64_t c = 0; c < k; c++)
      buf[c] = c < csv->n ? csv->name[c] : NULL;
    return buf;
  }
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
  if (rt_model_check(m, m->inference ? RT_NEED_FORWARD : RT_NEED_EVAL, e)) return e->code;
  RtSession s;
  RtDataset test;
  int64_t *cm = NULL;
  int rc = -1;
  if (rt_session_load(&s, m, o->data_dir, RT_SPLIT_TEST, &test, e)) goto out;
  int64_t n = test.x.dims[0];
  if (rt_session_alloc(&s, o->batch < n ? o->batch : n, e) || rt_session_weights(&s, o->ckpt_path, e)) goto out;
  int64_t k = rt_task_binary(m->task) ? 2 : s.classes; /* binary: classes 0 and 1 at p >= 0.5 */
  if (k > 0 && k <= RT_REPORT_MAX_CLASSES && !(cm = rt_alloc((size_t)(k * k) * sizeof *cm, "confusion matrix", e)))
    goto out;
  RtMetrics mt;
  if (rt_evaluate(&s, &test, NULL, n, o->batch, &mt, cm, e)) goto out;
  double acc = rt_metrics_acc(&mt), loss = rt_metrics_loss(&mt);
  char loss_str[32] = "n/a"; /* an inference binary has no loss function */
  if (!isnan(loss)) snprintf(loss_str, sizeof loss_str, "%.4f", loss);
  if (!isnan(acc))
    printf("test_loss: %s - test_acc: %.4f (%" PRId64 " samples)\n", loss_str, acc, mt.samples);
  else if (isnan(loss) && mt.abs_n) /* regression without a loss: the mean absolute error */
    printf("test_loss: %s - test_mae: %.4f (%" PRId64 " samples)\n", loss_str, rt_metrics_value(&mt, RT_MET_MAE),
           mt.samples);
  else
    printf("test_loss: %s (%" PRId64 " samples)\n", loss_str, mt.samples);
  if (rt_session_globals_host(&s, e)) goto out;
  rt_prune_report(stdout, m, &s.g);
  if (cm) {
    char dirbuf[RT_PATH_MAX];
    const char *dir = rt_data_dir(o->data_dir, m->dataset, dirbuf, sizeof dirbuf, e);
    const char *buf[RT_REPORT_MAX_CLASSES];
    RtTextSpec *sp = rt_alloc(sizeof *sp, "text spec", e);
    RtNames csv = {0};
    if (!sp) goto out;
    putchar('\n');
    rt_print_class_report(stdout, cm, k, dir ? rt_class_names(dir, m->dataset, k, sp, &csv, buf) : NULL, REPORT_DIGITS);
    rt_names_free(&csv);
    rt_free(sp);
  }
  rc = 0;
out:
  rt_free(cm);
  rt_data_free(&test);
  rt_session_close(&s);
  return rc ? e->code : RT_EXIT_OK;
}
