/* test_emu.cu — emu.h itself, on hand-written kernels in the style codegen/
 * cuda generates (one NnrtCuArgs by value, stride loops): a block reduction
 * with warp shuffles and __syncthreads, a grid-stride loop, __shared__
 * memory private to each block, atomics across blocks (on several OS
 * threads), the other warp collectives, and the detection of kernel bugs
 * (a __syncthreads some thread skips). Each check compares with a host loop.
 *
 *   g++ -std=c++17 -O1 -include tests/cuda/emu.h -x c++ test_emu.cu -lpthread
 *
 * run by test_emu.sh. Exit status 0 when every check passes. */
#include <sys/wait.h>

typedef struct NnrtCuArgs {
  void *b[48];
  long long s[16];
  long long work;
} NnrtCuArgs;

/* ---- kernels ---- */

/* Row sums of a [rows, n] matrix: block-stride over rows, each thread a
 * strided partial sum, warp shuffles, then one value per warp in shared
 * memory and the first warp reduces those. */
extern "C" __global__ void __launch_bounds__(256) k_rowsum(NnrtCuArgs a) {
  __shared__ float part[32];
  const float *__restrict__ x = (const float *)a.b[0];
  float *__restrict__ y = (float *)a.b[1];
  long long n = a.s[0];
  for (long long r = blockIdx.x; r < a.work; r += gridDim.x) {
    float v = 0.0f;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) v += x[r * n + i];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
      v = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0f;
      for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
      if (threadIdx.x == 0) y[r] = v;
    }
    __syncthreads(); /* part[] is reused by the next row */
  }
}

/* y = exp(x) * 2 + 1 over a.work elements, grid-stride. */
extern "C" __global__ void __launch_bounds__(128) k_ew(NnrtCuArgs a) {
  const float *x = (const float *)a.b[0];
  float *y = (float *)a.b[1];
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < a.work; i += (long long)gridDim.x * blockDim.x)
    y[i] = __expf(x[i]) * 2.0f + 1.0f;
}

/* Every block writes its number into shared memory, waits, and every thread
 * checks that it still reads its own block's number (shared memory is per
 * block even when blocks run at once). */
extern "C" __global__ void __launch_bounds__(64) k_shared_private(NnrtCuArgs a) {
  __shared__ unsigned mine[64];
  int *bad = (int *)a.b[0];
  mine[threadIdx.x] = blockIdx.x * 1000u + threadIdx.x;
  __syncthreads();
  unsigned other = (threadIdx.x + 7) % 64;
  if (mine[other] != blockIdx.x * 1000u + other) atomicAdd(bad, 1);
}

/* Atomics across blocks: a float histogram, an int counter, a max, and a
 * CAS-built lock-free increment. */
extern "C" __global__ void __launch_bounds__(256) k_atomics(NnrtCuArgs a) {
  float *hist = (float *)a.b[0];
  int *count = (int *)a.b[1];
  int *mx = (int *)a.b[2];
  unsigned long long *casc = (unsigned long long *)a.b[3];
  const float *x = (const float *)a.b[4];
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < a.work; i += (long long)gridDim.x * blockDim.x) {
    atomicAdd(&hist[i % 8], x[i]);
    atomicAdd(count, 1);
    atomicMax(mx, (int)(i * 3 % 1001));
    unsigned long long old = *(volatile unsigned long long *)casc, seen;
    while ((seen = atomicCAS(casc, old, old + 2)) != old) old = seen;
  }
}

/* The other collectives: broadcast, up-shuffle (an inclusive scan), ballot. */
extern "C" __global__ void __launch_bounds__(64) k_collectives(NnrtCuArgs a) {
  int *out = (int *)a.b[0];
  unsigned t = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x & 31;
  int v = (int)(t * 3 + 1);
  int b = __shfl_sync(0xffffffffu, v, 5);
  int s = (int)lane + 1;
  for (int o = 1; o < 32; o <<= 1) {
    int u = __shfl_up_sync(0xffffffffu, s, o);
    if ((int)lane >= o) s += u;
  }
  unsigned bal = __ballot_sync(0xffffffffu, lane % 3 == 0);
  out[t * 3 + 0] = b;
  out[t * 3 + 1] = s;
  out[t * 3 + 2] = (int)bal;
}

/* A kernel bug: thread 0 leaves before the block's barrier. */
extern "C" __global__ void __launch_bounds__(64) k_skips_barrier(NnrtCuArgs a) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  ((int *)a.b[0])[threadIdx.x] = 1;
}

/* A kernel bug: half a warp shuffles. */
extern "C" __global__ void __launch_bounds__(32) k_half_warp(NnrtCuArgs a) {
  float v = (float)threadIdx.x;
  if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
  __syncthreads();
  ((float *)a.b[0])[threadIdx.x] = v;
}

/* The kernel list as generated source ends (codegen/cuda/host.c). */
NNRT_EMU_KERNELS_BEGIN
NNRT_EMU_KERNEL(k_rowsum)
NNRT_EMU_KERNEL(k_ew)
NNRT_EMU_KERNEL(k_shared_private)
NNRT_EMU_KERNEL(k_atomics)
NNRT_EMU_KERNEL(k_collectives)
NNRT_EMU_KERNEL(k_skips_barrier)
NNRT_EMU_KERNEL(k_half_warp)
NNRT_EMU_KERNELS_END

/* ---- the checks ---- */

static int failures;
#define CHECK(c, ...)                                                                                                \
  do {                                                                                                               \
    if (!(c)) {                                                                                                      \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                          \
      fprintf(stderr, __VA_ARGS__);                                                                                  \
      fprintf(stderr, "\n");                                                                                         \
      failures++;                                                                                                    \
    }                                                                                                                \
  } while (0)

/* Launches kernel `name` found in nnrt_cuemu_kernels, as rt_cuemu.c does. */
static void launch(const char *name, NnrtCuArgs *a, unsigned grid, unsigned block) {
  for (const NnrtCuEmuKernel *k = nnrt_cuemu_kernels; k->name; k++)
    if (!strcmp(k->name, name)) {
      nnrt_cuemu_run(name, k->call, a, grid, block);
      return;
    }
  CHECK(0, "kernel %s is not in nnrt_cuemu_kernels", name);
}

static float frand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

static void check_rowsum(unsigned grid, long long rows, long long n) {
  unsigned seed = 1;
  float *x = (float *)malloc(sizeof(float) * rows * n), *y = (float *)calloc(rows, sizeof(float));
  for (long long i = 0; i < rows * n; i++) x[i] = frand(&seed);
  NnrtCuArgs a = {};
  a.b[0] = x;
  a.b[1] = y;
  a.s[0] = n;
  a.work = rows;
  launch("k_rowsum", &a, grid, 256);
  for (long long r = 0; r < rows; r++) {
    double ref = 0;
    for (long long i = 0; i < n; i++) ref += x[r * n + i];
    CHECK(fabs(y[r] - ref) <= 1e-4 * (1 + fabs(ref)), "rowsum grid %u row %lld: %g vs %g", grid, r, y[r], ref);
  }
  free(x);
  free(y);
}

static void check_ew(unsigned grid, long long n) {
  unsigned seed = 2;
  float *x = (float *)malloc(sizeof(float) * n), *y = (float *)malloc(sizeof(float) * n);
  for (long long i = 0; i < n; i++) x[i] = frand(&seed);
  NnrtCuArgs a = {};
  a.b[0] = x;
  a.b[1] = y;
  a.work = n;
  launch("k_ew", &a, grid, 128);
  for (long long i = 0; i < n; i++)
    if (y[i] != expf(x[i]) * 2.0f + 1.0f) {
      CHECK(0, "ew grid %u element %lld: %g", grid, i, y[i]);
      break;
    }
  free(x);
  free(y);
}

static void check_shared_private(void) {
  int bad = 0;
  NnrtCuArgs a = {};
  a.b[0] = &bad;
  launch("k_shared_private", &a, 97, 64);
  CHECK(bad == 0, "shared memory leaked between blocks: %d threads read another block's value", bad);
}

static void check_atomics(void) {
  const long long n = 100003;
  float *x = (float *)malloc(sizeof(float) * n), hist[8] = {0};
  double ref[8] = {0};
  for (long long i = 0; i < n; i++) {
    x[i] = (float)(i % 5); /* small integers: float sums are exact in any order */
    ref[i % 8] += x[i];
  }
  int count = 0, mx = -1;
  unsigned long long casc = 0;
  NnrtCuArgs a = {};
  a.b[0] = hist;
  a.b[1] = &count;
  a.b[2] = &mx;
  a.b[3] = &casc;
  a.b[4] = x;
  a.work = n;
  launch("k_atomics", &a, 64, 256);
  for (int j = 0; j < 8; j++) CHECK(hist[j] == (float)ref[j], "atomicAdd float bin %d: %g vs %g", j, hist[j], ref[j]);
  CHECK(count == n, "atomicAdd int: %d vs %lld", count, n);
  CHECK(mx == 1000, "atomicMax: %d", mx);
  CHECK(casc == 2ull * n, "atomicCAS: %llu", casc);
  free(x);
}

static void check_collectives(void) {
  int out[3 * 4 * 64];
  NnrtCuArgs a = {};
  a.b[0] = out;
  launch("k_collectives", &a, 4, 64);
  for (unsigned t = 0; t < 4 * 64; t++) {
    unsigned lane = t % 32, base = t - lane;
    CHECK(out[t * 3] == (int)((base + 5) * 3 + 1), "__shfl_sync thread %u: %d", t, out[t * 3]);
    CHECK(out[t * 3 + 1] == (int)((lane + 1) * (lane + 2) / 2), "__shfl_up_sync scan thread %u: %d", t, out[t * 3 + 1]);
    CHECK((unsigned)out[t * 3 + 2] == 0x49249249u, "__ballot_sync thread %u: %x", t, out[t * 3 + 2]);
  }
}

/* A buggy kernel must stop the process with "cuemu: kernel <name>" and exit
 * status 70, not hang or pass. */
static void check_detects(const char *name, unsigned block, const char *what) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    static int buf[1024];
    NnrtCuArgs a = {};
    a.b[0] = buf;
    launch(name, &a, 2, block);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 70, "%s (%s) was not detected: status %d", name, what, st);
}

int main(void) {
  check_rowsum(1, 37, 1000); /* one block strides over every row */
  check_rowsum(8, 37, 1000);
  check_rowsum(64, 5, 31);   /* rows shorter than a warp, more blocks than rows */
  check_ew(1, 1000);
  check_ew(3, 100000);       /* a grid smaller than the work */
  check_ew(2000, 1000);      /* a grid larger than the work */
  check_shared_private();
  check_atomics();
  check_collectives();
  check_detects("k_skips_barrier", 64, "a thread leaves before __syncthreads");
  check_detects("k_half_warp", 32, "half a warp shuffles");
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("emu: all checks passed\n");
  return 0;
}
