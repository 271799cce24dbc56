/* k_window.c — convolution, pooling and their gradients (OPF_WINDOW ops).
 *
 * Direct loops over NCHW, the same walk as ir/interp.c: for each output
 * position (oh, ow) the window's taps that fall inside the input are the
 * ranges [lo, hi) computed once per position (taps()), so padding costs no
 * branch in the inner loops and no tap is ever read out of bounds. Only the
 * batch may be symbolic (the shape rules require static C, H, W), so every
 * other size and stride is a constant LLVM folds into the addresses.
 *
 * Parallelism: each kernel is ranged over an axis whose iterations write
 * disjoint memory, so chunks on the thread pool never race and the result
 * does not depend on the thread count: the batch for the forwards and the
 * input gradients (whose scatter stays within one sample), the filters for
 * conv2d_grad_weight (each filter's slice of dw is summed by one chunk).
 * The scatters (gradients) zero their own slice first.
 *
 * Direct loops, not im2col + nnrt_sgemm: the first CNN's convolutions are
 * small (one or few input channels), where the GEMM's K = C*K*K is too short
 * to pay for the im2col copy; a GEMM path for wide layers is future work. */
#include <math.h>

#include "cg.h"

typedef struct Wk {
  CgFn *F;
  CgCtx *cx;
  LLVMBuilderRef b;
  OpKind op;
  int64_t C, H, W, Fo, OH, OW, K; /* Fo: output channels (C for pools) */
  int stride, pad;
  LLVMValueRef x, w, dy, out; /* w: conv filters; dy: the gradients' seed */
  LLVMValueRef acc, best;     /* allocas: running sum or max, argmax */
} Wk;

static LLVMValueRef K64(Wk *k, int64_t v) { return cg_i64(k->cx, v); }
static LLVMValueRef add(Wk *k, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(k->b, a, b, ""); }
static LLVMValueRef mul(Wk *k, LLVMValueRef a, int64_t c) { return LLVMBuildNSWMul(k->b, a, K64(k, c), ""); }

/* Row-major index ((a * B + b) * C + c) * D + d. */
static LLVMValueRef idx4(Wk *k, LLVMValueRef a, int64_t B, LLVMValueRef b, int64_t C, LLVMValueRef c, int64_t D,
                         LLVMValueRef d) {
  return add(k, mul(k, add(k, mul(k, add(k, mul(k, a, B), b), C), c), D), d);
}

static LLVMValueRef ld(Wk *k, LLVMValueRef base, LLVMValueRef i) {
  LLVMValueRef v = LLVMBuildLoad2(k->b, k->cx->t_f32, cg_gep(k->F, k->cx->t_f32, base, i), "");
  LLVMSetAlignment(v, 4);
  return v;
}

static void st(Wk *k, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v) {
  LLVMSetAlignment(LLVMBuildStore(k->b, v, cg_gep(k->F, k->cx->t_f32, base, i)), 4);
}

static LLVMValueRef smax(Wk *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSGT, a, b, ""), a, b, "");
}
static LLVMValueRef smin(Wk *k, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(k->b, LLVMBuildICmp(k->b, LLVMIntSLT, a, b, ""), a, b, "");
}

/* The taps [lo, hi) of the window at output position o that land inside an
 * input axis of n positions; the input position of tap t is base + t. */
static void taps(Wk *k, LLVMValueRef o, int64_t n, LLVMValueRef *base, LLVMValueRef *lo, LLVMValueRef *hi) {
  *base = LLVMBuildNSWSub(k->b, mul(k, o, k->stride), K64(k, k->pad), "");
  *lo = smax(k, K64(k, 0), LLVMBuildNSWNeg(k->b, *base, ""));
  *hi = smin(k, K64(k, k->K), LLVMBuildNSWSub(k->b, K64(k, n), *base, ""));
}

/* Zeroes out[from, from + n) for a scatter's slice. */
static void zero(Wk *k, LLVMValueRef from, int64_t n) {
  CgFor l;
  cg_for_begin(k->F, &l, K64(k, 0), K64(k, n), "zero");
  st(k, k->out, add(k, mul(k, from, n), l.iv), cg_f32(k->cx, 0));
  cg_for_end(k->F, &l);
}

/* The window of output (oh, ow), channel c of sample n: calls tap() for
 * every tap inside the input with (kh, kw, x index). */
typedef void (*TapFn)(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx);

static void window(Wk *k, LLVMValueRef n, LLVMValueRef c, LLVMValueRef oh, LLVMValueRef ow, TapFn tap,
                   LLVMValueRef *ctx) {
  LLVMValueRef bh, hlo, hhi, bw, wlo, whi;
  taps(k, oh, k->H, &bh, &hlo, &hhi);
  taps(k, ow, k->W, &bw, &wlo, &whi);
  CgFor lh, lw;
  cg_for_begin(k->F, &lh, hlo, hhi, "kh");
  cg_for_begin(k->F, &lw, wlo, whi, "kw");
  LLVMValueRef xi = idx4(k, n, k->C, c, k->H, add(k, bh, lh.iv), k->W, add(k, bw, lw.iv));
  tap(k, lh.iv, lw.iv, xi, ctx);
  cg_for_end(k->F, &lw);
  cg_for_end(k->F, &lh);
}

/* ---- convolution ----
 * ctx: [0] f, [1] c, [2] y index (conv2d, grad_input) */

static LLVMValueRef widx(Wk *k, LLVMValueRef *ctx, LLVMValueRef kh, LLVMValueRef kw) {
  return idx4(k, ctx[0], k->C, ctx[1], k->K, kh, k->K, kw);
}

static void tap_conv(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  LLVMValueRef p = LLVMBuildFMul(k->b, ld(k, k->x, xi), ld(k, k->w, widx(k, ctx, kh, kw)), "");
  LLVMValueRef a = LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, "");
  LLVMBuildStore(k->b, LLVMBuildFAdd(k->b, a, p, ""), k->acc);
}

/* dx[xi] += dy[y] * w[f, c, kh, kw] */
static void tap_conv_dx(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  LLVMValueRef p = LLVMBuildFMul(k->b, ld(k, k->dy, ctx[2]), ld(k, k->w, widx(k, ctx, kh, kw)), "");
  st(k, k->out, xi, LLVMBuildFAdd(k->b, ld(k, k->out, xi), p, ""));
}

/* dw[f, c, kh, kw] += dy[y] * x[xi] */
static void tap_conv_dw(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  LLVMValueRef wi = widx(k, ctx, kh, kw);
  LLVMValueRef p = LLVMBuildFMul(k->b, ld(k, k->dy, ctx[2]), ld(k, k->x, xi), "");
  st(k, k->out, wi, LLVMBuildFAdd(k->b, ld(k, k->out, wi), p, ""));
}

/* Loops f, oh, ow, c over sample n (the forward and the input gradient), or
 * n, oh, ow, c for filter f (the weight gradient). */
static void conv(Wk *k, LLVMValueRef outer, LLVMValueRef N) {
  bool dw = k->op == OP_CONV2D_GRAD_WEIGHT, fwd = k->op == OP_CONV2D;
  CgFor l2, lh, lw, lc;
  cg_for_begin(k->F, &l2, K64(k, 0), dw ? N : K64(k, k->Fo), dw ? "n" : "f");
  LLVMValueRef n = dw ? l2.iv : outer, f = dw ? outer : l2.iv;
  cg_for_begin(k->F, &lh, K64(k, 0), K64(k, k->OH), "oh");
  cg_for_begin(k->F, &lw, K64(k, 0), K64(k, k->OW), "ow");
  LLVMValueRef yi = idx4(k, n, k->Fo, f, k->OH, lh.iv, k->OW, lw.iv);
  if (fwd) LLVMBuildStore(k->b, cg_f32(k->cx, 0), k->acc);
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  LLVMValueRef ctx[3] = {f, lc.iv, yi};
  window(k, n, lc.iv, lh.iv, lw.iv, fwd ? tap_conv : dw ? tap_conv_dw : tap_conv_dx, ctx);
  cg_for_end(k->F, &lc);
  if (fwd) st(k, k->out, yi, LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, ""));
  cg_for_end(k->F, &lw);
  cg_for_end(k->F, &lh);
  cg_for_end(k->F, &l2);
}

/* ---- pooling ----
 * ctx: [0] y index */

/* The first maximum wins: only a strictly greater tap replaces it. */
static void tap_max(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  (void)kh, (void)kw, (void)ctx;
  LLVMValueRef v = ld(k, k->x, xi), a = LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, "");
  LLVMValueRef gt = LLVMBuildFCmp(k->b, LLVMRealOGT, v, a, "");
  LLVMBuildStore(k->b, LLVMBuildSelect(k->b, gt, v, a, ""), k->acc);
  LLVMValueRef bi = LLVMBuildLoad2(k->b, k->cx->t_i64, k->best, "");
  LLVMBuildStore(k->b, LLVMBuildSelect(k->b, gt, xi, bi, ""), k->best);
}

static void tap_sum(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  (void)kh, (void)kw, (void)ctx;
  LLVMValueRef a = LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, "");
  LLVMBuildStore(k->b, LLVMBuildFAdd(k->b, a, ld(k, k->x, xi), ""), k->acc);
}

/* dx[xi] += dy[y] / (K * K) */
static void tap_avg_dx(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  (void)kh, (void)kw;
  LLVMValueRef g = LLVMBuildFMul(k->b, ld(k, k->dy, ctx[0]), cg_f32(k->cx, 1.0 / (double)(k->K * k->K)), "");
  st(k, k->out, xi, LLVMBuildFAdd(k->b, ld(k, k->out, xi), g, ""));
}

static void pool(Wk *k, LLVMValueRef n) {
  bool mx = k->op == OP_MAXPOOL2D || k->op == OP_MAXPOOL2D_GRAD;
  bool fwd = k->op == OP_MAXPOOL2D || k->op == OP_AVGPOOL2D;
  CgFor lc, lh, lw;
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  cg_for_begin(k->F, &lh, K64(k, 0), K64(k, k->OH), "oh");
  cg_for_begin(k->F, &lw, K64(k, 0), K64(k, k->OW), "ow");
  LLVMValueRef yi = idx4(k, n, k->C, lc.iv, k->OH, lh.iv, k->OW, lw.iv);
  /* Pools have no padding, so tap (0, 0) is inside: it starts the argmax,
   * which then names a real element even if every tap is NaN or -inf. */
  LLVMValueRef first = idx4(k, n, k->C, lc.iv, k->H, mul(k, lh.iv, k->stride), k->W, mul(k, lw.iv, k->stride));
  LLVMBuildStore(k->b, cg_f32(k->cx, mx ? -INFINITY : 0), k->acc);
  LLVMBuildStore(k->b, first, k->best);
  LLVMValueRef ctx[1] = {yi};
  window(k, n, lc.iv, lh.iv, lw.iv, mx ? tap_max : fwd ? tap_sum : tap_avg_dx, ctx);
  LLVMValueRef a = LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, "");
  if (k->op == OP_MAXPOOL2D) st(k, k->out, yi, a);
  if (k->op == OP_AVGPOOL2D) st(k, k->out, yi, LLVMBuildFMul(k->b, a, cg_f32(k->cx, 1.0 / (double)(k->K * k->K)), ""));
  if (k->op == OP_MAXPOOL2D_GRAD) {
    LLVMValueRef bi = LLVMBuildLoad2(k->b, k->cx->t_i64, k->best, "");
    st(k, k->out, bi, LLVMBuildFAdd(k->b, ld(k, k->out, bi), ld(k, k->dy, yi), ""));
  }
  cg_for_end(k->F, &lw);
  cg_for_end(k->F, &lh);
  cg_for_end(k->F, &lc);
}

void cg_kernel_window(CgCtx *cx, const CgPlan *p, const CgKernel *kn, CgKFn *kf) {
  const IrNode *nd = &p->f->nodes[kn->root];
  const Shape *xs = &p->f->nodes[nd->args[0]].ty.sh;
  bool conv_op = nd->op == OP_CONV2D || nd->op == OP_CONV2D_GRAD_INPUT || nd->op == OP_CONV2D_GRAD_WEIGHT;
  bool fwd = nd->op == OP_CONV2D || nd->op == OP_MAXPOOL2D || nd->op == OP_AVGPOOL2D;
  const Shape *ys = fwd ? &nd->ty.sh : &p->f->nodes[nd->args[nd->nargs - 1]].ty.sh;
  CgFn F;
  cg_kernel_begin(cx, p, kn, kf, NULL, &F, ir_ops[nd->op].mnemonic, true);
  Wk k = {.F = &F,
          .cx = cx,
          .b = cx->b,
          .op = nd->op,
          .C = xs->d[1],
          .H = xs->d[2],
          .W = xs->d[3],
          .Fo = ys->d[1],
          .OH = ys->d[2],
          .OW = ys->d[3],
          .stride = nd->at.stride,
          .pad = conv_op ? nd->at.pad : 0};
  k.K = conv_op ? p->f->nodes[nd->args[1]].ty.sh.d[2] : nd->at.kernel;
  k.x = cg_buf_ptr(&F, p->val[nd->args[0]].v.buf);
  if (conv_op) k.w = cg_buf_ptr(&F, p->val[nd->args[1]].v.buf);
  if (!fwd) k.dy = cg_buf_ptr(&F, p->val[nd->args[nd->nargs - 1]].v.buf);
  k.out = cg_buf_ptr(&F, kn->exp[0].buf);
  k.acc = cg_alloca(&F, cx->t_f32, "acc");
  k.best = cg_alloca(&F, cx->t_i64, "best");
  LLVMValueRef lo = cg_fn_param(&F, kf->nbufs + 1), hi = cg_fn_param(&F, kf->nbufs + 2);
  CgMono N = cg_mono_dim(xs->d[0]);
  bool dw = nd->op == OP_CONV2D_GRAD_WEIGHT;
  CgFor lo_l;
  cg_for_begin(&F, &lo_l, lo, hi, dw ? "f" : "n");
  /* Each scatter zeroes the slice its chunk owns: a sample of dx, or a
   * filter of dw. */
  if (!fwd) zero(&k, lo_l.iv, dw ? k.C * k.K * k.K : k.C * k.H * k.W);
  if (conv_op)
    conv(&k, lo_l.iv, cg_mono_val(&F, N));
  else
    pool(&k, lo_l.iv);
  cg_for_end(&F, &lo_l);
  /* Work per outer iteration (window taps visited), for the pool's grain:
   * a sample's or a filter's. */
  kf->outer = dw ? cg_mono(k.Fo) : N;
  kf->inner = cg_mono(k.C * k.K * k.K * k.OH * k.OW);
  if (conv_op) kf->inner = cg_mono_mul(kf->inner, dw ? N : cg_mono(k.Fo));
  cg_kernel_end(kf, NULL, &F);
}
