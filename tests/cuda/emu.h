/* emu.h — CUDA's execution model on the host, for testing generated kernels
 * without a GPU (test-only; never part of a binary nnc ships).
 *
 *   g++ -std=c++17 -O1 -include tests/cuda/emu.h -x c++ kernels.cu
 *
 * compiles the CUDA C that codegen/cuda generates (its rules: cuda.h) as
 * ordinary host C++. A launch (nnrt_cuemu_run) runs every block of the grid;
 * each block's threads are fibers on one OS thread, switched by a small
 * hand-written context switch (no syscall per switch), so CUDA's
 * synchronisation has its real semantics:
 *   - __syncthreads(): a thread waits until every thread of its block
 *     arrives; a thread that exits while others wait, or arrives after one
 *     exited, is a kernel bug and a fatal error (as is any deadlock);
 *   - warp collectives (__shfl_*_sync, __ballot_sync, __syncwarp, ...)
 *     exchange among the 32 lanes of a warp, all of which must reach them;
 *   - __shared__ arrays are per block: the block's fibers share them
 *     (thread_local statics: a block never leaves its OS thread);
 *   - blocks run on a few OS threads at once (NNRT_CUEMU_THREADS, default
 *     2), so atomics are real atomics and inter-block races can show.
 * What it cannot show (warp divergence, the memory model's weak ordering,
 * timing, fast-math precision of __expf and friends) is listed in
 * docs/cuda.md, "Testing without a GPU".
 *
 * Sections: keywords and built-in types · the scheduler · synchronisation
 * and warp collectives · atomics · math and bit intrinsics · the launch. */
#ifndef NNRT_CUDA_EMU_H
#define NNRT_CUDA_EMU_H
#ifndef __cplusplus
#error "emu.h is for C++ (g++ -x c++)"
#endif
#include <math.h>
#include <type_traits>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#define NNRT_CUDA_EMU_ACTIVE 1

/* ---- keywords and built-in types ---- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __constant__
#define __shared__ static thread_local
/* __restrict__ is g++'s own spelling too. */

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) int2 {
  int x, y;
};
struct alignas(16) int4 {
  int x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(4) char4 {
  signed char x, y, z, w;
};
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline int2 make_int2(int x, int y) { return int2{x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline char4 make_char4(signed char x, signed char y, signed char z, signed char w) { return char4{x, y, z, w}; }

#define warpSize 32

namespace nnrt_emu {

/* ---- the scheduler ---- */

enum { MAX_BLOCK = 1024, STACK_BYTES = 128 << 10 };

struct Fiber {
  void *sp;                 /* saved stack pointer (or context) */
  Fiber *next, *prev;       /* ring of the block's live fibers */
  unsigned linear;          /* threadIdx as one number */
  uint3 tid;
  unsigned shfl_parity;     /* which warp slot buffer the next collective uses */
  char *stack;
#if !defined(__x86_64__)
  ucontext_t uc;
#endif
};

struct Warp {
  unsigned arrived, gen, exited;
  unsigned long long slot[2][32];
};

struct Block {
  const char *kernel;
  uint3 idx;
  dim3 dim, grid;
  unsigned n;                /* threads */
  unsigned alive, exited;
  unsigned arrived, gen;     /* __syncthreads */
  unsigned long idle;        /* yields since anything moved: deadlock detector */
  Warp warps[MAX_BLOCK / 32];
  Fiber *fibers;
  void (*call)(const void *);
  const void *args;
  void *sched_sp;
#if !defined(__x86_64__)
  ucontext_t sched_uc;
#endif
};

inline thread_local Fiber *cur;
inline thread_local Block *blk;

[[noreturn]] inline void fatal(const char *what) {
  Block *b = blk;
  Fiber *f = cur;
  fprintf(stderr, "cuemu: kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s\n", b ? b->kernel : "?",
          b ? b->idx.x : 0, b ? b->idx.y : 0, b ? b->idx.z : 0, f ? f->tid.x : 0, f ? f->tid.y : 0, f ? f->tid.z : 0,
          what);
  fflush(stderr);
  _exit(70);
}

} // namespace nnrt_emu

#if defined(__x86_64__)
/* emu_switch(save, to): saves the callee-saved registers on this stack and
 * its stack pointer in *save, then resumes the stack `to`. A new fiber's
 * stack is prepared to "return" into nnrt_emu_fiber_main. */
extern "C" void nnrt_emu_switch(void **save, void *to);
__asm__(".text\n"
        ".weak nnrt_emu_switch\n"
        ".type nnrt_emu_switch,@function\n"
        "nnrt_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size nnrt_emu_switch, .-nnrt_emu_switch\n");
#endif

namespace nnrt_emu {

inline void to_fiber(void **save, Fiber *to) {
  cur = to;
#if defined(__x86_64__)
  nnrt_emu_switch(save, to->sp);
#else
  (void)save;
  swapcontext(&((Fiber *)((char *)save - offsetof(Fiber, sp)))->uc, &to->uc);
#endif
}

/* Hands the OS thread to the next live fiber of the block; returns when
 * some fiber hands it back. */
inline void yield() {
  Fiber *f = cur;
  if (++blk->idle > 4ul * blk->alive + 64)
    fatal("deadlock: the block's threads wait at different __syncthreads or warp collectives");
  if (f->next != f) to_fiber(&f->sp, f->next);
  cur = f;
}

extern "C" inline void fiber_main_body() {
  Fiber *f = cur;
  Block *b = blk;
  b->call(b->args);
  /* The thread exits: no barrier may be waiting for it. */
  if (b->arrived) fatal("exited while other threads of its block wait at __syncthreads");
  Warp *w = &b->warps[f->linear >> 5];
  if (w->arrived) fatal("exited while other lanes of its warp wait at a warp collective");
  b->exited++;
  w->exited++;
  b->idle = 0;
  f->prev->next = f->next;
  f->next->prev = f->prev;
  if (--b->alive == 0) {
#if defined(__x86_64__)
    void *dead;
    cur = nullptr;
    nnrt_emu_switch(&dead, b->sched_sp);
#else
    setcontext(&b->sched_uc);
#endif
  } else {
    void *dead;
#if defined(__x86_64__)
    to_fiber(&dead, f->next);
#else
    (void)dead;
    cur = f->next;
    setcontext(&f->next->uc);
#endif
  }
  __builtin_unreachable();
}

} // namespace nnrt_emu

extern "C" inline void nnrt_emu_fiber_main() { nnrt_emu::fiber_main_body(); }

#define threadIdx (::nnrt_emu::cur->tid)
#define blockIdx (::nnrt_emu::blk->idx)
#define blockDim (::nnrt_emu::blk->dim)
#define gridDim (::nnrt_emu::blk->grid)

/* ---- synchronisation and warp collectives ---- */

namespace nnrt_emu {

inline void block_barrier() {
  Block *b = blk;
  if (b->exited) fatal("__syncthreads after another thread of the block exited");
  unsigned g = b->gen;
  b->idle = 0;
  if (++b->arrived == b->n) {
    b->arrived = 0;
    b->gen++;
    return;
  }
  while (b->gen == g) yield();
  b->idle = 0;
}

inline Warp *my_warp() { return &blk->warps[cur->linear >> 5]; }
inline unsigned lane() { return cur->linear & 31; }

inline void warp_barrier(Warp *w) {
  if (w->exited) fatal("warp collective after another lane of the warp exited");
  unsigned g = w->gen;
  blk->idle = 0;
  if (++w->arrived == 32) {
    w->arrived = 0;
    w->gen++;
    return;
  }
  while (w->gen == g) yield();
  blk->idle = 0;
}

inline void check_mask(unsigned mask) {
  if (mask != 0xffffffffu) fatal("warp collective with a partial mask (the kernel rules allow full warps only)");
}

/* Every lane publishes v, waits for the warp, and gets lane src's value.
 * Two slot buffers alternate, so one barrier per exchange suffices: a lane
 * can only overwrite a buffer after the whole warp passed the next barrier,
 * i.e. after everyone read it. */
inline unsigned long long exchange(unsigned long long v, unsigned src) {
  Warp *w = my_warp();
  Fiber *f = cur;
  unsigned p = f->shfl_parity;
  f->shfl_parity ^= 1;
  w->slot[p][lane()] = v;
  warp_barrier(w);
  return w->slot[p][src & 31];
}

template <class T> inline T shfl_from(T v, unsigned src) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  unsigned long long bits = 0, got;
  memcpy(&bits, &v, sizeof(T));
  got = exchange(bits, src);
  T r;
  memcpy(&r, &got, sizeof(T));
  return r;
}

} // namespace nnrt_emu

static inline void __syncthreads() { nnrt_emu::block_barrier(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
  nnrt_emu::check_mask(mask);
  nnrt_emu::warp_barrier(nnrt_emu::my_warp());
}
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline unsigned __activemask() { return 0xffffffffu; }

template <class T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  nnrt_emu::check_mask(mask);
  unsigned l = nnrt_emu::lane();
  return nnrt_emu::shfl_from(v, (l & ~(unsigned)(width - 1)) + ((unsigned)src & (unsigned)(width - 1)));
}
template <class T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  nnrt_emu::check_mask(mask);
  unsigned l = nnrt_emu::lane(), s = l ^ (unsigned)lane_mask;
  /* Lanes may read earlier groups of width lanes, not later ones. */
  if ((s & ~(unsigned)(width - 1)) > (l & ~(unsigned)(width - 1))) s = l;
  return nnrt_emu::shfl_from(v, s);
}
template <class T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  nnrt_emu::check_mask(mask);
  unsigned l = nnrt_emu::lane();
  unsigned s = (l & (unsigned)(width - 1)) + delta >= (unsigned)width ? l : l + delta;
  return nnrt_emu::shfl_from(v, s);
}
template <class T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  nnrt_emu::check_mask(mask);
  unsigned l = nnrt_emu::lane();
  unsigned s = (l & (unsigned)(width - 1)) < delta ? l : l - delta;
  return nnrt_emu::shfl_from(v, s);
}
static inline unsigned __ballot_sync(unsigned mask, int pred) {
  nnrt_emu::check_mask(mask);
  unsigned r = 0;
  for (unsigned i = 0; i < 32; i++) {
    /* One exchange per source lane keeps every lane's sequence identical. */
    unsigned long long v = nnrt_emu::exchange(pred != 0, i);
    r |= (unsigned)(v != 0) << i;
  }
  return r;
}
static inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == 0xffffffffu; }
static inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }

/* ---- atomics (real ones: blocks run on several OS threads) ---- */

template <class T> static inline T nnrt_emu_atomic_update(T *p, T (*op)(T, T), T v) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomic on an odd size");
  typedef typename std::conditional<sizeof(T) == 4, unsigned, unsigned long long>::type Bits;
  Bits *bp = (Bits *)p;
  Bits old = __atomic_load_n(bp, __ATOMIC_RELAXED), nw;
  T o, n;
  do {
    memcpy(&o, &old, sizeof(T));
    n = op(o, v);
    memcpy(&nw, &n, sizeof(T));
  } while (!__atomic_compare_exchange_n(bp, &old, nw, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  return o;
}
#define NNRT_EMU_INT_ATOMICS(T)                                                                                      \
  static inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }                      \
  static inline T atomicSub(T *p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }                      \
  static inline T atomicAnd(T *p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }                      \
  static inline T atomicOr(T *p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }                        \
  static inline T atomicXor(T *p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }                      \
  static inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }                    \
  static inline T atomicMax(T *p, T v) {                                                                            \
    return nnrt_emu_atomic_update<T>(p, [](T a, T b) { return a > b ? a : b; }, v);                                 \
  }                                                                                                                 \
  static inline T atomicMin(T *p, T v) {                                                                            \
    return nnrt_emu_atomic_update<T>(p, [](T a, T b) { return a < b ? a : b; }, v);                                 \
  }                                                                                                                 \
  static inline T atomicCAS(T *p, T cmp, T v) {                                                                     \
    __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);                            \
    return cmp;                                                                                                     \
  }
NNRT_EMU_INT_ATOMICS(int)
NNRT_EMU_INT_ATOMICS(unsigned)
NNRT_EMU_INT_ATOMICS(unsigned long long)
NNRT_EMU_INT_ATOMICS(long long)
#undef NNRT_EMU_INT_ATOMICS
static inline float atomicAdd(float *p, float v) {
  return nnrt_emu_atomic_update<float>(p, [](float a, float b) { return a + b; }, v);
}
static inline double atomicAdd(double *p, double v) {
  return nnrt_emu_atomic_update<double>(p, [](double a, double b) { return a + b; }, v);
}
static inline float atomicExch(float *p, float v) {
  return nnrt_emu_atomic_update<float>(p, [](float, float b) { return b; }, v);
}
static inline float atomicMax(float *p, float v) { /* not CUDA's (it has none for float); for helpers' CAS loops */
  return nnrt_emu_atomic_update<float>(p, [](float a, float b) { return fmaxf(a, b); }, v);
}

/* ---- math and bit intrinsics ---- */

/* CUDA's overloaded min/max: the usual arithmetic conversions decide. */
template <class A, class B> static inline auto min(A a, B b) -> decltype(a + b) { return b < a ? b : a; }
template <class A, class B> static inline auto max(A a, B b) -> decltype(a + b) { return a < b ? b : a; }

/* The fast-math intrinsics are the accurate functions here (a GPU's differ
 * by a few ulp; tests compare within 1e-5 relative). */
/* (macros: glibc declares some of these names itself) */
#define __expf(x) expf(x)
#define __exp10f(x) powf(10.0f, (x))
#define __logf(x) logf(x)
#define __log2f(x) log2f(x)
#define __log10f(x) log10f(x)
#define __sinf(x) sinf(x)
#define __cosf(x) cosf(x)
#define __tanf(x) tanf(x)
#define __powf(x, y) powf((x), (y))
#define __tanhf(x) tanhf(x)
static inline float __fdividef(float x, float y) { return x / y; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float __fdiv_rn(float x, float y) { return x / y; }
static inline float __fadd_rn(float x, float y) { return x + y; }
static inline float __fsub_rn(float x, float y) { return x - y; }
static inline float __fmul_rn(float x, float y) { return x * y; }
static inline float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
static inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
static inline float sincospif(float x, float *s, float *c) {
  *s = sinf((float)M_PI * x);
  *c = cosf((float)M_PI * x);
  return 0;
}
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
static inline int __float2int_rz(float x) { return (int)x; }
static inline int __float2int_rd(float x) { return (int)floorf(x); }
static inline int __float2int_ru(float x) { return (int)ceilf(x); }
static inline float __int2float_rn(int x) { return (float)x; }
static inline int __float_as_int(float x) {
  int r;
  memcpy(&r, &x, 4);
  return r;
}
static inline unsigned __float_as_uint(float x) {
  unsigned r;
  memcpy(&r, &x, 4);
  return r;
}
static inline float __int_as_float(int x) {
  float r;
  memcpy(&r, &x, 4);
  return r;
}
static inline float __uint_as_float(unsigned x) {
  float r;
  memcpy(&r, &x, 4);
  return r;
}
static inline long long __double_as_longlong(double x) {
  long long r;
  memcpy(&r, &x, 8);
  return r;
}
static inline double __longlong_as_double(long long x) {
  double r;
  memcpy(&r, &x, 8);
  return r;
}
static inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
static inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
static inline int __mul24(int a, int b) { return (int)((long long)(a << 8 >> 8) * (b << 8 >> 8)); }
static inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
template <class T> static inline T __ldg(const T *p) { return *p; }
/* Four signed bytes of a times those of b, plus c (sm_61+). */
static inline int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; i++) c += (int)(signed char)(a >> 8 * i) * (int)(signed char)(b >> 8 * i);
  return c;
}
static inline unsigned __dp4a(unsigned a, unsigned b, unsigned c) {
  for (int i = 0; i < 4; i++) c += ((a >> 8 * i) & 0xffu) * ((b >> 8 * i) & 0xffu);
  return c;
}

/* ---- the launch ---- */

namespace nnrt_emu {

/* One OS thread's fiber stacks (grown on demand, reused by every block it
 * runs), each with a guard page below it. */
struct Stacks {
  char *base = nullptr;
  unsigned n = 0;
  Fiber fibers[MAX_BLOCK];
};
inline thread_local Stacks *stacks;

inline void prepare_stacks(unsigned n) {
  if (!stacks) stacks = new Stacks();
  if (stacks->n >= n) return;
  size_t page = (size_t)sysconf(_SC_PAGESIZE), each = STACK_BYTES + page;
  char *m = (char *)mmap(nullptr, each * MAX_BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                         -1, 0);
  if (m == MAP_FAILED) {
    fprintf(stderr, "cuemu: out of memory for fiber stacks\n");
    _exit(70);
  }
  for (unsigned i = 0; i < MAX_BLOCK; i++) mprotect(m + i * each, page, PROT_NONE);
  stacks->base = m;
  stacks->n = MAX_BLOCK;
  for (unsigned i = 0; i < MAX_BLOCK; i++) stacks->fibers[i].stack = m + i * each + page;
}

inline void run_block(Block *b) {
  prepare_stacks(b->n);
  Fiber *fs = stacks->fibers;
  b->fibers = fs;
  b->alive = b->n;
  b->exited = b->arrived = b->gen = 0;
  b->idle = 0;
  for (unsigned w = 0; w < (b->n + 31) / 32; w++) b->warps[w].arrived = b->warps[w].gen = b->warps[w].exited = 0;
  for (unsigned i = 0; i < b->n; i++) {
    Fiber *f = &fs[i];
    f->linear = i;
    f->tid.x = i % b->dim.x;
    f->tid.y = i / b->dim.x % b->dim.y;
    f->tid.z = i / (b->dim.x * b->dim.y);
    f->shfl_parity = 0;
    f->next = &fs[(i + 1) % b->n];
    f->prev = &fs[(i + b->n - 1) % b->n];
#if defined(__x86_64__)
    void **top = (void **)(f->stack + STACK_BYTES);
    top[-1] = nullptr;                            /* nnrt_emu_fiber_main's return address: never used */
    top[-2] = (void *)&nnrt_emu_fiber_main;       /* where nnrt_emu_switch's ret goes */
    for (int r = 3; r <= 8; r++) top[-r] = nullptr; /* rbp, rbx, r12..r15 */
    f->sp = &top[-8];
#else
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = STACK_BYTES;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, (void (*)())nnrt_emu_fiber_main, 0);
#endif
  }
  blk = b;
#if defined(__x86_64__)
  cur = &fs[0];
  nnrt_emu_switch(&b->sched_sp, fs[0].sp);
#else
  cur = &fs[0];
  swapcontext(&b->sched_uc, &fs[0].uc);
#endif
  blk = nullptr;
  cur = nullptr;
}

struct Grid {
  const char *kernel;
  void (*call)(const void *);
  const void *args;
  dim3 grid, block;
  unsigned long long nblocks;
  unsigned long long next; /* atomic: the next block to run */
};

inline void run_grid_part(Grid *g) {
  Block *b = new Block();
  b->kernel = g->kernel;
  b->call = g->call;
  b->args = g->args;
  b->dim = g->block;
  b->grid = g->grid;
  b->n = g->block.x * g->block.y * g->block.z;
  for (;;) {
    unsigned long long i = __atomic_fetch_add(&g->next, 1, __ATOMIC_RELAXED);
    if (i >= g->nblocks) break;
    b->idx.x = (unsigned)(i % g->grid.x);
    b->idx.y = (unsigned)(i / g->grid.x % g->grid.y);
    b->idx.z = (unsigned)(i / ((unsigned long long)g->grid.x * g->grid.y));
    run_block(b);
  }
  delete b;
}

/* A small pool of OS threads that join each launch. */
struct Pool {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t go = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
  Grid *grid = nullptr;
  unsigned long long epoch = 0;
  int nthreads = 0, busy = 0;
};
inline Pool pool;

inline void *pool_worker(void *) {
  unsigned long long seen = 0;
  pthread_mutex_lock(&pool.mu);
  for (;;) {
    while (pool.epoch == seen) pthread_cond_wait(&pool.go, &pool.mu);
    seen = pool.epoch;
    Grid *g = pool.grid;
    pthread_mutex_unlock(&pool.mu);
    run_grid_part(g);
    pthread_mutex_lock(&pool.mu);
    if (--pool.busy == 0) pthread_cond_signal(&pool.done);
  }
  return nullptr;
}

inline int pool_threads() {
  static int n = -1;
  if (n < 0) {
    const char *s = getenv("NNRT_CUEMU_THREADS");
    n = s && *s ? atoi(s) : 2;
    if (n < 1) n = 1;
    if (n > 64) n = 64;
    for (int i = 1; i < n; i++) {
      pthread_t t;
      pthread_attr_t at;
      pthread_attr_init(&at);
      pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
      if (pthread_create(&t, &at, pool_worker, nullptr) == 0) pool.nthreads++;
      pthread_attr_destroy(&at);
    }
  }
  return pool.nthreads;
}

} // namespace nnrt_emu

/* A kernel as the launcher sees it: its name and a function that calls it
 * with a pointer to its argument. The kernel source ends, under
 * #ifdef NNRT_CUDA_EMU, with its list of kernels (codegen/cuda/host.c):
 *   NNRT_EMU_KERNELS_BEGIN NNRT_EMU_KERNEL(name) ... NNRT_EMU_KERNELS_END
 * which defines the table nnrt_cuemu_kernels, ended by {0, 0}, that
 * runtime/cuda/rt_cuemu.c looks kernels up in. */
struct NnrtCuEmuKernel {
  const char *name;
  void (*call)(const void *args);
};
#define NNRT_EMU_KERNELS_BEGIN extern "C" const NnrtCuEmuKernel nnrt_cuemu_kernels[] = {
#define NNRT_EMU_KERNEL(k) {#k, [](const void *a_) { k(*(const NnrtCuArgs *)a_); }},
#define NNRT_EMU_KERNELS_END {nullptr, nullptr}};

/* Runs kernel `call` (named `name` in messages) over grid x block threads;
 * returns when every block finished. A kernel bug the emulation detects
 * (deadlock, a barrier some thread skipped, a partial-warp collective)
 * prints "cuemu: kernel ..., block ..., thread ...: what" and exits 70. */
extern "C" __attribute__((weak)) void nnrt_cuemu_run(const char *name, void (*call)(const void *),
                                                      const void *args, unsigned grid, unsigned block) {
  using namespace nnrt_emu;
  if (block == 0 || block > MAX_BLOCK || grid == 0) {
    fprintf(stderr, "cuemu: kernel %s: bad launch: grid %u, block %u\n", name, grid, block);
    _exit(70);
  }
  Grid g;
  g.kernel = name;
  g.call = call;
  g.args = args;
  g.grid = dim3(grid);
  g.block = dim3(block);
  g.nblocks = grid;
  g.next = 0;
  int helpers = pool_threads();
  if (helpers > 0 && grid > 1) {
    pthread_mutex_lock(&pool.mu);
    pool.grid = &g;
    pool.busy = helpers;
    pool.epoch++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    run_grid_part(&g);
    pthread_mutex_lock(&pool.mu);
    while (pool.busy) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
  } else {
    run_grid_part(&g);
  }
}

#endif
