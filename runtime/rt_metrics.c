/* rt_metrics.c — metrics beyond loss and accuracy: precision, recall and
 * AUC for binary tasks, mean absolute error for regression. rt_run_batch
 * (rt_session.c) counts; this file turns counts into numbers. */
#include "nnrt.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

unsigned rt_session_metrics(const RtSession *s) {
  unsigned bits = 1u << RT_MET_LOSS;
  int task = s->m->task;
  int binary = rt_task_binary(task) || (task == NNRT_TASK_CLASSIFY && s->classes == 2);
  if (task != NNRT_TASK_REGRESS) bits |= 1u << RT_MET_ACC;
  if (binary) bits |= 1u << RT_MET_PRECISION | 1u << RT_MET_RECALL | 1u << RT_MET_AUC;
  if (task == NNRT_TASK_REGRESS && s->out_per == s->y_per) bits |= 1u << RT_MET_MAE;
  return bits;
}

static double ratio(int64_t a, int64_t b) { return b ? (double)a / (double)b : NAN; }

double rt_metrics_value(const RtMetrics *m, int met) {
  switch (met) {
  case RT_MET_LOSS:
    return rt_metrics_loss(m);
  case RT_MET_ACC:
    return rt_metrics_acc(m);
  case RT_MET_PRECISION: /* nothing predicted positive: 0, as sklearn's zero_division default warns and gives */
    return m->scored ? (m->tp + m->fp ? (double)m->tp / (double)(m->tp + m->fp) : 0.0) : NAN;
  case RT_MET_RECALL:
    return ratio(m->tp, m->tp + m->fn);
  case RT_MET_AUC:
    return m->score ? rt_auc(m->score, m->truth, m->n_scores) : NAN;
  case RT_MET_MAE:
    return m->abs_n ? m->abs_err / (double)m->abs_n : NAN;
  default:
    return NAN;
  }
}

typedef struct Scored {
  float score;
  uint8_t truth;
} Scored;

static int by_score(const void *a, const void *b) {
  float x = ((const Scored *)a)->score, y = ((const Scored *)b)->score;
  return (x > y) - (x < y);
}

double rt_auc(const float *score, const uint8_t *truth, int64_t n) {
  if (n < 2) return NAN;
  Scored *v = malloc((size_t)n * sizeof *v);
  if (!v) return NAN;
  for (int64_t i = 0; i < n; i++)
    v[i].score = score[i], v[i].truth = truth[i];
  qsort(v, (size_t)n, sizeof *v, by_score);
  /* Sum of the positives' ranks (1-based, ties get their mean rank). */
  double rank_sum = 0;
  int64_t pos = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i, p = 0;
    while (j < n && v[j].score == v[i].score)
      p += v[j++].truth;
    rank_sum += (double)p * (double)(i + 1 + j) / 2.0;
    pos += p;
    i = j;
  }
  free(v);
  int64_t neg = n - pos;
  if (!pos || !neg) return NAN;
  return (rank_sum - (double)pos * (double)(pos + 1) / 2.0) / ((double)pos * (double)neg);
}

int rt_metrics_alloc(RtMetrics *m, int64_t cap, RtError *e) {
  memset(m, 0, sizeof *m);
  if (cap < 1) return 0;
  m->score = rt_alloc((size_t)cap * sizeof *m->score, "scores for the AUC", e);
  m->truth = rt_alloc((size_t)cap, "labels for the AUC", e);
  if (!m->score || !m->truth) return -1;
  m->cap = cap;
  return 0;
}

void rt_metrics_reset(RtMetrics *m) {
  RtMetrics keep = {.score = m->score, .truth = m->truth, .cap = m->cap};
  *m = keep;
}

void rt_metrics_free(RtMetrics *m) {
  rt_free(m->score);
  rt_free(m->truth);
  memset(m, 0, sizeof *m);
}

void rt_metrics_add(RtMetrics *a, const RtMetrics *b) {
  a->loss_sum += b->loss_sum;
  a->samples += b->samples;
  a->correct += b->correct;
  a->scored += b->scored;
  a->tp += b->tp;
  a->fp += b->fp;
  a->fn += b->fn;
  a->abs_err += b->abs_err;
  a->abs_n += b->abs_n;
}
