/* test_onednn_threads.c — the oneDNN engine (runtime/rt_gemm_onednn.c)
 * runs every block single-threaded whatever thread calls it: OpenMP's
 * thread count is per calling thread, so the kernel must set it on each
 * thread that runs blocks (the pool's workers and the main thread), not
 * once per process. Run with OMP_NUM_THREADS=4 (tests/runtime/CMakeLists.txt),
 * so that a thread that has run no block yet would give oneDNN 4 threads.
 * Exits 77 (skipped) without libdnnl. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rt_gemm.h"

static int (*omp_get_max_threads_fn)(void); /* libgomp's, which libdnnl loaded */
static int failed;

static void check(int ok, const char *what, int got) {
  if (!ok) {
    printf("FAIL: %s (omp_get_max_threads %d)\n", what, got);
    failed = 1;
  }
}

/* One 2x2 block, C = A I, on the calling thread; its result checked. */
static void run_block(const char *who) {
  float a[4] = {1, 2, 3, 4}, identity[4] = {1, 0, 0, 1}, c[4] = {0};
  rt_onednn_kernel(0, 0, 2, 2, 2, 1.0f, a, 2, identity, 2, 0.0f, c, 2);
  if (memcmp(a, c, sizeof a)) {
    printf("FAIL: %s: dnnl_sgemm's A I is not A\n", who);
    failed = 1;
  }
}

/* A thread of its own, as a pool worker: OMP_NUM_THREADS' 4 until it runs
 * a block, 1 after it, and still 1 after another. */
static void *worker(void *arg) {
  (void)arg;
  int before = omp_get_max_threads_fn();
  check(before == 4, "a new thread starts from OMP_NUM_THREADS=4 (the test's premise)", before);
  run_block("worker");
  int after = omp_get_max_threads_fn();
  check(after == 1, "after its first block, a worker thread's OpenMP has one thread", after);
  run_block("worker");
  after = omp_get_max_threads_fn();
  check(after == 1, "after its second block, a worker thread's OpenMP has one thread", after);
  return NULL;
}

int main(void) {
  const char *engine = rt_onednn_engine();
  if (!rt_onednn_load()) {
    printf("SKIP: %s\n", engine);
    return 77;
  }
  void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (gomp) *(void **)&omp_get_max_threads_fn = dlsym(gomp, "omp_get_max_threads");
  if (!omp_get_max_threads_fn) {
    printf("FAIL: %s is loaded but libgomp's omp_get_max_threads is not found\n", engine);
    return 1;
  }
  /* The main thread runs blocks too: the same on it, then on two workers
   * started after it (the main thread's setting does not reach them). */
  int before = omp_get_max_threads_fn();
  check(before == 4, "the main thread starts from OMP_NUM_THREADS=4 (the test's premise)", before);
  run_block("main");
  int after = omp_get_max_threads_fn();
  check(after == 1, "after a block, the main thread's OpenMP has one thread", after);
  for (int t = 0; t < 2; t++) {
    pthread_t tid;
    if (pthread_create(&tid, NULL, worker, NULL) || pthread_join(tid, NULL)) {
      printf("FAIL: pthread_create\n");
      return 1;
    }
  }
  if (failed) return 1;
  printf("ok: %s runs every block on one OpenMP thread, on the main thread and on new ones\n", engine);
  return 0;
}
