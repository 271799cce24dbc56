/* k_conv.c — the convolutions in explicit vectors: conv2d and its input
 * gradient (cg_conv_vec, a chunk of PV outputs of a row for several filters
 * per load) and its weight gradient (cg_conv_dw_flat, flat dot products),
 * both over a zero-padded copy of each sample split by stride phases
 * (Phased). k_window.c dispatches to them and keeps the scalar walk for
 * what they do not take. */
#include <string.h>

#include "window.h"

/* ---- a sample's zero-padded copy, split by stride phases ----
 * The vector kernels below read a channel of the input from a copy on the
 * stack: zero-padded, and at stride s split into s x s phase planes
 * ("space to depth"): padded row r = rq * s + ps, column c = cq * s + pc
 * goes to phase (ps, pc) at rq * Wq + cq. Tap (kh, kw) of output (oh, ow)
 * reads padded (oh * s + kh, ow * s + kw), which is phase (kh % s, kw % s)
 * at (oh + kh / s) * Wq + ow + kw / s: consecutive outputs of a row read
 * consecutive floats, at any stride, and every tap is inside the copy. At
 * stride 1 it is the padded plane. With a dilation d, input (ih, iw) lands
 * on padded (pad + ih * d, pad + iw * d) and zeros fill the gaps (an input
 * gradient at a stride, cg_conv_vec_role). The padded size is what the
 * outputs' windows reach, at least the padded input. */
typedef struct Phased {
  int64_t s, Hq, Wq; /* stride, rows and columns of a phase plane */
  int64_t phase;     /* floats per phase plane: Hq * Wq */
  int64_t plane;     /* floats per channel: s * s phases */
} Phased;

static int64_t padded_len(const Wk *k, int64_t n, int64_t no) {
  int64_t d = k->dil > 1 ? k->dil : 1, span = (n - 1) * d + 1 + 2 * k->pad, reach = (no - 1) * k->stride + k->K;
  return span > reach ? span : reach;
}

static Phased phased(const Wk *k) {
  Phased ph = {.s = k->stride};
  ph.Hq = (padded_len(k, k->H, k->OH) + ph.s - 1) / ph.s;
  ph.Wq = (padded_len(k, k->W, k->OW) + ph.s - 1) / ph.s;
  ph.phase = ph.Hq * ph.Wq;
  ph.plane = ph.s * ph.s * ph.phase;
  return ph;
}

/* Where tap (kh, kw) of output (0, 0) lies in a channel's phases. */
static LLVMValueRef phased_tap(Wk *k, const Phased *ph, LLVMValueRef kh, int64_t kw) {
  LLVMValueRef s = K64(k, ph->s);
  LLVMValueRef hs = LLVMBuildSRem(k->b, kh, s, ""), hq = LLVMBuildSDiv(k->b, kh, s, "");
  LLVMValueRef ps = add(k, mul(k, hs, ph->s), K64(k, kw % ph->s));
  return add(k, add(k, mul(k, ps, ph->phase), mul(k, hq, ph->Wq)), K64(k, kw / ph->s));
}

/* Channel plane src[src0 ...] (H x W) into dst[dst0 ...], whose padding
 * (and any slack) is zero already and stays so. */
static void phased_copy(Wk *k, const Phased *ph, LLVMValueRef dst, LLVMValueRef dst0, LLVMValueRef src,
                        LLVMValueRef src0) {
  LLVMValueRef s = K64(k, ph->s);
  CgFor lr, lj;
  cg_for_begin(k->F, &lr, K64(k, 0), K64(k, k->H), "r");
  int64_t d = k->dil > 1 ? k->dil : 1;
  LLVMValueRef r = add(k, mul(k, lr.iv, d), K64(k, k->pad));
  LLVMValueRef row = add(k, mul(k, mul(k, LLVMBuildSRem(k->b, r, s, ""), ph->s), ph->phase),
                         mul(k, LLVMBuildSDiv(k->b, r, s, ""), ph->Wq));
  cg_for_begin(k->F, &lj, K64(k, 0), K64(k, k->W), "j");
  LLVMValueRef c = add(k, mul(k, lj.iv, d), K64(k, k->pad));
  LLVMValueRef at = add(k, add(k, row, mul(k, LLVMBuildSRem(k->b, c, s, ""), ph->phase)), LLVMBuildSDiv(k->b, c, s, ""));
  st(k, dst, add(k, dst0, at), ld(k, src, add(k, add(k, src0, mul(k, lr.iv, k->W)), lj.iv)));
  cg_for_end(k->F, &lj);
  cg_for_end(k->F, &lr);
}

/* The weight gradient as flat dot products. With the image in its phased
 * copy (phase planes of Wq columns; at stride 1 the plane padded to
 * Wq = W + 2 pad columns) and dy's rows widened to Wq with zeros, tap
 * (kh, kw)'s sum over the output positions is one dot product over the
 * flattened planes: q = oh * Wq + ow pairs dy[q] with the copy at
 * phased_tap(kh, kw) + q, and the widening's zeros cancel the pairs that
 * wrap into the next row. So each tap is one pass of
 * L = (OH - 1) * Wq + OW products,
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
  Phased ph;        /* the x copy's layout */
  int64_t L, Lr;    /* products per pass, L in whole vectors */
  int64_t dy_plane; /* floats per widened dy plane (whole vectors) */
  int64_t x_len;    /* floats of the x copy and its zero tail */
} FlatDw;

static FlatDw flat_dw(const Wk *k) {
  FlatDw d = {.ph = phased(k)};
  int64_t Wq = d.ph.Wq;
  d.L = (k->OH - 1) * Wq + k->OW;
  d.Lr = (d.L + PV - 1) / PV * PV;
  int64_t dy = k->OH * Wq > d.Lr ? k->OH * Wq : d.Lr;
  d.dy_plane = (dy + PV - 1) / PV * PV;
  /* A pass reads up to phased_tap(K-1, K-1) + Lr - 1, below
   * plane + (K / s + 1) * (Wq + 1) + Lr; the pairs past a phase meet dy's
   * zeros. */
  d.x_len = d.ph.plane + (k->K / d.ph.s + 1) * (Wq + 1) + d.Lr;
  return d;
}

static int64_t conv_dw_flat_bytes(const Wk *k, int db) {
  FlatDw d = flat_dw(k);
  return 4 * (db * d.dy_plane + d.x_len);
}

/* Filters per pass: the largest power of two that divides the filters and
 * keeps the accumulators in registers and the planes within the stack
 * budget; 0 if not even one filter's planes fit (conv_dw then). */
int cg_conv_dw_block(const Wk *k) {
  if (k->K > FLAT_DW_MAX_K) return 0;
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

/* A vector of PV floats at base[i], aligned to `align` bytes. */
static LLVMValueRef ld_vec(Wk *k, LLVMValueRef base, LLVMValueRef i, unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(k->b, pv_type(k->cx->t_f32), cg_gep(k->F, k->cx->t_f32, base, i), "");
  LLVMSetAlignment(v, align);
  return v;
}

/* The sum of v's lanes in a tree (reassociated: an order fixed at compile
 * time). */
static LLVMValueRef hsum(Wk *k, LLVMValueRef v) {
  LLVMTypeRef vt = pv_type(k->cx->t_f32);
  const char *name = "llvm.vector.reduce.fadd";
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef args[2] = {cg_f32(k->cx, -0.0), v};
  LLVMValueRef r = LLVMBuildCall2(k->b, LLVMIntrinsicGetType(k->cx->llc, id, &vt, 1),
                                  LLVMGetIntrinsicDeclaration(k->cx->mod, id, &vt, 1), args, 2, "");
  LLVMSetFastMathFlags(r, LLVMFastMathAllowReassoc);
  return r;
}

/* Filters [blk * db, blk * db + db) of dw (zeroed), over all N samples. */
void cg_conv_dw_flat(Wk *k, LLVMValueRef blk, LLVMValueRef N, int db) {
  CgCtx *cx = k->cx;
  LLVMBuilderRef b = k->b;
  FlatDw d = flat_dw(k);
  int64_t Wq = d.ph.Wq;
  LLVMValueRef dyp = cg_alloca(k->F, LLVMArrayType2(cx->t_f32, (uint64_t)(db * d.dy_plane)), "dy_rows");
  LLVMValueRef xp = cg_alloca(k->F, LLVMArrayType2(cx->t_f32, (uint64_t)d.x_len), "x_padded");
  LLVMSetAlignment(dyp, 64);
  LLVMSetAlignment(xp, 64);
  LLVMTypeRef vt = pv_type(k->cx->t_f32);
  LLVMValueRef acc[FLAT_DW_MAX_ACC]; /* acc[j * K + kw] */
  for (int a = 0; a < db * k->K; a++) acc[a] = cg_alloca(k->F, vt, "acc");
  LLVMValueRef f0 = mul(k, blk, db);
  fill_zero(k, dyp, db * d.dy_plane);
  fill_zero(k, xp, d.x_len);
  CgFor ln, lc, lkh, lq;
  cg_for_begin(k->F, &ln, K64(k, 0), N, "n");
  for (int j = 0; j < db; j++)
    copy_plane(k, dyp, K64(k, j * d.dy_plane), Wq, k->dy,
               idx4(k, ln.iv, k->Fo, add(k, f0, K64(k, j)), k->OH, K64(k, 0), k->OW, K64(k, 0)), k->OW, k->OH, k->OW);
  cg_for_begin(k->F, &lc, K64(k, 0), K64(k, k->C), "c");
  phased_copy(k, &d.ph, xp, K64(k, 0), k->x, idx4(k, ln.iv, k->C, lc.iv, k->H, K64(k, 0), k->W, K64(k, 0)));
  cg_for_begin(k->F, &lkh, K64(k, 0), K64(k, k->K), "kh");
  for (int a = 0; a < db * k->K; a++) LLVMBuildStore(b, LLVMConstNull(vt), acc[a]);
  cg_for_begin(k->F, &lq, K64(k, 0), K64(k, d.Lr / PV), "q");
  LLVMValueRef q0 = mul(k, lq.iv, PV), xv[FLAT_DW_MAX_K];
  for (int kw = 0; kw < k->K; kw++) xv[kw] = ld_vec(k, xp, add(k, phased_tap(k, &d.ph, lkh.iv, kw), q0), 4);
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

/* ---- conv2d and its input gradient in explicit vectors ----
 * The per-output walk (conv) keeps one output's sum in a scalar register:
 * LLVM vectorizes it across the window's taps, not the outputs, and the
 * CNN's first layer (one channel, 3x3) ran at 59 GFLOP/s on one thread, a
 * sixth of the step at batch 64. Here a chunk of PV outputs of one output
 * row is computed for CB filters at once: each tap is one (masked) load of
 * PV inputs of one input row, multiplied by CB filters' weights (scalars
 * broadcast from memory) into CB vector accumulators, so a load feeds CB
 * products. Every output still sums its taps in conv's order (c, kh, kw)
 * from 0, with a separate multiply and add, and the taps outside the input
 * add +0 (a masked product, or a product with the copy's zero padding),
 * which changes no sum: the results are conv's bit for bit. But for an
 * infinite weight: times the padding's zero it makes NaN, where the scalar
 * walk skips the tap (PyTorch's zero padding makes NaN too).
 *
 * At a stride the copy's phases make a row's taps consecutive again: a
 * 32 -> 64 channel 3x3 stride-2 layer on 28x28 went from 4.6 GFLOP/s in
 * the scalar walk to 107-112 (batch 64, one thread).
 *
 * The input gradient is the same loop (cg_conv_vec_role): dx is the
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

/* The zero-padded copy of a sample cg_conv_vec reads (its Phased layout)
 * where there is padding or a stride, if it fits the stack: allocated and
 * zeroed once per call (each sample's copy then rewrites only the
 * interior), PV floats of slack at the end for the last row's loads, whose
 * lanes past the row are never stored. */
#define CONV_PAD_MAX_BYTES (256 << 10) /* of the 2-8 MB a thread's stack has */

static int64_t conv_vec_copy_floats(const Wk *k) { return k->C * phased(k).plane + PV; }

/* Whether cg_conv_vec runs k: at stride 1 (over the copy where it fits, else
 * with masked loads), or at a stride (forward) or a dilation (input
 * gradient) over the copy where it fits. */
bool cg_conv_vec_fits(const Wk *k) {
  if (k->K > CONV_VEC_MAX_K || (k->op != OP_CONV2D && k->op != OP_CONV2D_GRAD_INPUT)) return false;
  Wk g = cg_conv_vec_role(k);
  return k->stride == 1 || 4 * conv_vec_copy_floats(&g) <= CONV_PAD_MAX_BYTES;
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

void cg_conv_vec_setup(Wk *k) {
  int64_t n = conv_vec_copy_floats(k);
  if ((k->pad <= 0 && k->stride == 1 && k->dil <= 1) || 4 * n > CONV_PAD_MAX_BYTES) return;
  k->xp = cg_alloca(k->F, LLVMArrayType2(k->cx->t_f32, (uint64_t)n), "x_padded");
  LLVMSetAlignment(k->xp, 64);
  fill_zero(k, k->xp, n);
}

void cg_conv_vec(Wk *k, LLVMValueRef n) {
  CgCtx *cx = k->cx;
  LLVMBuilderRef b = k->b;
  int cb = conv_vec_block(k);
  /* Without padding every tap of every window is inside the input (as in
   * window()): no lane needs a mask beyond the chunk's end. With the padded
   * copy, every tap is inside the copy. */
  bool inside = k->xp || (k->pad == 0 && k->OH - 1 + k->K <= k->H && k->OW - 1 + k->K <= k->W);
  Phased ph = phased(k);
  LLVMTypeRef vt = pv_type(cx->t_f32);
  LLVMValueRef acc[CONV_CB_MAX], m_tap[CONV_VEC_MAX_K];
  for (int j = 0; j < cb; j++) acc[j] = cg_alloca(k->F, vt, "acc");
  CgFor lf, lh, lj, lc, lkh;
  if (k->xp) {
    CgFor lp;
    cg_for_begin(k->F, &lp, K64(k, 0), K64(k, k->C), "copy");
    phased_copy(k, &ph, k->xp, mul(k, lp.iv, ph.plane), k->x, idx4(k, n, k->C, lp.iv, k->H, K64(k, 0), k->W, K64(k, 0)));
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
  /* In the copy, output (oh, o0) reads phased_tap(kh, kw) + oh * Wq + o0
   * of channel c's planes. */
  LLVMValueRef row = k->xp ? add(k, add(k, mul(k, lc.iv, ph.plane), mul(k, lh.iv, ph.Wq)), o0)
                           : idx4(k, n, k->C, lc.iv, k->H, add(k, bh, lkh.iv), k->W, col0);
  for (int kw = 0; kw < k->K; kw++) {
    LLVMValueRef at = add(k, row, k->xp ? phased_tap(k, &ph, lkh.iv, kw) : K64(k, kw)), xv;
    if (k->xp) {
      xv = LLVMBuildLoad2(b, vt, cg_gep(k->F, cx->t_f32, k->xp, at), "");
      LLVMSetAlignment(xv, 4);
    } else {
      /* Not inbounds: with padding the first lanes' columns may lie before
       * the row (and the buffer); those lanes are masked off. */
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

/* The loop cg_conv_vec runs for k: k itself for conv2d; for
 * conv2d_grad_input the convolution at stride 1 over dy, spread `stride`
 * apart (the taps between dy's elements read zeros), the roles of x and
 * dy, of C and Fo, of (H, W) and (OH, OW) swapped, the filters flipped.
 * At a stride s that adds s * s - 1 products with zero for each real one,
 * but in vectors: a 32 -> 64 channel, 3x3, stride-2 layer on 28x28 at
 * batch 64 went from the scatter's 13-14 GFLOP/s to 31 (of real products;
 * 126 counting the zeros), 33 -> 15 ms on one thread. */
Wk cg_conv_vec_role(const Wk *k) {
  Wk g = *k;
  if (k->op != OP_CONV2D_GRAD_INPUT) return g;
  g.x = k->dy, g.C = k->Fo, g.H = k->OH, g.W = k->OW;
  g.Fo = k->C, g.OH = k->H, g.OW = k->W;
  g.pad = k->K - 1 - k->pad, g.flip = true;
  g.dil = k->stride, g.stride = 1;
  return g;
}

