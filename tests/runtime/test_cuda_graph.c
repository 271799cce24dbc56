/* test_cuda_graph.c — runtime/cuda/rt_cuda_graph.c on a fake driver: CUDA
 * Graphs stay valid when the session alternates between its two batch
 * slots (rt_mirror.c: the next batch goes up to one slot while the step
 * reads the other).
 *
 * The fake: a "stream" op (the step function's one kernel: out = x + *lr
 * over syms[0] elements, on host memory standing for device memory) runs
 * at once, or, while a capture is open, is recorded into the graph being
 * captured, which cuGraphLaunch replays with the pointers and the element
 * count it recorded, reading the values in memory as they are then. So a
 * graph replayed for a key it was not captured for (another slot's
 * pointers, another batch size) computes on the wrong batch, and a run
 * whose output is not its own batch's plus its lr shows it. */
#include "rt_cuda.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

RtCuda rt_cu;

void rt_cu_record(const char *fmt, ...) {
  if (rt_cu.failed) return;
  rt_cu.failed = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rt_cu.err, sizeof rt_cu.err, fmt, ap);
  va_end(ap);
}

const char *rt_cu_strerror(RtCUresult r, char *buf, size_t size) {
  snprintf(buf, size, "fake CUDA error %d", r);
  return buf;
}

enum { N = 8, STEPS = 12, MAX_OPS = 4, MAX_GRAPHS = 32 };

typedef struct Op {
  float *out;
  const float *x, *lr;
  int64_t n;
} Op;
typedef struct FakeGraph {
  Op ops[MAX_OPS];
  int n;
} FakeGraph;

static FakeGraph graphs[MAX_GRAPHS];
static FakeGraph *capturing;
static int n_graphs, captures, replays, eager;

static void run_op(const Op *o) {
  for (int64_t i = 0; i < o->n; i++)
    o->out[i] = o->x[i] + *o->lr;
}

/* The step function: args are x, lr, out. */
static void step_fn(void **args, const int64_t *syms, void *ws) {
  (void)ws;
  Op op = {args[2], args[0], args[1], syms[0]};
  if (capturing) {
    if (capturing->n < MAX_OPS) capturing->ops[capturing->n++] = op;
  } else {
    run_op(&op), eager++;
  }
}

static RtCUresult begin_capture(RtCUstream s, int mode) {
  (void)s, (void)mode;
  if (n_graphs == MAX_GRAPHS) return 2;
  capturing = &graphs[n_graphs++];
  captures++;
  return 0;
}
static RtCUresult end_capture(RtCUstream s, RtCUgraph *g) {
  (void)s;
  *g = (RtCUgraph)(void *)capturing;
  capturing = NULL;
  return 0;
}
static RtCUresult instantiate(RtCUgraphExec *exec, RtCUgraph g, unsigned long long flags) {
  (void)flags;
  *exec = (RtCUgraphExec)(void *)g;
  return 0;
}
static RtCUresult graph_launch(RtCUgraphExec exec, RtCUstream s) {
  (void)s;
  const FakeGraph *g = (const FakeGraph *)(void *)exec;
  for (int i = 0; i < g->n; i++)
    run_op(&g->ops[i]);
  replays++;
  return 0;
}
static RtCUresult exec_destroy(RtCUgraphExec exec) { return (void)exec, 0; }
static RtCUresult graph_destroy(RtCUgraph g) { return (void)g, 0; }

static int failures;
#define CHECK(cond, ...)                                                                                               \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      failures++;                                                                                                      \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                             \
      fprintf(stderr, __VA_ARGS__);                                                                                    \
      fputc('\n', stderr);                                                                                             \
    }                                                                                                                  \
  } while (0)

int main(void) {
  static const NnrtTensor inputs[2], outputs[1];
  NnrtModel m = {.n_syms = 1};
  NnrtFunc f = {
      .name = "train_step", .fn = step_fn, .n_inputs = 2, .n_outputs = 1, .inputs = inputs, .outputs = outputs};
  rt_cu.m = &m;
  rt_cu.cu.StreamBeginCapture = begin_capture;
  rt_cu.cu.StreamEndCapture = end_capture;
  rt_cu.cu.GraphInstantiate = instantiate;
  rt_cu.cu.GraphLaunch = graph_launch;
  rt_cu.cu.GraphExecDestroy = exec_destroy;
  rt_cu.cu.GraphDestroy = graph_destroy;
  /* "Device memory": two batch slots, one lr and one output, as in the
   * session's arena; a workspace pointer the step does not use. */
  static float x[2][N], lr, out[N];
  static char ws[256];
  /* A training run as the session makes it: batches alternate between the
   * slots; the last two of the run are partial (another syms). */
  for (int step = 0; step < STEPS; step++) {
    int slot = step % 2;
    int64_t bs = step < STEPS - 2 ? N : N - 3;
    for (int i = 0; i < N; i++)
      x[slot][i] = (float)(100 * step + i);
    lr = (float)step / 4;
    memset(out, 0, sizeof out);
    void *args[3] = {x[slot], &lr, out};
    int64_t syms[1] = {bs};
    rt_cu.failed = 0;
    CHECK(rt_cu_graph_run(&f, NNRT_FN_TRAIN, args, 3, syms, ws) == 0 && !rt_cu.failed, "step %d: %s", step, rt_cu.err);
    for (int64_t i = 0; i < N; i++) {
      float want = i < bs ? x[slot][i] + lr : 0;
      CHECK(out[i] == want, "step %d (slot %d, batch %lld): out[%lld] = %g, expected %g", step, slot, (long long)bs,
            (long long)i, out[i], want);
    }
  }
  /* Keys (slot 0, 8), (slot 1, 8): eager at steps 0 and 1, captured at 2
   * and 3, replayed at 4 to 9; the partial batches run once per slot:
   * eager. */
  CHECK(eager == 4, "%d eager runs, expected 4 (each key's first)", eager);
  CHECK(captures == 2, "%d captures, expected 2 (a graph per slot)", captures);
  CHECK(replays == STEPS - 2 - 2, "%d graph launches, expected %d", replays, STEPS - 4);
  rt_cu_graph_reset();
  if (failures) return 1;
  printf("test_cuda_graph: a graph per batch slot, %d captures, %d replays, every output its own batch's\n", captures,
         replays);
  return 0;
}
