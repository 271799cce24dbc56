/* core_latency.c — how long two cores take to pass a cache line back and
 * forth, the figure that says whether a second thread can speed up the
 * memory-bound kernels of a training step (bench/results.md).
 *
 * Two threads, pinned to the first two CPUs this process may run on, take
 * turns writing one shared word: each waits until the other has written,
 * then writes. One turn there and back is two transfers of the line between
 * the cores' caches. Cores that share a cache (one L3, one CCX) do this in
 * well under 100 ns; cores that do not (two chiplets or sockets, or a VM
 * whose two vCPUs the host placed so) take 200 ns and more, and then every
 * line a kernel reads that the other core wrote costs that much: nnc's
 * pool gives each thread the same share of consecutive loops for that
 * reason (runtime/rt_pool.c, "Affinity"), and the GEMMs are cut along the
 * same rows (runtime/rt_blas.c).
 *
 *   cc -O2 -pthread bench/core_latency.c -o core_latency && ./core_latency
 *
 * prints `core_round_trip_ns <ns>`: the best of REPEATS runs of TURNS round
 * trips each (a neighbour only ever slows a run down), or nothing and exit
 * status 1 where fewer than two CPUs are available. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

enum { TURNS = 100000, REPEATS = 5 };

static _Alignas(64) _Atomic long word;
static int cpus[2];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void pin(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

/* The other side: answers each odd value with the next even one. */
static void *answer(void *arg) {
  (void)arg;
  pin(cpus[1]);
  for (long i = 0; i < TURNS; i++) {
    while (atomic_load_explicit(&word, memory_order_acquire) != 2 * i + 1) {
    }
    atomic_store_explicit(&word, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

static double round_trip_ns(void) {
  atomic_store(&word, 0);
  pthread_t t;
  if (pthread_create(&t, NULL, answer, NULL) != 0) return -1;
  double t0 = now();
  for (long i = 0; i < TURNS; i++) {
    atomic_store_explicit(&word, 2 * i + 1, memory_order_release);
    while (atomic_load_explicit(&word, memory_order_acquire) != 2 * i + 2) {
    }
  }
  double dt = now() - t0;
  pthread_join(t, NULL);
  return dt / TURNS * 1e9;
}

int main(void) {
  cpu_set_t allowed;
  int n = 0;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 1;
  for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
    if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
  if (n < 2) return 1;
  pin(cpus[0]);
  double best = -1;
  for (int r = 0; r < REPEATS; r++) {
    double ns = round_trip_ns();
    if (ns > 0 && (best < 0 || ns < best)) best = ns;
  }
  if (best < 0) return 1;
  printf("core_round_trip_ns %.0f\n", best);
  return 0;
}
