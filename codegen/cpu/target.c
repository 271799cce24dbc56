/* target.c — the CPU backend's entry point: target machine, module, passes,
 * output.
 *
 * --cpu=native compiles for the host (LLVMGetHostCPUName/Features: AVX2 or
 * AVX-512 vector loops); generic targets plain x86-64 (SSE2), which runs on
 * any x86-64 machine. Objects are position independent so that the system
 * linker may build a PIE. -O0..-O3 pick the new pass manager's default<On>
 * pipeline and the matching code generator level. Every module is checked
 * with LLVMVerifyModule before optimisation: a failure is a backend bug and
 * is reported as one. */
#define _POSIX_C_SOURCE 200809L
#include <llvm-c/Analysis.h>
#include <llvm-c/Support.h>
#include <llvm-c/Target.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg.h"

/* Extra linker flags nnc itself was built with (CMakeLists.txt). */
#ifndef NNC_LINK_FLAGS
#define NNC_LINK_FLAGS ""
#endif

void cg_error(Diag *d, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (d)
    diag_fatal(d, "%s", msg);
  else
    fprintf(stderr, "nnc: error: %s\n", msg);
}

LLVMValueRef cg_i64(CgCtx *cx, int64_t v) { return LLVMConstInt(cx->t_i64, (unsigned long long)v, 1); }
LLVMValueRef cg_i32(CgCtx *cx, int64_t v) { return LLVMConstInt(cx->t_i32, (unsigned long long)v, 1); }
LLVMValueRef cg_f32(CgCtx *cx, double v) { return LLVMConstReal(cx->t_f32, v); }

/* Calls an overloaded float intrinsic (llvm.exp, llvm.maxnum...) on f32. */
LLVMValueRef cg_intrinsic(CgCtx *cx, const char *name, LLVMValueRef *args, int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  if (!id) unreachable("unknown intrinsic");
  LLVMTypeRef t = cx->t_f32;
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cx->mod, id, &t, 1);
  return LLVMBuildCall2(cx->b, LLVMIntrinsicGetType(cx->llc, id, &t, 1), fn, args, (unsigned)nargs, "");
}

static void init_llvm(void) {
  /* LLVM's target registry is process-wide and these calls are idempotent. */
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
}

static void diagnostic(LLVMDiagnosticInfoRef info, void *verbose) {
  LLVMDiagnosticSeverity sev = LLVMGetDiagInfoSeverity(info);
  if ((sev == LLVMDSRemark || sev == LLVMDSNote) && !verbose) return;
  char *text = LLVMGetDiagInfoDescription(info);
  fprintf(stderr, "nnc: %s (LLVM): %s\n",
          sev == LLVMDSError ? "error" : sev == LLVMDSWarning ? "warning" : sev == LLVMDSRemark ? "remark" : "note",
          text);
  LLVMDisposeMessage(text);
}

LLVMContextRef cg_context(bool verbose) {
  LLVMContextRef llc = LLVMContextCreate();
  LLVMContextSetDiagnosticHandler(llc, diagnostic, verbose ? (void *)1 : NULL);
  return llc;
}

LLVMTargetMachineRef cg_target_machine(const CgOptions *o, char **err) {
  init_llvm();
  char *triple = LLVMGetDefaultTargetTriple();
  LLVMTargetRef t;
  if (LLVMGetTargetFromTriple(triple, &t, err)) {
    LLVMDisposeMessage(triple);
    return NULL;
  }
  char *cpu = o->cpu_native ? LLVMGetHostCPUName() : NULL;
  char *feat = o->cpu_native ? LLVMGetHostCPUFeatures() : NULL;
  static const LLVMCodeGenOptLevel levels[] = {LLVMCodeGenLevelNone, LLVMCodeGenLevelLess, LLVMCodeGenLevelDefault,
                                               LLVMCodeGenLevelAggressive};
  int ol = o->opt_level < 0 ? 0 : o->opt_level > 3 ? 3 : o->opt_level;
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(t, triple, cpu ? cpu : "x86-64", feat ? feat : "", levels[ol],
                                                    LLVMRelocPIC, LLVMCodeModelDefault);
  if (cpu) LLVMDisposeMessage(cpu);
  if (feat) LLVMDisposeMessage(feat);
  LLVMDisposeMessage(triple);
  if (!tm) *err = LLVMCreateMessage("cannot create a target machine");
  return tm;
}

static void declare_runtime(CgCtx *cx) {
  LLVMTypeRef i32 = cx->t_i32, p = cx->t_ptr, f = cx->t_f32, i64 = cx->t_i64;
  /* void nnrt_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
   * (nnrt_abi.h): the runtime splits it over its pool. */
  LLVMTypeRef sg[13] = {i32, i32, i64, i64, i64, f, p, i64, p, i64, f, p, i64};
  cx->ft_sgemm = LLVMFunctionType(cx->t_void, sg, 13, 0);
  /* On a device the same calls go to cuBLASLt (nnrt_cu_sgemm, _batch). */
  cx->f_sgemm = LLVMAddFunction(cx->mod, cx->dev ? "nnrt_cu_sgemm" : "nnrt_sgemm", cx->ft_sgemm);
  /* nnrt_sgemm_ep(the same..., ep, ctx, whole_columns): ep(ctx, r0, r1,
   * c0, c1) on each block of C (a GEMM group's epilogue, k_epilogue.c). */
  LLVMTypeRef se[16] = {i32, i32, i64, i64, i64, f, p, i64, p, i64, f, p, i64, p, p, i32};
  cx->ft_sgemm_ep = LLVMFunctionType(cx->t_void, se, 16, 0);
  cx->f_sgemm_ep = LLVMAddFunction(cx->mod, "nnrt_sgemm_ep", cx->ft_sgemm_ep);
  /* nnrt_sgemm_batch(ta, tb, M, N, K, alpha, A, lda, strideA, B, ldb,
   * strideB, beta, C, ldc, strideC, count): a batched matmul's products,
   * run side by side on the pool. */
  LLVMTypeRef sb[17] = {i32, i32, i64, i64, i64, f, p, i64, i64, p, i64, i64, f, p, i64, i64, i64};
  cx->ft_sgemm_batch = LLVMFunctionType(cx->t_void, sb, 17, 0);
  cx->f_sgemm_batch =
      LLVMAddFunction(cx->mod, cx->dev ? "nnrt_cu_sgemm_batch" : "nnrt_sgemm_batch", cx->ft_sgemm_batch);
  if (cx->dev) {
    /* void nnrt_cu_launch(int32_t kernel, const NnrtCuArgs *args) and
     * void nnrt_cu_memcpy(void *dst, const void *src, int64_t bytes) */
    LLVMTypeRef la[2] = {i32, p}, mc[3] = {p, p, i64};
    cx->ft_launch = LLVMFunctionType(cx->t_void, la, 2, 0);
    cx->f_launch = LLVMAddFunction(cx->mod, "nnrt_cu_launch", cx->ft_launch);
    cx->ft_memcpy = LLVMFunctionType(cx->t_void, mc, 3, 0);
    cx->f_memcpy = LLVMAddFunction(cx->mod, "nnrt_cu_memcpy", cx->ft_memcpy);
    /* nnrt_cu_sgemm_ep(nnrt_cu_sgemm's..., int32 ep, bias, aux, int64 ldaux) */
    LLVMTypeRef sl[17] = {i32, i32, i64, i64, i64, f, p, i64, p, i64, f, p, i64, i32, p, p, i64};
    cx->ft_sgemm_lt = LLVMFunctionType(cx->t_void, sl, 17, 0);
    cx->f_sgemm_lt = LLVMAddFunction(cx->mod, "nnrt_cu_sgemm_ep", cx->ft_sgemm_lt);
  }
  LLVMTypeRef pf[4] = {p, p, i64, i64};
  cx->ft_pfor = LLVMFunctionType(cx->t_void, pf, 4, 0);
  cx->f_pfor = LLVMAddFunction(cx->mod, "nnrt_parallel_for", cx->ft_pfor);
  /* void nnrt_parallel_multi(const NnrtTask *tasks, int64_t ntasks) */
  LLVMTypeRef pm[2] = {p, i64};
  cx->ft_pmulti = LLVMFunctionType(cx->t_void, pm, 2, 0);
  cx->f_pmulti = LLVMAddFunction(cx->mod, "nnrt_parallel_multi", cx->ft_pmulti);
  LLVMTypeRef fl[3] = {i64, i64, i64};
  cx->ft_fail_label = LLVMFunctionType(cx->t_void, fl, 3, 0);
  /* Weak: libnnrt defines it, but the JIT test harnesses link without the
   * runtime (the address is then null and onehot's branch-free rows are the
   * only guard). */
  cx->f_fail_label = LLVMAddFunction(cx->mod, "nnrt_fail_label", cx->ft_fail_label);
  LLVMSetLinkage(cx->f_fail_label, LLVMExternalWeakLinkage);
  /* void nnrt_fail_id(index, per_row, value, rows): embedding's, weak too. */
  LLVMTypeRef fi[4] = {i64, i64, i64, i64};
  cx->ft_fail_id = LLVMFunctionType(cx->t_void, fi, 4, 0);
  cx->f_fail_id = LLVMAddFunction(cx->mod, "nnrt_fail_id", cx->ft_fail_id);
  LLVMSetLinkage(cx->f_fail_id, LLVMExternalWeakLinkage);
}

LLVMModuleRef cg_build_module(const IrModule *m, LLVMContextRef llc, LLVMTargetMachineRef tm, const CgOptions *o) {
  return cg_build_module_dev(m, llc, tm, o, NULL);
}

LLVMModuleRef cg_build_module_dev(const IrModule *m, LLVMContextRef llc, LLVMTargetMachineRef tm, const CgOptions *o,
                                  const CgDevice *dev) {
  int max_syms = dev && dev->max_syms < CG_MAX_SYMS ? dev->max_syms : CG_MAX_SYMS;
  if (m->nsyms > max_syms) {
    cg_error(o->diag, "the %s backend supports at most %d symbolic dims; %s has %d", dev ? "CUDA" : "CPU", max_syms,
             m->name, m->nsyms);
    return NULL;
  }
  CgCtx cx = {.llc = llc, .m = m, .infer = o->infer, .dev = dev};
  cx.arena = arena_new();
  cx.mod = LLVMModuleCreateWithNameInContext(m->name ? m->name : "nnc", llc);
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(cx.mod, triple);
  LLVMDisposeMessage(triple);
  cx.td = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(cx.mod, cx.td);
  cx.b = LLVMCreateBuilderInContext(llc);
  cx.t_void = LLVMVoidTypeInContext(llc);
  cx.t_i32 = LLVMInt32TypeInContext(llc);
  cx.t_i64 = LLVMInt64TypeInContext(llc);
  cx.t_f32 = LLVMFloatTypeInContext(llc);
  cx.t_f64 = LLVMDoubleTypeInContext(llc);
  cx.t_ptr = LLVMPointerTypeInContext(llc, 0);
  cx.attr_noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
  cx.attr_nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  cx.qdot = o->no_vnni ? cg_qdot_portable(tm) : cg_qdot_of(tm);
  cx.no_scan_blocks = o->no_scan_blocks;
  cx.no_summed_gemm = o->no_summed_gemm;
  declare_runtime(&cx);

  static const char *const names[3] = {IR_FN_FORWARD, IR_FN_EVAL, IR_FN_TRAIN};
  static const int prof_ids[3] = {NNRT_FN_FORWARD, NNRT_FN_EVAL, NNRT_FN_TRAIN};
  CgStep steps[3] = {{0}};
  bool ok = true;
  /* Scan bodies first: a scan calls its body's step function by name. */
  for (int i = 0; i < m->nfuncs && ok; i++) {
    CgStep body;
    if (ir_func_is_scan_body(m, m->funcs[i])) ok = cg_emit_step(&cx, m->funcs[i], -1, &body, NULL);
  }
  for (int i = 0; i < 3 && ok; i++) {
    const IrFunc *f = ir_func_find(m, names[i]);
    if (f) ok = cg_emit_step(&cx, f, prof_ids[i], &steps[i], NULL);
  }
  if (ok) cg_emit_meta(&cx, steps);
  char *msg = NULL;
  if (ok && LLVMVerifyModule(cx.mod, LLVMReturnStatusAction, &msg)) {
    cg_error(o->diag, "internal error: the CPU backend built an invalid LLVM module:\n%s", msg);
    ok = false;
  }
  if (msg) LLVMDisposeMessage(msg);
  LLVMDisposeBuilder(cx.b);
  LLVMDisposeTargetData(cx.td);
  arena_free(cx.arena);
  if (!ok) {
    LLVMDisposeModule(cx.mod);
    return NULL;
  }
  return cx.mod;
}

/* No SLP vectorizer: LLVM 19's (19.1.7) miscompiles the straight-line code
 * a fully unrolled broadcast nest becomes. a:[4,1,5] + b:[3,1] unrolls into
 * 60 scalar fadds; for the stores c[48..55] SLP swaps the commutative
 * operands of some lanes, gathers the other operand from two loaded vectors
 * of a, and its final shuffle leaves lanes 0-1 poison: c[48] and c[49] come
 * out wrong, silently. Our IR is right before SLP and wrong right after it
 * (bisected with opt -opt-bisect-limit). Whether the cost model takes that
 * path depends on the CPU (AVX-512 ones, x86-64-v4 included; no AVX2 one
 * here), so no change to our loop nests would be more than luck. The loop
 * vectorizer still vectorizes every loop; only small fully unrolled nests
 * stay scalar. PassBuilderOptions cannot say this: a "default<On>" pipeline
 * resets its SLP (and loop vectorizer) switch from the level, so it takes
 * LLVM's process-wide option, set once. test_binary checks the case built
 * for x86-64-v4 on any host (in LLVM's interpreter): it must pass before
 * SLP is turned back on with a newer LLVM. */
void cg_optimize_init(void) {
  static bool done;
  if (done) return;
  done = true;
  const char *argv[] = {"nnc", "-vectorize-slp=false"};
  LLVMParseCommandLineOptions(2, argv, NULL);
}

bool cg_optimize(LLVMModuleRef mod, LLVMTargetMachineRef tm, int opt_level, Diag *d) {
  cg_optimize_init();
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", opt_level < 0 ? 0 : opt_level > 3 ? 3 : opt_level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(po, opt_level >= 2);
  LLVMPassBuilderOptionsSetLoopInterleaving(po, opt_level >= 2);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, opt_level >= 2);
  LLVMErrorRef err = LLVMRunPasses(mod, pipeline, tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (err) {
    char *msg = LLVMGetErrorMessage(err);
    cg_error(d, "LLVM optimisation failed: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return false;
  }
  return true;
}

/* A temporary object path next to nothing the user owns. */
static char *temp_object(void) {
  const char *dir = getenv("TMPDIR");
  char *path = malloc(4096);
  if (!path) return NULL;
  snprintf(path, 4096, "%s/nnc-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    free(path);
    return NULL;
  }
  close(fd);
  return path;
}

/* An executable from parts compiled side by side (split.c), when this
 * machine has more than one core and the module more than one unit. */
static bool write_split(LLVMModuleRef mod, const Backend *be, const CgOptions *o, int nparts) {
  char *objs[16] = {0};
  int nobjs = 0;
  double t0 = timing_now();
  bool ok = cg_split_compile(mod, o, nparts, temp_object, objs, &nobjs);
  timing_add(o->times, "codegen: LLVM optimisation and machine code, threads side by side", timing_now() - t0);
  t0 = timing_now();
  if (ok) ok = cg_link(be, (const char *const *)objs, nobjs, o->out_path, NNC_LINK_FLAGS, o);
  timing_add(o->times, "link", timing_now() - t0);
  for (int i = 0; i < nobjs; i++) unlink(objs[i]), free(objs[i]);
  return ok;
}

bool cg_write_module(LLVMModuleRef mod, LLVMTargetMachineRef tm, const Backend *be, const CgOptions *o) {
  int nparts = o->emit == EMIT_EXE ? cg_split_parts() : 1;
  if (nparts > 1) return write_split(mod, be, o, nparts);
  double t0 = timing_now();
  if (!cg_optimize(mod, tm, o->opt_level, o->diag)) return false;
  timing_add(o->times, "codegen: LLVM optimisation", timing_now() - t0);
  t0 = timing_now();
  char *err = NULL, *tmp = NULL;
  bool ok = true;
  if (o->emit == EMIT_LLVM) {
    if (LLVMPrintModuleToFile(mod, o->out_path, &err)) ok = false;
  } else {
    const char *path = o->out_path;
    if (o->emit == EMIT_EXE) {
      tmp = temp_object();
      if (!tmp) {
        cg_error(o->diag, "cannot create a temporary object file");
        return false;
      }
      path = tmp;
    }
    LLVMCodeGenFileType ft = o->emit == EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile;
    if (LLVMTargetMachineEmitToFile(tm, mod, path, ft, &err)) ok = false;
  }
  if (!ok) cg_error(o->diag, "cannot write %s: %s", o->out_path, err ? err : "LLVM failed");
  if (err) LLVMDisposeMessage(err);
  timing_add(o->times, o->emit == EMIT_LLVM ? "codegen: LLVM IR text" : "codegen: machine code", timing_now() - t0);
  t0 = timing_now();
  if (ok && tmp) ok = cg_link(be, (const char *[]){tmp}, 1, o->out_path, NNC_LINK_FLAGS, o);
  if (tmp) timing_add(o->times, "link", timing_now() - t0);
  if (tmp) unlink(tmp), free(tmp);
  return ok;
}

static bool cpu_compile(const IrModule *m, const CgOptions *o) {
  char *err = NULL;
  LLVMTargetMachineRef tm = cg_target_machine(o, &err);
  if (!tm) {
    cg_error(o->diag, "%s", err ? err : "no target");
    if (err) LLVMDisposeMessage(err);
    return false;
  }
  LLVMContextRef llc = cg_context(o->verbose);
  double t0 = timing_now();
  LLVMModuleRef mod = cg_build_module(m, llc, tm, o);
  timing_add(o->times, "codegen: LLVM IR", timing_now() - t0);
  bool ok = mod && cg_write_module(mod, tm, &cg_cpu_backend, o);
  if (mod) LLVMDisposeModule(mod);
  LLVMContextDispose(llc);
  LLVMDisposeTargetMachine(tm);
  return ok;
}

static bool cpu_set_option(CgOptions *o, const char *name, const char *value, char *err, size_t errlen) {
  const struct {
    const char *flag;
    bool *dst;
  } flags[] = {{"no-vnni", &o->no_vnni}, {"no-scan-blocks", &o->no_scan_blocks}, {"no-summed-gemm", &o->no_summed_gemm}};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    int r = cg_flag_option(name, value, flags[i].flag, flags[i].dst, err, errlen);
    if (r >= 0) return r;
  }
  if (!strcmp(name, "cpu")) {
    if (value && !strcmp(value, "native")) o->cpu_native = true;
    else if (value && !strcmp(value, "generic")) o->cpu_native = false;
    else return snprintf(err, errlen, "--cpu must be native or generic, not '%s'", value ? value : ""), false;
    return true;
  }
  snprintf(err, errlen, "unknown option '--%s' for target cpu", name);
  return false;
}

const Backend cg_cpu_backend = {
    .name = "cpu",
    .summary = "LLVM 19 code for this machine's CPU; GEMMs on oneDNN or OpenBLAS (--gemm)",
    .options = "  --cpu=<cpu>          native (default): tune for this machine's CPU and use\n"
               "                       all its instruction set extensions; generic: portable\n"
               "                       x86-64 code that runs on any 64-bit x86 machine\n"
               "  --no-vnni            int8 products (qmatmul, qconv2d) in portable vector\n"
               "                       code, not AVX-512 VNNI / AVX-VNNI vpdpbusd\n"
               "  --no-scan-blocks     run every scan's time loop over the whole batch, its\n"
               "                       kernels dispatched one by one, even where the body\n"
               "                       keeps batch rows apart (default: blocks of rows on\n"
               "                       the thread pool, docs/optimize.md)\n"
               "  --no-summed-gemm     a sum over a batch of products (a weight's gradient\n"
               "                       over a sequence) as the batch's GEMMs and a sum\n"
               "                       (default: one GEMM over the batch's stacked rows)\n",
    .runtime_lib = "libnnrt.a",
    .link_libs = "-lopenblas -lz -lm -lpthread",
    .set_option = cpu_set_option,
    .compile = cpu_compile,
};
