/* rt_cuda_graph.c — a step function as a CUDA Graph: the host side of a
 * step (the step function enqueuing kernels, products and copies one by
 * one) captured once and replayed with one cuGraphLaunch, so a small
 * model's step is not bound by launch overhead.
 *
 * What a capture bakes in: the step function's pointers (the args, the
 * workspace), the syms (grid sizes, a scan's step count) and every
 * kernel's NnrtCuArgs. So a graph is keyed by (function, syms, args,
 * workspace) and a new key captures anew. Values in device memory (the
 * batch, lr) are read when the graph runs, so one graph serves every step
 * of a batch shape in one batch slot. The session's arena (rt_mirror.c)
 * has two slots, the next batch going up to one while the step reads the
 * other: a training run captures one graph per slot and shape (a key
 * differs in its input pointers), rather than copying each batch into a
 * fixed buffer on the device first. A grown arena gives new keys.
 *
 * The first run of a key is enqueued eagerly and only the second captured:
 * a one-off (the last partial batch of an eval) costs no capture, errors of
 * the first run name their kernel as it is launched, and cuBLASLt has made
 * its plans (host work that must not happen inside a capture) before one
 * starts. */
#define _POSIX_C_SOURCE 200809L
#include "rt_cuda.h"
#include <stdlib.h>
#include <string.h>

enum { GRAPHS = 16, MAX_ARGS = 4096 };

typedef struct Graph {
  int used, runs; /* runs of its key so far */
  int fn_id, nargs;
  int64_t syms[NNRT_MAX_SYMS];
  void **args;
  void *ws;
  RtCUgraph graph;
  RtCUgraphExec exec;
} Graph;

static Graph g_graphs[GRAPHS];
static int g_next;
static int g_off = -1; /* NNRT_CUDA_GRAPHS=0: -1 until read */

static void graph_free(Graph *g) {
  if (g->exec) rt_cu.cu.GraphExecDestroy(g->exec);
  if (g->graph) rt_cu.cu.GraphDestroy(g->graph);
  free(g->args);
  memset(g, 0, sizeof *g);
}

void rt_cu_graph_reset(void) {
  for (int i = 0; i < GRAPHS; i++)
    graph_free(&g_graphs[i]);
  g_next = 0;
}

static Graph *find(int fn_id, void **args, int nargs, const int64_t *syms, int nsyms, void *ws) {
  for (int i = 0; i < GRAPHS; i++) {
    Graph *g = &g_graphs[i];
    if (g->used && g->fn_id == fn_id && g->nargs == nargs && g->ws == ws &&
        memcmp(g->syms, syms, (size_t)nsyms * sizeof *syms) == 0 &&
        memcmp(g->args, args, (size_t)nargs * sizeof *args) == 0)
      return g;
  }
  Graph *g = &g_graphs[g_next];
  g_next = (g_next + 1) % GRAPHS;
  graph_free(g);
  if (!(g->args = malloc((size_t)nargs * sizeof *args))) return NULL;
  g->used = 1;
  g->fn_id = fn_id;
  g->nargs = nargs;
  g->ws = ws;
  memcpy(g->syms, syms, (size_t)nsyms * sizeof *syms);
  memcpy(g->args, args, (size_t)nargs * sizeof *args);
  return g;
}

static int cu_record_fail(RtCUresult r, const char *what) {
  char buf[256];
  rt_cu_record("%s: %s", what, rt_cu_strerror(r, buf, sizeof buf));
  return -1;
}

int rt_cu_graph_run(const NnrtFunc *f, int fn_id, void **args, int nargs, const int64_t *syms, void *ws) {
  if (g_off < 0) {
    const char *v = getenv("NNRT_CUDA_GRAPHS");
    g_off = v && strcmp(v, "0") == 0;
  }
  int nsyms = rt_cu.m->n_syms < NNRT_MAX_SYMS ? rt_cu.m->n_syms : NNRT_MAX_SYMS;
  Graph *g = g_off || nargs > MAX_ARGS ? NULL : find(fn_id, args, nargs, syms, nsyms, ws);
  if (!g || g->runs++ == 0) { /* eager: graphs off, or the first run of this key */
    f->fn(args, syms, ws);
    return rt_cu.failed ? -1 : 0;
  }
  if (!g->exec) {
    RtCUresult r = rt_cu.cu.StreamBeginCapture(rt_cu.compute, RT_CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    if (r) return cu_record_fail(r, "cuStreamBeginCapture");
    f->fn(args, syms, ws);
    r = rt_cu.cu.StreamEndCapture(rt_cu.compute, &g->graph); /* ends the capture even after an error */
    if (rt_cu.failed) return -1;
    if (r) return cu_record_fail(r, "cuStreamEndCapture");
    if ((r = rt_cu.cu.GraphInstantiate(&g->exec, g->graph, 0))) {
      g->exec = NULL;
      return cu_record_fail(r, "cuGraphInstantiate");
    }
  }
  RtCUresult r = rt_cu.cu.GraphLaunch(g->exec, rt_cu.compute);
  return r ? cu_record_fail(r, "cuGraphLaunch") : 0;
}
