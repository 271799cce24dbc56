/* rt_bench.c — `bench`: times train_step alone, for benchmarks against other
 * frameworks (bench/mlp_vs_torch.py). Loads the training set once, then runs
 * warm-up steps and `--steps` timed steps over consecutive batches. The time
 * per step includes gathering the batch (a copy of batch rows), as a real
 * training loop does, but no data loading, shuffling or printing. `profile`
 * (rt_profile.c) runs the same loop. An inference binary (nnc build --infer)
 * times its forward pass the same way, on its embedded weights (else on
 * initialised ones: the time does not depend on the values). */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { BENCH_WARMUP = 20 };

int rt_bench_open(RtBench *b, const NnrtModel *m, const RtOptions *o, RtError *e) {
  memset(b, 0, sizeof *b);
  if (rt_model_check(m, m->inference ? RT_NEED_FORWARD : RT_NEED_TRAIN, e)) return -1;
  if (rt_session_load(&b->s, m, o->data_dir, RT_SPLIT_TRAIN, &b->train, e)) return -1;
  b->fn = m->inference ? &m->forward : &m->train_step;
  b->features = b->train;
  b->features.y.data = NULL; /* forward is fed samples only: nothing else is timed */
  int64_t n = b->train.x.dims[0];
  b->batch = b->s.batch_sym < 0 ? b->s.static_batch : o->batch;
  if (b->batch > n) b->batch = n;
  if (rt_session_alloc(&b->s, b->batch, e) || rt_globals_init(&b->s.g, m, o->seed, e)) return -1;
  rt_globals_embedded(&b->s.g, m);
  rt_session_globals_changed(&b->s);
  if (!(b->idx = rt_alloc((size_t)n * sizeof *b->idx, "sample order", e))) return -1;
  for (int64_t i = 0; i < n; i++)
    b->idx[i] = (int32_t)i;
  b->s.lr = (float)o->lr;
  b->per_epoch = n / b->batch;
  return 0;
}

int rt_bench_steps(RtBench *b, int64_t steps, double *secs, RtError *e) {
  RtMetrics mt = {0};
  double t0 = rt_now();
  for (int64_t k = 0; k < steps; k++, b->done++) {
    const int32_t *batch = b->idx + (b->done % b->per_epoch) * b->batch;
    const RtDataset *d = b->fn == &b->s.m->forward ? &b->features : &b->train;
    if (rt_run_batch(&b->s, b->fn, d, batch, b->batch, &mt, NULL, e)) return -1;
  }
  *secs = rt_now() - t0;
  if (!isfinite(b->s.loss)) return rt_fail(e, RT_EXIT_NAN, "the loss became non-finite during the benchmark");
  return 0;
}

void rt_bench_close(RtBench *b) {
  rt_free(b->idx);
  rt_data_free(&b->train);
  rt_session_close(&b->s);
}

int rt_bench(const NnrtModel *m, const RtOptions *o, RtError *e) {
  RtBench b;
  int64_t steps = o->steps > 0 ? o->steps : 200;
  double warm, secs;
  int rc = rt_bench_open(&b, m, o, e) || rt_bench_steps(&b, BENCH_WARMUP, &warm, e) ||
           rt_bench_steps(&b, steps, &secs, e);
  if (!rc) {
    printf("model %s%s, batch %" PRId64 ", %d threads, %s, %" PRId64
           " timed steps after %d warm-up steps\n",
           m->name, m->inference ? " (inference: the forward pass)" : "", b.batch, rt_pool_threads(), rt_gemm_engine(),
           steps, BENCH_WARMUP);
    printf("ms_per_step %.4f\n", secs * 1e3 / (double)steps);
    printf("samples_per_s %.0f\n", (double)(steps * b.batch) / secs);
  }
  rt_bench_close(&b);
  return rc ? e->code : RT_EXIT_OK;
}
