/* rt_bench.c — `bench`: times train_step alone, for benchmarks against other
 * frameworks (bench/mlp_vs_torch.py). Loads the training set once, then runs
 * warm-up steps and `--steps` timed steps over consecutive batches. The time
 * per step includes gathering the batch (a copy of batch rows), as a real
 * training loop does, but no data loading, shuffling or printing. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

enum { BENCH_WARMUP = 20 };

int rt_bench(const NnrtModel *m, const RtOptions *o, RtError *e) {
  if (rt_model_check(m, RT_NEED_TRAIN, e)) return e->code;
  RtSession s;
  RtDataset train;
  int32_t *idx = NULL;
  int rc = -1;
  if (rt_session_load(&s, m, o->data_dir, RT_SPLIT_TRAIN, &train, e)) goto out;
  int64_t n = train.x.dims[0], batch = s.batch_sym < 0 ? s.static_batch : o->batch;
  if (batch > n) batch = n;
  if (rt_session_alloc(&s, batch, e) || rt_globals_init(&s.g, m, o->seed, e)) goto out;
  if (!(idx = rt_alloc((size_t)n * sizeof *idx, "sample order", e))) goto out;
  for (int64_t i = 0; i < n; i++)
    idx[i] = (int32_t)i;
  s.lr = (float)o->lr;
  int64_t steps = o->steps > 0 ? o->steps : 200, per_epoch = n / batch;
  RtMetrics mt = {0};
  double t0 = 0;
  for (int64_t k = 0; k < BENCH_WARMUP + steps; k++) {
    if (k == BENCH_WARMUP) t0 = rt_now();
    const int32_t *b = idx + (k % per_epoch) * batch;
    if (rt_run_batch(&s, &m->train_step, &train, b, batch, &mt, NULL, e)) goto out;
  }
  double secs = rt_now() - t0;
  if (!isfinite(s.loss)) {
    rt_fail(e, RT_EXIT_NAN, "the loss became non-finite during the benchmark");
    goto out;
  }
  printf("model %s, batch %" PRId64 ", %d threads, OpenBLAS %s kernels, %" PRId64
         " timed steps after %d warm-up steps\n",
         m->name, batch, rt_pool_threads(), rt_blas_core(), steps, BENCH_WARMUP);
  printf("ms_per_step %.4f\n", secs * 1e3 / (double)steps);
  printf("samples_per_s %.0f\n", (double)(steps * batch) / secs);
  rc = 0;
out:
  rt_free(idx);
  rt_data_free(&train);
  rt_session_close(&s);
  return rc ? e->code : RT_EXIT_OK;
}
