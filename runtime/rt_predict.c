/* rt_predict.c — `predict`: a trained checkpoint applied to the rows of an
 * input file, one output line per sample, for scripts:
 *
 *   classifier   CLASS[<TAB>NAME][<TAB>P0<TAB>P1...]   (--proba: every class's
 *                probability, in class order; softmax of the logits, or for a
 *                binary model 1 - p and p, its output being p(class 1))
 *   regression   the output values, separated by spaces
 *   per-position classes (a sequence model): the classes, separated by spaces
 *
 * NAME appears where the data set names its classes (Fashion-MNIST, the
 * categories of a fortunes: spec, a CSV label column of names). The input is a .npy file, a CSV file
 * (its label column skipped if present), an IDX file, or for a word model
 * lines of text tokenized as training did (the vocabulary saved beside the
 * checkpoint). Only parameters are loaded, as eval does. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <inttypes.h>
#include <math.h>
#include <string.h>

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The input's format from its name and the model's data set (src, may be
 * NULL): .npy; text lines for a word model; CSV (.csv, or '-' for a model
 * not trained on text); else IDX images, scaled to [0, 1] as in training. */
static int load_input(const char *path, const char *src, RtArray *x, RtError *e) {
  if (ends_with(path, ".npy")) return rt_npy_load(path, x, e);
  if (src && rt_text_is_spec(src) && strncmp(src, "fortunes:", 9) == 0 && !ends_with(path, ".csv"))
    return rt_text_read_lines(src, path, x, e);
  if (ends_with(path, ".csv") || ends_with(path, ".CSV") || strcmp(path, "-") == 0)
    return rt_csv_read(path, rt_csv_label_column(src), RT_DTYPE_AS_STORED, x, NULL, NULL, e);
  return rt_idx_load(path, RT_IDX_F32, x, e);
}

typedef struct Printer {
  const RtSession *s;
  const RtArray *x;         /* the input, whose rows are checked for NaN (--allow-nonfinite) */
  int64_t classes;          /* classifier: classes per prediction (binary: 2); 0: regression */
  int64_t per_sample;       /* predictions per sample */
  const char *const *names; /* NULL, or classes entries (some may be NULL) */
  int proba;
} Printer;

/* A row that cannot be predicted (--allow-nonfinite let a non-finite
 * feature in, or the model computed a non-finite class score) gets "nan"
 * and the reason where a prediction would be, never a class argmax made up
 * from NaN. */
static int print_nonfinite(const Printer *p, int64_t row, int64_t sample) {
  const RtSession *s = p->s;
  int64_t in = rt_first_nonfinite(p->x, sample * s->x_per, s->x_per);
  if (in >= 0) {
    printf("nan\tnon-finite input: feature %" PRId64 " of sample %" PRId64 " is %g\n", in - sample * s->x_per, sample,
           rt_dtype_get(p->x->dtype, p->x->data, in));
    return 1;
  }
  const float *out = s->out + row * s->out_per;
  for (int64_t k = 0; p->classes && k < s->out_per; k++)
    if (!isfinite(out[k])) {
      printf("nan\tnon-finite output: the model computed %g for sample %" PRId64 "\n", (double)out[k], sample);
      return 1;
    }
  return 0;
}

static void print_prediction(const Printer *p, int64_t row, int64_t sample) {
  const RtSession *s = p->s;
  const float *out = s->out + row * s->out_per;
  if (print_nonfinite(p, row, sample)) return;
  if (!p->classes) {
    for (int64_t r = 0; r < s->out_per; r++)
      printf(r ? " %.6g" : "%.6g", (double)out[r]);
  } else if (p->per_sample > 1) {
    for (int64_t r = 0; r < p->per_sample; r++)
      printf(r ? " %" PRId64 : "%" PRId64,
             rt_task_binary(s->m->task) ? (int64_t)rt_binary_class(s->m->task, out[r])
                                        : rt_argmax_row(s, row * p->per_sample + r));
  } else {
    double prob[2] = {0, 0};
    int64_t c;
    if (rt_task_binary(s->m->task)) {
      c = rt_binary_class(s->m->task, out[0]);
      /* p(class 1): the output itself, or the sigmoid of a logit */
      double p1 = s->m->task == NNRT_TASK_BINARY_LOGITS ? 1.0 / (1.0 + exp(-(double)out[0])) : (double)out[0];
      prob[0] = 1.0 - p1;
      prob[1] = p1;
    } else {
      c = rt_argmax_row(s, row);
    }
    printf("%" PRId64, c);
    if (p->names && p->names[c]) printf("\t%s", p->names[c]);
    if (p->proba && rt_task_binary(s->m->task)) {
      printf("\t%.6g\t%.6g", prob[0], prob[1]);
    } else if (p->proba) { /* softmax in double, shifted by the largest logit so exp cannot overflow */
      double z = 0, top = out[c];
      for (int64_t k = 0; k < p->classes; k++)
        z += exp((double)out[k] - top);
      for (int64_t k = 0; k < p->classes; k++)
        printf("\t%.6g", exp((double)out[k] - top) / z);
    }
  }
  putchar('\n');
}

int rt_predict(const NnrtModel *m, const RtOptions *o, RtError *e) {
  if (rt_model_check(m, RT_NEED_FORWARD, e)) return e->code;
  RtSession s;
  RtDataset in = {0};
  RtTextSpec *sp = NULL;
  RtNames csv_names = {0};
  int32_t *idx = NULL;
  int rc = -1;
  if (rt_session_open(&s, m, e)) return e->code;
  char dirbuf[RT_PATH_MAX];
  const char *src = o->data_dir ? o->data_dir : rt_data_default_dir(m->dataset, dirbuf, sizeof dirbuf);
  if (load_input(o->input_path, src, &in.x, e) || rt_array_convert(&in.x, s.x_t->dtype, e) ||
      rt_check_finite(&in.x, "feature", e))
    goto out;
  if (in.x.rank < 1) {
    rt_fail(e, RT_EXIT_USAGE, "%s: expected rows of samples, found a scalar", in.x.path);
    goto out;
  }
  if (rt_session_bind(&s, &in.x, NULL, e)) {
    size_t at = strlen(e->msg);
    if (in.x.line && !rt_text_is_spec(src) && !rt_csv_label_column(src) && at < sizeof e->msg)
      snprintf(e->msg + at, sizeof e->msg - at, " (if the file holds the label column, name it with --label-column)");
    goto out;
  }
  Printer pr = {.s = &s, .x = &in.x, .proba = o->proba};
  if (m->task == NNRT_TASK_CLASSIFY) {
    pr.classes = s.classes;
    pr.per_sample = s.out_per / s.classes;
  } else if (rt_task_binary(m->task)) {
    pr.classes = 2;
    pr.per_sample = s.out_per;
  }
  if (o->proba && !pr.classes) {
    rt_fail(e, RT_EXIT_USAGE, "--proba: model '%s' is a regression model; it has no class probabilities", m->name);
    goto out;
  }
  if (o->proba && pr.per_sample != 1) {
    rt_fail(e, RT_EXIT_USAGE,
            "--proba: model '%s' makes %" PRId64 " predictions per sample; --proba prints one distribution per sample",
            m->name, pr.per_sample);
    goto out;
  }
  const char *namebuf[RT_TEXT_MAX_CATS];
  if (pr.classes && pr.per_sample == 1 && pr.classes <= RT_TEXT_MAX_CATS && src) {
    if (!(sp = rt_alloc(sizeof *sp, "text spec", e))) goto out;
    pr.names = rt_class_names(src, m->dataset, pr.classes, sp, &csv_names, namebuf);
  }
  int64_t n = in.x.dims[0];
  int64_t batch = o->batch < n ? o->batch : (n > 0 ? n : 1);
  if (rt_session_alloc(&s, batch, e) || rt_session_weights(&s, o->ckpt_path, e)) goto out;
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
      print_prediction(&pr, i, at + i);
  }
  if (fflush(stdout) != 0) {
    rt_fail(e, RT_EXIT_FAIL, "cannot write the predictions");
    goto out;
  }
  rc = 0;
out:
  rt_names_free(&csv_names);
  rt_free(sp);
  rt_free(idx);
  rt_data_free(&in);
  rt_session_close(&s);
  return rc ? e->code : RT_EXIT_OK;
}
