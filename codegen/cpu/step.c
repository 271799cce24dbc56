/* step.c — the step functions the runtime calls.
 *
 *   void nnc_<fn>(void **args, const int64_t *syms, void *workspace)
 *   int64_t nnc_<fn>_workspace(const int64_t *syms)
 *
 * nnc_<fn> lays the workspace slots out from syms (each 64-byte aligned),
 * points every buffer at its memory (args holds globals, inputs, outputs in
 * that order) and calls the kernels in plan order: matmuls as nnrt_sgemm
 * calls (the runtime parallelises those; a matmul with an epilogue is one
 * nnrt_sgemm_ep call, which runs the epilogue's function on each block of
 * the product), other kernels as calls to their functions, or, when the
 * nest may be large, through nnrt_parallel_for over its outer loop in
 * chunks of at least CG_GRAIN elements. Nothing here
 * allocates: a call costs the kernel calls and a few dozen integer
 * operations.
 *
 * Profiling: around each kernel call the step functions the runtime calls
 * test nnrt_prof_hook (nnrt_abi.h) and, when it is set, call it with the
 * kernel's index in the plan, which is its row in the model's kernel table
 * and the k<i> in its function's name (nnc_<fn>_k<i>_<kind>). Off, that is
 * one load and one branch per kernel.
 *
 * Numerics checks: after each kernel the step functions test
 * nnrt_check_hook and, when it is set, call it once per value the kernel
 * wrote, with its memory and element count (the runtime's --check-numerics
 * scans it). Each value is checked right after the kernel that writes it,
 * before the memory plan hands its workspace slot to another value. Off,
 * one load and one branch per kernel that writes memory. */
#include <string.h>

#include "cg.h"

/* Nests of fewer elements run inline: a thread-pool dispatch costs more. */
#define CG_PAR_MIN 32768
#define CG_GRAIN 16384
#define CG_MAX_PARTS 256 /* loops per nnrt_parallel_multi job (rt_pool.c's cap) */

static LLVMValueRef align64(CgCtx *cx, LLVMBuilderRef b, LLVMValueRef x) {
  LLVMValueRef y = LLVMBuildAdd(b, x, cg_i64(cx, 63), "");
  return LLVMBuildAnd(b, y, cg_i64(cx, ~(int64_t)63), "");
}

/* The workspace's scale at the call's syms (memplan.c, cg_mem_scale): the
 * least integer s >= 1 with m(syms) <= s * m(planned) for each buffer size
 * monomial m, built in the entry block. */
static LLVMValueRef mem_scale(CgFn *F, const CgPlan *p) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = F->pre;
  LLVMValueRef s = cg_i64(cx, 1);
  for (int u = 0; u < p->nunits; u++) {
    int64_t planned = p->units[u].c;
    for (int k = 0; k < CG_MAX_SYMS; k++)
      for (int e = 0; e < p->units[u].e[k]; e++)
        planned *= p->plan_syms[k];
    LLVMValueRef at = cg_mono_val(F, p->units[u]), d = cg_i64(cx, planned);
    LLVMValueRef need = LLVMBuildSDiv(b, LLVMBuildAdd(b, at, cg_i64(cx, planned - 1), ""), d, "");
    s = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, need, s, ""), need, s, "");
  }
  return s;
}

/* The workspace's layout at the call's syms, built in the entry block. */
typedef struct WsLayout {
  LLVMValueRef *off;  /* slot offsets off[0..nslots]; off[nslots] is the total */
  LLVMValueRef scale; /* mem_scale */
  LLVMValueRef split; /* i1: the split layout (memplan.c, cg_mem_split), or NULL */
} WsLayout;

/* Each slot's size times the scale; a scaled plan's one slot laid out split
 * instead when that needs fewer bytes (the test cg_mem_split makes). */
static WsLayout ws_layout(CgFn *F, const CgPlan *p) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = F->pre;
  WsLayout L = {arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(p->nslots + 1)), mem_scale(F, p), NULL};
  L.off[0] = cg_i64(cx, 0);
  for (int s = 0; s < p->nslots; s++) {
    LLVMValueRef size = LLVMBuildMul(b, cg_mono_val(F, p->slot_size[s]), L.scale, "");
    L.off[s + 1] = align64(cx, b, LLVMBuildAdd(b, L.off[s], size, ""));
  }
  if (p->scaled && p->has_split && p->nslots == 1) {
    LLVMValueRef whole = LLVMBuildMul(b, cg_i64(cx, p->arena0), L.scale, "");
    LLVMValueRef batch = LLVMBuildMul(b, cg_i64(cx, p->split_batch), L.scale, "");
    LLVMValueRef split = LLVMBuildAdd(b, cg_i64(cx, p->split_fixed), batch, "");
    L.split = LLVMBuildICmp(b, LLVMIntSLT, split, whole, "split");
    L.off[1] = LLVMBuildSelect(b, L.split, align64(cx, b, split), L.off[1], "");
  }
  return L;
}

/* An external function (ptr x nparams) -> ret, its syms in parameter
 * syms_param, opened for building. */
static LLVMValueRef begin(CgCtx *cx, CgFn *F, const CgPlan *p, const char *name, LLVMTypeRef ret, int nparams,
                          int syms_param) {
  LLVMTypeRef pt[3] = {cx->t_ptr, cx->t_ptr, cx->t_ptr};
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(ret, pt, (unsigned)nparams, 0));
  cg_fn_open(cx, F, p, fn, syms_param);
  return fn;
}

static LLVMValueRef arg_ptr(CgFn *F, int index) {
  CgCtx *cx = F->cx;
  LLVMValueRef idx = cg_i64(cx, index);
  LLVMValueRef slot = LLVMBuildInBoundsGEP2(F->pre, cx->t_ptr, LLVMGetParam(F->fn, 0), &idx, 1, "");
  return LLVMBuildLoad2(F->pre, cx->t_ptr, slot, "");
}

static void bind_all(CgFn *F, const CgPlan *p, const WsLayout *L) {
  CgCtx *cx = F->cx;
  LLVMValueRef *args =
      arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(p->nglobals + p->ninputs + p->noutputs + 1));
  for (int b = 0; b < p->nbufs; b++) {
    const CgBuf *B = &p->bufs[b];
    if (B->kind == CB_WS) {
      if (B->def < 0) continue; /* never written: nothing reads it */
      LLVMValueRef o = L->off[B->index];
      if (B->at) {
        LLVMValueRef unit = LLVMBuildMul(F->pre, cg_mono_val(F, p->slot_unit[B->index]), L->scale, "");
        o = LLVMBuildAdd(F->pre, o, LLVMBuildMul(F->pre, cg_i64(cx, B->at), unit, ""), "");
      }
      if (L->split) {
        /* A fixed-size value keeps its bytes; a batch-sized one scales. */
        LLVMValueRef so = cg_i64(cx, B->split_at);
        if (B->split_scaled)
          so = LLVMBuildAdd(F->pre, cg_i64(cx, p->split_fixed), LLVMBuildMul(F->pre, so, L->scale, ""), "");
        o = LLVMBuildSelect(F->pre, L->split, so, o, "");
      }
      F->bufp[b] = LLVMBuildInBoundsGEP2(F->pre, LLVMInt8TypeInContext(cx->llc), LLVMGetParam(F->fn, 2), &o, 1, "");
      continue;
    }
    int a = B->index + (B->kind == CB_INPUT ? p->nglobals : B->kind == CB_OUTPUT ? p->nglobals + p->ninputs : 0);
    if (!args[a]) args[a] = arg_ptr(F, a);
    F->bufp[b] = args[a];
  }
}

/* The largest scratch region a scan (or a pair of scans at once) or an int8
 * product needs (they run one at a time, so they share it), after the slots;
 * 0 without them. */
static LLVMValueRef scratch_bytes(CgFn *F, const CgPlan *p) {
  LLVMValueRef most = cg_i64(F->cx, 0);
  for (int i = 0; i < p->nks; i++)
    if (p->ks[i].kind == CK_SCAN || (p->ks[i].kind == CK_QGEMM && !F->cx->dev)) {
      LLVMValueRef r = p->ks[i].kind == CK_SCAN ? cg_scan_region_bytes(F, &p->ks[i]) : cg_qgemm_region_bytes(F, &p->ks[i]);
      most = LLVMBuildSelect(F->pre, LLVMBuildICmp(F->pre, LLVMIntUGT, r, most, ""), r, most, "");
    }
  return most;
}

/* grain = ceil(CG_GRAIN / inner) outer iterations, at least one. */
static LLVMValueRef grain_of(CgFn *F, const CgKFn *kf) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  LLVMValueRef inner = cg_mono_val(F, kf->inner);
  LLVMValueRef g = LLVMBuildSDiv(b, LLVMBuildAdd(b, cg_i64(cx, CG_GRAIN - 1), inner, ""), inner, "");
  return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, g, cg_i64(cx, 1), ""), cg_i64(cx, 1), g, "grain");
}

/* Stores a body's context at ctx: the kernel's buffer pointers, the syms. */
static void fill_ctx(CgFn *F, const CgKFn *kf, LLVMValueRef ctx) {
  CgCtx *cx = F->cx;
  for (int a = 0; a <= kf->nbufs; a++) {
    LLVMValueRef idx = cg_i64(cx, a);
    LLVMValueRef v = a < kf->nbufs ? cg_buf_ptr(F, kf->bufs[a]) : F->syms;
    LLVMBuildStore(cx->b, v, LLVMBuildInBoundsGEP2(cx->b, cx->t_ptr, ctx, &idx, 1, ""));
  }
}

static void call_kernel(CgFn *F, const CgKFn *kf, LLVMValueRef ctx) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  int na = kf->nbufs + 1 + (kf->ranged ? 2 : 0);
  LLVMValueRef *args = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(na + 1));
  for (int i = 0; i < kf->nbufs; i++)
    args[i] = cg_buf_ptr(F, kf->bufs[i]);
  args[kf->nbufs] = F->syms;
  if (!kf->body) {
    if (kf->ranged) args[kf->nbufs + 1] = cg_i64(cx, 0), args[kf->nbufs + 2] = cg_mono_val(F, kf->outer);
    LLVMBuildCall2(b, LLVMGlobalGetValueType(kf->fn), kf->fn, args, (unsigned)na, "");
    return;
  }
  fill_ctx(F, kf, ctx);
  LLVMValueRef pargs[4] = {kf->body, ctx, cg_mono_val(F, kf->outer), grain_of(F, kf)};
  LLVMBuildCall2(b, cx->ft_pfor, cx->f_pfor, pargs, 4, "");
}

/* Kernels [i, j) are the parts of one horizontally fused group: the ranged
 * ones run as one nnrt_parallel_multi job (one dispatch, one wait), any
 * other inline first. Each task gets its own stretch of ctx. */
static void call_parts(CgFn *F, const CgKFn *kfs, int i, int j, LLVMValueRef ctx, LLVMValueRef tasks) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  LLVMTypeRef i8 = LLVMInt8TypeInContext(cx->llc);
  int nt = 0, at = 0;
  for (int k = i; k < j; k++) {
    const CgKFn *kf = &kfs[k];
    if (!kf->body) {
      call_kernel(F, kf, ctx);
      continue;
    }
    LLVMValueRef my = LLVMBuildInBoundsGEP2(b, cx->t_ptr, ctx, (LLVMValueRef[]){cg_i64(cx, at)}, 1, "");
    fill_ctx(F, kf, my);
    at += kf->nbufs + 1;
    /* NnrtTask {body, ctx, n, grain}: four 8-byte fields. */
    LLVMValueRef t = LLVMBuildInBoundsGEP2(b, i8, tasks, (LLVMValueRef[]){cg_i64(cx, 32 * nt++)}, 1, "");
    LLVMValueRef f[4] = {kf->body, my, cg_mono_val(F, kf->outer), grain_of(F, kf)};
    for (int q = 0; q < 4; q++)
      LLVMBuildStore(b, f[q], LLVMBuildInBoundsGEP2(b, i8, t, (LLVMValueRef[]){cg_i64(cx, 8 * q)}, 1, ""));
  }
  if (!nt) return;
  LLVMValueRef args[2] = {tasks, cg_i64(cx, nt)};
  LLVMBuildCall2(b, cx->ft_pmulti, cx->f_pmulti, args, 2, "");
}

/* May this kernel's nest be big enough to be worth the thread pool? */
static bool maybe_large(const CgKFn *kf) {
  CgMono t = cg_mono_mul(kf->outer, kf->inner);
  for (int k = 0; k < CG_MAX_SYMS; k++)
    if (t.e[k]) return true;
  return t.c >= CG_PAR_MIN;
}

/* A hook the runtime may set (nnrt_prof_hook, nnrt_check_hook): a weak
 * NULL here, the runtime's definition when it is linked. */
static LLVMValueRef hook_global(CgCtx *cx, const char *name) {
  LLVMValueRef g = LLVMGetNamedGlobal(cx->mod, name);
  if (g) return g;
  g = LLVMAddGlobal(cx->mod, cx->t_ptr, name);
  LLVMSetInitializer(g, LLVMConstNull(cx->t_ptr));
  LLVMSetLinkage(g, LLVMWeakAnyLinkage);
  return g;
}

/* if (hook) hook(fn, k, end); returns the hook value loaded (pass it back
 * for the end call, so both calls see the same hook). */
static LLVMValueRef prof_call(CgFn *F, LLVMValueRef hook, int fn, int k, int end) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  if (!hook) hook = LLVMBuildLoad2(b, cx->t_ptr, hook_global(cx, "nnrt_prof_hook"), "prof");
  LLVMBasicBlockRef on = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "prof_on");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "prof_next");
  LLVMBuildCondBr(b, LLVMBuildIsNotNull(b, hook, ""), on, next);
  LLVMPositionBuilderAtEnd(b, on);
  LLVMTypeRef pt[3] = {cx->t_i32, cx->t_i32, cx->t_i32};
  LLVMValueRef args[3] = {cg_i32(cx, fn), cg_i32(cx, k), cg_i32(cx, end)};
  LLVMBuildCall2(b, LLVMFunctionType(cx->t_void, pt, 3, 0), hook, args, 3, "");
  LLVMBuildBr(b, next);
  LLVMPositionBuilderAtEnd(b, next);
  return hook;
}

/* if (nnrt_check_hook) hook(fn, k, e, data, numel) for each value e kernel
 * k wrote (its exports, in the order of NnrtKernel.writes). Each export
 * holds its node's value contiguously from the start of its buffer. */
static void check_call(CgFn *F, const CgPlan *p, int fn, int k) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  const CgKernel *K = &p->ks[k];
  if (K->nexp == 0) return;
  LLVMValueRef hook = LLVMBuildLoad2(b, cx->t_ptr, hook_global(cx, "nnrt_check_hook"), "check");
  LLVMBasicBlockRef on = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "check_on");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "check_next");
  LLVMBuildCondBr(b, LLVMBuildIsNotNull(b, hook, ""), on, next);
  LLVMPositionBuilderAtEnd(b, on);
  LLVMTypeRef pt[5] = {cx->t_i32, cx->t_i32, cx->t_i32, cx->t_ptr, cx->t_i64};
  LLVMTypeRef ft = LLVMFunctionType(cx->t_void, pt, 5, 0);
  for (int e = 0; e < K->nexp; e++) {
    const IrNode *nd = &p->f->nodes[K->exp[e].node];
    LLVMValueRef args[5] = {cg_i32(cx, fn), cg_i32(cx, k), cg_i32(cx, e), cg_buf_ptr(F, K->exp[e].buf),
                            cg_mono_val(F, cg_mono_numel(&nd->ty.sh, 0))};
    LLVMBuildCall2(b, ft, hook, args, 5, "");
  }
  LLVMBuildBr(b, next);
  LLVMPositionBuilderAtEnd(b, next);
}

/* nnc_<fn>_workspace, and the kernel table of the step. */
static bool step_workspace(CgCtx *cx, const CgPlan *p, const IrFunc *f, CgStep *out) {
  char name[128];
  CgFn F;
  snprintf(name, sizeof name, "nnc_%s_workspace", f->name);
  out->ws = begin(cx, &F, p, name, cx->t_i64, 1, 0);
  WsLayout L = ws_layout(&F, p);
  LLVMBuildRet(cx->b, LLVMBuildAdd(cx->b, L.off[p->nslots], scratch_bytes(&F, p), ""));
  cg_fn_seal(&F);
  out->k = cg_kinfo(cx->arena, cx->m, p);
  out->nk = p->nks;
  out->plan = p;
  return true;
}

/* Opens nnc_<fn> (out->fn) with every buffer bound to its memory; returns
 * the scratch region after the workspace slots (scans', int8 products'). */
static LLVMValueRef open_step(CgCtx *cx, CgFn *F, const CgPlan *p, const IrFunc *f, CgStep *out) {
  char name[128];
  snprintf(name, sizeof name, "nnc_%s", f->name);
  out->fn = begin(cx, F, p, name, cx->t_void, 3, 1);
  WsLayout L = ws_layout(F, p);
  bind_all(F, p, &L);
  return LLVMBuildInBoundsGEP2(F->pre, LLVMInt8TypeInContext(cx->llc), LLVMGetParam(F->fn, 2), &L.off[p->nslots], 1,
                               "scratch");
}

/* A kernel as a device runs it (CgDevice): its number, buffers and work. */
typedef struct CgDevLaunch {
  int kid, nbufs;
  int *bufs;
  CgMono work;
} CgDevLaunch;

/* nnrt_cu_launch(kid, &args) with args an NnrtCuArgs {b[max_bufs],
 * s[max_syms], work} in the entry block's `args` (reused by every launch:
 * the call reads it before returning). */
static void launch(CgFn *F, const CgDevLaunch *l, LLVMValueRef args) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  for (int i = 0; i < l->nbufs; i++)
    LLVMBuildStore(b, cg_buf_ptr(F, l->bufs[i]),
                   LLVMBuildInBoundsGEP2(b, cx->t_i64, args, (LLVMValueRef[]){cg_i64(cx, i)}, 1, ""));
  for (int k = 0; k < cx->m->nsyms; k++)
    LLVMBuildStore(b, cg_sym(F, k),
                   LLVMBuildInBoundsGEP2(b, cx->t_i64, args, (LLVMValueRef[]){cg_i64(cx, cx->dev->max_bufs + k)}, 1, ""));
  LLVMValueRef at = cg_i64(cx, cx->dev->max_bufs + cx->dev->max_syms);
  LLVMBuildStore(b, cg_mono_val(F, l->work), LLVMBuildInBoundsGEP2(b, cx->t_i64, args, &at, 1, ""));
  LLVMValueRef a[2] = {cg_i32(cx, l->kid), args};
  LLVMBuildCall2(b, cx->ft_launch, cx->f_launch, a, 2, "");
}

/* Builds kernel k's device kernel into *l (a matmul's only when it has an
 * epilogue; a scan's and a summed GEMM's sum's never: l->kid stays -1). */
static bool dev_kernel(CgCtx *cx, const CgPlan *p, int k, CgDevLaunch *l) {
  const CgKernel *K = &p->ks[k];
  l->kid = -1;
  if (K->kind == CK_SCAN || (K->kind == CK_MATMUL && K->nmem == 1) || K->done_in >= 0) return true;
  l->bufs = arena_alloc(cx->arena, sizeof(int) * (size_t)cx->dev->max_bufs);
  return cx->dev->kernel(cx->dev->gen, p, K, k, &l->kid, l->bufs, cx->dev->max_bufs, &l->nbufs, &l->work);
}

/* The device form of a step function's body: launches in plan order. */
static bool dev_body(CgFn *F, const CgPlan *p, int prof_fn, LLVMValueRef region) {
  CgCtx *cx = F->cx;
  CgDevLaunch *dl = arena_alloc(cx->arena, sizeof(CgDevLaunch) * (size_t)(p->nks + 1));
  for (int i = 0; i < p->nks; i++)
    if (!dev_kernel(cx, p, i, &dl[i])) return false;
  LLVMTypeRef at = LLVMArrayType2(cx->t_i64, (uint64_t)(cx->dev->max_bufs + cx->dev->max_syms + 1));
  LLVMValueRef args = LLVMBuildAlloca(F->pre, at, "launch_args");
  LLVMSetAlignment(args, 16);
  for (int i = 0; i < p->nks; i++) {
    LLVMValueRef hook = prof_fn >= 0 ? prof_call(F, NULL, prof_fn, i, 0) : NULL;
    if (p->ks[i].sums_batch) cg_emit_summed_matmul(F, &p->ks[i]);
    else if (p->ks[i].kind == CK_MATMUL) {
      CgDevGemm lt = {0, -1, -1, -1, 0};
      if (cx->dev->gemm) cx->dev->gemm(cx->dev->gen, p, &p->ks[i], i, &lt);
      cg_emit_matmul(F, &p->ks[i], NULL, NULL, &lt);
    }
    if (p->ks[i].kind == CK_SCAN) cg_emit_scan(F, &p->ks[i], region);
    else if (dl[i].kid >= 0) launch(F, &dl[i], args);
    if (hook) prof_call(F, hook, prof_fn, i, 1);
    if (prof_fn >= 0) check_call(F, p, prof_fn, i);
  }
  return true;
}

bool cg_emit_step(CgCtx *cx, const IrFunc *f, int prof_fn, CgStep *out, int *nfused) {
  CgPlan *p = cg_plan(cx->arena, cx->m, f, &(CgPlanOptions){.no_summed_gemm = cx->no_summed_gemm});
  if (p->bad_memory) {
    cg_error(NULL, "the IR's memory plan is wrong: %s", p->bad_memory);
    return false;
  }
  if (nfused) *nfused = p->nfused;
  cx->fname = f->name;
  if (cx->dev) {
    CgFn F;
    LLVMValueRef region = open_step(cx, &F, p, f, out);
    if (!dev_body(&F, p, prof_fn, region)) return false;
    LLVMBuildRetVoid(cx->b);
    cg_fn_seal(&F);
    return step_workspace(cx, p, f, out);
  }
  CgKFn *kfs = arena_alloc(cx->arena, sizeof(CgKFn) * (size_t)(p->nks + 1));
  /* run[i]: one past the last kernel of the dispatch that starts at i (the
   * parts of one group, side by side in the plan). */
  int *run = arena_alloc(cx->arena, sizeof(int) * (size_t)(p->nks + 1));
  for (int i = 0; i < p->nks;) {
    int j = i + 1;
    while (p->ks[i].hgroup >= 0 && j < p->nks && p->ks[j].hgroup == p->ks[i].hgroup && j - i < CG_MAX_PARTS) j++;
    run[i] = j;
    i = j;
  }
  int maxctx = 0, maxtasks = 1;
  for (int i = 0; i < p->nks; i = run[i]) {
    int ctxn = 0;
    for (int k = i; k < run[i]; k++) {
      char name[128];
      cx->kcount = k; /* names it k<k>, as the kernel table does */
      if (p->ks[k].done_in >= 0) continue; /* its matmul's GEMM computes it */
      if ((p->ks[k].kind == CK_MATMUL || p->ks[k].kind == CK_QGEMM) && p->ks[k].nmem > 1) {
        /* its epilogue, called by nnrt_sgemm_ep or after each of qmatmul's row blocks */
        cg_kernel_epilogue(cx, p, &p->ks[k], &kfs[k]);
        cg_dedup_kernel(cx, &kfs[k]);
        snprintf(name, sizeof name, "%s_ep", LLVMGetValueName(kfs[k].fn));
        cg_kernel_body(cx, &kfs[k], name);
      } else if (p->ks[k].kind == CK_MATMUL || p->ks[k].kind == CK_SCAN || p->ks[k].kind == CK_QGEMM) {
        continue;
      } else {
        cg_kernel(cx, p, &p->ks[k], &kfs[k]);
        cg_dedup_kernel(cx, &kfs[k]);
        /* A part of a multi-dispatch runs on the pool whatever its size: the
         * job is the sum of its parts. */
        if (kfs[k].ranged && (maybe_large(&kfs[k]) || run[i] - i > 1)) {
          snprintf(name, sizeof name, "%s_par", LLVMGetValueName(kfs[k].fn));
          cg_kernel_body(cx, &kfs[k], name);
        }
      }
      ctxn += kfs[k].nbufs + 1;
      if (run[i] - i == 1 && ctxn > maxctx) maxctx = ctxn;
    }
    if (ctxn > maxctx) maxctx = ctxn;
    if (run[i] - i > maxtasks) maxtasks = run[i] - i;
  }

  CgFn F;
  LLVMValueRef region = open_step(cx, &F, p, f, out);
  LLVMValueRef ctx = LLVMBuildArrayAlloca(F.pre, cx->t_ptr, cg_i64(cx, maxctx + 1), "ctx");
  LLVMValueRef tasks = LLVMBuildArrayAlloca(F.pre, cx->t_ptr, cg_i64(cx, 4 * maxtasks), "tasks");
  for (int i = 0; i < p->nks; i++) {
    /* The parts of one group are one dispatch, timed as its first kernel. */
    LLVMValueRef hook = prof_fn >= 0 ? prof_call(&F, NULL, prof_fn, i, 0) : NULL;
    int first = i;
    if (run[i] - i > 1) {
      call_parts(&F, kfs, i, run[i], ctx, tasks);
      i = run[i] - 1;
    } else if (p->ks[i].sums_batch) {
      cg_emit_summed_matmul(&F, &p->ks[i]);
    } else if (p->ks[i].done_in >= 0) {
      /* nothing left to run */
    } else if (p->ks[i].kind == CK_MATMUL) {
      if (kfs[i].body) fill_ctx(&F, &kfs[i], ctx);
      cg_emit_matmul(&F, &p->ks[i], kfs[i].body, kfs[i].body ? ctx : NULL, NULL);
    }
    else if (p->ks[i].kind == CK_SCAN && cg_scan_pair(&F, &p->ks[i]))
      cg_emit_scan_pair(&F, &p->ks[i++], region);
    else if (p->ks[i].kind == CK_SCAN)
      cg_emit_scan(&F, &p->ks[i], region);
    else if (p->ks[i].kind == CK_QGEMM) {
      if (kfs[i].body) fill_ctx(&F, &kfs[i], ctx);
      cg_emit_qgemm(&F, &p->ks[i], region, kfs[i].body, kfs[i].body ? ctx : NULL);
    }
    else
      call_kernel(&F, &kfs[i], ctx);
    if (hook) prof_call(&F, hook, prof_fn, first, 1);
    for (int k = first; prof_fn >= 0 && k <= i; k++)
      check_call(&F, p, prof_fn, k);
  }
  LLVMBuildRetVoid(cx->b);
  cg_fn_seal(&F);
  return step_workspace(cx, p, f, out);
}
