/* k_reduce.c — reductions (sum, mean, max) and row-wise softmax/log_softmax.
 *
 * Reductions loop over the operand's shape in row-major order, so the
 * innermost loop is the contiguous one whichever axes are reduced:
 *   - reduced axes all inner (sum over the last axis, or over everything):
 *     each output element is accumulated in a register across the inner
 *     loops, with `reassoc` on the adds so the vectorizer may split the sum
 *     into lanes; the outer (kept) loop can run in parallel.
 *   - a reduced axis outside a kept one (the bias gradient, sum over the
 *     batch of [B,256]): the output is first filled with the identity, then
 *     accumulated in memory, the innermost loop walking the output and the
 *     input contiguously together; trailing reduced axes still use a
 *     register.
 * mean divides by the count at the end. The operand may be an elementwise
 * prologue fused into the kernel, evaluated at each index (nest.c).
 *
 * Softmax along axis a loops over the other dims (outer) and runs three
 * passes over the axis innermost: max, sum of exp(x - max), then the
 * normalised output; subtracting the max keeps exp from overflowing. */
#include <math.h>

#include "cg.h"

enum { T_KEPT = 0, T_RED = 1, T_INNER = 1, T_ROW = 2 };

typedef enum { R_SUM, R_MAX } RKind;

static LLVMValueRef identity(CgCtx *cx, RKind r) { return cg_f32(cx, r == R_MAX ? -INFINITY : 0.0); }

static LLVMValueRef combine(CgCtx *cx, RKind r, LLVMValueRef acc, LLVMValueRef x) {
  if (r == R_MAX) {
    LLVMValueRef a[2] = {acc, x};
    return cg_intrinsic(cx, "llvm.maximum", a, 2);
  }
  LLVMValueRef s = LLVMBuildFAdd(cx->b, acc, x, "");
  LLVMSetFastMathFlags(s, LLVMFastMathAllowReassoc);
  return s;
}

static LLVMValueRef ld(CgCtx *cx, LLVMValueRef ptr) {
  LLVMValueRef v = LLVMBuildLoad2(cx->b, cx->t_f32, ptr, "");
  LLVMSetAlignment(v, 4);
  return v;
}

static void st(CgCtx *cx, LLVMValueRef v, LLVMValueRef ptr) { LLVMSetAlignment(LLVMBuildStore(cx->b, v, ptr), 4); }

/* A flat loop over n output elements: out[i] = f(out[i]) (fill or scale). */
static void flat_pass(CgFn *F, LLVMValueRef out, LLVMValueRef n, LLVMValueRef fill, LLVMValueRef div) {
  CgCtx *cx = F->cx;
  CgFor l;
  cg_for_begin(F, &l, cg_i64(cx, 0), n, "flat");
  LLVMValueRef p = cg_gep(F, cx->t_f32, out, l.iv);
  st(cx, fill ? fill : LLVMBuildFDiv(cx->b, ld(cx, p), div, ""), p);
  cg_for_end(F, &l);
}

typedef struct Red {
  CgNest *N;
  RKind r;
  int s;      /* loops [s, nloops) are all reduced */
  bool inreg; /* every reduced loop is in that suffix */
  LLVMValueRef acc, out, count;
  bool mean;
  int src; /* the node being reduced */
} Red;

static void red_loops(Red *R, int l, CgFor *fors) {
  CgNest *N = R->N;
  CgCtx *cx = N->F->cx;
  LLVMBuilderRef b = cx->b;
  if (l == R->s && l < N->nloops) st(cx, identity(cx, R->r), R->acc);
  if (l == N->nloops) {
    LLVMValueRef x = cg_nest_get(N, R->src);
    if (R->s < N->nloops) {
      st(cx, combine(cx, R->r, ld(cx, R->acc), x), R->acc);
    } else {
      LLVMValueRef p = cg_gep(N->F, cx->t_f32, R->out, cg_nest_offset(N, cg_nest_extra(N, 0), N->nloops));
      st(cx, R->inreg ? x : combine(cx, R->r, ld(cx, p), x), p);
    }
    return;
  }
  cg_nest_open(N, &fors[l], l);
  red_loops(R, l + 1, fors);
  cg_nest_close(N, &fors[l]);
  if (l == R->s) {
    LLVMValueRef p = cg_gep(N->F, cx->t_f32, R->out, cg_nest_offset(N, cg_nest_extra(N, 0), R->s));
    LLVMValueRef a = ld(cx, R->acc);
    if (R->inreg && R->mean) a = LLVMBuildFDiv(b, a, R->count, "");
    st(cx, R->inreg ? a : combine(cx, R->r, ld(cx, p), a), p);
  }
}

void cg_kernel_reduce(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  const IrNode *root = &p->f->nodes[k->root];
  const Shape *dom = &k->domain, *os = &root->ty.sh;
  int tags[IR_MAX_RANK];
  CgMono extra[1][IR_MAX_RANK];
  CgMono count = cg_mono(1);
  /* Output strides per domain dim: 0 on reduced dims; kept dims map to the
   * output's dims in order (with keepdims every dim maps to itself). */
  int od = 0;
  for (int d = 0; d < dom->rank; d++) {
    bool red = false;
    for (int j = 0; j < root->at.naxes; j++)
      red |= root->at.axes[j] == d;
    tags[d] = red ? T_RED : T_KEPT;
    if (red) count = cg_mono_mul(count, cg_mono_dim(dom->d[d]));
    if (red && !root->at.keepdims) {
      extra[0][d] = cg_mono(0);
      continue;
    }
    extra[0][d] = red ? cg_mono(0) : cg_mono_numel(os, od + 1);
    od++;
  }
  CgNest N;
  int src = root->args[0];
  cg_nest_init(&N, p, k, NULL, tags, &src, 1, extra, 1);
  Red R = {.N = &N, .r = root->op == OP_MAX ? R_MAX : R_SUM, .mean = root->op == OP_MEAN, .src = src};
  R.s = N.nloops;
  while (R.s > 0 && N.loops[R.s - 1].tag == T_RED)
    R.s--;
  R.inreg = true;
  for (int l = 0; l < R.s; l++)
    R.inreg &= N.loops[l].tag != T_RED;
  /* Only when kept loops are outermost do outer iterations write disjoint
   * outputs, each summed whole by one thread, and may run in parallel. */
  CgFn F;
  cg_kernel_begin(cx, p, k, kf, &N, &F, ir_ops[root->op].mnemonic, R.inreg && R.s > 0);
  R.out = cg_buf_ptr(&F, k->exp[0].buf);
  R.acc = cg_alloca(&F, cx->t_f32, "acc");
  R.count = LLVMBuildSIToFP(F.pre, cg_mono_val(&F, count), cx->t_f32, "count");
  LLVMValueRef nout = cg_mono_val(&F, cg_mono_numel(os, 0));
  if (!R.inreg) flat_pass(&F, R.out, nout, identity(cx, R.r), NULL);
  cg_nest_level(&N, 0);
  CgFor fors[CG_MAX_LOOPS];
  red_loops(&R, 0, fors);
  if (!R.inreg && R.mean) flat_pass(&F, R.out, nout, NULL, R.count);
  cg_kernel_end(kf, &N, &F);
}

/* ---- softmax ---- */

typedef struct Row {
  CgNest *N;
  int rl; /* the row loop (the softmax axis), or -1 if it has size 1 */
  int src;
  bool log;
  LLVMValueRef m, s, out;
} Row;

/* One pass over the row: pass 0 max, 1 sum of exps, 2 write. */
static void row_pass(Row *R, int pass) {
  CgNest *N = R->N;
  CgCtx *cx = N->F->cx;
  LLVMBuilderRef b = cx->b;
  CgFor f;
  if (R->rl >= 0) cg_nest_open(N, &f, R->rl);
  LLVMValueRef x = cg_nest_get(N, R->src);
  if (pass == 0) {
    st(cx, combine(cx, R_MAX, ld(cx, R->m), x), R->m);
  } else {
    LLVMValueRef d = LLVMBuildFSub(b, x, ld(cx, R->m), "");
    if (pass == 1) {
      st(cx, combine(cx, R_SUM, ld(cx, R->s), cg_intrinsic(cx, "llvm.exp", &d, 1)), R->s);
    } else {
      LLVMValueRef y;
      if (R->log) {
        LLVMValueRef s = ld(cx, R->s);
        y = LLVMBuildFSub(b, d, cg_intrinsic(cx, "llvm.log", &s, 1), "");
      } else {
        y = LLVMBuildFDiv(b, cg_intrinsic(cx, "llvm.exp", &d, 1), ld(cx, R->s), "");
      }
      LLVMValueRef off = cg_nest_offset(N, cg_nest_extra(N, 0), N->nloops);
      st(cx, y, cg_gep(N->F, cx->t_f32, R->out, off));
    }
  }
  if (R->rl >= 0) cg_nest_close(N, &f);
}

static void row_loops(Row *R, int l, CgFor *fors) {
  CgNest *N = R->N;
  CgCtx *cx = N->F->cx;
  int nouter = R->rl >= 0 ? R->rl : N->nloops;
  if (l == nouter) {
    st(cx, identity(cx, R_MAX), R->m);
    st(cx, cg_f32(cx, 0), R->s);
    for (int pass = 0; pass < 3; pass++)
      row_pass(R, pass);
    return;
  }
  cg_nest_open(N, &fors[l], l);
  row_loops(R, l + 1, fors);
  cg_nest_close(N, &fors[l]);
}

void cg_kernel_rowwise(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  const IrNode *root = &p->f->nodes[k->root];
  const Shape *dom = &k->domain;
  int a = root->at.axis, order[IR_MAX_RANK], tags[IR_MAX_RANK], n = 0;
  for (int d = 0; d < dom->rank; d++)
    if (d != a) order[n++] = d, tags[d] = d < a ? T_KEPT : T_INNER;
  order[n++] = a;
  tags[a] = T_ROW;
  CgMono extra[1][IR_MAX_RANK];
  for (int d = 0; d < dom->rank; d++)
    extra[0][d] = cg_mono_numel(dom, d + 1);
  CgNest N;
  int src = root->args[0];
  cg_nest_init(&N, p, k, order, tags, &src, 1, extra, 1);
  Row R = {.N = &N, .rl = -1, .src = src, .log = root->op == OP_LOG_SOFTMAX};
  if (N.nloops && N.loops[N.nloops - 1].tag == T_ROW) R.rl = N.nloops - 1;
  int nouter = R.rl >= 0 ? R.rl : N.nloops;
  CgFn F;
  cg_kernel_begin(cx, p, k, kf, &N, &F, ir_ops[root->op].mnemonic, nouter > 0);
  R.out = cg_buf_ptr(&F, k->exp[0].buf);
  R.m = cg_alloca(&F, cx->t_f32, "max");
  R.s = cg_alloca(&F, cx->t_f32, "sum");
  cg_nest_level(&N, 0);
  CgFor fors[CG_MAX_LOOPS];
  row_loops(&R, 0, fors);
  cg_kernel_end(kf, &N, &F);
}
