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
 * Row kernels (below) run softmax and the row groups of ir/groups.c: a
 * softmax along axis a loops over the other dims (outer) and makes passes
 * over the axis innermost: max, sum of exp(x - max), then the normalised
 * output; subtracting the max keeps exp from overflowing. */
#include <math.h>
#include <stdlib.h>

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

/* The running max of a softmax's (log_softmax's) row, which needs no NaN
 * propagation: a NaN in the row reaches every output anyway, through the
 * sum of exp(x - max) that each output divides by (or takes the log of).
 * So it is maxnum, and `nnan` lets it be one vmaxps per vector, where
 * llvm.maximum takes five more instructions per vector and a scalar
 * horizontal step per row (with the reciprocal below: char_gpt's causal
 * softmax [32, 4, 128, 128] alone 1.72-1.84 -> 1.23-1.50 ms on one thread). */
static LLVMValueRef softmax_max(CgCtx *cx, LLVMValueRef acc, LLVMValueRef x) {
  LLVMValueRef a[2] = {acc, x};
  LLVMValueRef m = cg_intrinsic(cx, "llvm.maxnum", a, 2);
  LLVMSetFastMathFlags(m, LLVMFastMathNoNaNs | LLVMFastMathNoSignedZeros);
  return m;
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

/* ---- row kernels ---- */

/* A row group (ir/groups.c) along axis a of its domain: the other dims are
 * outer loops (the kept ones outside, parallel), the row innermost. Each
 * root works row by row: a reduction over the row is one pass, a softmax
 * two (its max, then its sum of exp(x - max)); a member that reads a root
 * can only be evaluated in a later pass. So every needed node gets avail,
 * the first pass that knows it:
 *   a value from outside              0
 *   an elementwise member             the latest of its operands'
 *   a reduction reducing in pass p    p + 1   (p: its operand's avail)
 *   a softmax, max in p, sum in p+1   p + 2
 * and the kernel runs, per row, passes 0..last over the row. Before each
 * pass the per-row values known by then are emitted (and per-row exports
 * stored); in it, each root accumulates whatever it reduces in that pass
 * and each export of the domain's shape is stored once, in its avail pass.
 * The elementwise members are recomputed in every pass that needs them: the
 * row is in cache, so a pass costs arithmetic, not memory traffic.
 * A softmax alone (log_softmax x) is the same kernel with one root. */

#define SOFTMAX_KEEP_MAX 8192 /* floats of a row's exps kept on the stack */

typedef struct RowRoot {
  int node;
  RKind r;                  /* what acc accumulates (a softmax: its max) */
  int pass;                 /* its first (reduction: only) pass */
  LLVMValueRef acc, sum;    /* accumulator (softmax: the max) and a softmax's sum */
  LLVMValueRef count;       /* a mean's */
  LLVMValueRef exps;        /* a softmax's exp(x - max) over the row, or NULL */
} RowRoot;

typedef struct RowK {
  RowRoot *roots;
  int nroots;
  int *root_of; /* per node: index in roots, or -1 */
  int rl;       /* the row loop's index in the nest, or -1 */
} RowK;

static LLVMValueRef row_root_value(CgNest *N, int x, void *ctx) {
  RowK *K = ctx;
  CgCtx *cx = N->F->cx;
  LLVMBuilderRef b = cx->b;
  const IrNode *nd = &N->p->f->nodes[x];
  RowRoot *r = &K->roots[K->root_of[x]];
  if (op_is(nd->op, OPF_REDUCE)) {
    LLVMValueRef v = ld(cx, r->acc);
    return nd->op == OP_MEAN ? LLVMBuildFDiv(b, v, r->count, "") : v;
  }
  LLVMValueRef d = LLVMBuildFSub(b, cg_nest_get(N, nd->args[0]), ld(cx, r->acc), "");
  LLVMValueRef sum = ld(cx, r->sum);
  if (nd->op == OP_LOG_SOFTMAX) return LLVMBuildFSub(b, d, cg_intrinsic(cx, "llvm.log", &sum, 1), "");
  LLVMValueRef e = r->exps ? ld(cx, cg_gep(N->F, cx->t_f32, r->exps, N->iv[K->rl])) : cg_exp(cx, d);
  /* one reciprocal of the row's sum and a multiply per element, as
   * PyTorch's softmax does (a vector division costs ten multiplies) */
  LLVMValueRef q = LLVMBuildFDiv(b, e, sum, "");
  if (LLVMIsAInstruction(q)) LLVMSetFastMathFlags(q, LLVMFastMathAllowReciprocal);
  return q;
}

typedef struct RowPlan {
  CgNest *N;
  RowK *K;
  const CgKernel *k;
  int nouter, rl, last;
  bool *full; /* per export: the domain's shape (stored in the row loop) */
} RowPlan;

static void row_store(RowPlan *R, int e) {
  CgNest *N = R->N;
  CgCtx *cx = N->F->cx;
  const IrNode *nd = &N->p->f->nodes[R->k->exp[e].node];
  LLVMValueRef off = cg_nest_offset(N, cg_nest_extra(N, e), R->full[e] ? N->nloops : R->nouter);
  LLVMTypeRef t = cg_dtype(cx, nd->ty.dt);
  LLVMSetAlignment(LLVMBuildStore(cx->b, cg_nest_get(N, R->k->exp[e].node),
                                  cg_gep(N->F, t, cg_buf_ptr(N->F, R->k->exp[e].buf), off)),
                   cg_align(nd->ty.dt));
}

/* One row: the passes, each preceded by the per-row values known by then. */
static void row_passes(RowPlan *R) {
  CgNest *N = R->N;
  CgCtx *cx = N->F->cx;
  RowK *K = R->K;
  for (int i = 0; i < K->nroots; i++) {
    st(cx, identity(cx, K->roots[i].r), K->roots[i].acc);
    if (K->roots[i].sum) st(cx, cg_f32(cx, 0), K->roots[i].sum);
  }
  for (int pass = 0; pass <= R->last + 1; pass++) {
    N->pass = pass;
    if (pass > 0) cg_nest_level(N, R->nouter);
    for (int e = 0; e < R->k->nexp; e++)
      if (!R->full[e] && N->avail[R->k->exp[e].node] == pass) row_store(R, e);
    if (pass > R->last) break;
    CgFor f;
    if (R->rl >= 0) cg_nest_open(N, &f, R->rl);
    for (int i = 0; i < K->nroots; i++) {
      RowRoot *r = &K->roots[i];
      const IrNode *nd = &N->p->f->nodes[r->node];
      if (pass == r->pass) {
        LLVMValueRef x = cg_nest_get(N, nd->args[0]);
        LLVMValueRef a = ld(cx, r->acc);
        st(cx, r->sum ? softmax_max(cx, a, x) : combine(cx, r->r, a, x), r->acc);
      } else if (r->sum && pass == r->pass + 1) {
        LLVMValueRef d = LLVMBuildFSub(cx->b, cg_nest_get(N, nd->args[0]), ld(cx, r->acc), "");
        LLVMValueRef e = cg_exp(cx, d);
        if (r->exps) st(cx, e, cg_gep(N->F, cx->t_f32, r->exps, N->iv[K->rl]));
        st(cx, combine(cx, R_SUM, ld(cx, r->sum), e), r->sum);
      }
    }
    for (int e = 0; e < R->k->nexp; e++)
      if (R->full[e] && N->avail[R->k->exp[e].node] == pass) row_store(R, e);
    if (R->rl >= 0) cg_nest_close(N, &f);
  }
}

static void row_loops(RowPlan *R, int l, CgFor *fors) {
  if (l == R->nouter) {
    row_passes(R);
    return;
  }
  cg_nest_open(R->N, &fors[l], l);
  row_loops(R, l + 1, fors);
  cg_nest_close(R->N, &fors[l]);
}

void cg_kernel_row(CgCtx *cx, const CgPlan *p, const CgKernel *k, CgKFn *kf) {
  const IrFunc *f = p->f;
  const Shape *dom = &k->domain;
  int a = k->axis, order[IR_MAX_RANK], tags[IR_MAX_RANK], n = 0;
  for (int d = 0; d < dom->rank; d++)
    if (d != a) order[n++] = d, tags[d] = d < a ? T_KEPT : T_INNER;
  order[n++] = a;
  tags[a] = T_ROW;
  /* Exports: of the domain's shape, stored contiguously per element; else
   * one value per row, contiguous over the other dims (stride 0 along a). */
  int ne = k->nexp;
  CgMono(*extra)[IR_MAX_RANK] = calloc((size_t)ne + 1, sizeof *extra);
  int *targets = malloc(sizeof(int) * (size_t)(ne + 1));
  bool *full = calloc((size_t)ne + 1, 1);
  RowK K = {.roots = calloc((size_t)k->nmem + 1, sizeof(RowRoot)), .root_of = malloc(sizeof(int) * (size_t)(f->n + 1))};
  if (!extra || !targets || !full || !K.roots || !K.root_of) unreachable("out of memory");
  for (int e = 0; e < ne; e++) {
    const Shape *s = &f->nodes[k->exp[e].node].ty.sh;
    targets[e] = k->exp[e].node;
    full[e] = ir_shape_eq(s, dom);
    CgMono st = cg_mono(1);
    for (int d = dom->rank - 1; d >= 0; d--) {
      extra[e][d] = full[e] || d != a ? st : cg_mono(0);
      if (full[e] || d != a) st = cg_mono_mul(st, cg_mono_dim(dom->d[d]));
    }
  }
  CgNest N;
  cg_nest_init(&N, p, k, order, tags, targets, ne, extra, ne);
  RowPlan R = {.N = &N, .K = &K, .k = k, .rl = -1, .full = full};
  if (N.nloops && N.loops[N.nloops - 1].tag == T_ROW) R.rl = N.nloops - 1;
  K.rl = R.rl;
  R.nouter = R.rl >= 0 ? R.rl : N.nloops;

  /* Roots, passes (avail) and levels: a reduction's value is per row, known
   * outside the row loop; a softmax's is per element, like its operand's. */
  int *avail = calloc((size_t)f->n + 1, sizeof(int));
  if (!avail) unreachable("out of memory");
  R.last = cg_row_passes(p, k, N.need, avail);
  for (int x = 0; x < f->n; x++) {
    K.root_of[x] = -1;
    if (!N.need[x] || !N.member[x] || p->mat[x]) continue;
    const IrNode *nd = &f->nodes[x];
    int lv = 0;
    for (int j = 0; j < nd->nargs; j++)
      if (N.level[nd->args[j]] > lv) lv = N.level[nd->args[j]];
    if (op_is(nd->op, OPF_ELEMWISE)) {
      N.level[x] = lv;
      continue;
    }
    RowRoot *r = &K.roots[K.root_of[x] = K.nroots++];
    bool soft = op_is(nd->op, OPF_ROWWISE);
    *r = (RowRoot){.node = x, .r = soft || nd->op == OP_MAX ? R_MAX : R_SUM, .pass = avail[x] - (soft ? 2 : 1)};
    N.level[x] = soft ? N.level[nd->args[0]] : R.nouter;
  }
  N.avail = avail;
  N.root_value = row_root_value;
  N.root_ctx = &K;

  CgFn F;
  cg_kernel_begin(cx, p, k, kf, &N, &F, K.nroots == 1 ? ir_ops[f->nodes[K.roots[0].node].op].mnemonic : "row",
                  R.nouter > 0);
  for (int i = 0; i < K.nroots; i++) {
    RowRoot *r = &K.roots[i];
    const IrNode *nd = &f->nodes[r->node];
    r->acc = cg_alloca(&F, cx->t_f32, "acc");
    if (op_is(nd->op, OPF_ROWWISE)) r->sum = cg_alloca(&F, cx->t_f32, "sum");
    /* A softmax keeps the exps of its sum's pass for its value's, which
     * then divides instead of taking exp again: half of the exps, a third
     * of a causal attention's softmax time (char_gpt). A static row that
     * fits the stack only; the same values either way. */
    if (nd->op == OP_SOFTMAX && R.rl >= 0 && dom->d[a] > 0 && dom->d[a] <= SOFTMAX_KEEP_MAX)
      r->exps = cg_alloca(&F, LLVMArrayType2(cx->t_f32, (uint64_t)dom->d[a]), "exps");
    if (nd->op == OP_MEAN)
      r->count = LLVMBuildSIToFP(F.pre, cg_mono_val(&F, cg_mono_dim(dom->d[a])), cx->t_f32, "count");
  }
  cg_nest_level(&N, 0);
  CgFor fors[CG_MAX_LOOPS];
  row_loops(&R, 0, fors);
  cg_kernel_end(kf, &N, &F);
  free(extra), free(targets), free(full), free(K.roots), free(K.root_of), free(avail);
}
