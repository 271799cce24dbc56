/* nest.c — LLVM functions, loops, and the loop nest every kernel is built on.
 *
 * A nest iterates over a kernel's domain (a shape). Each domain dim becomes
 * a loop, in an order the kernel picks (reductions and softmax put the
 * reduced axis innermost or outermost; elementwise kernels keep row-major
 * order so the innermost loop is the contiguous one). Adjacent loops are
 * collapsed into one when every memory access walks them as one run
 * (a [784,256] Adam update is one loop of 200704, which the vectorizer and
 * the thread pool both like; a [B,256] + [256] bias add stays two loops).
 *
 * Values: every node a kernel needs gets a level, the loop depth at which
 * all the indices it depends on are known. A load of a broadcast operand
 * whose stride is zero in the inner loops sits outside them, a scalar
 * operand is loaded once, and elementwise members take the deepest level of
 * their operands. cg_nest_level emits a level's values when its loop opens.
 *
 * Loop counters are phis; accumulators are allocas in the entry block, which
 * SROA turns into registers (the vectorizer then sees plain reductions).
 *
 * Every kernel function is shaped by cg_kernel_begin/cg_kernel_end: one
 * pointer parameter per distinct memory (two plan buffers placed in the
 * same global are one parameter, so `noalias` holds), the syms, and for a
 * kernel that may run in parallel the [lo, hi) range of its outer loop. */
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* ---- functions ---- */

void cg_fn_open(CgCtx *cx, CgFn *F, const CgPlan *p, LLVMValueRef fn, int syms_param) {
  memset(F, 0, sizeof *F);
  F->cx = cx;
  F->p = p;
  F->fn = fn;
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cx->llc, cx->attr_nounwind, 0));
  F->entry = LLVMAppendBasicBlockInContext(cx->llc, fn, "entry");
  F->start = LLVMAppendBasicBlockInContext(cx->llc, fn, "start");
  F->pre = LLVMCreateBuilderInContext(cx->llc);
  LLVMPositionBuilderAtEnd(F->pre, F->entry);
  LLVMPositionBuilderAtEnd(cx->b, F->start);
  F->syms = LLVMGetParam(fn, (unsigned)syms_param);
  if (p) F->bufp = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)(p->nbufs + 1));
}

void cg_fn_seal(CgFn *F) {
  LLVMBuildBr(F->pre, F->start);
  LLVMDisposeBuilder(F->pre);
}

void cg_fn_begin(CgCtx *cx, CgFn *F, const CgPlan *p, const char *name, int nptr, bool noalias, int nextra) {
  int np = nptr + 1 + nextra;
  LLVMTypeRef *pt = arena_alloc(cx->arena, sizeof(LLVMTypeRef) * (size_t)(np + 1));
  for (int i = 0; i <= nptr; i++)
    pt[i] = cx->t_ptr;
  for (int i = 0; i < nextra; i++)
    pt[nptr + 1 + i] = cx->t_i64;
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(cx->t_void, pt, (unsigned)np, 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  for (int i = 0; noalias && i < nptr; i++)
    LLVMAddAttributeAtIndex(fn, (unsigned)(i + 1), LLVMCreateEnumAttribute(cx->llc, cx->attr_noalias, 0));
  cg_fn_open(cx, F, p, fn, nptr);
}

void cg_fn_end(CgFn *F) {
  LLVMBuildRetVoid(F->cx->b);
  cg_fn_seal(F);
}

LLVMValueRef cg_fn_param(CgFn *F, int i) { return LLVMGetParam(F->fn, (unsigned)i); }

LLVMValueRef cg_alloca(CgFn *F, LLVMTypeRef t, const char *name) { return LLVMBuildAlloca(F->pre, t, name); }

/* Sym values are loaded once, in the entry block, where they dominate
 * every use. */
LLVMValueRef cg_sym(CgFn *F, int k) {
  if (!F->symv[k]) {
    CgCtx *cx = F->cx;
    LLVMValueRef idx = cg_i64(cx, k);
    LLVMValueRef ptr = LLVMBuildInBoundsGEP2(F->pre, cx->t_i64, F->syms, &idx, 1, "");
    F->symv[k] = LLVMBuildLoad2(F->pre, cx->t_i64, ptr, cx->m->syms && k < cx->m->nsyms ? cx->m->syms[k] : "sym");
  }
  return F->symv[k];
}

/* Built in the entry block too: sizes and strides are loop invariants. */
LLVMValueRef cg_mono_val(CgFn *F, CgMono m) {
  CgCtx *cx = F->cx;
  LLVMValueRef v = cg_i64(cx, m.c);
  if (m.c == 0) return v;
  for (int k = 0; k < CG_MAX_SYMS; k++)
    for (int e = 0; e < m.e[k]; e++)
      v = LLVMBuildNSWMul(F->pre, v, cg_sym(F, k), "");
  return v;
}

LLVMValueRef cg_gep(CgFn *F, LLVMTypeRef elem, LLVMValueRef base, LLVMValueRef off) {
  return LLVMBuildInBoundsGEP2(F->cx->b, elem, base, &off, 1, "");
}

/* Integers are iN of the table's size: LLVM's integers carry no sign, the
 * instructions that care (extension, conversion) pick it from the DType. */
LLVMTypeRef cg_dtype(CgCtx *cx, DType dt) {
  if (!ir_dtype_valid(dt)) unreachable("no LLVM type for an invalid dtype");
  if (!ir_dtype_is_float(dt)) return LLVMIntTypeInContext(cx->llc, 8 * (unsigned)ir_dtype_size(dt));
  if (ir_dtype_size(dt) != 4) unreachable("no LLVM type for this float dtype");
  return cx->t_f32;
}

unsigned cg_align(DType dt) { return (unsigned)ir_dtype_size(dt); }

LLVMValueRef cg_buf_ptr(CgFn *F, int buf) {
  if (!F->bufp[buf]) unreachable("kernel reads a buffer it was not given");
  return F->bufp[buf];
}

/* ---- loops ---- */

void cg_for_begin(CgFn *F, CgFor *l, LLVMValueRef lo, LLVMValueRef hi, const char *name) {
  CgCtx *cx = F->cx;
  LLVMBuilderRef b = cx->b;
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(b);
  l->head = LLVMAppendBasicBlockInContext(cx->llc, F->fn, name);
  l->body = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "body");
  l->exit = LLVMAppendBasicBlockInContext(cx->llc, F->fn, "exit");
  LLVMBuildBr(b, l->head);
  LLVMPositionBuilderAtEnd(b, l->head);
  l->phi = LLVMBuildPhi(b, cx->t_i64, "i");
  LLVMAddIncoming(l->phi, &lo, &pre, 1);
  l->hi = hi;
  LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, l->phi, hi, ""), l->body, l->exit);
  LLVMPositionBuilderAtEnd(b, l->body);
  l->iv = l->phi;
}

void cg_for_end(CgFn *F, CgFor *l) {
  LLVMBuilderRef b = F->cx->b;
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(b);
  LLVMValueRef next = LLVMBuildNSWAdd(b, l->phi, cg_i64(F->cx, 1), "");
  LLVMBuildBr(b, l->head);
  LLVMAddIncoming(l->phi, &next, &latch, 1);
  LLVMPositionBuilderAtEnd(b, l->exit);
}

/* ---- the nest ---- */

/* Domain strides of value v (shape s) read inside a domain: numpy
 * broadcasting aligns s to the domain's trailing dims; a dim of 1 that
 * stretches reads with stride 0. */
static void dom_strides(const Shape *dom, const CgView *v, const Shape *s, CgMono out[IR_MAX_RANK]) {
  for (int i = 0; i < dom->rank; i++) {
    int j = i - (dom->rank - s->rank);
    out[i] = j < 0 || (s->d[j] == 1 && dom->d[i] != 1) ? cg_mono(0) : v->st[j];
  }
}

static void to_loops(const CgNest *N, const CgMono dst[IR_MAX_RANK], CgMono out[CG_MAX_LOOPS]) {
  for (int l = 0; l < N->nloops; l++)
    out[l] = dst[N->loops[l].last];
}

void cg_nest_init(CgNest *N, const CgPlan *p, const CgKernel *k, const int *order, const int *tags, const int *targets,
                  int ntargets, CgMono (*extra)[IR_MAX_RANK], int nextra) {
  const IrFunc *f = p->f;
  memset(N, 0, sizeof *N);
  N->p = p;
  N->k = k;
  N->nodes = f->n;
  N->rank = k->domain.rank;
  size_t n = (size_t)f->n + 1;
  N->member = calloc(n, 1);
  N->need = calloc(n, 1);
  N->level = calloc(n, sizeof(int));
  N->value = calloc(n, sizeof(LLVMValueRef));
  N->acc = calloc(n, sizeof(int));
  N->dst = calloc(n + (size_t)nextra, sizeof *N->dst);
  N->st = calloc(n + (size_t)nextra, sizeof *N->st);
  if (!N->member || !N->need || !N->level || !N->value || !N->acc || !N->dst || !N->st) unreachable("out of memory");
  for (int i = 0; i < k->nmem; i++)
    N->member[k->mem[i]] = true;
  for (int i = 0; i < ntargets; i++)
    N->need[targets[i]] = true;
  for (int x = f->n - 1; x >= 0; x--)
    if (N->need[x] && N->member[x] && !p->mat[x])
      for (int j = 0; j < f->nodes[x].nargs; j++)
        N->need[f->nodes[x].args[j]] = true;

  /* Accesses: loads of needed leaves (and of materialising members' sources),
   * then the caller's extra ones (stores, labels). */
  for (int x = 0; x < f->n; x++) {
    N->acc[x] = -1;
    if (!N->need[x]) continue;
    const CgVal *v = N->member[x] ? (p->mat[x] ? &p->src[x] : NULL) : &p->val[x];
    if (!v || v->kind != CV_BUF) continue;
    /* A materialising member's source view has the node's own shape too. */
    const Shape *s = &f->nodes[x].ty.sh;
    N->acc[x] = N->nacc;
    dom_strides(&k->domain, &v->v, s, N->dst[N->nacc++]);
  }
  int first_extra = N->nacc;
  for (int i = 0; i < nextra; i++)
    memcpy(N->dst[N->nacc++], extra[i], sizeof extra[i]);
  N->first_extra = first_extra;

  /* Loops in the requested order, without static size-1 dims, collapsing a
   * loop into the one before when they are adjacent dims with one tag and
   * every access steps over the outer one exactly as a run of the inner. */
  int nat[IR_MAX_RANK];
  for (int i = 0; i < N->rank; i++)
    nat[i] = i;
  if (!order) order = nat;
  for (int i = 0; i < N->rank; i++) {
    int d = order[i];
    if (k->domain.d[d] == 1) continue;
    int tag = tags ? tags[d] : 0;
    CgMono ext = cg_mono_dim(k->domain.d[d]);
    if (N->nloops) {
      /* Dims of size 1 between the two (skipped above) are index 0 always. */
      CgLoop *L = &N->loops[N->nloops - 1];
      bool ok = L->tag == tag && L->last < d;
      for (int e = L->last + 1; ok && e < d; e++)
        ok = k->domain.d[e] == 1;
      for (int a = 0; ok && a < N->nacc; a++)
        ok = cg_mono_eq(N->dst[a][L->last], cg_mono_mul(N->dst[a][d], ext));
      if (ok) {
        L->last = d;
        L->ext = cg_mono_mul(L->ext, ext);
        continue;
      }
    }
    N->loops[N->nloops++] = (CgLoop){.last = d, .tag = tag, .ext = ext};
  }
  for (int a = 0; a < N->nacc; a++)
    to_loops(N, N->dst[a], N->st[a]);

  /* Levels. */
  for (int x = 0; x < f->n; x++) {
    if (!N->need[x]) continue;
    int lv = 0;
    if (N->acc[x] >= 0) {
      for (int l = 0; l < N->nloops; l++)
        if (N->st[N->acc[x]][l].c != 0) lv = l + 1;
    } else if (N->member[x] && !p->mat[x]) {
      for (int j = 0; j < f->nodes[x].nargs; j++)
        if (N->level[f->nodes[x].args[j]] > lv) lv = N->level[f->nodes[x].args[j]];
    }
    N->level[x] = lv;
  }
}

static void nest_free(CgNest *N) {
  free(N->member), free(N->need), free(N->level), free(N->value), free(N->acc), free(N->dst), free(N->st);
}

const CgMono *cg_nest_extra(CgNest *N, int i) { return N->st[N->first_extra + i]; }

LLVMValueRef cg_nest_offset(CgNest *N, const CgMono st[CG_MAX_LOOPS], int upto) {
  CgCtx *cx = N->F->cx;
  LLVMValueRef off = NULL;
  for (int l = 0; l < upto && l < N->nloops; l++) {
    if (st[l].c == 0) continue;
    LLVMValueRef t = cg_mono_is(st[l], 1) ? N->iv[l] : LLVMBuildNSWMul(cx->b, N->iv[l], cg_mono_val(N->F, st[l]), "");
    off = off ? LLVMBuildNSWAdd(cx->b, off, t, "") : t;
  }
  return off ? off : cg_i64(cx, 0);
}

/* Uniform values: a const, or a tensor's size along an axis. */
static LLVMValueRef uniform(CgNest *N, const CgVal *v, DType dt) {
  CgCtx *cx = N->F->cx;
  LLVMTypeRef t = cg_dtype(cx, dt);
  bool fl = ir_dtype_is_float(dt);
  /* An integer const is in its type's range (the shape rule), so the
   * conversion to int64 is exact and LLVMConstInt keeps its low bits. */
  if (v->kind == CV_CONST) return fl ? LLVMConstReal(t, v->cval) : LLVMConstInt(t, (unsigned long long)(int64_t)v->cval, 1);
  const Shape *s = &N->p->f->nodes[v->dim_of].ty.sh;
  LLVMValueRef d = cg_mono_val(N->F, cg_mono_dim(s->d[v->axis]));
  return fl ? LLVMBuildSIToFP(cx->b, d, t, "") : LLVMBuildIntCast2(cx->b, d, t, 1, "");
}

static LLVMValueRef load(CgNest *N, int x, const CgVal *v) {
  CgCtx *cx = N->F->cx;
  DType dt = N->p->f->nodes[x].ty.dt;
  if (v->kind != CV_BUF) return uniform(N, v, dt);
  LLVMTypeRef t = cg_dtype(cx, dt);
  LLVMValueRef off = cg_nest_offset(N, N->st[N->acc[x]], N->level[x]);
  if (!cg_mono_is(v->v.off, 0)) off = LLVMBuildAdd(cx->b, off, cg_mono_val(N->F, v->v.off), ""); /* a slice */
  LLVMValueRef ld = LLVMBuildLoad2(cx->b, t, cg_gep(N->F, t, cg_buf_ptr(N->F, v->v.buf), off), "");
  LLVMSetAlignment(ld, cg_align(dt));
  return ld;
}

static void emit_node(CgNest *N, int x) {
  const CgPlan *p = N->p;
  const IrNode *nd = &p->f->nodes[x];
  if (!N->member[x]) {
    N->value[x] = load(N, x, &p->val[x]);
  } else if (p->mat[x]) {
    N->value[x] = load(N, x, &p->src[x]);
  } else if (!op_is(nd->op, OPF_ELEMWISE)) {
    if (!N->root_value) unreachable("a kernel's nest evaluates a root it cannot compute");
    N->value[x] = N->root_value(N, x, N->root_ctx);
  } else {
    LLVMValueRef a[IR_MAX_ARGS];
    IrNode args[IR_MAX_ARGS];
    for (int j = 0; j < nd->nargs; j++) {
      a[j] = cg_nest_get(N, nd->args[j]);
      args[j] = p->f->nodes[nd->args[j]];
    }
    N->value[x] = cg_ew_op(N->F->cx, nd, args, a);
    /* A divisor fixed over the inner loops (Adam's bias correction, a row
     * sum) may become one reciprocal and a multiply per element. */
    if (nd->op == OP_DIV && N->level[nd->args[1]] < N->level[x] && LLVMIsAInstruction(N->value[x]))
      LLVMSetFastMathFlags(N->value[x], LLVMFastMathAllowReciprocal);
  }
}

void cg_nest_level(CgNest *N, int level) {
  for (int x = 0; x < N->nodes; x++)
    if (N->need[x] && N->level[x] >= level) N->value[x] = NULL;
  for (int x = 0; x < N->nodes; x++)
    if (N->need[x] && N->level[x] == level && (!N->avail || N->avail[x] <= N->pass)) emit_node(N, x);
}

LLVMValueRef cg_nest_get(CgNest *N, int node) {
  if (!N->value[node]) unreachable("nest value used before its level");
  return N->value[node];
}

void cg_nest_open(CgNest *N, CgFor *f, int l) {
  bool part = l == 0 && N->lo; /* a ranged kernel's outer loop: [lo, hi) */
  cg_for_begin(N->F, f, part ? N->lo : cg_i64(N->F->cx, 0), part ? N->hi : N->ext[l], "loop");
  N->iv[l] = f->iv;
  cg_nest_level(N, l + 1);
}

void cg_nest_close(CgNest *N, CgFor *f) { cg_for_end(N->F, f); }

/* Distinct memories a kernel touches: two plan buffers redirected to the
 * same global or output are one parameter, so `noalias` stays true. */
static bool same_mem(const CgPlan *p, int a, int b) {
  const CgBuf *x = &p->bufs[a], *y = &p->bufs[b];
  /* Two workspace buffers in one slot are one memory: an in-place kernel
   * (memplan.c) reads the one and writes the other through one pointer,
   * which keeps the parameters' noalias true. */
  if (x->kind == CB_WS && y->kind == CB_WS) return x->index == y->index && x->at == y->at;
  if (x->kind == CB_WS || y->kind == CB_WS) return false;
  return x->kind == y->kind && x->index == y->index;
}

static void add_buf(const CgPlan *p, CgKFn *kf, int b) {
  for (int i = 0; i < kf->nbufs; i++)
    if (same_mem(p, kf->bufs[i], b)) return;
  kf->bufs[kf->nbufs++] = b;
}

static void kernel_bufs(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  size_t cap = (size_t)(IR_MAX_ARGS * (k->nmem + k->nexp) + 4);
  const CgVal **rd = arena_alloc(cx->arena, sizeof(CgVal *) * cap);
  int *nodes = arena_alloc(cx->arena, sizeof(int) * cap);
  kf->bufs = arena_alloc(cx->arena, sizeof(int) * (cap + (size_t)k->nexp));
  kf->nbufs = 0;
  int n = cg_kernel_reads(p, k, rd, nodes);
  for (int i = 0; i < n; i++)
    if (rd[i]->kind == CV_BUF) add_buf(p, kf, rd[i]->v.buf);
  for (int e = 0; e < k->nexp; e++)
    add_buf(p, kf, k->exp[e].buf);
}

/* ---- kernel functions ---- */

/* Kernel k's function with nbounds trailing i64 parameters, N bound to it. */
static void kernel_open(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf, CgNest *N, CgFn *F,
                        const char *what, int nbounds) {
  kernel_bufs(cx, p, k, kf);
  char name[96];
  snprintf(name, sizeof name, "nnc_%s_k%d_%s", cx->fname, cx->kcount++, what);
  cg_fn_begin(cx, F, p, name, kf->nbufs, true, nbounds);
  /* Every plan buffer points at the parameter holding its memory. */
  for (int b = 0; b < p->nbufs; b++)
    for (int i = 0; i < kf->nbufs; i++)
      if (same_mem(p, kf->bufs[i], b)) F->bufp[b] = cg_fn_param(F, i);
  if (!N) return; /* a kernel with its own loops (k_window.c) */
  N->F = F;
  for (int l = 0; l < N->nloops; l++)
    N->ext[l] = cg_mono_val(F, N->loops[l].ext);
}

void cg_kernel_begin(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf, CgNest *N, CgFn *F, const char *what,
                     bool ranged) {
  kf->ranged = ranged;
  kernel_open(cx, p, k, kf, N, F, what, ranged ? 2 : 0);
  if (!N) return;
  N->lo = ranged ? cg_fn_param(F, kf->nbufs + 1) : NULL;
  N->hi = ranged ? cg_fn_param(F, kf->nbufs + 2) : NULL;
}

void cg_kernel_begin_block(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf, CgNest *N, CgFn *F,
                           const char *what) {
  kf->ranged = false;
  kernel_open(cx, p, k, kf, N, F, what, 4);
}

void cg_kernel_end(CgKFn *kf, CgNest *N, CgFn *F) {
  cg_fn_end(F);
  kf->fn = F->fn;
  if (!N) return; /* the caller sets kf->outer and kf->inner */
  if (kf->ranged) {
    kf->outer = N->loops[0].ext;
    kf->inner = cg_mono(1);
    for (int l = 1; l < N->nloops; l++)
      kf->inner = cg_mono_mul(kf->inner, N->loops[l].ext);
  }
  nest_free(N);
}

/* void body(ctx, lo, hi), or epilogue(ctx, r0, r1, c0, c1): ctx holds the
 * kernel's buffer pointers and syms; the bounds pass through. */
void cg_make_body(CgCtx *cx, CgKFn *kf, const char *name) {
  LLVMBasicBlockRef saved = LLVMGetInsertBlock(cx->b);
  int na = (int)LLVMCountParams(kf->fn), nbounds = na - kf->nbufs - 1;
  LLVMTypeRef pt[5] = {cx->t_ptr, cx->t_i64, cx->t_i64, cx->t_i64, cx->t_i64};
  if (nbounds < 0 || nbounds > 4) unreachable("a kernel body takes at most 4 bounds");
  LLVMValueRef fn = LLVMAddFunction(cx->mod, name, LLVMFunctionType(cx->t_void, pt, (unsigned)(1 + nbounds), 0));
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cx->llc, cx->attr_nounwind, 0));
  LLVMPositionBuilderAtEnd(cx->b, LLVMAppendBasicBlockInContext(cx->llc, fn, "entry"));
  LLVMValueRef *args = arena_alloc(cx->arena, sizeof(LLVMValueRef) * (size_t)na);
  for (int i = 0; i <= kf->nbufs; i++) {
    LLVMValueRef idx = cg_i64(cx, i);
    LLVMValueRef slot = LLVMBuildInBoundsGEP2(cx->b, cx->t_ptr, LLVMGetParam(fn, 0), &idx, 1, "");
    args[i] = LLVMBuildLoad2(cx->b, cx->t_ptr, slot, "");
  }
  for (int i = 0; i < nbounds; i++)
    args[kf->nbufs + 1 + i] = LLVMGetParam(fn, (unsigned)(1 + i));
  LLVMBuildCall2(cx->b, LLVMGlobalGetValueType(kf->fn), kf->fn, args, (unsigned)na, "");
  LLVMBuildRetVoid(cx->b);
  kf->body = fn;
  if (saved) LLVMPositionBuilderAtEnd(cx->b, saved);
}
