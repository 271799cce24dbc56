/* k_window.c — convolution, pooling and their gradients (OPF_WINDOW ops).
 *
 * Direct loops over NCHW. The scalar walk is ir/interp.c's: for each output
 * position (oh, ow) the window's taps that fall inside the input are the
 * ranges [lo, hi) computed once per position (taps()), so padding costs no
 * branch in the inner loops and no tap is ever read out of bounds. Only the
 * batch may be symbolic (the shape rules require static C, H, W), so every
 * other size and stride is a constant LLVM folds into the addresses.
 *
 * The convolutions run in explicit vectors where they can (cg_conv_vec: the
 * forward, and the input gradient as a convolution of dy; cg_conv_dw_flat:
 * the weight gradient), over a zero-padded copy of each sample split by
 * stride phases (Phased), so every tap of a row of outputs is one vector
 * load; the scalar walk is left for windows wider than 11 and samples
 * whose copy does not fit the stack. Direct kernels, not im2col +
 * nnrt_sgemm: measured per shape against the GEMMs im2col would run, they
 * reach 70 % or more of the GEMM alone, without its copies (docs/bench.md,
 * "Convolutions"). The 2x2 pools run in explicit vectors too.
 *
 * Parallelism: each kernel is ranged over an axis whose iterations write
 * disjoint memory, so chunks on the thread pool never race and the result
 * does not depend on the thread count: the batch for the forwards and the
 * input gradients (whose scatter stays within one sample), blocks of
 * filters for conv2d_grad_weight (each block's slice of dw is summed by one
 * chunk). The scatters (gradients) zero their own slice first, except a max
 * pool gradient whose windows tile the input, which stores every element,
 * and cg_conv_vec, which stores every element of its sample. */
#include <math.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "window.h"

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
  /* Without padding, every window lies inside the input: constant bounds
   * let LLVM unroll the taps (a 2x2 pool becomes four loads). */
  if (k->pad == 0 && (k->OH - 1) * k->stride + k->K <= k->H) hlo = K64(k, 0), hhi = K64(k, k->K);
  if (k->pad == 0 && (k->OW - 1) * k->stride + k->K <= k->W) wlo = K64(k, 0), whi = K64(k, k->K);
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

/* The outputs o in [lo, hi) of an axis of no outputs whose tap t lands
 * inside the n inputs: 0 <= o * stride - pad + t < n. (x + s - 1) / s with
 * truncating division is ceil(x / s) for x > 0 and <= 0 otherwise, which
 * the clamp to 0 absorbs. */
static void tap_range(Wk *k, LLVMValueRef t, int64_t n, int64_t no, LLVMValueRef *lo, LLVMValueRef *hi) {
  /* Without padding every tap of every window is inside: constant bounds
   * give the vectorizer a known trip count (a short row otherwise goes to
   * its scalar remainder whole). */
  if (k->pad == 0 && (no - 1) * k->stride + k->K <= n) {
    *lo = K64(k, 0), *hi = K64(k, no);
    return;
  }
  LLVMValueRef s1 = K64(k, k->stride - 1), s = K64(k, k->stride);
  LLVMValueRef a = LLVMBuildNSWSub(k->b, K64(k, k->pad + k->stride - 1), t, "");
  LLVMValueRef e = LLVMBuildNSWSub(k->b, K64(k, n + k->pad), t, "");
  *lo = smax(k, K64(k, 0), LLVMBuildSDiv(k->b, a, s, ""));
  *hi = smin(k, K64(k, no), smax(k, K64(k, 0), LLVMBuildSDiv(k->b, add(k, e, s1), s, "")));
}

/* Closes a row loop with a hint to vectorize it 8 wide, not interleaved and
 * not unrolled: a row is 20-30 elements, so the vectorizer's default (8
 * wide, interleaved 4) leaves all of it to the scalar remainder, and a
 * constant trip count gets the row unrolled whole and the loop around it
 * vectorized with gathers instead. */
static void row_end(Wk *k, CgFor *l) {
  LLVMContextRef c = k->cx->llc;
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(k->b);
  cg_for_end(k->F, l);
  LLVMMetadataRef self = LLVMTemporaryMDNode(c, NULL, 0);
  const char *keys[] = {"llvm.loop.vectorize.width", "llvm.loop.interleave.count", "llvm.loop.unroll.disable"};
  int64_t vals[] = {8, 1, -1};
  LLVMMetadataRef ops[4] = {self};
  for (int i = 0; i < 3; i++) {
    LLVMMetadataRef kv[2] = {LLVMMDStringInContext2(c, keys[i], strlen(keys[i])),
                             LLVMValueAsMetadata(LLVMConstInt(LLVMInt32TypeInContext(c), (uint64_t)vals[i], 0))};
    ops[i + 1] = LLVMMDNodeInContext2(c, kv, vals[i] < 0 ? 1 : 2);
  }
  LLVMMetadataRef loop = LLVMMDNodeInContext2(c, ops, 4);
  LLVMMetadataReplaceAllUsesWith(self, loop);
  LLVMSetMetadata(LLVMGetBasicBlockTerminator(latch), LLVMGetMDKindIDInContext(c, "llvm.loop", 9),
                  LLVMMetadataAsValue(c, loop));
}

/* The input position of tap t for output o. */
static LLVMValueRef in_pos(Wk *k, LLVMValueRef o, LLVMValueRef t) {
  return add(k, LLVMBuildNSWSub(k->b, mul(k, o, k->stride), K64(k, k->pad), ""), t);
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

/* The forward and the input gradient over sample n: loops f, oh, ow, c and
 * the window, the forward summing each output's taps in (c, kh, kw) order
 * from 0, as the interpreter does. */
static void conv(Wk *k, LLVMValueRef n) {
  bool fwd = k->op == OP_CONV2D;
  CgFor lf, lh, lw, lc;
  cg_for_begin(k->F, &lf, K64(k, 0), K64(k, k->Fo), "f");
  cg_for_begin(k->F, &lh, K64(k, 0), K64(k, k->OH), "oh");
  cg_for_begin(k->F, &lw, K64(k, 0), K64(k, k->OW), "ow");
  LLVMValueRef yi = idx4(k, n, k->Fo, lf.iv, k->OH, lh.iv, k->OW, lw.iv);
  if (fwd) LLVMBuildStore(k->b, cg_f32(k->cx, 0), k->acc);
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  LLVMValueRef ctx[3] = {lf.iv, lc.iv, yi};
  window(k, n, lc.iv, lh.iv, lw.iv, fwd ? tap_conv : tap_conv_dx, ctx);
  cg_for_end(k->F, &lc);
  if (fwd) st(k, k->out, yi, LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, ""));
  cg_for_end(k->F, &lw);
  cg_for_end(k->F, &lh);
  cg_for_end(k->F, &lf);
}

/* The weight gradient over filter f (dw[f] zeroed): tap-major, one dot
 * product per sample and tap over the output rows and columns whose window
 * holds the tap, added to dw[f, c, kh, kw]:
 *   dw[f, c, kh, kw] += sum_{oh, ow} dy[n, f, oh, ow] * x[n, c, ih, iw]
 * The innermost loop walks a row of dy and of x with unit stride (at stride
 * 1), its adds carry `reassoc` so it vectorizes; the order is fixed at
 * compile time, so the result does not depend on the thread count. Per
 * sample, x[n, c] and dy[n, f] stay in L1 across the K*K taps. */
static void conv_dw(Wk *k, LLVMValueRef f, LLVMValueRef N) {
  CgFor ln, lc, lkh, lkw, lh, lw;
  LLVMValueRef hlo, hhi, wlo, whi;
  cg_for_begin(k->F, &ln, K64(k, 0), N, "n");
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  cg_for_begin(k->F, &lkh, K64(k, 0), K64(k, k->K), "kh");
  tap_range(k, lkh.iv, k->H, k->OH, &hlo, &hhi);
  cg_for_begin(k->F, &lkw, K64(k, 0), K64(k, k->K), "kw");
  tap_range(k, lkw.iv, k->W, k->OW, &wlo, &whi);
  LLVMValueRef wi = idx4(k, f, k->C, lc.iv, k->K, lkh.iv, k->K, lkw.iv);
  LLVMBuildStore(k->b, cg_f32(k->cx, 0), k->acc);
  cg_for_begin(k->F, &lh, hlo, hhi, "oh");
  LLVMValueRef ih = in_pos(k, lh.iv, lkh.iv);
  cg_for_begin(k->F, &lw, wlo, whi, "ow");
  LLVMValueRef yi = idx4(k, ln.iv, k->Fo, f, k->OH, lh.iv, k->OW, lw.iv);
  LLVMValueRef xi = idx4(k, ln.iv, k->C, lc.iv, k->H, ih, k->W, in_pos(k, lw.iv, lkw.iv));
  LLVMValueRef p = LLVMBuildFMul(k->b, ld(k, k->dy, yi), ld(k, k->x, xi), "");
  LLVMValueRef s = LLVMBuildFAdd(k->b, LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, ""), p, "");
  LLVMSetFastMathFlags(s, LLVMFastMathAllowReassoc);
  LLVMBuildStore(k->b, s, k->acc);
  row_end(k, &lw);
  cg_for_end(k->F, &lh);
  st(k, k->out, wi, LLVMBuildFAdd(k->b, ld(k, k->out, wi), LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, ""), ""));
  cg_for_end(k->F, &lkw);
  cg_for_end(k->F, &lkh);
  cg_for_end(k->F, &lc);
  cg_for_end(k->F, &ln);
}

/* ---- pooling ----
 * ctx: [0] y index */

/* The first maximum wins: only a strictly greater tap replaces it, or a
 * NaN, which then propagates (the last NaN is the argmax), as PyTorch's
 * `v > max || isnan(v)`. */
static void tap_max(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  (void)kh, (void)kw, (void)ctx;
  LLVMValueRef v = ld(k, k->x, xi), a = LLVMBuildLoad2(k->b, k->cx->t_f32, k->acc, "");
  LLVMValueRef gt = LLVMBuildOr(k->b, LLVMBuildFCmp(k->b, LLVMRealOGT, v, a, ""),
                                LLVMBuildFCmp(k->b, LLVMRealUNO, v, v, ""), "");
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

/* Non-overlapping max pool gradient: dx[xi] = xi == argmax ? dy[y] : 0,
 * a store per tap in place of a zeroed slice and a scatter-add. */
static void tap_route(Wk *k, LLVMValueRef kh, LLVMValueRef kw, LLVMValueRef xi, LLVMValueRef *ctx) {
  (void)kh, (void)kw;
  LLVMValueRef hit = LLVMBuildICmp(k->b, LLVMIntEQ, xi, ctx[1], "");
  st(k, k->out, xi, LLVMBuildSelect(k->b, hit, ld(k, k->dy, ctx[0]), cg_f32(k->cx, 0), ""));
}

/* Whether a max pool's windows tile the input exactly: each input element
 * in exactly one window. */
static bool tiles(const Wk *k) { return k->stride == k->K && k->OH * k->K == k->H && k->OW * k->K == k->W; }

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
  if (k->op == OP_MAXPOOL2D_GRAD && tiles(k)) {
    LLVMValueRef rctx[2] = {yi, LLVMBuildLoad2(k->b, k->cx->t_i64, k->best, "")};
    window(k, n, lc.iv, lh.iv, lw.iv, tap_route, rctx);
  } else if (k->op == OP_MAXPOOL2D_GRAD) {
    LLVMValueRef bi = LLVMBuildLoad2(k->b, k->cx->t_i64, k->best, "");
    st(k, k->out, bi, LLVMBuildFAdd(k->b, ld(k, k->out, bi), ld(k, k->dy, yi), ""));
  }
  cg_for_end(k->F, &lw);
  cg_for_end(k->F, &lh);
  cg_for_end(k->F, &lc);
}

/* ---- 2x2 pools that tile their input, in explicit vectors ----
 * maxpool(2)'s windows are pairs of adjacent elements in two rows: the
 * per-output loop above reads them with stride 2, which LLVM vectorizes
 * with gathers (the rows are 13-26 elements, too short for its loop
 * vectorizer otherwise): 20 cycles an output; the pool and its gradient
 * were 38% of the CNN's step at batch 256 (7.5 and 9.4 ms on 1 thread;
 * 1.3 and 2.3 ms this way). Here a chunk of up to PV outputs of one output row reads
 * 2*PV inputs of each of its two input rows with contiguous (masked) loads
 * and splits them into even and odd elements with shuffles: the window's
 * four taps, in the scalar walk's order (kh, kw) = (0,0), (0,1), (1,0),
 * (1,1), combined exactly as tap_max/tap_sum do, so the results are the
 * same bit for bit. The gradients store both input rows whole. */


/* Lanes `first`, first + step, ... of the 2*PV lanes of (a, b). */
static LLVMValueRef pv_shuffle(Wk *k, LLVMValueRef a, LLVMValueRef b, const int *lanes) {
  LLVMValueRef idx[PV];
  for (int i = 0; i < PV; i++) idx[i] = cg_i32(k->cx, lanes[i]);
  return LLVMBuildShuffleVector(k->b, a, b, LLVMConstVector(idx, PV), "");
}

static void pv_split(Wk *k, LLVMValueRef lo, LLVMValueRef hi, LLVMValueRef *even, LLVMValueRef *odd) {
  int e[PV], o[PV];
  for (int i = 0; i < PV; i++) e[i] = 2 * i, o[i] = 2 * i + 1;
  *even = pv_shuffle(k, lo, hi, e), *odd = pv_shuffle(k, lo, hi, o);
}

static void pv_interleave(Wk *k, LLVMValueRef even, LLVMValueRef odd, LLVMValueRef *lo, LLVMValueRef *hi) {
  int l[PV], h[PV];
  for (int i = 0; i < PV; i++) l[i] = i / 2 + (i % 2) * PV, h[i] = PV / 2 + i / 2 + (i % 2) * PV;
  *lo = pv_shuffle(k, even, odd, l), *hi = pv_shuffle(k, even, odd, h);
}

static LLVMValueRef pv_isnan(Wk *k, LLVMValueRef v) { return LLVMBuildFCmp(k->b, LLVMRealUNO, v, v, ""); }

static bool pool_2x2(const Wk *k) { return k->K == 2 && k->stride == 2 && tiles(k); }

/* Sample n of a 2x2 tiling pool or its gradient. */
static void pool_2x2_vec(Wk *k, LLVMValueRef n) {
  CgCtx *cx = k->cx;
  LLVMBuilderRef b = k->b;
  bool mx = k->op == OP_MAXPOOL2D || k->op == OP_MAXPOOL2D_GRAD;
  bool fwd = k->op == OP_MAXPOOL2D || k->op == OP_AVGPOOL2D;
  LLVMTypeRef vt = pv_type(cx->t_f32);
  LLVMValueRef zero = LLVMConstNull(vt);
  CgFor lc, lh, lj;
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  cg_for_begin(k->F, &lh, K64(k, 0), K64(k, k->OH), "oh");
  cg_for_begin(k->F, &lj, K64(k, 0), K64(k, (k->OW + PV - 1) / PV), "chunk");
  LLVMValueRef o0 = mul(k, lj.iv, PV); /* the chunk's first output column */
  LLVMValueRef yi = add(k, idx4(k, n, k->C, lc.iv, k->OH, lh.iv, k->OW, K64(k, 0)), o0);
  LLVMValueRef nout = LLVMBuildNSWSub(b, K64(k, k->OW), o0, "");
  LLVMValueRef nin = mul(k, nout, 2);
  LLVMValueRef m_out = pv_mask(k, nout), m_lo = pv_mask(k, nin),
               m_hi = pv_mask(k, LLVMBuildNSWSub(b, nin, K64(k, PV), ""));
  LLVMValueRef xi[2], tap[4]; /* tap[2 * kh + kw] */
  for (int kh = 0; kh < 2; kh++) {
    xi[kh] = add(k, idx4(k, n, k->C, lc.iv, k->H, add(k, mul(k, lh.iv, 2), K64(k, kh)), k->W, K64(k, 0)),
                 mul(k, o0, 2));
    if (k->op == OP_AVGPOOL2D_GRAD) continue;
    LLVMValueRef lo = pv_load(k, k->x, xi[kh], m_lo), hi = pv_load(k, k->x, add(k, xi[kh], K64(k, PV)), m_hi);
    pv_split(k, lo, hi, &tap[2 * kh], &tap[2 * kh + 1]);
  }
  LLVMValueRef route[4];
  if (mx) {
    /* tap_max in vectors: a tap replaces the running max if greater or NaN */
    LLVMValueRef m = pv_splat(k, cg_f32(cx, -INFINITY));
    LLVMValueRef take[4];
    for (int t = 0; t < 4; t++) {
      take[t] = LLVMBuildOr(b, LLVMBuildFCmp(b, LLVMRealOGT, tap[t], m, ""), pv_isnan(k, tap[t]), "");
      m = LLVMBuildSelect(b, take[t], tap[t], m, "");
    }
    if (fwd) {
      pv_store(k, k->out, yi, m, m_out);
    } else {
      /* The argmax is the last tap that replaced the max, or tap 0 if none
       * did (every tap -inf): tap t routes iff it took and no later did. */
      LLVMValueRef later = LLVMConstNull(LLVMTypeOf(take[0]));
      for (int t = 3; t >= 0; t--) {
        LLVMValueRef is = LLVMBuildAnd(b, take[t], LLVMBuildNot(b, later, ""), "");
        later = LLVMBuildOr(b, later, take[t], "");
        if (t == 0) is = LLVMBuildOr(b, is, LLVMBuildNot(b, later, ""), "");
        route[t] = is;
      }
    }
  } else if (fwd) {
    LLVMValueRef a = zero;
    for (int t = 0; t < 4; t++) a = LLVMBuildFAdd(b, a, tap[t], "");
    pv_store(k, k->out, yi, LLVMBuildFMul(b, a, pv_splat(k, cg_f32(cx, 0.25)), ""), m_out);
  }
  if (!fwd) {
    LLVMValueRef g = pv_load(k, k->dy, yi, m_out);
    /* tap_avg_dx adds to a zeroed dx: 0 + g / 4 (+0, not -0, for g = -0) */
    if (!mx) g = LLVMBuildFAdd(b, zero, LLVMBuildFMul(b, g, pv_splat(k, cg_f32(cx, 0.25)), ""), "");
    for (int kh = 0; kh < 2; kh++) {
      LLVMValueRef ev = mx ? LLVMBuildSelect(b, route[2 * kh], g, zero, "") : g;
      LLVMValueRef od = mx ? LLVMBuildSelect(b, route[2 * kh + 1], g, zero, "") : g;
      LLVMValueRef lo, hi;
      pv_interleave(k, ev, od, &lo, &hi);
      pv_store(k, k->out, xi[kh], lo, m_lo);
      pv_store(k, k->out, add(k, xi[kh], K64(k, PV)), hi, m_hi);
    }
  }
  cg_for_end(k->F, &lj);
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
  /* The weight gradient's outer loop runs over blocks of db filters (one
   * filter where the flat form does not fit). */
  int db = dw ? cg_conv_dw_block(&k) : 0, per = db ? db : 1;
  /* cg_conv_vec's loop, its padded copy zeroed before the samples' loop */
  Wk cv = cg_conv_vec_role(&k);
  if (cg_conv_vec_fits(&k)) cg_conv_vec_setup(&cv);
  CgFor lo_l;
  cg_for_begin(&F, &lo_l, lo, hi, dw ? "fblock" : "n");
  /* Each scatter zeroes the slice its chunk owns: a sample of dx, or a
   * filter of dw. */
  bool vec = !conv_op && pool_2x2(&k);
  /* cg_conv_vec stores every element of its sample */
  if (!fwd && !vec && !(nd->op == OP_MAXPOOL2D_GRAD && tiles(&k)) && !cg_conv_vec_fits(&k))
    zero(&k, lo_l.iv, dw ? per * k.C * k.K * k.K : k.C * k.H * k.W);
  if (db)
    cg_conv_dw_flat(&k, lo_l.iv, cg_mono_val(&F, N), db);
  else if (dw)
    conv_dw(&k, lo_l.iv, cg_mono_val(&F, N));
  else if (cg_conv_vec_fits(&k))
    cg_conv_vec(&cv, lo_l.iv);
  else if (conv_op)
    conv(&k, lo_l.iv);
  else if (vec)
    pool_2x2_vec(&k, lo_l.iv);
  else
    pool(&k, lo_l.iv);
  cg_for_end(&F, &lo_l);
  /* Work per outer iteration (window taps visited), for the pool's grain:
   * a sample's or a block of filters'. */
  kf->outer = dw ? cg_mono(k.Fo / per) : N;
  kf->inner = cg_mono(k.C * k.K * k.K * k.OH * k.OW);
  if (conv_op) kf->inner = cg_mono_mul(kf->inner, dw ? cg_mono_mul(N, cg_mono(per)) : cg_mono(k.Fo));
  cg_kernel_end(kf, NULL, &F);
}
