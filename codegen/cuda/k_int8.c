/* k_int8.c — qmatmul and qconv2d (CK_QGEMM) as CUDA C: u8 x i8 products
 * summed exactly in 32-bit integers, four at a time with __dp4a, bit for
 * bit the interpreter's (ir/interp.c: exact sums wrapped to i32).
 *
 * __dp4a multiplies signed bytes by signed bytes; the activations are u8.
 * So each group of 4 activation bytes a is flipped to a ^ 0x80, the signed
 * byte a - 128, and the group's weights' sum is kept beside:
 *   sum a w = sum (a - 128) w + 128 sum w,
 * the second sum being __dp4a(0x01010101, w). Each __dp4a starts from 0
 * (at most 4 * 128 * 128 in magnitude) and the sums run in unsigned
 * arithmetic, which wraps as the interpreter's i32 result does. Bytes past
 * K are zeros on both sides, which add nothing.
 *
 *   qmatmul  C[m, n] = A[m, :] . W[:, n] (W stored [N,K] when tb): tiles
 *            of 64 x 64 outputs per block through shared memory (below);
 *            rows of A (or of W^T) with K a multiple of 4 read as words,
 *            else byte by byte;
 *   qconv2d  one thread per output element (grid-stride): y[n, f, oh, ow]
 *            = the filter's C*K*K bytes . the window's (the zero point,
 *            at.value, for padding taps).
 * qmatmul's epilogue (the members of its group besides the root: dequantize,
 * bias, activation, the next quantize) runs on the element right after its
 * sum, in the same thread, through expr.c's evaluator with the product as
 * the root's value (it is stored too: the plan exports it). */
#include "cuda.h"

#define BLOCK 256

typedef struct Q {
  CuSrc *s;
  int64_t K; /* terms per dot product */
} Q;

/* Declares "const unsigned <name> = " the 4 bytes at byte offsets
 * at(4g + t), t in 0..3, of an operand (zeros past K), low byte first. */
static void gather4(Q *q, const char *name, const char *ptr, const char *idx_fmt, bool words, bool tail) {
  CuSrc *s = q->s;
  if (words && !tail) {
    cu_printf(s, "      const unsigned %s = *(const unsigned *)(%s + 4 * g);\n", name, ptr);
    return;
  }
  cu_printf(s, "      unsigned %s = 0u;\n", name);
  cu_printf(s, "#pragma unroll\n      for (int b = 0; b < 4; b++) {\n");
  cu_printf(s, "        const long long kk = 4 * g + b;\n");
  if (tail) cu_printf(s, "        if (kk >= %lldLL) break;\n", (long long)q->K);
  cu_printf(s, "        %s |= (unsigned)(unsigned char)%s[", name, ptr);
  cu_printf(s, idx_fmt, "kk");
  cu_printf(s, "] << (8 * b);\n      }\n");
}

/* acc += the group's dot product, via the flipped activations. */
static void dot4(Q *q) {
  cu_printf(q->s, "      acc += (unsigned)__dp4a((int)(aw ^ 0x80808080u), (int)ww, 0);\n"
                  "      wsum += (unsigned)__dp4a(0x01010101, (int)ww, 0);\n");
}

/* The K loop over full groups, then the partial last group. body emits
 * aw and ww for group g (tail: the partial one). */
typedef void (*GroupFn)(Q *q, bool tail, void *ctx);

static void k_loop(Q *q, GroupFn body, void *ctx) {
  CuSrc *s = q->s;
  cu_printf(s, "    unsigned acc = 0u, wsum = 0u;\n");
  if (q->K / 4 > 0) {
    cu_printf(s, "    for (long long g = 0; g < %lldLL; g++) {\n", (long long)(q->K / 4));
    body(q, false, ctx);
    dot4(q);
    cu_printf(s, "    }\n");
  }
  if (q->K % 4) {
    cu_printf(s, "    {\n      const long long g = %lldLL;\n", (long long)(q->K / 4));
    body(q, true, ctx);
    dot4(q);
    cu_printf(s, "    }\n");
  }
}

/* ---- qmatmul ----
 *
 * Tiles of BM x BN outputs per block (256 threads, 4 x 4 outputs each: rows
 * ty + 16 i, columns tx + 16 j, so a warp's loads of the W tile are
 * consecutive words), K in steps of 16 bytes: the block stages the A tile
 * (BM rows x 4 words, flipped) and the W tile (4 words x BN columns, each
 * word a column's 4 bytes along K) in shared memory, zeros past M, N and K,
 * then every thread makes 4 x 4 __dp4a per word. Each output's sum is
 * exact, so the tiling changes no bit. */

#define BM 64
#define BN 64

/* Declares "unsigned w" = the 4 bytes [k, k + 4) of a row or column of an
 * operand (byte (k + b) at `at` with kk = k + b), zeros past K; whole words
 * when the row is contiguous and K a multiple of 4. */
static void word(Q *q, const char *row, const char *at, bool contiguous) {
  CuSrc *s = q->s;
  if (contiguous && q->K % 4 == 0) {
    cu_printf(s, "      if (k < %lldLL) w = *(const unsigned *)(%s + k);\n", (long long)q->K, row);
    return;
  }
  cu_printf(s, "#pragma unroll\n      for (int b = 0; b < 4; b++) {\n");
  cu_printf(s, "        const long long kk = k + b;\n");
  cu_printf(s, "        if (kk < %lldLL) w |= (unsigned)(unsigned char)%s << (8 * b);\n      }\n", (long long)q->K, at);
}

/* The epilogue at element t: the group's members but the root, whose
 * value is v<root>, stored as every export is. */
static bool qmatmul_epilogue(const CgKernel *k, CuEw *E, int nt) {
  CuSrc *s = &E->g->src;
  cu_ew_unflatten(E, s, "t", (1u << E->nv) - 1);
  E->done[k->root] = true;
  for (int e = 0; e < nt; e++)
    if (!cu_ew_emit(E, s, E->k->exp[e].node)) return false;
  for (int e = 0; e < nt; e++)
    if (!cu_ew_store(E, s, E->k->exp[e].node, E->k->exp[e].buf, E->first_extra + e)) return false;
  cu_ew_forget(E, ~0u);
  return true;
}

static bool emit_qmatmul(CuGen *g, const CgPlan *p, const CgKernel *k, CuLaunch *l) {
  const IrFunc *f = p->f;
  const IrNode *nd = &f->nodes[k->root];
  const Shape *ws = &f->nodes[nd->args[1]].ty.sh, *as = &f->nodes[nd->args[0]].ty.sh;
  bool tb = nd->at.tb;
  int64_t N = ws->d[tb ? 0 : 1], ntn = (N + BN - 1) / BN;
  Q q = {.s = &g->src, .K = ws->d[tb ? 1 : 0]};
  CuSrc *s = q.s;
  CgMono M = cg_mono_numel(as, 0);
  M.c /= q.K; /* rows: every axis but the last (static K) */
  /* a.work: tiles when M's static part divides into them, else rows x
   * column tiles (more than the tiles: the extra blocks find none). */
  l->work = cg_mono_mul(M, cg_mono(ntn));
  if (M.c % BM == 0) l->work.c = M.c / BM * ntn;
  /* The epilogue's evaluation: k without its root, whose exports but the
   * root's are stored at their domain index (k_epilogue.c's form). */
  CgKernel ep = *k;
  ep.mem = arena_alloc(g->arena, sizeof(int) * (size_t)(k->nmem + 1));
  ep.exp = arena_alloc(g->arena, sizeof(CgExport) * (size_t)(k->nexp + 1));
  ep.nmem = ep.nexp = 0;
  for (int i = 0; i < k->nmem; i++)
    if (k->mem[i] != k->root) ep.mem[ep.nmem++] = k->mem[i];
  for (int e = 0; e < k->nexp; e++)
    if (k->exp[e].node != k->root) ep.exp[ep.nexp++] = k->exp[e];
  int nt = ep.nexp;
  int *targets = arena_alloc(g->arena, sizeof(int) * (size_t)(nt + 1));
  CgMono(*extra)[IR_MAX_RANK] = arena_alloc(g->arena, sizeof *extra * (size_t)(nt + 1));
  for (int e = 0; e < nt; e++) {
    CgView v;
    cg_view_contig(&v, ep.exp[e].buf, &k->domain);
    targets[e] = ep.exp[e].node;
    for (int d = 0; d < k->domain.rank; d++)
      extra[e][d] = v.st[d];
  }
  CuEw E;
  if (nt) cu_ew_init(&E, g, p, &ep, l, "i", targets, nt, NULL, extra, nt);
  int root_out = -1;
  for (int e = 0; e < k->nexp; e++)
    if (k->exp[e].node == k->root) root_out = k->exp[e].buf;
  if (root_out < 0) return cu_gen_fail(g, "%s: qmatmul's product is not exported", f->name);
  cu_printf(s, "  __shared__ unsigned As[%d][5];\n  __shared__ unsigned Ws[4][%d];\n", BM, BN + 1);
  cu_printf(s, "  const unsigned char *A = ");
  if (!cu_buf_ptr(g, p, l, s, p->val[nd->args[0]].v.buf, DT_U8)) return false;
  cu_printf(s, ";\n  const signed char *W = ");
  if (!cu_buf_ptr(g, p, l, s, p->val[nd->args[1]].v.buf, DT_I8)) return false;
  cu_printf(s, ";\n  int *C = ");
  if (!cu_buf_ptr(g, p, l, s, root_out, DT_I32)) return false;
  cu_printf(s, ";\n  const long long M = ");
  cu_mono(s, M);
  cu_printf(s, ", ntiles = (M + %d) / %d * %lldLL;\n", BM - 1, BM, (long long)ntn);
  cu_printf(s, "  const int tx = threadIdx.x %% 16, ty = threadIdx.x / 16;\n");
  /* Block-uniform, so every thread reaches the __syncthreads. */
  cu_printf(s, "  for (long long u = blockIdx.x; u < ntiles; u += gridDim.x) {\n");
  cu_printf(s, "    const long long m0 = u / %lldLL * %d, n0 = u %% %lldLL * %d;\n", (long long)ntn, BM, (long long)ntn, BN);
  cu_printf(s, "    unsigned acc[4][4], wsum[4];\n");
  cu_printf(s, "#pragma unroll\n    for (int j = 0; j < 4; j++) {\n      wsum[j] = 0u;\n");
  cu_printf(s, "#pragma unroll\n      for (int i = 0; i < 4; i++) acc[i][j] = 0u;\n    }\n");
  cu_printf(s, "    for (long long k0 = 0; k0 < %lldLL; k0 += 16) {\n", (long long)q.K);
  /* The A tile: thread (r, qw) loads row m0 + r's word qw. */
  cu_printf(s, "      {\n      const int r = threadIdx.x / 4;\n      const long long m = m0 + r, k = k0 + 4 * (threadIdx.x %% 4);\n");
  cu_printf(s, "      unsigned w = 0u;\n      const unsigned char *ar = A + m * %lldLL;\n      if (m < M) {\n", (long long)q.K);
  word(&q, "ar", "ar[kk]", true);
  cu_printf(s, "      }\n      As[r][threadIdx.x %% 4] = w ^ 0x80808080u;\n      }\n");
  /* The W tile: thread (qw, c) loads column n0 + c's word qw. */
  cu_printf(s, "      {\n      const int c = threadIdx.x %% %d;\n      const long long n = n0 + c, k = k0 + 4 * (threadIdx.x / %d);\n", BN, BN);
  cu_printf(s, "      unsigned w = 0u;\n      const signed char *wr = W + n * %lldLL;\n      if (n < %lldLL) {\n",
            (long long)(tb ? q.K : 1), (long long)N);
  char at[64];
  snprintf(at, sizeof at, tb ? "wr[kk]" : "wr[kk * %lldLL]", (long long)N);
  word(&q, "wr", at, tb);
  cu_printf(s, "      }\n      Ws[threadIdx.x / %d][c] = w;\n      }\n      __syncthreads();\n", BN);
  cu_printf(s, "#pragma unroll\n      for (int qw = 0; qw < 4; qw++) {\n");
  cu_printf(s, "        unsigned a_[4], w_[4];\n");
  cu_printf(s, "#pragma unroll\n        for (int i = 0; i < 4; i++) a_[i] = As[ty + 16 * i][qw];\n");
  cu_printf(s, "#pragma unroll\n        for (int j = 0; j < 4; j++) {\n          w_[j] = Ws[qw][tx + 16 * j];\n");
  cu_printf(s, "          wsum[j] += (unsigned)__dp4a(0x01010101, (int)w_[j], 0);\n        }\n");
  cu_printf(s, "#pragma unroll\n        for (int i = 0; i < 4; i++)\n#pragma unroll\n          for (int j = 0; j < 4; j++)"
               " acc[i][j] += (unsigned)__dp4a((int)a_[i], (int)w_[j], 0);\n      }\n      __syncthreads();\n    }\n");
  cu_printf(s, "    for (int i = 0; i < 4; i++)\n      for (int j = 0; j < 4; j++) {\n");
  cu_printf(s, "        const long long m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;\n");
  cu_printf(s, "        if (m >= M || n >= %lldLL) continue;\n", (long long)N);
  cu_printf(s, "        const long long t = m * %lldLL + n;\n", (long long)N);
  cu_printf(s, "        const int v%d = (int)(acc[i][j] + 128u * wsum[j]);\n        C[t] = v%d;\n", k->root, k->root);
  if (nt && !qmatmul_epilogue(k, &E, nt)) return false;
  cu_printf(s, "      }\n  }\n");
  return true;
}

/* ---- qconv2d ---- */

typedef struct QConv {
  int64_t C, H, W, KS;
  int stride, pad, zero;
} QConv;

/* Group g of the window: byte b is tap kk = 4g + b = (c, kh, kw) in the
 * filters' order, the zero point where the tap falls in the padding. */
static void qconv_group(Q *q, bool tail, void *ctx) {
  const QConv *c = ctx;
  CuSrc *s = q->s;
  cu_printf(s, "      unsigned aw = 0u;\n");
  cu_printf(s, "#pragma unroll\n      for (int b = 0; b < 4; b++) {\n");
  cu_printf(s, "        const long long kk = 4 * g + b;\n");
  if (tail) cu_printf(s, "        if (kk >= %lldLL) break;\n", (long long)q->K);
  cu_printf(s, "        const long long ci = kk / %lldLL, kh = kk / %lldLL %% %lldLL, kw = kk %% %lldLL;\n",
            (long long)(c->KS * c->KS), (long long)c->KS, (long long)c->KS, (long long)c->KS);
  cu_printf(s, "        const long long ih = oh * %d - %d + kh, iw = ow * %d - %d + kw;\n", c->stride, c->pad,
            c->stride, c->pad);
  cu_printf(s, "        const unsigned x = ih >= 0 && ih < %lldLL && iw >= 0 && iw < %lldLL"
               " ? (unsigned)xn[(ci * %lldLL + ih) * %lldLL + iw] : %uu;\n",
            (long long)c->H, (long long)c->W, (long long)c->H, (long long)c->W, (unsigned)c->zero);
  cu_printf(s, "        aw |= x << (8 * b);\n      }\n");
  gather4(q, "ww", "wf", "%s", q->K % 4 == 0, tail);
}

static bool emit_qconv2d(CuGen *g, const CgPlan *p, const CgKernel *k, CuLaunch *l) {
  const IrFunc *f = p->f;
  const IrNode *nd = &f->nodes[k->root];
  const Shape *xs = &f->nodes[nd->args[0]].ty.sh, *ws = &f->nodes[nd->args[1]].ty.sh, *ys = &nd->ty.sh;
  QConv c = {.C = xs->d[1], .H = xs->d[2], .W = xs->d[3], .KS = ws->d[2], .stride = nd->at.stride, .pad = nd->at.pad,
             .zero = (int)nd->at.value};
  Q q = {.s = &g->src, .K = ws->d[1] * ws->d[2] * ws->d[3]};
  int64_t F = ys->d[1], OH = ys->d[2], OW = ys->d[3];
  CuSrc *s = q.s;
  if (k->nmem > 1) return cu_gen_fail(g, "%s: qconv2d has no epilogue (ir/groups.c)", f->name);
  cu_printf(s, "  const unsigned char *X = ");
  if (!cu_buf_ptr(g, p, l, s, p->val[nd->args[0]].v.buf, DT_U8)) return false;
  cu_printf(s, ";\n  const signed char *W = ");
  if (!cu_buf_ptr(g, p, l, s, p->val[nd->args[1]].v.buf, DT_I8)) return false;
  cu_printf(s, ";\n  int *Y = ");
  if (!cu_buf_ptr(g, p, l, s, k->exp[0].buf, DT_I32)) return false;
  cu_printf(s, ";\n");
  cu_for_elems(s, "t");
  cu_printf(s, "    const long long ow = t %% %lldLL, oh = t / %lldLL %% %lldLL;\n", (long long)OW, (long long)OW,
            (long long)OH);
  cu_printf(s, "    const long long fo = t / %lldLL %% %lldLL, n = t / %lldLL;\n", (long long)(OW * OH), (long long)F,
            (long long)(OW * OH * F));
  cu_printf(s, "    const unsigned char *xn = X + n * %lldLL;\n", (long long)(c.C * c.H * c.W));
  cu_printf(s, "    const signed char *wf = W + fo * %lldLL;\n", (long long)q.K);
  k_loop(&q, qconv_group, &c);
  cu_printf(s, "    Y[t] = (int)(acc + 128u * wsum);\n  }\n");
  return true;
}

bool cu_kernel_qgemm(CuGen *g, const CgPlan *p, const CgKernel *k, int index, CuLaunch *l) {
  const IrNode *nd = &p->f->nodes[k->root];
  for (int i = 0; i < 2; i++) {
    const CgVal *v = &p->val[nd->args[i]];
    if (v->kind != CV_BUF || !cg_mono_is(v->v.off, 0))
      return cu_gen_fail(g, "%s: an operand of %s is not contiguous (views.c)", p->f->name, ir_ops[nd->op].mnemonic);
  }
  bool mm = nd->op == OP_QMATMUL;
  cu_kernel_open(g, p, index, ir_ops[nd->op].mnemonic, BLOCK, mm, l);
  l->work = cg_mono_numel(&nd->ty.sh, 0);
  bool ok = mm ? emit_qmatmul(g, p, k, l) : emit_qconv2d(g, p, k, l);
  if (!ok) return false;
  cu_kernel_close(g);
  return true;
}
