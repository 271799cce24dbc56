/* k_window.c — convolution, pooling and their gradients (CK_WINDOW) as
 * CUDA C: direct loops over NCHW, the semantics of ir/interp.c and
 * codegen/cpu/k_window.c (no cuDNN).
 *
 * Every output element is computed by gathering, never by scattering, so
 * no two threads write one element, no atomics are needed and the result
 * does not depend on the grid:
 *   conv2d, pools           one thread per output element (grid-stride),
 *                           its window's taps in (c, kh, kw) order;
 *   conv2d_grad_input       one thread per input element: the outputs whose
 *                           window holds it, in (f, oh, ow) order as the
 *                           CPU's scatter adds them (kh, kw descending);
 *   maxpool2d_grad          one thread per input element: the windows that
 *                           hold it and whose argmax (the first strict
 *                           maximum or the last NaN, from tap (0, 0) as on
 *                           the CPU) it is;
 *   avgpool2d_grad          one thread per input element: its windows' dy
 *                           times 1/(K*K);
 *   conv2d_grad_weight      one block per (filter, channel) pair (rows = 1):
 *                           each thread sums its share of the N*OH*OW
 *                           positions for all K*K taps at once (dy is read
 *                           once per tap set, consecutive threads read
 *                           consecutive positions), then a warp-shuffle and
 *                           shared-memory reduction per tap; with few pairs
 *                           (or wide windows) one block per weight element.
 * Only the batch may be symbolic (the shape rules require static C, H, W),
 * so every other size is a literal in the source. */
#include <math.h>

#include "cuda.h"

#define BLOCK 256

typedef struct Win {
  CuSrc *s;
  OpKind op;
  int64_t C, H, W, F, OH, OW, K; /* F: output channels (C for pools) */
  int stride, pad;
} Win;

/* The largest window whose weight gradient keeps one accumulator per tap in
 * registers; wider ones take one block per weight element. */
#define MAX_TAPS 49
#define MIN_PAIRS 256

/* ---- pieces of source ---- */

/* Splits a flat NCHW-style index t over (d0, d1, d2, d3) with static d1..d3:
 * declares the four coordinates under the given names. */
static void split4(CuSrc *s, const char *t, const char *n0, const char *n1, int64_t d1, const char *n2, int64_t d2,
                   const char *n3, int64_t d3) {
  cu_printf(s, "    const long long %s = %s %% %lldLL, %s = %s / %lldLL %% %lldLL;\n", n3, t, (long long)d3, n2, t,
            (long long)d3, (long long)d2);
  cu_printf(s, "    const long long %s = %s / %lldLL %% %lldLL, %s = %s / %lldLL;\n", n1, t, (long long)(d3 * d2),
            (long long)d1, n0, t, (long long)(d3 * d2 * d1));
}


/* The windows (o in [lo, hi], inclusive, of no outputs) whose taps hold
 * input position `in` of an unpadded axis: o S <= in < o S + K. */
static void pool_range(Win *k, const char *in, const char *o, int64_t no) {
  cu_printf(k->s, "    const long long %s_lo = %s < %lldLL ? 0 : (%s - %lldLL) / %d + 1;\n", o, in, (long long)k->K, in,
            (long long)k->K, k->stride);
  cu_printf(k->s, "    const long long %s_hi = %s / %d < %lldLL ? %s / %d : %lldLL;\n", o, in, k->stride,
            (long long)no - 1, in, k->stride, (long long)no - 1);
}

/* ---- the ops ---- */

static void emit_conv(Win *k) {
  CuSrc *s = k->s;
  int64_t KK = k->K * k->K;
  cu_for_elems(s, "t");
  split4(s, "t", "n", "f", k->F, "oh", k->OH, "ow", k->OW);
  cu_printf(s, "    const float *xn = x + n * %lldLL, *wf = w + f * %lldLL;\n", (long long)(k->C * k->H * k->W),
            (long long)(k->C * KK));
  cu_printf(s, "    float acc = 0.0f;\n");
  cu_printf(s, "    for (int c = 0; c < %lld; c++)\n", (long long)k->C);
  cu_printf(s, "      for (int kh = 0; kh < %lld; kh++) {\n", (long long)k->K);
  cu_printf(s, "        const long long ih = oh * %d - %d + kh;\n", k->stride, k->pad);
  cu_printf(s, "        if (ih < 0 || ih >= %lldLL) continue;\n", (long long)k->H);
  cu_printf(s, "        for (int kw = 0; kw < %lld; kw++) {\n", (long long)k->K);
  cu_printf(s, "          const long long iw = ow * %d - %d + kw;\n", k->stride, k->pad);
  cu_printf(s, "          if (iw < 0 || iw >= %lldLL) continue;\n", (long long)k->W);
  cu_printf(s, "          acc += xn[(c * %lldLL + ih) * %lldLL + iw] * wf[(c * %lldLL + kh) * %lldLL + kw];\n",
            (long long)k->H, (long long)k->W, (long long)k->K, (long long)k->K);
  cu_printf(s, "        }\n      }\n    y[t] = acc;\n  }\n");
}

/* dx[n, c, ih, iw] = sum over f, kh, kw of dy[n, f, oh, ow] w[f, c, kh, kw]
 * where ih = oh S - P + kh (and the same along w). */
static void emit_conv_dx(Win *k) {
  CuSrc *s = k->s;
  cu_for_elems(s, "t");
  split4(s, "t", "n", "c", k->C, "ih", k->H, "iw", k->W);
  cu_printf(s, "    float acc = 0.0f;\n");
  cu_printf(s, "    for (int f = 0; f < %lld; f++)\n", (long long)k->F);
  cu_printf(s, "      for (int kh = %lld; kh >= 0; kh--) {\n", (long long)k->K - 1);
  cu_printf(s, "        const long long th = ih + %d - kh;\n", k->pad);
  cu_printf(s, "        if (th < 0 || th %% %d != 0 || th / %d >= %lldLL) continue;\n", k->stride, k->stride,
            (long long)k->OH);
  cu_printf(s, "        for (int kw = %lld; kw >= 0; kw--) {\n", (long long)k->K - 1);
  cu_printf(s, "          const long long tw = iw + %d - kw;\n", k->pad);
  cu_printf(s, "          if (tw < 0 || tw %% %d != 0 || tw / %d >= %lldLL) continue;\n", k->stride, k->stride,
            (long long)k->OW);
  cu_printf(s, "          acc += dy[((n * %lldLL + f) * %lldLL + th / %d) * %lldLL + tw / %d]"
               " * w[((f * %lldLL + c) * %lldLL + kh) * %lldLL + kw];\n",
            (long long)k->F, (long long)k->OH, k->stride, (long long)k->OW, k->stride, (long long)k->C,
            (long long)k->K, (long long)k->K);
  cu_printf(s, "        }\n      }\n    y[t] = acc;\n  }\n");
}

/* The sum over every position of one tap's products, as one block: the
 * block's threads stride over (n, oh, ow), then each tap's partial sums
 * meet in a warp shuffle and in red[warp][tap], added in warp order by the
 * thread that writes the tap. taps: how many accumulators (KK for the
 * per-(f, c) form, 1 for the per-element form); the enclosing loop has set
 * f, c (and for one tap, kh0, kw0). */
static void emit_dw_sum(Win *k, int taps) {
  CuSrc *s = k->s;
  cu_printf(s, "    float acc[%d];\n", taps);
  cu_printf(s, "#pragma unroll\n    for (int q = 0; q < %d; q++) acc[q] = 0.0f;\n", taps);
  cu_printf(s, "    for (long long j = threadIdx.x; j < npos; j += blockDim.x) {\n");
  cu_printf(s, "      const long long ow = j %% %lldLL, oh = j / %lldLL %% %lldLL, n = j / %lldLL;\n",
            (long long)k->OW, (long long)k->OW, (long long)k->OH, (long long)(k->OW * k->OH));
  cu_printf(s, "      const float g = dy[((n * %lldLL + f) * %lldLL + oh) * %lldLL + ow];\n", (long long)k->F,
            (long long)k->OH, (long long)k->OW);
  cu_printf(s, "      const float *xc = x + (n * %lldLL + c) * %lldLL;\n", (long long)k->C, (long long)(k->H * k->W));
  if (taps > 1) {
    cu_printf(s, "#pragma unroll\n      for (int kh = 0; kh < %lld; kh++) {\n", (long long)k->K);
    cu_printf(s, "        const long long ih = oh * %d - %d + kh;\n", k->stride, k->pad);
    cu_printf(s, "#pragma unroll\n        for (int kw = 0; kw < %lld; kw++) {\n", (long long)k->K);
    cu_printf(s, "          const long long iw = ow * %d - %d + kw;\n", k->stride, k->pad);
    cu_printf(s, "          if (ih >= 0 && ih < %lldLL && iw >= 0 && iw < %lldLL)"
                 " acc[kh * %lld + kw] += g * xc[ih * %lldLL + iw];\n",
              (long long)k->H, (long long)k->W, (long long)k->K, (long long)k->W);
    cu_printf(s, "        }\n      }\n");
  } else {
    cu_printf(s, "      const long long ih = oh * %d - %d + kh0, iw = ow * %d - %d + kw0;\n", k->stride, k->pad,
              k->stride, k->pad);
    cu_printf(s, "      if (ih >= 0 && ih < %lldLL && iw >= 0 && iw < %lldLL) acc[0] += g * xc[ih * %lldLL + iw];\n",
              (long long)k->H, (long long)k->W, (long long)k->W);
  }
  cu_printf(s, "    }\n");
  cu_printf(s, "#pragma unroll\n    for (int q = 0; q < %d; q++) {\n", taps);
  cu_printf(s, "      float v = acc[q];\n");
  cu_printf(s, "      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);\n");
  cu_printf(s, "      if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5][q] = v;\n");
  cu_printf(s, "    }\n    __syncthreads();\n");
  cu_printf(s, "    for (int q = threadIdx.x; q < %d; q += blockDim.x) {\n", taps);
  cu_printf(s, "      float v = 0.0f;\n");
  cu_printf(s, "      for (int i = 0; i < (int)(blockDim.x >> 5); i++) v += red[i][q];\n");
  if (taps > 1)
    cu_printf(s, "      y[u * %d + q] = v;\n", taps);
  else
    cu_printf(s, "      y[u] = v;\n");
  cu_printf(s, "    }\n    __syncthreads();\n");
}

/* Whether the weight gradient takes a block per (filter, channel) pair,
 * all taps at once (dy read once per tap set), or a block per weight
 * element: the latter when the taps would not fit in registers, or when
 * there are too few pairs to fill a GPU (a first convolution of one input
 * channel: 32 pairs, 288 weights). */
static bool per_pair(const Win *k) { return k->K * k->K <= MAX_TAPS && k->F * k->C >= MIN_PAIRS; }

/* dw[f, c, kh, kw] = sum over n, oh, ow of dy[n, f, oh, ow] x[n, c, ih, iw]. */
static void emit_conv_dw(Win *k) {
  CuSrc *s = k->s;
  int64_t KK = k->K * k->K;
  int taps = per_pair(k) ? (int)KK : 1;
  cu_printf(s, "  __shared__ float red[32][%d];\n", taps);
  cu_printf(s, "  const long long npos = N * %lldLL;\n", (long long)(k->OH * k->OW));
  cu_for_rows(s, "u");
  if (taps > 1) {
    cu_printf(s, "    const long long f = u / %lldLL, c = u %% %lldLL;\n", (long long)k->C, (long long)k->C);
  } else {
    cu_printf(s, "    const long long kw0 = u %% %lldLL, kh0 = u / %lldLL %% %lldLL;\n", (long long)k->K,
              (long long)k->K, (long long)k->K);
    cu_printf(s, "    const long long c = u / %lldLL %% %lldLL, f = u / %lldLL;\n", (long long)KK, (long long)k->C,
              (long long)(KK * k->C));
  }
  emit_dw_sum(k, taps);
  cu_printf(s, "  }\n");
}

/* Pools: the max keeps the first strict maximum of the window, or its last
 * NaN (PyTorch's `v > max || isnan(v)`, as the CPU), starting from tap
 * (0, 0) with -inf (so its argmax names a real element even when every tap
 * is -inf); the average sums the taps
 * inside the input and multiplies by 1/(K*K). `best` is set for maxpool
 * gradients. Emitted inside a loop that has set n, c, oh, ow. */
static void emit_window_max(Win *k, const char *indent, bool want_best) {
  CuSrc *s = k->s;
  cu_printf(s, "%sfloat m = ", indent);
  cu_const(s, -INFINITY, DT_F32);
  cu_printf(s, ";\n");
  if (want_best)
    cu_printf(s, "%slong long best = ((n * %lldLL + c) * %lldLL + oh * %d) * %lldLL + ow * %d;\n", indent,
              (long long)k->C, (long long)k->H, k->stride, (long long)k->W, k->stride);
  cu_printf(s, "%sfor (int kh = 0; kh < %lld; kh++)\n", indent, (long long)k->K);
  cu_printf(s, "%s  for (int kw = 0; kw < %lld; kw++) {\n", indent, (long long)k->K);
  cu_printf(s, "%s    const long long ih = oh * %d + kh, iw = ow * %d + kw;\n", indent, k->stride, k->stride);
  cu_printf(s, "%s    if (ih >= %lldLL || iw >= %lldLL) continue;\n", indent, (long long)k->H, (long long)k->W);
  cu_printf(s, "%s    const long long xi = ((n * %lldLL + c) * %lldLL + ih) * %lldLL + iw;\n", indent,
            (long long)k->C, (long long)k->H, (long long)k->W);
  cu_printf(s, "%s    const float v = x[xi];\n", indent);
  cu_printf(s, "%s    if (v > m || v != v) { m = v;%s }\n", indent, want_best ? " best = xi;" : "");
  cu_printf(s, "%s  }\n", indent);
}

static void emit_pool(Win *k) {
  CuSrc *s = k->s;
  bool mx = k->op == OP_MAXPOOL2D;
  cu_for_elems(s, "t");
  split4(s, "t", "n", "c", k->C, "oh", k->OH, "ow", k->OW);
  if (mx) {
    emit_window_max(k, "    ", false);
    cu_printf(s, "    y[t] = m;\n  }\n");
    return;
  }
  cu_printf(s, "    float acc = 0.0f;\n");
  cu_printf(s, "    for (int kh = 0; kh < %lld; kh++)\n", (long long)k->K);
  cu_printf(s, "      for (int kw = 0; kw < %lld; kw++) {\n", (long long)k->K);
  cu_printf(s, "        const long long ih = oh * %d + kh, iw = ow * %d + kw;\n", k->stride, k->stride);
  cu_printf(s, "        if (ih < %lldLL && iw < %lldLL) acc += x[((n * %lldLL + c) * %lldLL + ih) * %lldLL + iw];\n",
            (long long)k->H, (long long)k->W, (long long)k->C, (long long)k->H, (long long)k->W);
  cu_printf(s, "      }\n    y[t] = acc * ");
  cu_const(s, 1.0 / (double)(k->K * k->K), DT_F32);
  cu_printf(s, ";\n  }\n");
}

/* Gradients of the pools: each input element sums over the windows that
 * hold it, in (oh, ow) order. */
static void emit_pool_dx(Win *k) {
  CuSrc *s = k->s;
  bool mx = k->op == OP_MAXPOOL2D_GRAD;
  cu_for_elems(s, "t");
  split4(s, "t", "n", "c", k->C, "ih", k->H, "iw", k->W);
  pool_range(k, "ih", "oh", k->OH);
  pool_range(k, "iw", "ow", k->OW);
  cu_printf(s, "    float acc = 0.0f;\n");
  cu_printf(s, "    for (long long oh = oh_lo; oh <= oh_hi; oh++)\n");
  cu_printf(s, "      for (long long ow = ow_lo; ow <= ow_hi; ow++) {\n");
  cu_printf(s, "        const float g = dy[((n * %lldLL + c) * %lldLL + oh) * %lldLL + ow];\n", (long long)k->C,
            (long long)k->OH, (long long)k->OW);
  if (mx) {
    emit_window_max(k, "        ", true);
    cu_printf(s, "        if (best == t) acc += g;\n");
  } else {
    cu_printf(s, "        acc += g * ");
    cu_const(s, 1.0 / (double)(k->K * k->K), DT_F32);
    cu_printf(s, ";\n");
  }
  cu_printf(s, "      }\n    y[t] = acc;\n  }\n");
}

/* ---- the kernel ---- */

/* const float *name = operand x's memory (views.c: contiguous, from 0). */
static bool operand(CuGen *g, const CgPlan *p, CuLaunch *l, int x, const char *name) {
  cu_printf(&g->src, "  const float *%s = ", name);
  if (!cu_buf_ptr(g, p, l, &g->src, p->val[x].v.buf, DT_F32)) return false;
  cu_printf(&g->src, ";\n");
  return true;
}

bool cu_kernel_window(CuGen *g, const CgPlan *p, const CgKernel *kn, int index, CuLaunch *l) {
  const IrFunc *f = p->f;
  const IrNode *nd = &f->nodes[kn->root];
  const Shape *xs = &f->nodes[nd->args[0]].ty.sh;
  bool conv_op = nd->op == OP_CONV2D || nd->op == OP_CONV2D_GRAD_INPUT || nd->op == OP_CONV2D_GRAD_WEIGHT;
  bool fwd = nd->op == OP_CONV2D || nd->op == OP_MAXPOOL2D || nd->op == OP_AVGPOOL2D;
  const Shape *ys = fwd ? &nd->ty.sh : &f->nodes[nd->args[nd->nargs - 1]].ty.sh;
  for (int i = 0; i < nd->nargs; i++)
    if (p->val[nd->args[i]].kind != CV_BUF || !cg_mono_is(p->val[nd->args[i]].v.off, 0))
      return cu_gen_fail(g, "%s: an operand of %s is not contiguous (views.c)", f->name, ir_ops[nd->op].mnemonic);
  Win k = {.s = &g->src,
           .op = nd->op,
           .C = xs->d[1],
           .H = xs->d[2],
           .W = xs->d[3],
           .F = ys->d[1],
           .OH = ys->d[2],
           .OW = ys->d[3],
           .stride = nd->at.stride,
           .pad = conv_op ? nd->at.pad : 0};
  k.K = conv_op ? f->nodes[nd->args[1]].ty.sh.d[2] : nd->at.kernel;
  bool dw = nd->op == OP_CONV2D_GRAD_WEIGHT;
  cu_kernel_open(g, p, index, ir_ops[nd->op].mnemonic, BLOCK, dw, l);
  CgMono N = cg_mono_dim(xs->d[0]);
  /* Work: output elements, or for the weight gradient its blocks. */
  if (dw)
    l->work = cg_mono(per_pair(&k) ? k.F * k.C : k.F * k.C * k.K * k.K);
  else
    l->work = cg_mono_mul(N, cg_mono(fwd ? k.F * k.OH * k.OW : k.C * k.H * k.W));
  CuSrc *s = &g->src;
  /* The input gradients of conv2d and avgpool2d read x only for its
   * shape; the weight gradient needs no w. */
  bool dx = nd->op == OP_CONV2D_GRAD_INPUT || nd->op == OP_AVGPOOL2D_GRAD;
  if ((!dx && !operand(g, p, l, nd->args[0], "x")) || (conv_op && !dw && !operand(g, p, l, nd->args[1], "w")) ||
      (!fwd && !operand(g, p, l, nd->args[nd->nargs - 1], "dy")))
    return false;
  cu_printf(s, "  float *y = ");
  if (!cu_buf_ptr(g, p, l, s, kn->exp[0].buf, DT_F32)) return false;
  cu_printf(s, ";\n");
  if (dw) cu_printf(s, "  const long long N = "), cu_mono(s, N), cu_printf(s, ";\n");
  switch (nd->op) {
  case OP_CONV2D: emit_conv(&k); break;
  case OP_CONV2D_GRAD_INPUT: emit_conv_dx(&k); break;
  case OP_CONV2D_GRAD_WEIGHT: emit_conv_dw(&k); break;
  case OP_MAXPOOL2D:
  case OP_AVGPOOL2D: emit_pool(&k); break;
  case OP_MAXPOOL2D_GRAD:
  case OP_AVGPOOL2D_GRAD: emit_pool_dx(&k); break;
  default: unreachable("cu_kernel_window: not a window op");
  }
  cu_kernel_close(g);
  return true;
}
