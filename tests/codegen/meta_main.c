/* meta_main.c — a C program linked with a model object that nnc emitted:
 * prints nnrt_model as the C compiler lays it out and runs `forward` once
 * on fixed data, so test_object.c can compare both with what it expects.
 * The runtime functions it calls are minimal stand-ins. */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "nnrt_abi.h"

void nnrt_parallel_for(NnrtBody body, void *ctx, int64_t n, int64_t grain) {
  (void)grain;
  body(ctx, 0, n);
}

void nnrt_parallel_multi(const NnrtTask *t, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    t[i].body(t[i].ctx, 0, t[i].n);
}

void nnrt_sgemm(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void nnrt_sgemm_ep(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                   const float *b, int64_t ldb, float beta, float *c, int64_t ldc, NnrtEpilogue ep, void *ctx,
                   int32_t whole_columns) {
  (void)whole_columns; /* one block: whole columns and rows */
  nnrt_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  ep(ctx, 0, m, 0, n);
}

static void tensor(const char *what, const NnrtTensor *t) {
  printf("%s %s kind=%d dtype=%d rank=%d init=%d dims=", what, t->name, t->kind, t->dtype, t->rank, t->init);
  for (int i = 0; i < NNRT_MAX_RANK; i++)
    printf("%lld%s", (long long)t->dims[i], i + 1 < NNRT_MAX_RANK ? "," : "");
  printf(" a=%g b=%g\n", t->init_a, t->init_b);
}

/* A cost of the kernel table with every sym = 3. */
static double cost(const NnrtTerm *t, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    double v = t[i].c;
    for (int k = 0; k < NNRT_MAX_SYMS; k++)
      for (int e = 0; e < t[i].e[k]; e++)
        v *= 3;
    s += v;
  }
  return s;
}

static void func(const char *what, const NnrtFunc *f) {
  if (!f->name) {
    printf("%s absent fn=%d ws=%d\n", what, f->fn != NULL, f->workspace_size != NULL);
    return;
  }
  printf("%s %s in=%d out=%d\n", what, f->name, f->n_inputs, f->n_outputs);
  for (int i = 0; i < f->n_inputs; i++)
    tensor(" input", &f->inputs[i]);
  for (int i = 0; i < f->n_outputs; i++)
    tensor(" output", &f->outputs[i]);
  for (int i = 0; i < f->n_kernels; i++) {
    const NnrtKernel *k = &f->kernels[i];
    printf(" kernel %s ops=%s bytes=%g flops=%g calls=%g\n", k->name, k->ops, cost(k->terms, k->n_bytes),
           cost(k->terms + k->n_bytes, k->n_flops), cost(k->terms + k->n_bytes + k->n_flops, k->n_calls));
  }
}

static int64_t dim(const NnrtTensor *t, int i, const int64_t *syms) {
  return t->dims[i] < 0 ? syms[-t->dims[i] - 1] : t->dims[i];
}

static int64_t numel(const NnrtTensor *t, const int64_t *syms) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++)
    n *= dim(t, i, syms);
  return n;
}

int main(void) {
  const NnrtModel *m = &nnrt_model;
  printf("abi=%d name=%s syms=%d:", m->abi_version, m->name, m->n_syms);
  for (int i = 0; i < m->n_syms; i++)
    printf(" %s", m->sym_names[i]);
  printf("\n");
  for (int i = 0; i < m->n_globals; i++)
    tensor("global", &m->globals[i]);
  func("forward", &m->forward);
  func("eval_step", &m->eval_step);
  func("train_step", &m->train_step);
  printf("task=%d opt=%d lr=%g b1=%g b2=%g eps=%g wd=%g mom=%g batch=%d epochs=%d data=%s seed=%llu\n", m->task,
         m->optimizer, m->lr, m->beta1, m->beta2, m->eps, m->weight_decay, m->momentum, m->batch, m->epochs,
         m->dataset ? m->dataset : "(null)", (unsigned long long)m->seed);
  printf("schedule=%s early_stop=%s\n", m->schedule ? m->schedule : "(null)", m->early_stop ? m->early_stop : "(null)");
  /* An inference binary's embedded weights, byte by byte (i8 and u8
   * globals 1 byte per element, the others 4), and their alignment. */
  printf("inference=%d output_loss=%d embedded=%s\n", m->inference, m->output_loss, m->embedded ? "yes" : "none");
  for (int i = 0; m->embedded && i < m->n_globals; i++) {
    const NnrtTensor *t = &m->globals[i];
    const unsigned char *p = m->embedded[i];
    printf(" %s:", t->name);
    int64_t bytes = numel(t, (int64_t[1]){0}) * (t->dtype == NNRT_I8 || t->dtype == NNRT_U8 ? 1 : 4);
    for (int64_t k = 0; p && k < bytes; k++)
      printf(" %02x", p[k]);
    printf(p ? (uintptr_t)p % 64 ? " unaligned\n" : "\n" : " none\n");
  }
  printf("prune=%s\n", m->prune ? m->prune : "(null)");

  /* forward with every sym = 3, globals and inputs filled with
   * (index % 7 - 3) / 4 (labels: index % 2), outputs summed. */
  int64_t syms[8] = {3, 3, 3, 3, 3, 3, 3, 3};
  const NnrtFunc *f = &m->forward;
  int n = m->n_globals + f->n_inputs + f->n_outputs;
  void **args = calloc((size_t)n, sizeof *args);
  for (int k = 0; k < n; k++) {
    const NnrtTensor *t = k < m->n_globals                 ? &m->globals[k]
                          : k < m->n_globals + f->n_inputs ? &f->inputs[k - m->n_globals]
                                                           : &f->outputs[k - m->n_globals - f->n_inputs];
    int64_t e = numel(t, syms);
    args[k] = calloc((size_t)e + 1, 4);
    for (int64_t i = 0; i < e; i++) {
      if (t->dtype == NNRT_I32)
        ((int32_t *)args[k])[i] = (int32_t)(i % 2);
      else
        ((float *)args[k])[i] = (float)(i % 7 - 3) / 4;
    }
  }
  void *ws = aligned_alloc(64, (size_t)(f->workspace_size(syms) + 64) / 64 * 64);
  f->fn(args, syms, ws);
  for (int r = 0; r < f->n_outputs; r++) {
    const NnrtTensor *t = &f->outputs[r];
    double s = 0;
    for (int64_t i = 0; i < numel(t, syms); i++)
      s += ((float *)args[m->n_globals + f->n_inputs + r])[i];
    printf("sum(output %d)=%.4f\n", r, s);
  }
  return 0;
}
