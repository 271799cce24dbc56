/* harness.c — JIT-compile IR modules with the CPU backend and compare their
 * results with the reference interpreter (see harness.h).
 *
 * The generated code calls these runtime functions, stood in for here:
 * nnrt_sgemm is one cblas_sgemm call (the runtime's split over its pool is
 * tested in tests/runtime), nnrt_sgemm_ep hands the product to the
 * epilogue in small blocks, each alone in C, in a checkerboard order,
 * nnrt_sgemm_batch runs its products last to first, the
 * parallel-for runs the chunks serially and in reverse order (so a kernel
 * whose chunks depend on each other fails the comparison), and nnrt_fail_label and
 * nnrt_fail_id record their arguments; the parallel-for, the epilogue GEMM
 * and the fail hooks count their calls so tests can assert that a kernel
 * was split, an epilogue fused or a bad label reported. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "harness.h"
#include "passes/passes.h"
#include "runtime/rt_dtype.h" /* elements of any dtype */

#include <cblas.h>
#include <llvm-c/ExecutionEngine.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int t_passed, t_failed;
int hk_parallel_calls, hk_fail_calls, hk_multi_calls, hk_gemm_ep_calls, hk_gemm_batch_calls;
int64_t hk_fail_args[4];
int64_t hk_grain;
void (*hk_parallel_for)(NnrtBody body, void *ctx, int64_t n, int64_t grain);

static void test_pfor(NnrtBody body, void *ctx, int64_t n, int64_t grain) {
  hk_parallel_calls++;
  if (hk_parallel_for) {
    hk_parallel_for(body, ctx, n, grain);
    return;
  }
  if (hk_grain > 0) grain = hk_grain;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  for (int64_t c = chunks - 1; c >= 0; c--) {
    int64_t lo = c * grain, hi = lo + grain < n ? lo + grain : n;
    body(ctx, lo, hi);
  }
}

/* The tasks last to first, each through test_pfor: an order no real pool
 * uses, so a part that reads another part's result would show. */
static void test_pmulti(const NnrtTask *t, int64_t n) {
  hk_multi_calls++;
  for (int64_t i = n - 1; i >= 0; i--)
    test_pfor(t[i].body, t[i].ctx, t[i].n, t[i].grain);
}

static void test_sgemm(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                       int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k,
              alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* The products last to first, each one test_sgemm: an order no real pool
 * uses, so that a product reading another's result would show. */
static void test_sgemm_batch(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                             int64_t lda, int64_t sa, const float *b, int64_t ldb, int64_t sb, float beta, float *c,
                             int64_t ldc, int64_t sc, int64_t count) {
  hk_gemm_batch_calls++;
  for (int64_t i = count - 1; i >= 0; i--)
    test_sgemm(ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb, beta, c + i * sc, ldc);
}

/* The product in a grid of small blocks (rows by 3, columns by 5; whole
 * columns when the epilogue sums over rows), handed to the epilogue in a
 * checkerboard order (every other block, then the rest), each with C
 * holding that block alone (NaN elsewhere): an epilogue that strays out of
 * its block reads NaN and, for half the blocks, writes it over a neighbour
 * already done. C holds the whole product at the end. */
static void test_sgemm_ep(int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                          int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc, NnrtEpilogue ep,
                          void *ctx, int32_t whole_columns) {
  hk_gemm_ep_calls++;
  enum { BC = 5 };
  int64_t BR = whole_columns ? (m > 0 ? m : 1) : 3;
  float *full = malloc(sizeof(float) * (size_t)(m * n + 1));
  if (!full) unreachable("out of memory");
  test_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, full, n);
  for (int parity = 0; parity < 2; parity++)
    for (int64_t i0 = 0; i0 < m; i0 += BR)
      for (int64_t j0 = 0; j0 < n; j0 += BC) {
        if ((i0 / BR + j0 / BC) % 2 != parity) continue;
        int64_t i1 = i0 + BR < m ? i0 + BR : m, j1 = j0 + BC < n ? j0 + BC : n;
        for (int64_t i = 0; i < m; i++)
          for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = i >= i0 && i < i1 && j >= j0 && j < j1 ? full[i * n + j] : NAN;
        ep(ctx, i0, i1, j0, j1);
      }
  for (int64_t i = 0; i < m; i++)
    memcpy(c + i * ldc, full + i * n, sizeof(float) * (size_t)n);
  free(full);
}

static void test_fail_label(int64_t index, int64_t value, int64_t classes) {
  hk_fail_calls++;
  hk_fail_args[0] = index, hk_fail_args[1] = value, hk_fail_args[2] = classes;
}

/* embedding's: the same record, with ids per row in hk_fail_args[3]. */
static void test_fail_id(int64_t index, int64_t per_row, int64_t value, int64_t rows) {
  hk_fail_calls++;
  hk_fail_args[0] = index, hk_fail_args[1] = value, hk_fail_args[2] = rows, hk_fail_args[3] = per_row;
}

/* ---- JIT ---- */

static LLVMOrcLLJITRef g_jit;

static bool orc_ok(LLVMErrorRef e, const char *what) {
  if (!e) return true;
  char *msg = LLVMGetErrorMessage(e);
  printf("JIT error (%s): %s\n", what, msg);
  LLVMDisposeErrorMessage(msg);
  return false;
}

void jit_release(void) {
  if (g_jit) LLVMOrcDisposeLLJIT(g_jit);
  g_jit = NULL;
}

static bool jit_build(IrModule *m, const CgOptions *o0) {
  jit_release();
  Diag d;
  diag_init(&d, stdout);
  CgOptions o = {.opt_level = o0->opt_level, .cpu_native = o0->cpu_native, .no_vnni = o0->no_vnni, .diag = &d};
  int opt = o.opt_level;
  char *err = NULL;
  LLVMTargetMachineRef tm = cg_target_machine(&o, &err);
  if (!tm) return printf("no target machine: %s\n", err), false;
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMModuleRef mod = cg_build_module(m, LLVMOrcThreadSafeContextGetContext(tsc), tm, &o);
  bool ok = mod && cg_optimize(mod, tm, opt, &d);
  LLVMDisposeTargetMachine(tm);
  if (!ok) {
    if (mod) LLVMDisposeModule(mod);
    LLVMOrcDisposeThreadSafeContext(tsc);
    return false;
  }
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
  LLVMOrcDisposeThreadSafeContext(tsc);
  if (!orc_ok(LLVMOrcCreateLLJIT(&g_jit, LLVMOrcCreateLLJITBuilder()), "create")) return false;
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(g_jit);
  LLVMOrcDefinitionGeneratorRef gen;
  if (!orc_ok(
          LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(g_jit), NULL, NULL),
          "process symbols"))
    return false;
  LLVMOrcJITDylibAddGenerator(jd, gen);
  LLVMJITSymbolFlags fl = {LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable, 0};
  LLVMOrcCSymbolMapPair syms[7] = {
      {LLVMOrcLLJITMangleAndIntern(g_jit, "nnrt_sgemm_batch"), {(uint64_t)(uintptr_t)test_sgemm_batch, fl}},
      {LLVMOrcLLJITMangleAndIntern(g_jit, "nnrt_sgemm_ep"), {(uint64_t)(uintptr_t)test_sgemm_ep, fl}},
      {LLVMOrcLLJITMangleAndIntern(g_jit, "nnrt_parallel_multi"), {(uint64_t)(uintptr_t)test_pmulti, fl}},
      {LLVMOrcLLJITMangleAndIntern(g_jit, "nnrt_fail_id"), {(uint64_t)(uintptr_t)test_fail_id, fl}},
      {LLVMOrcLLJITMangleAndIntern(g_jit, "nnrt_parallel_for"), {(uint64_t)(uintptr_t)test_pfor, fl}},
      {LLVMOrcLLJITMangleAndIntern(g_jit, "nnrt_fail_label"), {(uint64_t)(uintptr_t)test_fail_label, fl}},
      {LLVMOrcLLJITMangleAndIntern(g_jit, "nnrt_sgemm"), {(uint64_t)(uintptr_t)test_sgemm, fl}},
  };
  if (!orc_ok(LLVMOrcJITDylibDefine(jd, LLVMOrcAbsoluteSymbols(syms, 7)), "define")) return false;
  return orc_ok(LLVMOrcLLJITAddLLVMIRModule(g_jit, jd, tsm), "add module");
}

static uint64_t jit_sym(const char *name) {
  LLVMOrcExecutorAddress a = 0;
  if (!orc_ok(LLVMOrcLLJITLookup(g_jit, &a, name), name)) return 0;
  return a;
}

void *jit_lookup_cg(IrModule *m, const CgOptions *o, const char *sym) {
  if (m && !jit_build(m, o)) return NULL;
  return (void *)(uintptr_t)jit_sym(sym);
}

void *jit_lookup(IrModule *m, int opt, const char *sym) {
  return jit_lookup_cg(m, &(CgOptions){.opt_level = opt, .cpu_native = true}, sym);
}

/* ---- LLVM's interpreter ---- */

/* A check with a cpu compiles for that CPU, whose instruction set and cost
 * model decide what the optimizer makes of the module, and runs the
 * optimized module in LLVM's interpreter: any host then checks the code
 * built for a CPU it is not (an LLVM 19 SLP miscompile appeared only on
 * AVX-512 targets; target.c). Small cases only: the interpreter cannot call
 * the runtime's stand-ins above. */
static LLVMExecutionEngineRef g_interp;

static void interp_release(void) {
  if (g_interp) LLVMDisposeExecutionEngine(g_interp); /* and its module */
  g_interp = NULL;
}

static bool interp_build(IrModule *m, int opt, const char *cpu) {
  interp_release();
  LLVMLinkInInterpreter();
  LLVMInitializeNativeTarget();
  char *triple = LLVMGetDefaultTargetTriple(), *err = NULL;
  LLVMTargetRef t;
  LLVMTargetMachineRef tm = NULL;
  if (!LLVMGetTargetFromTriple(triple, &t, &err))
    tm = LLVMCreateTargetMachine(t, triple, cpu, "", LLVMCodeGenLevelDefault, LLVMRelocPIC, LLVMCodeModelDefault);
  LLVMDisposeMessage(triple);
  if (!tm) {
    printf("no target machine for %s: %s\n", cpu, err ? err : "");
    if (err) LLVMDisposeMessage(err);
    return false;
  }
  Diag d;
  diag_init(&d, stdout);
  CgOptions o = {.opt_level = opt, .diag = &d};
  LLVMModuleRef mod = cg_build_module(m, LLVMGetGlobalContext(), tm, &o);
  bool ok = mod && cg_optimize(mod, tm, opt, &d);
  LLVMDisposeTargetMachine(tm);
  if (!ok) {
    if (mod) LLVMDisposeModule(mod);
    return false;
  }
  if (LLVMCreateInterpreterForModule(&g_interp, mod, &err)) {
    printf("no interpreter: %s\n", err);
    LLVMDisposeMessage(err);
    g_interp = NULL;
    return false;
  }
  return true;
}

/* nnc_<fn> and its workspace query, native (JIT) or interpreted. */
typedef void (*StepFn)(void **, const int64_t *, void *);
typedef int64_t (*WsFn)(const int64_t *);
typedef struct Exec {
  StepFn fn;
  WsFn ws;
  LLVMValueRef ifn, iws; /* interpreted */
} Exec;

static bool exec_build(Exec *x, IrModule *m, const CheckOpts *o, const char *fn) {
  int opt = o->opt;
  const char *cpu = o->cpu;
  char sym[64], wsym[80];
  snprintf(sym, sizeof sym, "nnc_%s", fn);
  snprintf(wsym, sizeof wsym, "nnc_%s_workspace", fn);
  memset(x, 0, sizeof *x);
  if (!cpu) {
    CgOptions co = {.opt_level = opt, .cpu_native = !o->generic, .no_vnni = o->no_vnni};
    x->fn = (StepFn)(uintptr_t)jit_lookup_cg(m, &co, sym);
    x->ws = x->fn ? (WsFn)(uintptr_t)jit_lookup(NULL, 0, wsym) : NULL;
    return x->fn && x->ws;
  }
  return interp_build(m, opt, cpu) && !LLVMFindFunction(g_interp, sym, &x->ifn) &&
         !LLVMFindFunction(g_interp, wsym, &x->iws);
}

static int64_t exec_ws(const Exec *x, const int64_t *syms) {
  if (x->ws) return x->ws(syms);
  LLVMGenericValueRef a = LLVMCreateGenericValueOfPointer((void *)syms);
  LLVMGenericValueRef r = LLVMRunFunction(g_interp, x->iws, 1, &a);
  int64_t n = (int64_t)LLVMGenericValueToInt(r, 1);
  LLVMDisposeGenericValue(a), LLVMDisposeGenericValue(r);
  return n;
}

static void exec_step(const Exec *x, void **args, const int64_t *syms, void *ws) {
  if (x->fn) {
    x->fn(args, syms, ws);
    return;
  }
  LLVMGenericValueRef a[3] = {LLVMCreateGenericValueOfPointer(args), LLVMCreateGenericValueOfPointer((void *)syms),
                              LLVMCreateGenericValueOfPointer(ws)};
  LLVMDisposeGenericValue(LLVMRunFunction(g_interp, x->ifn, 3, a));
  for (int i = 0; i < 3; i++)
    LLVMDisposeGenericValue(a[i]);
}

/* ---- data ---- */

static uint64_t rng_state;
static double rnd(void) { /* xorshift64*: uniform in [0, 1) */
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Memory that ends where an inaccessible page begins, so that generated
 * code reading or writing past the end of a buffer faults at once (JIT
 * code is not instrumented by ASan). The start is `align`-aligned, which
 * leaves less than `align` bytes of slack before the guard. */
typedef struct Guarded {
  void *p, *map;
  size_t len;
} Guarded;

static Guarded guarded_alloc(size_t bytes, size_t align) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t span = (bytes + align - 1) / align * align, len = (span + page - 1) / page * page + page;
  Guarded g = {NULL, mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), len};
  if (g.map == MAP_FAILED || mprotect((char *)g.map + len - page, page, PROT_NONE) != 0)
    unreachable("cannot map a guarded buffer");
  g.p = (char *)g.map + len - page - span;
  return g;
}

/* The check running, named when generated code faults on a guard page. */
static const char *g_check;

static void on_fault(int sig) {
  static const char msg[] = "\nFAIL: generated code faulted (out of bounds?) in check: ";
  (void)!write(1, msg, sizeof msg - 1);
  if (g_check) (void)!write(1, g_check, strlen(g_check));
  (void)!write(1, "\n", 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void guarded_free(Guarded *g) {
  if (g->map) munmap(g->map, g->len);
  g->map = g->p = NULL;
}

typedef struct Buf {
  DType dt;
  int64_t n;
  double *ref; /* what the interpreter sees */
  void *gen;   /* what the generated code sees (elements of dt), guarded */
  Guarded mem;
} Buf;

static void buf_alloc(Buf *b, DType dt, int64_t n) {
  b->dt = dt, b->n = n;
  b->ref = calloc((size_t)n + 1, sizeof(double));
  /* The runtime aligns to 64; the code may assume the element size, and
   * the buffer ends at the guard page whatever that is. */
  size_t size = (size_t)ir_dtype_size(dt);
  b->mem = guarded_alloc((size_t)n * size, size);
  b->gen = b->mem.p;
  memset(b->gen, 0xff, (size_t)n * size); /* NaN / -1 / 255: unwritten outputs show */
}

static void buf_fill(Buf *b, const CheckOpts *o) {
  for (int64_t i = 0; i < b->n; i++) {
    double v;
    bool is_int = !ir_dtype_is_float(b->dt);
    if (is_int && o->full_ints) {
      int bits = 8 * ir_dtype_size(b->dt) > 16 ? 16 : 8 * ir_dtype_size(b->dt); /* i32: within i16 */
      double lo = ir_dtype_is_signed(b->dt) ? -ldexp(1, bits - 1) : 0, span = ldexp(1, bits);
      double u = rnd();
      v = u < 0.125 ? lo : u < 0.25 ? lo + span - 1 : lo + (double)(int64_t)(rnd() * span);
    } else if (is_int)
      v = (double)(int)(rnd() * o->label_max);
    else if (o->data == DATA_POSITIVE)
      v = 0.1 + 2 * rnd();
    else if (o->data == DATA_INTS)
      v = (double)(int)(rnd() * 4) - 1;
    else
      v = 2 * rnd() - 1;
    rt_dtype_set(b->dt, b->gen, i, v);
    b->ref[i] = rt_dtype_get(b->dt, b->gen, i); /* v in the type's precision */
  }
}

static double gen_at(const Buf *b, int64_t i) { return rt_dtype_get(b->dt, b->gen, i); }

static bool compare(const Buf *b, double tol, const char *what, int index) {
  int bad = 0;
  for (int64_t i = 0; i < b->n; i++) {
    double e = b->ref[i], g = gen_at(b, i);
    bool ok = (isnan(e) && isnan(g)) || (isinf(e) && e == g) || fabs(g - e) <= tol * (1 + fabs(e));
    if (!ir_dtype_is_float(b->dt)) ok = g == e; /* integers agree exactly */
    if (!ok && bad++ < 5) printf("    %s %d [%lld]: got %.9g, expected %.9g\n", what, index, (long long)i, g, e);
  }
  if (bad) printf("    %s %d: %d of %lld elements differ\n", what, index, bad, (long long)b->n);
  return bad == 0;
}

static void buf_free(Buf *b) { free(b->ref), guarded_free(&b->mem); }

bool cg_check(IrModule *m, const CheckOpts *o0, const char *name) {
  CheckOpts o = *o0;
  if (!o.fn) o.fn = "forward";
  if (!o.label_max) o.label_max = 4;
  if (!o.tol) o.tol = 1e-4;
  if (!o.opt_set) o.opt = 2;
  if (!o.steps) o.steps = 1;
  if (!o.seed) o.seed = 0x9e3779b97f4a7c15ull;
  if (!o0->bad_label) o.bad_label = -1;
  rng_state = o.seed;
  hk_parallel_calls = hk_fail_calls = hk_multi_calls = hk_gemm_ep_calls = hk_gemm_batch_calls = 0;
  g_check = name;
  signal(SIGSEGV, on_fault);
  signal(SIGBUS, on_fault);
  const IrFunc *f = ir_func_find(m, o.fn);
  if (!f) return printf("  %s: no function %s\n", name, o.fn), false;
  Exec x;
  if (!exec_build(&x, m, &o, o.fn)) return printf("  %s: compilation failed\n", name), false;

  int ng = m->nglobals, ni = 0, nr = f->nrets;
  for (int i = 0; i < f->n; i++)
    ni += f->nodes[i].op == OP_INPUT;
  Buf *bufs = calloc((size_t)(ng + ni + nr + 1), sizeof *bufs);
  for (int g = 0; g < ng; g++)
    buf_alloc(&bufs[g], m->globals[g].ty.dt, ir_numel(&m->globals[g].ty.sh, o.syms));
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_INPUT)
      buf_alloc(&bufs[ng + f->nodes[i].at.index], f->nodes[i].ty.dt, ir_numel(&f->nodes[i].ty.sh, o.syms));
  for (int r = 0; r < nr; r++)
    buf_alloc(&bufs[ng + ni + r], f->nodes[f->rets[r]].ty.dt, ir_numel(&f->nodes[f->rets[r]].ty.sh, o.syms));
  for (int b = 0; b < ng + ni; b++)
    buf_fill(&bufs[b], &o);
  /* Optimizer state as an optimizer leaves it: Adam's and RMSprop's second
   * moments are never negative (sqrt of a negative one would make half of
   * every parameter NaN after the first step, and the steps after it would
   * compare NaN with NaN), and not near 0 either, where Adam divides f32
   * rounding by sqrt(v) and the interpreter (f64) parts from the code. */
  for (int g = 0; g < ng; g++)
    if (m->globals[g].kind == GLOBAL_STATE && ir_dtype_is_float(bufs[g].dt))
      for (int64_t k = 0; k < bufs[g].n; k++) {
        double v = 0.1 + fabs(bufs[g].ref[k]);
        rt_dtype_set(bufs[g].dt, bufs[g].gen, k, v);
        bufs[g].ref[k] = rt_dtype_get(bufs[g].dt, bufs[g].gen, k);
      }
  for (int i = 0; o.values && i < ni; i++)
    for (int64_t k = 0; o.values[i] && k < bufs[ng + i].n; k++)
      rt_dtype_set(bufs[ng + i].dt, bufs[ng + i].gen, k, o.values[i][k]),
          bufs[ng + i].ref[k] = rt_dtype_get(bufs[ng + i].dt, bufs[ng + i].gen, k);
  if (o.bad_label >= 0)
    for (int b = ng; b < ng + ni; b++)
      if (bufs[b].dt == DT_I32 && o.bad_label < bufs[b].n)
        bufs[b].ref[o.bad_label] = o.label_max, rt_dtype_set(DT_I32, bufs[b].gen, o.bad_label, o.label_max);

  double **ref = calloc((size_t)(ng + ni + nr + 1), sizeof *ref);
  void **args = calloc((size_t)(ng + ni + nr + 1), sizeof *args);
  for (int b = 0; b < ng + ni + nr; b++)
    ref[b] = bufs[b].ref, args[b] = bufs[b].gen;
  int64_t wsz = exec_ws(&x, o.syms);
  Guarded wsm = guarded_alloc((size_t)(wsz > 0 ? wsz : 0), 64); /* the ABI promises 64-byte alignment */
  void *ws = wsm.p;
  memset(ws, 0xff, (size_t)(wsz > 0 ? wsz : 0));
  bool ok = wsz >= 0;
  for (int s = 0; s < o.steps && ok; s++) {
    char err[256];
    if (o.resync && s > 0)
      for (int g = 0; g < ng; g++)
        for (int64_t k = 0; k < bufs[g].n; k++)
          bufs[g].ref[k] = gen_at(&bufs[g], k);
    bool iok = ir_interp(f, o.syms, ref, ref + ng, ref + ng + ni, err, sizeof err);
    exec_step(&x, args, o.syms, ws);
    if (!iok) {
      if (o.bad_label < 0) printf("  %s: interpreter: %s\n", name, err), ok = false;
      break;
    }
    for (int r = 0; r < nr; r++)
      ok &= compare(&bufs[ng + ni + r], o.tol, "output", r);
    for (int r = 0; o.print && r < nr; r++) {
      printf("%s %d", o.print, r);
      for (int64_t k = 0; k < bufs[ng + ni + r].n; k++) printf(" %.9g", gen_at(&bufs[ng + ni + r], k));
      printf("\n");
    }
    for (int g = 0; g < ng; g++)
      ok &= compare(&bufs[g], o.tol, "global", g);
    if (!ok && o.steps > 1) printf("    (call %d of %d)\n", s + 1, o.steps);
  }
  if (!ok) printf("  %s: results differ from the interpreter\n", name);
  guarded_free(&wsm), free(ref), free(args);
  for (int b = 0; b < ng + ni + nr; b++)
    buf_free(&bufs[b]);
  free(bufs);
  return ok;
}

/* ---- plans ---- */

/* Fusion on (every kind, GEMM and int8 epilogues included) or off, then
 * plan-memory: codegen then takes the recorded workspace placement
 * (in-place writes included) as given, as in nnc build. */
void t_set_fused(IrModule *m, bool on) {
  Diag d;
  diag_init(&d, stdout);
  PassCtx pc = {.diag = &d, .options = {{"fuse", "vertical,horizontal,epilogue,shared,qepilogue,siblings"}}, .noptions = 1};
  if (on) pass_fuse(m, &pc);
  for (int i = 0; i < m->nfuncs && !on; i++)
    for (int j = 0; j < m->funcs[i]->n; j++)
      m->funcs[i]->nodes[j].group = -1;
  pass_plan_memory(m, &pc);
}

int t_kernels(const IrModule *m, const char *fn, int *nfused) {
  Arena *a = arena_new();
  CgPlan *p = cg_plan(a, m, ir_func_find(m, fn), NULL);
  int n = p->nks;
  if (nfused) *nfused = p->nfused;
  arena_free(a);
  return n;
}

bool t_split_layout(const IrModule *m, const char *fn, const int64_t *syms) {
  Arena *a = arena_new();
  CgPlan *p = cg_plan(a, m, ir_func_find(m, fn), NULL);
  for (int x = 0; x < p->nbufs && p->has_split; x++)
    for (int y = x + 1; y < p->nbufs; y++) {
      const CgBuf *u = &p->bufs[x], *v = &p->bufs[y];
      if (u->kind != CB_WS || v->kind != CB_WS || u->def < 0 || v->def < 0 || u->last < v->def || v->last < u->def)
        continue;
      bool one = u->index == v->index && u->at == v->at;
      bool split = u->split_scaled == v->split_scaled && u->split_at == v->split_at;
      EXPECT(one == split, "%s: %%%d and %%%d, alive at once, share an offset in the %s layout only", fn, u->owner,
             v->owner, one ? "one-arena" : "split");
    }
  bool taken = cg_memstats(p, syms).split;
  arena_free(a);
  return taken;
}

/* ---- building ---- */

/* Every test module's arena, freed by t_free_all (so that LeakSanitizer
 * reports only what the compiler itself leaks). */
static Arena **g_arenas;
static int g_narenas, g_arenacap;

Arena *t_arena(void) {
  if (g_narenas == g_arenacap) {
    g_arenacap = g_arenacap ? 2 * g_arenacap : 64;
    g_arenas = realloc(g_arenas, sizeof *g_arenas * (size_t)g_arenacap);
    if (!g_arenas) unreachable("out of memory");
  }
  return g_arenas[g_narenas++] = arena_new();
}

void t_free_all(void) {
  jit_release();
  interp_release();
  for (int i = 0; i < g_narenas; i++)
    arena_free(g_arenas[i]);
  free(g_arenas);
  g_arenas = NULL, g_narenas = g_arenacap = 0;
}

IrModule *t_module(const char *name) { return ir_module_new(t_arena(), name); }

Type t_type(DType dt, int rank, const int64_t *dims) {
  Type t = {.dt = dt, .sh.rank = rank};
  for (int i = 0; i < rank; i++)
    t.sh.d[i] = dims[i];
  return t;
}

int t_op(IrFunc *f, OpKind op, int a, int b) {
  int args[2] = {a, b};
  Diag d;
  diag_init(&d, stdout);
  int v = ir_emit(f, op, args, ir_ops[op].nargs, NULL, NULL, (Loc){0}, &d);
  if (v < 0) unreachable("test IR does not type-check");
  return v;
}

int t_attr(IrFunc *f, OpKind op, int a, const Attrs *at, const Type *hint) {
  Diag d;
  diag_init(&d, stdout);
  int v = ir_emit(f, op, &a, ir_ops[op].nargs, at, hint, (Loc){0}, &d);
  if (v < 0) unreachable("test IR does not type-check");
  return v;
}

int t_bin(IrFunc *f, OpKind op, int a, int b, const Attrs *at) {
  int args[2] = {a, b};
  Diag d;
  diag_init(&d, stdout);
  int v = ir_emit(f, op, args, 2, at, NULL, (Loc){0}, &d);
  if (v < 0) unreachable("test IR does not type-check");
  return v;
}

int t_param(IrModule *m, const char *name, Type t) {
  return ir_global_add(m, (IrGlobal){.name = name, .kind = GLOBAL_PARAM, .ty = t, .init = NNRT_INIT_ZEROS});
}

/* The three runs of an IR case: unfused, fused at -O0, fused at -O2. */
void t_check3(IrModule *m, CheckOpts o, const char *name) {
  char buf[160];
  t_set_fused(m, false);
  snprintf(buf, sizeof buf, "%s (unfused)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
  t_set_fused(m, true);
  o.opt = 0, o.opt_set = true;
  snprintf(buf, sizeof buf, "%s (fused, -O0)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
  o.opt = 2;
  snprintf(buf, sizeof buf, "%s (fused)", name);
  EXPECT(cg_check(m, &o, buf), "%s", buf);
}

IrModule *t_parse(const char *text) {
  Diag d;
  diag_init(&d, stderr);
  IrModule *m = ir_parse(t_arena(), &d, "<test>", text, strlen(text));
  EXPECT(m != NULL, "the test IR parses");
  return m;
}
