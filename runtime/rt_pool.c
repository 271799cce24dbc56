/* rt_pool.c — the runtime's one thread pool and nnrt_parallel_for.
 *
 * Generated code calls nnrt_parallel_for 10-30 times per training step on
 * loops that take microseconds, so dispatch must cost far less than a futex
 * round trip: workers spin (with a CPU pause) for a short while after each
 * job and only then sleep on a condition variable. The calling thread works
 * too, so `threads` counts it: threads - 1 workers.
 *
 * Protocol. One 64-bit word `state` = generation << 48 | a mask of the
 * chunks not yet claimed (at most MAX_CHUNKS). The caller fills the job
 * fields, then publishes a new generation with every chunk's bit set. Anyone
 * claims a chunk by a CAS that clears its bit within the same generation;
 * the job fields are read only after a successful claim, and the caller
 * rewrites them only once every chunk is done, so a claimed job's fields are
 * never being rewritten. Chunk boundaries depend on the thread count, so a
 * body must compute the same values however [0, n) is cut: generated
 * kernels never split a reduction across chunks, and nnrt_sgemm's chunks
 * are whole blocks of a fixed cut (rt_blas.c); that is what makes a run
 * independent of --threads.
 *
 * Affinity. Thread t (the caller is 0, workers 1..threads-1) owns the t-th
 * contiguous share of the chunks and claims its own first, lowest first;
 * only then does it steal, from the far end of what is left. A step calls
 * the same loops with the same n every time, and one kernel's output is
 * the next one's input, cut the same way; so each thread meets the data it
 * wrote itself and finds it in its own caches. Where the two cores share
 * no cache that matters: on an AMD EPYC VM whose cores pass a cache line
 * in ~220 ns, claiming whichever chunk came next (the protocol before this
 * one) made the CNN's step at batch 64 on 2 threads 3.0 ms, slower than
 * its 2.6 ms on 1; with affinity it is 2.35. Stealing keeps a late worker
 * from stalling a loop. Which chunk a thread prefers never affects which
 * claims succeed (the CAS on `state` decides), so `own` may be computed
 * from a job that has since been replaced: it then merely prefers wrongly.
 *
 * The generation has 16 bits: a worker that sleeps through exactly 65536
 * jobs sees no new one, and the caller runs that job's chunks alone.
 *
 * The pool is process-wide state because the ABI's nnrt_parallel_for names
 * no pool; it is started and stopped by main. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>


#define SPIN_PAUSES 2000    /* pure spinning: tens of microseconds */
#define SPIN_SECONDS 100e-6 /* then yielding spins: about a small step's gap */
#define CHUNKS_PER_THREAD 4 /* slack for workers that wake late */
#define MAX_CHUNKS 48      /* bits of `state` below the generation */
#define GEN_SHIFT 48
#define CHUNK_MASK ((UINT64_C(1) << GEN_SHIFT) - 1)

typedef struct Pool Pool;

typedef struct Worker {
  Pool *pool;
  int index; /* 1..threads-1; the caller is 0 */
} Worker;

struct Pool {
  int threads; /* including the caller */
  Worker *workers;
  pthread_t *tid;
  _Atomic uint64_t state;
  atomic_int done;
  atomic_int sleepers;
  atomic_int stop;
  atomic_flag busy; /* a job is in flight: concurrent or nested callers run inline */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* the job, valid for a claimed chunk */
  NnrtBody body;
  void *ctx;
  int64_t n, nchunks;
  /* nchunks again, for the claim preference of threads that have claimed
   * nothing yet: they may read it while the caller writes the next job's. */
  _Atomic int64_t nchunks_published;
};

static Pool *g_pool;
static _Thread_local int t_in_pool; /* this thread is running a chunk */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ __volatile__("pause");
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* The chunks thread `self` owns: its contiguous share of nchunks. */
static uint64_t own_chunks(int64_t nchunks, int threads, int self) {
  int64_t lo = nchunks * self / threads, hi = nchunks * (self + 1) / threads;
  return ((UINT64_C(1) << hi) - 1) & ~((UINT64_C(1) << lo) - 1);
}

/* Claims and runs chunks of generation gen until none is left: its own
 * first, then the others' from the far end. */
static void run_chunks(Pool *p, uint32_t gen, int self) {
  uint64_t own = own_chunks(atomic_load_explicit(&p->nchunks_published, memory_order_relaxed), p->threads, self);
  for (;;) {
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    uint64_t left = s & CHUNK_MASK;
    if ((uint32_t)(s >> GEN_SHIFT) != gen || left == 0) return;
    int k = (left & own) ? __builtin_ctzll(left & own) : 63 - __builtin_clzll(left);
    if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s & ~(UINT64_C(1) << k), memory_order_acq_rel,
                                               memory_order_relaxed))
      continue;
    int64_t lo = p->n * k / p->nchunks, hi = p->n * (k + 1) / p->nchunks;
    t_in_pool = 1;
    p->body(p->ctx, lo, hi);
    t_in_pool = 0;
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
  }
}

static void *worker(void *arg) {
  const Worker *w = arg;
  Pool *p = w->pool;
  uint32_t seen = (uint32_t)(atomic_load(&p->state) >> GEN_SHIFT);
  for (;;) {
    uint32_t gen = seen;
    double until = 0;
    /* Spin with pause first; then yield, so that other work on a shared
     * machine can have the core; then sleep. */
    for (int i = 0;; i++) {
      gen = (uint32_t)(atomic_load_explicit(&p->state, memory_order_acquire) >> GEN_SHIFT);
      if (gen != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
      if (i < SPIN_PAUSES) {
        cpu_relax();
        continue;
      }
      sched_yield();
      double now = rt_now();
      if (until == 0)
        until = now + SPIN_SECONDS;
      else if (now > until)
        break;
    }
    if (gen == seen) {
      /* sleepers++ before re-checking state, and the caller publishes state
       * before reading sleepers (both seq_cst): one of us sees the other. */
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while ((uint32_t)(atomic_load(&p->state) >> GEN_SHIFT) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
      gen = (uint32_t)(atomic_load(&p->state) >> GEN_SHIFT);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = gen;
    run_chunks(p, gen, w->index);
  }
}

int rt_online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

int rt_pool_start(int threads, RtError *e) {
  if (g_pool) rt_pool_stop();
  if (threads <= 0) threads = rt_online_cores();
  rt_gemm_setup(); /* before our threads: OpenBLAS's would spin beside them */
  Pool *p = calloc(1, sizeof *p);
  if (!p) return rt_fail(e, RT_EXIT_FAIL, "out of memory starting the thread pool");
  p->threads = threads;
  atomic_init(&p->state, 0);
  atomic_init(&p->done, 0);
  atomic_init(&p->sleepers, 0);
  atomic_init(&p->stop, 0);
  atomic_flag_clear(&p->busy);
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->tid = calloc((size_t)threads, sizeof *p->tid);
  p->workers = calloc((size_t)threads, sizeof *p->workers);
  if (!p->tid || !p->workers) {
    free(p->tid);
    free(p->workers);
    free(p);
    return rt_fail(e, RT_EXIT_FAIL, "out of memory starting the thread pool");
  }
  for (int i = 0; i < threads - 1; i++) {
    p->workers[i] = (Worker){p, i + 1};
    if (pthread_create(&p->tid[i], NULL, worker, &p->workers[i]) != 0) {
      p->threads = i + 1; /* run with what we got */
      break;
    }
  }
  g_pool = p;
  return 0;
}

void rt_pool_stop(void) {
  Pool *p = g_pool;
  if (!p) return;
  g_pool = NULL;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->threads - 1; i++)
    pthread_join(p->tid[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->tid);
  free(p->workers);
  free(p);
}

int rt_pool_threads(void) { return g_pool ? g_pool->threads : 1; }

void nnrt_parallel_for(NnrtBody body, void *ctx, int64_t n, int64_t grain) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  Pool *p = g_pool;
  if (!p || p->threads < 2 || n < 2 * grain || t_in_pool ||
      atomic_flag_test_and_set_explicit(&p->busy, memory_order_acquire)) {
    body(ctx, 0, n);
    return;
  }
  int64_t nchunks = n / grain;
  if (nchunks > (int64_t)p->threads * CHUNKS_PER_THREAD) nchunks = (int64_t)p->threads * CHUNKS_PER_THREAD;
  if (nchunks > MAX_CHUNKS) nchunks = MAX_CHUNKS;
  /* Whole shares: 3 chunks on 2 threads gave one thread twice the other's
   * rows, and it stole back from the far end what it then computed on
   * (the MLP's staging of 64 images: a steal most steps). */
  if (nchunks >= p->threads) nchunks -= nchunks % p->threads;
  p->body = body;
  p->ctx = ctx;
  p->n = n;
  p->nchunks = nchunks;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  atomic_store_explicit(&p->nchunks_published, nchunks, memory_order_relaxed);
  uint32_t gen = (uint32_t)((atomic_load(&p->state) >> GEN_SHIFT) + 1) & 0xffff;
  atomic_store(&p->state, (uint64_t)gen << GEN_SHIFT | ((UINT64_C(1) << nchunks) - 1));
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  run_chunks(p, gen, 0);
  /* Wait for chunks still running elsewhere; yield after a while in case
   * their thread is waiting for this core. */
  for (int i = 0; atomic_load_explicit(&p->done, memory_order_acquire) < nchunks; i++)
    if (i < SPIN_PAUSES)
      cpu_relax();
    else
      sched_yield();
  atomic_flag_clear_explicit(&p->busy, memory_order_release);
}

/* ---- several loops as one job ---- */

/* The job is cut in nchunks chunks, the threads' shares as for any loop.
 * A task of many grains is cut in pieces, at most one per chunk, spread
 * evenly over the chunks: chunk c runs the piece at c's position in the
 * task, so every thread updates the same share of every large loop (its
 * c-th fraction, where nnrt_parallel_for's chunk c of a loop of that size
 * would be). The optimizer's update of a weight is such a loop, and the
 * kernels before and after it (the weight gradient's product, the next
 * step's forward product) cut the weight the same way, so each core finds
 * its share of the weight, its gradient and the moments in its own caches.
 * Cutting the tasks one after another instead (the protocol before this
 * one) gave thread 0 rows 0-511 of the MLP's 784x256 weight and thread 1
 * the rest and the small tasks, where the products around the update cut
 * that weight at row 392 (rt_blas.c). A small task runs whole, in the
 * chunk with the least work so far. */
typedef struct Multi {
  const NnrtTask *t;
  int64_t ntasks, nchunks;
  const int64_t *pieces; /* pieces[t]: task t's; 1: it runs whole in chunk home[t] */
  const int16_t *home;
} Multi;

static int64_t task_grain(const NnrtTask *t) { return t->grain < 1 ? 1 : t->grain; }

static void multi_body(void *ctx, int64_t lo, int64_t hi) {
  const Multi *m = ctx;
  for (int64_t c = lo; c < hi; c++)
    for (int64_t t = 0; t < m->ntasks; t++) {
      const NnrtTask *k = &m->t[t];
      int64_t p = m->pieces[t];
      if (p <= 1) {
        if (m->home[t] == c && k->n > 0) k->body(k->ctx, 0, k->n);
        continue;
      }
      /* Piece j of p runs in chunk j * nchunks / p: the chunk holds piece
       * j when j is the least with j * nchunks / p == c. */
      int64_t j = (c * p + m->nchunks - 1) / m->nchunks;
      if (j >= p || j * m->nchunks / p != c) continue;
      k->body(k->ctx, k->n * j / p, k->n * (j + 1) / p);
    }
}

#define MULTI_MAX_TASKS 256

void nnrt_parallel_multi(const NnrtTask *tasks, int64_t ntasks) {
  /* Generated code caps a dispatch at MULTI_MAX_TASKS loops (codegen/cpu/
   * step.c); more run in groups of that many. */
  for (; ntasks > MULTI_MAX_TASKS; tasks += MULTI_MAX_TASKS, ntasks -= MULTI_MAX_TASKS)
    nnrt_parallel_multi(tasks, MULTI_MAX_TASKS);
  int64_t grains[MULTI_MAX_TASKS], pieces[MULTI_MAX_TASKS], total = 0;
  for (int64_t t = 0; t < ntasks; t++) {
    int64_t g = task_grain(&tasks[t]), n = tasks[t].n < 0 ? 0 : tasks[t].n;
    grains[t] = (n + g - 1) / g;
    total += grains[t];
  }
  int64_t nchunks = (int64_t)rt_pool_threads() * CHUNKS_PER_THREAD;
  if (nchunks > MAX_CHUNKS) nchunks = MAX_CHUNKS;
  if (nchunks > total) nchunks = total;
  if (nchunks < 2) { /* nothing to share: one thread runs it all */
    for (int64_t t = 0; t < ntasks; t++)
      if (tasks[t].n > 0) tasks[t].body(tasks[t].ctx, 0, tasks[t].n);
    return;
  }
  /* The large tasks' pieces first, then each small task on the chunk with
   * the least work (in grains) so far, lowest first. */
  double load[MAX_CHUNKS] = {0};
  int16_t home[MULTI_MAX_TASKS];
  for (int64_t t = 0; t < ntasks; t++) {
    pieces[t] = tasks[t].n >= 2 * task_grain(&tasks[t]) ? (grains[t] < nchunks ? grains[t] : nchunks) : 1;
    home[t] = -1;
    if (pieces[t] > 1)
      for (int64_t j = 0; j < pieces[t]; j++)
        load[j * nchunks / pieces[t]] += (double)grains[t] / (double)pieces[t];
  }
  for (int64_t t = 0; t < ntasks; t++) {
    if (pieces[t] > 1) continue;
    int16_t best = 0;
    for (int16_t c = 1; c < nchunks; c++)
      if (load[c] < load[best]) best = c;
    home[t] = best;
    load[best] += (double)grains[t];
  }
  Multi m = {tasks, ntasks, nchunks, pieces, home};
  nnrt_parallel_for(multi_body, &m, nchunks, 1);
}
