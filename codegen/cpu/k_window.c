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
 * The scatters (gradients) zero their own slice first, except a max pool
 * gradient whose windows tile the input, which stores every element.
 *
 * Direct loops, not im2col + nnrt_sgemm: the first CNN's convolutions are
 * small (one or few input channels), where the GEMM's K = C*K*K is too short
 * to pay for the im2col copy; a GEMM path for wide layers is future work.
 * The weight gradient alone is tap-major (conv_dw): a dot product per tap
 * over unit-stride rows, which vectorizes; the forward and the input
 * gradient keep the per-output walk, which measured faster with one input
 * channel (the output's sum stays in a register). */
#include <math.h>
#include <string.h>

#include <llvm-c/DebugInfo.h>

#include "cg.h"

#define PV 16 /* lanes of the explicit vectors: one AVX-512 register of f32 */

typedef struct Wk {
  CgFn *F;
  CgCtx *cx;
  LLVMBuilderRef b;
  OpKind op;
  int64_t C, H, W, Fo, OH, OW, K; /* Fo: output channels (C for pools) */
  int stride, pad;
  LLVMValueRef x, w, dy, out; /* w: conv filters; dy: the gradients' seed */
  LLVMValueRef acc, best;     /* allocas: running sum or max, argmax */
  bool flip;                  /* conv_vec computing an input gradient (conv_vec_dx) */
  LLVMValueRef xp;            /* conv_vec's zero-padded copy of a sample, or NULL */
  int64_t xp_w, xp_plane;     /* its row and plane lengths */
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

/* The weight gradient at stride 1 as flat dot products. With the image
 * padded to Wp = W + 2 pad columns and dy's rows widened to Wp with zeros,
 * tap (kh, kw)'s sum over the output positions is one dot product over the
 * flattened planes: q = oh * Wp + ow pairs dy[q] with x[q + kh * Wp + kw],
 * and the widening's zeros cancel the pairs that wrap into the next row.
 * So each row of taps is one pass of L = (OH - 1) * Wp + OW products,
 * long enough to vectorize, where conv_dw's rows of OW = 26 left a
 * horizontal sum and a scalar remainder per row (7 GFLOP/s, a third of the
 * CNN's step at batch 256; then 32).
 *
 * The pass runs in explicit vectors of PV, over L rounded up to whole
 * vectors (the planes' zero tails make the extra products +0), with one
 * vector accumulator per (filter, kw) and a horizontal sum of each at the
 * end. It serves a block of DB filters: each x load feeds DB products, so
 * a pass loads K inputs and DB gradients for DB * K products, where one
 * filter's pass loaded K + 1 for K (two of them unaligned) and was bound
 * by its loads. examples/fashion_cnn.nn at batch 64 on one thread (a 3x3
 * conv of one channel on 28x28): 59 GFLOP/s one filter at a time, 79-89 in
 * blocks of 8 with LLVM's vectorizer, 90-96 in explicit vectors; a second
 * layer of 32 -> 64 channels on 14x14 planes with padding 1: 62 in blocks
 * with LLVM's vectorizer (which left L's remainder, as many products again
 * as its vector part there, to a scalar loop), 90-113 in explicit vectors
 * (`profile`, alternating builds). DB * K accumulators stay within
 * FLAT_DW_MAX_ACC vector registers. The pool's chunks are blocks of
 * filters, each summed by one chunk in an order fixed at compile time, so
 * the result does not depend on the thread count. The scratch planes live
 * on the stack (FLAT_DW_MAX_BYTES); their zero borders and tails are
 * written once per call. */
#define FLAT_DW_MAX_BYTES (128 << 10)
#define FLAT_DW_MAX_K 7
#define FLAT_DW_MAX_ACC 24

typedef struct FlatDw {
  int64_t Wp, L, Lr; /* padded row, products per pass, L in whole vectors */
  int64_t dy_plane;  /* floats per widened dy plane (whole vectors) */
  int64_t x_len;     /* floats of the padded x plane and its tail */
} FlatDw;

static FlatDw flat_dw(const Wk *k) {
  FlatDw d;
  int64_t Hp = k->H + 2 * k->pad;
  d.Wp = k->W + 2 * k->pad;
  d.L = (k->OH - 1) * d.Wp + k->OW;
  d.Lr = (d.L + PV - 1) / PV * PV;
  int64_t dy = k->OH * d.Wp > d.Lr ? k->OH * d.Wp : d.Lr;
  d.dy_plane = (dy + PV - 1) / PV * PV;
  /* the last pass reads up to (Lr - 1) + (K - 1) * Wp + K - 1 = Hp * Wp - 1 + Lr - L */
  d.x_len = Hp * d.Wp + d.Lr - d.L;
  return d;
}

static int64_t conv_dw_flat_bytes(const Wk *k, int db) {
  FlatDw d = flat_dw(k);
  return 4 * (db * d.dy_plane + d.x_len);
}

/* Filters per pass: the largest power of two that divides the filters and
 * keeps the accumulators in registers and the planes within the stack
 * budget; 0 if not even one filter's planes fit (conv_dw then). */
static int conv_dw_flat_block(const Wk *k) {
  if (k->stride != 1 || k->K > FLAT_DW_MAX_K) return 0;
  int db = 1;
  while (k->Fo % (2 * db) == 0 && 2 * db * k->K <= FLAT_DW_MAX_ACC && conv_dw_flat_bytes(k, 2 * db) <= FLAT_DW_MAX_BYTES)
    db *= 2;
  return conv_dw_flat_bytes(k, db) <= FLAT_DW_MAX_BYTES ? db : 0;
}

static void fill_zero(Wk *k, LLVMValueRef buf, int64_t n) {
  CgFor l;
  cg_for_begin(k->F, &l, K64(k, 0), K64(k, n), "clear");
  st(k, buf, l.iv, cg_f32(k->cx, 0));
  cg_for_end(k->F, &l);
}

/* dst[r * dst_w + col0 + j] = src[src0 + r * src_w + j] for r < rows, j < cols */
static void copy_plane(Wk *k, LLVMValueRef dst, LLVMValueRef dst0, int64_t dst_w, LLVMValueRef src,
                       LLVMValueRef src0, int64_t src_w, int64_t rows, int64_t cols) {
  CgFor lr, lj;
  cg_for_begin(k->F, &lr, K64(k, 0), K64(k, rows), "r");
  cg_for_begin(k->F, &lj, K64(k, 0), K64(k, cols), "j");
  LLVMValueRef v = ld(k, src, add(k, add(k, src0, mul(k, lr.iv, src_w)), lj.iv));
  st(k, dst, add(k, add(k, mul(k, lr.iv, dst_w), dst0), lj.iv), v);
  cg_for_end(k->F, &lj);
  cg_for_end(k->F, &lr);
}

static LLVMTypeRef vec_f32(Wk *k) { return LLVMVectorType(k->cx->t_f32, PV); }

/* A vector of PV floats at base[i], aligned to `align` bytes. */
static LLVMValueRef ld_vec(Wk *k, LLVMValueRef base, LLVMValueRef i, unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(k->b, vec_f32(k), cg_gep(k->F, k->cx->t_f32, base, i), "");
  LLVMSetAlignment(v, align);
  return v;
}

/* The sum of v's lanes in a tree (reassociated: an order fixed at compile
 * time). */
static LLVMValueRef hsum(Wk *k, LLVMValueRef v) {
  LLVMTypeRef vt = vec_f32(k);
  const char *name = "llvm.vector.reduce.fadd";
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef args[2] = {cg_f32(k->cx, -0.0), v};
  LLVMValueRef r = LLVMBuildCall2(k->b, LLVMIntrinsicGetType(k->cx->llc, id, &vt, 1),
                                  LLVMGetIntrinsicDeclaration(k->cx->mod, id, &vt, 1), args, 2, "");
  LLVMSetFastMathFlags(r, LLVMFastMathAllowReassoc);
  return r;
}

/* Filters [blk * db, blk * db + db) of dw (zeroed), over all N samples. */
static void conv_dw_flat(Wk *k, LLVMValueRef blk, LLVMValueRef N, int db) {
  CgCtx *cx = k->cx;
  LLVMBuilderRef b = k->b;
  FlatDw d = flat_dw(k);
  int64_t p = k->pad, Wp = d.Wp;
  LLVMValueRef dyp = cg_alloca(k->F, LLVMArrayType2(cx->t_f32, (uint64_t)(db * d.dy_plane)), "dy_rows");
  LLVMValueRef xp = cg_alloca(k->F, LLVMArrayType2(cx->t_f32, (uint64_t)d.x_len), "x_padded");
  LLVMSetAlignment(dyp, 64);
  LLVMSetAlignment(xp, 64);
  LLVMTypeRef vt = vec_f32(k);
  LLVMValueRef acc[FLAT_DW_MAX_ACC]; /* acc[j * K + kw] */
  for (int a = 0; a < db * k->K; a++) acc[a] = cg_alloca(k->F, vt, "acc");
  LLVMValueRef f0 = mul(k, blk, db);
  fill_zero(k, dyp, db * d.dy_plane);
  fill_zero(k, xp, d.x_len);
  CgFor ln, lc, lkh, lq;
  cg_for_begin(k->F, &ln, K64(k, 0), N, "n");
  for (int j = 0; j < db; j++)
    copy_plane(k, dyp, K64(k, j * d.dy_plane), Wp, k->dy,
               idx4(k, ln.iv, k->Fo, add(k, f0, K64(k, j)), k->OH, K64(k, 0), k->OW, K64(k, 0)), k->OW, k->OH, k->OW);
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  copy_plane(k, xp, K64(k, p * Wp + p), Wp, k->x, idx4(k, ln.iv, k->C, lc.iv, k->H, K64(k, 0), k->W, K64(k, 0)), k->W,
             k->H, k->W);
  cg_for_begin(k->F, &lkh, K64(k, 0), K64(k, k->K), "kh");
  for (int a = 0; a < db * k->K; a++) LLVMBuildStore(b, LLVMConstNull(vt), acc[a]);
  cg_for_begin(k->F, &lq, K64(k, 0), K64(k, d.Lr / PV), "q");
  LLVMValueRef q0 = mul(k, lq.iv, PV), at = add(k, mul(k, lkh.iv, Wp), q0), xv[FLAT_DW_MAX_K];
  for (int kw = 0; kw < k->K; kw++) xv[kw] = ld_vec(k, xp, add(k, at, K64(k, kw)), 4);
  for (int j = 0; j < db; j++) {
    LLVMValueRef dv = ld_vec(k, dyp, add(k, q0, K64(k, j * d.dy_plane)), 64);
    for (int kw = 0; kw < k->K; kw++) {
      LLVMValueRef *a = &acc[j * k->K + kw];
      LLVMValueRef sum = LLVMBuildFAdd(b, LLVMBuildLoad2(b, vt, *a, ""), LLVMBuildFMul(b, dv, xv[kw], ""), "");
      LLVMBuildStore(b, sum, *a);
    }
  }
  cg_for_end(k->F, &lq);
  for (int j = 0; j < db; j++)
    for (int kw = 0; kw < k->K; kw++) {
      LLVMValueRef wi = idx4(k, add(k, f0, K64(k, j)), k->C, lc.iv, k->K, lkh.iv, k->K, K64(k, kw));
      LLVMValueRef v = hsum(k, LLVMBuildLoad2(b, vt, acc[j * k->K + kw], ""));
      st(k, k->out, wi, LLVMBuildFAdd(b, ld(k, k->out, wi), v, ""));
    }
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


static LLVMTypeRef pv_type(LLVMTypeRef elem) { return LLVMVectorType(elem, PV); }

/* v in every lane. */
static LLVMValueRef pv_splat(Wk *k, LLVMValueRef v) {
  LLVMValueRef lanes[PV];
  if (LLVMIsConstant(v)) {
    for (int i = 0; i < PV; i++) lanes[i] = v;
    return LLVMConstVector(lanes, PV);
  }
  LLVMValueRef one = LLVMBuildInsertElement(k->b, LLVMGetPoison(pv_type(LLVMTypeOf(v))), v, cg_i32(k->cx, 0), "");
  return LLVMBuildShuffleVector(k->b, one, one, LLVMConstNull(pv_type(k->cx->t_i32)), "");
}

/* Lanes [0, n) of a PV-lane mask, n an i64 that may be <= 0 or >= PV. */
static LLVMValueRef pv_mask(Wk *k, LLVMValueRef n) {
  LLVMValueRef iota[PV];
  for (int i = 0; i < PV; i++) iota[i] = cg_i64(k->cx, i);
  LLVMValueRef splat = pv_splat(k, n);
  return LLVMBuildICmp(k->b, LLVMIntSLT, LLVMConstVector(iota, PV), splat, "");
}

static LLVMValueRef pv_masked(Wk *k, const char *name, LLVMValueRef *args, int nargs) {
  LLVMTypeRef tys[2] = {pv_type(k->cx->t_f32), k->cx->t_ptr};
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(k->cx->mod, id, tys, 2);
  return LLVMBuildCall2(k->b, LLVMIntrinsicGetType(k->cx->llc, id, tys, 2), fn, args, (unsigned)nargs, "");
}

static LLVMValueRef pv_load(Wk *k, LLVMValueRef base, LLVMValueRef i, LLVMValueRef mask) {
  LLVMValueRef args[4] = {cg_gep(k->F, k->cx->t_f32, base, i), cg_i32(k->cx, 4), mask,
                          LLVMConstNull(pv_type(k->cx->t_f32))};
  return pv_masked(k, "llvm.masked.load", args, 4);
}

static void pv_store(Wk *k, LLVMValueRef base, LLVMValueRef i, LLVMValueRef v, LLVMValueRef mask) {
  LLVMValueRef args[4] = {v, cg_gep(k->F, k->cx->t_f32, base, i), cg_i32(k->cx, 4), mask};
  pv_masked(k, "llvm.masked.store", args, 4);
}

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

/* ---- conv2d at stride 1 in explicit vectors ----
 * The per-output walk (conv) keeps one output's sum in a scalar register:
 * LLVM vectorizes it across the window's taps, not the outputs, and the
 * CNN's first layer (one channel, 3x3) ran at 59 GFLOP/s on one thread, a
 * sixth of the step at batch 64. Here a chunk of PV outputs of one output
 * row is computed for CB filters at once: each tap is one (masked) load of
 * PV inputs of one input row, multiplied by CB filters' weights (scalars
 * broadcast from memory) into CB vector accumulators, so a load feeds CB
 * products. Every output still sums its taps in conv's order (c, kh, kw)
 * from 0, with a separate multiply and add, and the taps outside the input
 * add +0, which changes no sum, so the results are conv's bit for bit.
 *
 * The input gradient at stride 1 is the same loop (conv_vec_dx): dx is the
 * convolution of dy with the filters transposed (input and output channels
 * swapped) and flipped (tap kh read as K-1-kh), padded by K-1-pad. The
 * scatter walk (conv with tap_conv_dx) added each product to dx in memory,
 * a load and a store per product: 12 GFLOP/s, 70% of the step of a CNN
 * with a second 32 -> 64 channel layer. Its sums run in another order than
 * the scatter's (f, kh, kw per element against the scatter's f, oh, ow):
 * the same up to f32 rounding, and still independent of the thread count
 * (a sample per chunk). */
#define CONV_CB_MAX 8     /* filters per chunk: 8 accumulators and a load */
#define CONV_VEC_MAX_K 11 /* taps per row unrolled (one mask each) */

static bool conv_vec_fits(const Wk *k) {
  return (k->op == OP_CONV2D || k->op == OP_CONV2D_GRAD_INPUT) && k->stride == 1 && k->K <= CONV_VEC_MAX_K;
}

/* The largest power of two up to CONV_CB_MAX that divides the filters. */
static int conv_vec_block(const Wk *k) {
  int cb = CONV_CB_MAX;
  while (k->Fo % cb) cb /= 2;
  return cb;
}

/* Lanes l with lo <= l < hi (i64 bounds). */
static LLVMValueRef pv_range(Wk *k, LLVMValueRef lo, LLVMValueRef hi) {
  LLVMValueRef iota[PV];
  for (int i = 0; i < PV; i++) iota[i] = cg_i64(k->cx, i);
  LLVMValueRef lanes = LLVMConstVector(iota, PV);
  return LLVMBuildAnd(k->b, LLVMBuildICmp(k->b, LLVMIntSGE, lanes, pv_splat(k, lo), ""),
                      LLVMBuildICmp(k->b, LLVMIntSLT, lanes, pv_splat(k, hi), ""), "");
}

/* The zero-padded copy of a sample conv_vec reads with padding, where it
 * fits the stack: allocated and zeroed once per call (each sample's copy
 * then rewrites only the interior), PV floats of slack at the end for the
 * last row's loads, whose lanes past the row are never stored. */
#define CONV_PAD_MAX_BYTES (128 << 10)

static void conv_vec_pad_setup(Wk *k) {
  int64_t wp = k->W + 2 * k->pad, plane = (k->H + 2 * k->pad) * wp, n = k->C * plane + PV;
  if (k->pad <= 0 || 4 * n > CONV_PAD_MAX_BYTES) return;
  k->xp = cg_alloca(k->F, LLVMArrayType2(k->cx->t_f32, (uint64_t)n), "x_padded");
  LLVMSetAlignment(k->xp, 64);
  k->xp_w = wp, k->xp_plane = plane;
  fill_zero(k, k->xp, n);
}

static void conv_vec(Wk *k, LLVMValueRef n) {
  CgCtx *cx = k->cx;
  LLVMBuilderRef b = k->b;
  int cb = conv_vec_block(k);
  /* Without padding every tap of every window is inside the input (as in
   * window()): no lane needs a mask beyond the chunk's end. With the padded
   * copy, every tap is inside the copy. */
  bool inside = k->xp || (k->pad == 0 && k->OH - 1 + k->K <= k->H && k->OW - 1 + k->K <= k->W);
  LLVMTypeRef vt = pv_type(cx->t_f32);
  LLVMValueRef acc[CONV_CB_MAX], m_tap[CONV_VEC_MAX_K];
  for (int j = 0; j < cb; j++) acc[j] = cg_alloca(k->F, vt, "acc");
  CgFor lf, lh, lj, lc, lkh;
  if (k->xp) {
    CgFor lp;
    cg_for_begin(k->F, &lp, K64(k, 0), K64(k, k->C), "copy");
    copy_plane(k, k->xp, add(k, mul(k, lp.iv, k->xp_plane), K64(k, k->pad * k->xp_w + k->pad)), k->xp_w, k->x,
               idx4(k, n, k->C, lp.iv, k->H, K64(k, 0), k->W, K64(k, 0)), k->W, k->H, k->W);
    cg_for_end(k->F, &lp);
  }
  cg_for_begin(k->F, &lf, K64(k, 0), K64(k, k->Fo / cb), "fblock");
  LLVMValueRef f0 = mul(k, lf.iv, cb);
  cg_for_begin(k->F, &lh, K64(k, 0), K64(k, k->OH), "oh");
  LLVMValueRef bh, hlo, hhi;
  taps(k, lh.iv, k->H, &bh, &hlo, &hhi);
  if (inside) hlo = K64(k, 0), hhi = K64(k, k->K);
  cg_for_begin(k->F, &lj, K64(k, 0), K64(k, (k->OW + PV - 1) / PV), "chunk");
  LLVMValueRef o0 = mul(k, lj.iv, PV); /* the chunk's first output column */
  LLVMValueRef m_out = pv_mask(k, LLVMBuildNSWSub(b, K64(k, k->OW), o0, ""));
  /* Tap kw of lane l reads input column o0 + l - pad + kw. */
  LLVMValueRef col0 = LLVMBuildNSWSub(b, o0, K64(k, k->pad), "");
  for (int kw = 0; kw < k->K; kw++) {
    LLVMValueRef first = LLVMBuildNSWNeg(b, add(k, col0, K64(k, kw)), "");
    m_tap[kw] = inside ? m_out
                       : LLVMBuildAnd(b, m_out, pv_range(k, first, add(k, first, K64(k, k->W))), "");
  }
  for (int j = 0; j < cb; j++) LLVMBuildStore(b, LLVMConstNull(vt), acc[j]);
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  cg_for_begin(k->F, &lkh, hlo, hhi, "kh");
  /* In the copy, output (oh, o0) reads row oh + kh, column o0 + kw. */
  LLVMValueRef row = k->xp ? add(k, add(k, mul(k, lc.iv, k->xp_plane), mul(k, add(k, lh.iv, lkh.iv), k->xp_w)), o0)
                           : idx4(k, n, k->C, lc.iv, k->H, add(k, bh, lkh.iv), k->W, col0);
  for (int kw = 0; kw < k->K; kw++) {
    /* Not inbounds: with padding the first lanes' columns may lie before
     * the row (and the buffer); those lanes are masked off. */
    LLVMValueRef at = add(k, row, K64(k, kw)), xv;
    if (k->xp) {
      xv = LLVMBuildLoad2(b, vt, cg_gep(k->F, cx->t_f32, k->xp, at), "");
      LLVMSetAlignment(xv, 4);
    } else {
      LLVMValueRef args[4] = {LLVMBuildGEP2(b, cx->t_f32, k->x, &at, 1, ""), cg_i32(cx, 4), m_tap[kw],
                              LLVMConstNull(vt)};
      xv = pv_masked(k, "llvm.masked.load", args, 4);
    }
    for (int j = 0; j < cb; j++) {
      LLVMValueRef ctx[2] = {add(k, f0, K64(k, j)), lc.iv}, wi;
      if (k->flip) /* w is [C, Fo, K, K] in this loop's names */
        wi = idx4(k, lc.iv, k->Fo, ctx[0], k->K, LLVMBuildNSWSub(b, K64(k, k->K - 1), lkh.iv, ""), k->K,
                  K64(k, k->K - 1 - kw));
      else
        wi = widx(k, ctx, lkh.iv, K64(k, kw));
      LLVMValueRef wv = pv_splat(k, ld(k, k->w, wi));
      LLVMValueRef a = LLVMBuildLoad2(b, vt, acc[j], "");
      /* A tap outside the input adds +0 (the product's lane zeroed, one
       * masked multiply), which leaves every sum as it is: a sum that
       * starts at +0 is never -0 (x + -x is +0), and NaN + 0 is NaN. */
      LLVMValueRef p = LLVMBuildFMul(b, xv, wv, "");
      if (!inside) p = LLVMBuildSelect(b, m_tap[kw], p, LLVMConstNull(vt), "");
      LLVMValueRef s = LLVMBuildFAdd(b, a, p, "");
      LLVMBuildStore(b, s, acc[j]);
    }
  }
  cg_for_end(k->F, &lkh);
  cg_for_end(k->F, &lc);
  for (int j = 0; j < cb; j++) {
    LLVMValueRef yi = add(k, idx4(k, n, k->Fo, add(k, f0, K64(k, j)), k->OH, lh.iv, k->OW, K64(k, 0)), o0);
    pv_store(k, k->out, yi, LLVMBuildLoad2(b, vt, acc[j], ""), m_out);
  }
  cg_for_end(k->F, &lj);
  cg_for_end(k->F, &lh);
  cg_for_end(k->F, &lf);
}

/* The loop conv_vec runs for k: k itself for conv2d; for
 * conv2d_grad_input the convolution over dy, the roles of x and dy, of C
 * and Fo, of (H, W) and (OH, OW) swapped, the filters flipped. */
static Wk conv_vec_role(const Wk *k) {
  Wk g = *k;
  if (k->op != OP_CONV2D_GRAD_INPUT) return g;
  g.x = k->dy, g.C = k->Fo, g.H = k->OH, g.W = k->OW;
  g.Fo = k->C, g.OH = k->H, g.OW = k->W;
  g.pad = k->K - 1 - k->pad, g.flip = true;
  return g;
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
  int db = dw ? conv_dw_flat_block(&k) : 0, per = db ? db : 1;
  /* conv_vec's loop, its padded copy zeroed before the samples' loop */
  Wk cv = conv_vec_role(&k);
  if (conv_vec_fits(&k)) conv_vec_pad_setup(&cv);
  CgFor lo_l;
  cg_for_begin(&F, &lo_l, lo, hi, dw ? "fblock" : "n");
  /* Each scatter zeroes the slice its chunk owns: a sample of dx, or a
   * filter of dw. */
  bool vec = !conv_op && pool_2x2(&k);
  /* conv_vec stores every element of its sample */
  if (!fwd && !vec && !(nd->op == OP_MAXPOOL2D_GRAD && tiles(&k)) && !conv_vec_fits(&k))
    zero(&k, lo_l.iv, dw ? per * k.C * k.K * k.K : k.C * k.H * k.W);
  if (db)
    conv_dw_flat(&k, lo_l.iv, cg_mono_val(&F, N), db);
  else if (dw)
    conv_dw(&k, lo_l.iv, cg_mono_val(&F, N));
  else if (conv_vec_fits(&k))
    conv_vec(&cv, lo_l.iv);
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
