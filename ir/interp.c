/* interp.c — the reference evaluator (see interp.h): what every op means.
 *
 * Every value is a dense row-major array of doubles. Broadcasting, reductions
 * and transposes are written as index arithmetic on coordinates, one element
 * at a time, so each op reads like its definition in docs/ir.md; speed does
 * not matter here. Stores are collected and applied after the last node, so
 * every `global` read sees the value from before the call, as the generated
 * code does. */
#include "interp.h"

#include <math.h>

#include "../runtime/nnrt_philox.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Val {
  double *v;
  int64_t n;
  int rank;
  int64_t d[IR_MAX_RANK]; /* dims with symbolic ones resolved */
} Val;

typedef struct Interp {
  const IrFunc *f;
  const int64_t *syms;
  Val *vals;
  double ***scan_res; /* per scan node: its results (final carries, stacked outputs) */
  char *err;
  size_t errlen;
} Interp;

static bool fail(Interp *in, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(in->err, in->errlen, fmt, ap);
  va_end(ap);
  return false;
}

static int64_t resolve(const Interp *in, int64_t d) { return IR_IS_SYM(d) ? in->syms[IR_SYM_INDEX(d)] : d; }

/* Row-major strides of dims d[0..rank). */
static void strides(const int64_t *d, int rank, int64_t *st) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = s;
    s *= d[i];
  }
}

/* Coordinates of flat index k in dims d (row-major). */
static void coords(int64_t k, const int64_t *d, int rank, int64_t *c) {
  for (int i = rank - 1; i >= 0; i--) {
    c[i] = k % d[i];
    k /= d[i];
  }
}

/* Strides of operand x as seen from an output of rank `rank` under numpy
 * broadcasting: x's axes align on the right, and a stretched axis (size 1 in
 * x, or missing) gets stride 0 so every output coordinate reads element 0. */
static void bcast_strides(const Val *x, const Val *out, int64_t *st) {
  int64_t xs[IR_MAX_RANK];
  strides(x->d, x->rank, xs);
  for (int i = 0; i < out->rank; i++) {
    int j = i - (out->rank - x->rank);
    st[i] = (j >= 0 && x->d[j] != 1) ? xs[j] : 0;
  }
}

/* Flat index into x of output element k. */
static int64_t bcast_index(int64_t k, const Val *out, const int64_t *st) {
  int64_t c[IR_MAX_RANK], off = 0;
  coords(k, out->d, out->rank, c);
  for (int i = 0; i < out->rank; i++) off += c[i] * st[i];
  return off;
}

/* The larger of acc and x where a NaN wins (and stays): torch.maximum's
 * and max's rule, and llvm.maximum's, which the CPU kernels use. */
static double max_nan(double acc, double x) { return isnan(x) || x > acc ? x : acc; }

/* relu and step compare with `x <= 0` so that a NaN is not sent to 0:
 * relu(NaN) is NaN, and step, relu's derivative, is 1 at NaN, as PyTorch's
 * threshold_backward (`x <= 0 ? 0 : dy`) passes the gradient there. */
static double unary(OpKind op, double x, double p) {
  switch (op) {
  case OP_NEG: return -x;
  case OP_RELU: return x <= 0 ? 0 : x;
  case OP_STEP: return x <= 0 ? 0 : 1;
  case OP_SIGMOID: return 1 / (1 + exp(-x));
  case OP_TANH: return tanh(x);
  case OP_GELU:
    return 0.5 * x * (1 + tanh(IR_GELU_C * (x + IR_GELU_A * x * x * x)));
  case OP_LEAKY_RELU: return x > 0 ? x : p * x;
  case OP_ELU: return x > 0 ? x : p * expm1(x);
  case OP_SILU: return x / (1 + exp(-x));
  case OP_SOFTPLUS: return x > IR_SOFTPLUS_THRESHOLD ? x : log1p(exp(x));
  case OP_EXP: return exp(x);
  case OP_LOG: return log(x);
  case OP_SQRT: return sqrt(x);
  case OP_POW: return pow(x, p);
  default: unreachable("interp: not a unary op");
  }
}

static double binary(OpKind op, double a, double b) {
  switch (op) {
  case OP_ADD: return a + b;
  case OP_SUB: return a - b;
  case OP_MUL: return a * b;
  case OP_DIV: return a / b;
  case OP_EQ: return a == b ? 1 : 0;
  case OP_NE: return a != b ? 1 : 0;
  case OP_LT: return a < b ? 1 : 0;
  case OP_LE: return a <= b ? 1 : 0;
  case OP_GT: return a > b ? 1 : 0;
  case OP_GE: return a >= b ? 1 : 0;
  default: unreachable("interp: not a binary op");
  }
}

/* ---- int8 inference (docs/ir.md, "Quantized ops") ----
 *
 * Bit for bit what the kernels compute in f32 and i32: the quotient x / s
 * of two f32 values, computed in double and rounded to f32, is the f32
 * division's result (a double holds more than twice f32's precision, so
 * the second rounding cannot differ); so is a product of two f32 values. */

/* round_half_even(x / s) + z, clamped to dt's range; NaN gives the lowest
 * value (the clamp is IEEE maxNum then minNum, which drop a NaN). */
static double quantize_one(double x, double s, double z, DType dt) {
  int bits = 8 * ir_dtype_size(dt);
  double lo = ir_dtype_is_signed(dt) ? -ldexp(1, bits - 1) : 0, hi = lo + ldexp(1, bits) - 1;
  double q = nearbyint((double)(float)(x / s)) + z; /* the default rounding mode: half to even */
  return isnan(q) ? lo : q < lo ? lo : q > hi ? hi : q;
}

/* f32(acc - comp) * scale, the difference wrapping as i32 arithmetic does. */
static double dequantize_one(double acc, double comp, double scale) {
  double d = ir_dtype_convert(acc - comp, DT_I64, DT_I32);
  return (double)(float)((double)(float)d * scale);
}

/* An integer product's sums wrap to i32, as the kernel's i32 adds do. The
 * sums themselves are exact in double: each term is at most 255 * 128 in
 * magnitude, so a sum stays an integer below 2^53 up to K of 2^37 terms. */
static void wrap_i32(Val *o) {
  for (int64_t k = 0; k < o->n; k++) o->v[k] = ir_dtype_convert(o->v[k], DT_I64, DT_I32);
}

/* fake_quant: the integer level q = round_half_even(x / s) + Z (nearbyint
 * in the default rounding mode), clamped to [qmin, qmax], back to the real
 * line; fake_quant_grad passes dy where q lies in the range (PyTorch's
 * fake_quantize_per_tensor_affine and _per_channel_affine, forward and
 * backward). A NaN x gives NaN and no gradient. */
static double fake_quant(const IrNode *n, double x, double s, double dy) {
  double z = n->at.value, q = nearbyint(x / s) + z;
  if (n->op == OP_FAKE_QUANT_GRAD) return n->at.qmin <= q && q <= n->at.qmax ? dy : 0;
  return ((q < n->at.qmin ? n->at.qmin : q > n->at.qmax ? n->at.qmax : q) - z) * s;
}

/* Elementwise ops (where and dequantize are the ternary ones), and
 * broadcast (a unary op whose operand is stretched). */
static void run_elementwise(Interp *in, const IrNode *n, Val *o) {
  const Val *a = &in->vals[n->args[0]];
  int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK];
  bcast_strides(a, o, sa);
  /* Before the ternary ops: fake_quant_grad has three operands too. */
  if (n->op == OP_FAKE_QUANT || n->op == OP_FAKE_QUANT_GRAD) {
    const Val *s = &in->vals[n->args[1]], *dy = n->nargs == 3 ? &in->vals[n->args[2]] : a;
    bcast_strides(s, o, sb);
    for (int64_t k = 0; k < o->n; k++) /* x and dy have the result's shape */
      o->v[k] = fake_quant(n, a->v[k], s->v[bcast_index(k, o, sb)], dy->v[k]);
    return;
  }
  if (n->nargs == 3) {
    const Val *b = &in->vals[n->args[1]], *c = &in->vals[n->args[2]];
    int64_t sc[IR_MAX_RANK];
    bcast_strides(b, o, sb), bcast_strides(c, o, sc);
    for (int64_t k = 0; k < o->n; k++) {
      double x = a->v[bcast_index(k, o, sa)], y = b->v[bcast_index(k, o, sb)], z = c->v[bcast_index(k, o, sc)];
      if (n->op == OP_DEQUANTIZE) o->v[k] = dequantize_one(x, y, z);
      else o->v[k] = x != 0 ? y : z; /* where */
    }
    return;
  }
  if (n->nargs == 2) {
    const Val *b = &in->vals[n->args[1]];
    bcast_strides(b, o, sb);
    for (int64_t k = 0; k < o->n; k++) {
      double x = a->v[bcast_index(k, o, sa)], y = b->v[bcast_index(k, o, sb)];
      o->v[k] = n->op == OP_QUANTIZE ? quantize_one(x, y, n->at.value, n->ty.dt) : binary(n->op, x, y);
    }
    return;
  }
  for (int64_t k = 0; k < o->n; k++) {
    double x = a->v[bcast_index(k, o, sa)];
    if (n->op == OP_BROADCAST) o->v[k] = x;
    else if (n->op == OP_CAST) o->v[k] = ir_dtype_convert(x, in->f->nodes[n->args[0]].ty.dt, n->ty.dt);
    else o->v[k] = unary(n->op, x, n->at.value);
  }
}

/* sum/mean/max: each input element folds into the output element with the
 * same coordinates on the kept axes. keepdims only changes the shape, not
 * the flat layout, so the output index ignores it. */
static void run_reduce(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]];
  bool red[IR_MAX_RANK] = {0};
  for (int j = 0; j < n->at.naxes; j++) red[n->at.axes[j]] = true;
  int64_t ost[IR_MAX_RANK], s = 1, count = 1;
  for (int i = x->rank - 1; i >= 0; i--) {
    ost[i] = red[i] ? 0 : s;
    if (red[i]) count *= x->d[i];
    else s *= x->d[i];
  }
  for (int64_t k = 0; k < o->n; k++) o->v[k] = n->op == OP_MAX ? -INFINITY : 0;
  for (int64_t k = 0; k < x->n; k++) {
    int64_t c[IR_MAX_RANK], off = 0;
    coords(k, x->d, x->rank, c);
    for (int i = 0; i < x->rank; i++) off += c[i] * ost[i];
    if (n->op == OP_MAX) o->v[off] = max_nan(o->v[off], x->v[k]);
    else o->v[off] += x->v[k];
  }
  if (n->op == OP_MEAN)
    for (int64_t k = 0; k < o->n; k++) o->v[k] /= (double)count;
}

/* softmax/log_softmax along `axis`, as rows of length d[axis] with stride
 * `inner`; the row max is subtracted first so exp never overflows. */
static void run_rowwise(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]];
  int ax = n->at.axis;
  int64_t outer = 1, len = x->d[ax], inner = 1;
  for (int i = 0; i < ax; i++) outer *= x->d[i];
  for (int i = ax + 1; i < x->rank; i++) inner *= x->d[i];
  for (int64_t a = 0; a < outer; a++)
    for (int64_t b = 0; b < inner; b++) {
      const double *xr = x->v + a * len * inner + b;
      double *yr = o->v + a * len * inner + b;
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < len; k++) mx = max_nan(mx, xr[k * inner]);
      for (int64_t k = 0; k < len; k++) sum += exp(xr[k * inner] - mx);
      for (int64_t k = 0; k < len; k++)
        yr[k * inner] = n->op == OP_SOFTMAX ? exp(xr[k * inner] - mx) / sum : xr[k * inner] - mx - log(sum);
    }
}

/* op(A) @ op(B) with op(X) = X^T when the flag is set: element (i, k) of
 * op(A) is A[k][i] when transposed. Rank 3 or more is a batch over the
 * leading axes (G products), whose B is shared when it is 2-d. */
static void run_matmul(Interp *in, const IrNode *n, Val *o) {
  const Val *A = &in->vals[n->args[0]], *B = &in->vals[n->args[1]];
  int ta = n->at.ta, tb = n->at.tb, r = o->rank - 2; /* r: the batch axes */
  int64_t G = 1, M = o->d[r], N = o->d[r + 1], K = ta ? A->d[r] : A->d[r + 1];
  for (int i = 0; i < r; i++) G *= o->d[i];
  int64_t lda = A->d[r + 1], ldb = B->d[B->rank - 1];
  for (int64_t g = 0; g < G; g++) {
    const double *pa = A->v + g * M * K, *pb = B->v + (B->rank > 2 ? g * K * N : 0); /* [K,N]: shared */
    double *po = o->v + g * M * N;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++) {
          double a = ta ? pa[k * lda + i] : pa[i * lda + k];
          double b = tb ? pb[j * ldb + k] : pb[k * ldb + j];
          acc += a * b;
        }
        po[i * N + j] = acc;
      }
  }
}

/* Elements before `axis` (outer) and after it (inner), of dims d. */
static void around(const int64_t *d, int rank, int axis, int64_t *outer, int64_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < axis; i++)
    *outer *= d[i];
  for (int i = axis + 1; i < rank; i++)
    *inner *= d[i];
}

/* concat: each outer row is a's row, then b's; slice: the [start, end) part
 * of each of x's rows. */
static void run_concat(Interp *in, const IrNode *n, Val *o) {
  const Val *a = &in->vals[n->args[0]], *b = &in->vals[n->args[1]];
  int64_t outer, inner, ra, rb;
  around(o->d, o->rank, n->at.axis, &outer, &inner);
  ra = a->d[n->at.axis] * inner, rb = b->d[n->at.axis] * inner;
  for (int64_t r = 0; r < outer; r++) {
    memcpy(o->v + r * (ra + rb), a->v + r * ra, (size_t)ra * sizeof *o->v);
    memcpy(o->v + r * (ra + rb) + ra, b->v + r * rb, (size_t)rb * sizeof *o->v);
  }
}

static void run_slice(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]];
  int64_t outer, inner;
  around(x->d, x->rank, n->at.axis, &outer, &inner);
  int64_t rx = x->d[n->at.axis] * inner, ro = o->d[n->at.axis] * inner;
  for (int64_t r = 0; r < outer; r++)
    memcpy(o->v + r * ro, x->v + r * rx + n->at.start * inner, (size_t)ro * sizeof *o->v);
}

/* Element [.., i, j] is x's when j <= i, else the fill value. */
static void run_causal_mask(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]];
  int64_t T = o->d[o->rank - 2], S = o->d[o->rank - 1];
  for (int64_t k = 0; k < o->n; k++) {
    int64_t i = k / S % T, j = k % S;
    o->v[k] = j > i ? n->at.value : x->v[k];
  }
}

/* Output coordinate i walks input axis perm[i]. */
static void run_transpose(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]];
  int64_t xs[IR_MAX_RANK];
  strides(x->d, x->rank, xs);
  for (int64_t k = 0; k < o->n; k++) {
    int64_t c[IR_MAX_RANK], off = 0;
    coords(k, o->d, o->rank, c);
    for (int i = 0; i < o->rank; i++) off += c[i] * xs[n->at.axes[i]];
    o->v[k] = x->v[off];
  }
}

/* ---- sliding windows over NCHW ----
 *
 * Every window op is one walk: for each sample n, output channel f, output
 * position (oh, ow) and window tap (c, kh, kw), the input position is
 * (oh * stride - pad + kh, ow * stride - pad + kw); taps outside the input
 * read zeros (conv) or are skipped (pools have no padding). The gradients
 * scatter along the same walk, so they are the transposes of the forwards
 * by construction. */
typedef struct Win {
  int64_t N, C, H, W, F, OH, OW, K;
  int stride, pad;
} Win;

static Win win_of(const Val *x, const Val *y, int64_t K, const Attrs *at) {
  return (Win){x->d[0], x->d[1], x->d[2], x->d[3], y->d[1], y->d[2], y->d[3], K, at->stride, at->pad};
}

/* x's flat index of tap (kh, kw) of output (oh, ow) in plane (n, c), or -1
 * outside the input. */
static int64_t win_at(const Win *w, int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t kh, int64_t kw) {
  int64_t ih = oh * w->stride - w->pad + kh, iw = ow * w->stride - w->pad + kw;
  if (ih < 0 || ih >= w->H || iw < 0 || iw >= w->W) return -1;
  return ((n * w->C + c) * w->H + ih) * w->W + iw;
}

/* qconv2d is conv2d whose padding taps read its zero point (at.value). */
static void run_conv(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]], *wt = &in->vals[n->args[1]];
  bool fwd = n->op == OP_CONV2D || n->op == OP_QCONV2D;
  const Val *y = fwd ? o : &in->vals[n->args[2]];
  Win w = win_of(x, y, wt->d[2], &n->at);
  memset(o->v, 0, (size_t)o->n * sizeof *o->v);
  for (int64_t b = 0; b < w.N; b++)
    for (int64_t f = 0; f < w.F; f++)
      for (int64_t oh = 0; oh < w.OH; oh++)
        for (int64_t ow = 0; ow < w.OW; ow++) {
          int64_t yi = ((b * w.F + f) * w.OH + oh) * w.OW + ow;
          for (int64_t c = 0; c < w.C; c++)
            for (int64_t kh = 0; kh < w.K; kh++)
              for (int64_t kw = 0; kw < w.K; kw++) {
                int64_t xi = win_at(&w, b, c, oh, ow, kh, kw), wi = ((f * w.C + c) * w.K + kh) * w.K + kw;
                if (xi < 0 && n->op == OP_QCONV2D) o->v[yi] += n->at.value * wt->v[wi];
                if (xi < 0) continue;
                if (fwd) o->v[yi] += x->v[xi] * wt->v[wi];
                else if (n->op == OP_CONV2D_GRAD_INPUT) o->v[xi] += y->v[yi] * wt->v[wi];
                else o->v[wi] += y->v[yi] * x->v[xi];
              }
        }
}

/* Pools: the max takes the first maximum of a window, or its last NaN if
 * it holds one (PyTorch's `v > max || isnan(v)`), and the gradient goes to
 * that tap only; a window of -inf picks tap (0, 0), always inside (pools
 * have no padding). The average divides by the full window, K * K. */
static void run_pool(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]];
  bool fwd = n->op == OP_MAXPOOL2D || n->op == OP_AVGPOOL2D;
  bool mx = n->op == OP_MAXPOOL2D || n->op == OP_MAXPOOL2D_GRAD;
  const Val *y = fwd ? o : &in->vals[n->args[1]];
  Win w = win_of(x, y, n->at.kernel, &n->at);
  double area = (double)(w.K * w.K);
  if (!fwd) memset(o->v, 0, (size_t)o->n * sizeof *o->v);
  for (int64_t b = 0; b < w.N; b++)
    for (int64_t c = 0; c < w.C; c++)
      for (int64_t oh = 0; oh < w.OH; oh++)
        for (int64_t ow = 0; ow < w.OW; ow++) {
          int64_t yi = ((b * w.C + c) * w.OH + oh) * w.OW + ow, best = win_at(&w, b, c, oh, ow, 0, 0);
          double acc = mx ? -INFINITY : 0;
          for (int64_t kh = 0; kh < w.K; kh++)
            for (int64_t kw = 0; kw < w.K; kw++) {
              int64_t xi = win_at(&w, b, c, oh, ow, kh, kw);
              if (xi < 0) continue;
              if (mx && (isnan(x->v[xi]) || x->v[xi] > acc)) acc = x->v[xi], best = xi;
              else if (!mx) acc += x->v[xi];
              if (!mx && !fwd) o->v[xi] += y->v[yi] / area;
            }
          if (fwd) o->v[yi] = mx ? acc : acc / area;
          else if (mx) o->v[best] += y->v[yi];
        }
}

static bool run_onehot(Interp *in, const IrNode *n, Val *o) {
  const Val *lab = &in->vals[n->args[0]];
  int64_t C = o->d[o->rank - 1];
  memset(o->v, 0, (size_t)o->n * sizeof *o->v);
  for (int64_t k = 0; k < lab->n; k++) {
    double l = lab->v[k];
    if (!(l >= 0 && l < (double)C) || l != floor(l))
      return fail(in, "onehot: label %g at position %lld is outside [0, %lld)", l, (long long)k, (long long)C);
    o->v[k * C + (int64_t)l] = 1;
  }
  return true;
}

/* Runs the body once per step (ir/scan.c has the semantics); the results
 * wait in scan_res for the scan_outs. */
static bool run_scan(Interp *in, int id) {
  const IrNode *n = &in->f->nodes[id];
  const IrFunc *body = ir_scan_body(in->f->mod, &n->at);
  int k = n->at.ncarry, s = n->at.nseq, nres = body->nrets;
  int64_t T = in->vals[n->args[k]].d[0];
  double **res = calloc((size_t)nres + 1, sizeof *res), **next = calloc((size_t)k + 1, sizeof *next);
  double **ins = calloc((size_t)n->nargs + 1, sizeof *ins), **outs = calloc((size_t)nres + 1, sizeof *outs);
  int64_t *step = calloc((size_t)nres + 1, sizeof *step);
  in->scan_res[id] = res;
  bool ok = res && next && ins && outs && step;
  for (int r = 0; ok && r < nres; r++) {
    step[r] = ir_numel(&body->nodes[body->rets[r]].ty.sh, in->syms);
    res[r] = calloc((size_t)(r < k ? step[r] : step[r] * T) + 1, sizeof **res);
    if (r < k) next[r] = calloc((size_t)step[r] + 1, sizeof **next);
    ok = res[r] && (r >= k || next[r]);
    if (ok && r < k) memcpy(res[r], in->vals[n->args[r]].v, (size_t)step[r] * sizeof **res);
  }
  if (!ok) return fail(in, "interp: out of memory");
  for (int64_t t = 0; t < T && ok; t++) {
    int64_t tt = n->at.reverse ? T - 1 - t : t;
    for (int a = 0; a < n->nargs; a++) {
      const Val *v = &in->vals[n->args[a]];
      ins[a] = a < k ? res[a] : a < k + s ? v->v + tt * (v->n / T) : v->v;
    }
    for (int r = 0; r < nres; r++) outs[r] = r < k ? next[r] : res[r] + tt * step[r];
    char err[256];
    if (!ir_interp(body, in->syms, NULL, ins, outs, err, sizeof err)) ok = fail(in, "%s (step %lld of a scan)", err, (long long)tt);
    for (int r = 0; r < k; r++) {
      double *x = res[r];
      res[r] = next[r], next[r] = x;
    }
  }
  for (int r = 0; r < k; r++) free(next[r]);
  free(next), free(ins), free(outs), free(step);
  return ok;
}

/* ---- gathers and dropout ---- */

/* The id at flat position k of ids, checked against the table's V rows. */
static bool id_at(Interp *in, const Val *ids, int64_t k, int64_t V, int64_t *id) {
  double v = ids->v[k];
  if (!(v >= 0 && v < (double)V) || v != floor(v))
    return fail(in, "embedding: id %g at position %lld is outside [0, %lld)", v, (long long)k, (long long)V);
  *id = (int64_t)v;
  return true;
}

/* embedding: row k of the result is table row ids[k]; embedding_grad: dy's
 * row k is added to row ids[k], in order of k. */
static bool run_embedding(Interp *in, const IrNode *n, Val *o) {
  const Val *ids = &in->vals[n->args[0]], *tab = &in->vals[n->args[1]];
  int64_t V = tab->d[0], D = tab->d[1], id = 0;
  bool grad = n->op == OP_EMBEDDING_GRAD;
  const Val *dy = grad ? &in->vals[n->args[2]] : NULL;
  if (grad) memset(o->v, 0, (size_t)o->n * sizeof *o->v);
  for (int64_t k = 0; k < ids->n; k++) {
    if (!id_at(in, ids, k, V, &id)) return false;
    for (int64_t d = 0; d < D; d++)
      if (grad) o->v[id * D + d] += dy->v[k * D + d];
      else o->v[k * D + d] = tab->v[id * D + d];
  }
  return true;
}

/* nnrt_philox.h's definition: element k is kept when word k % 4 of block
 * k / 4 reaches the threshold; kept elements are scaled by 1 / (1 - rate). */
static void run_dropout(Interp *in, const IrNode *n, Val *o) {
  const Val *x = &in->vals[n->args[0]], *seed = &in->vals[n->args[1]], *step = &in->vals[n->args[2]];
  /* The seed's words are i32 values; their bits are the key. */
  uint32_t key[2] = {(uint32_t)(int32_t)seed->v[0], (uint32_t)(int32_t)seed->v[1]}, r[4];
  uint32_t thr = nnrt_dropout_threshold(n->at.value), st = (uint32_t)(int64_t)step->v[0];
  double scale = 1 / (1 - n->at.value);
  for (int64_t k = 0; k < o->n; k++) {
    if (k % 4 == 0) {
      uint64_t b = (uint64_t)k / 4;
      uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), st, nnrt_dropout_word3((uint32_t)n->at.salt)};
      nnrt_philox4x32(ctr, key, r);
    }
    o->v[k] = r[k % 4] >= thr ? x->v[k] * scale : 0;
  }
}

static bool run_node(Interp *in, int id, double *const *globals, double *const *inputs) {
  const IrNode *n = &in->f->nodes[id];
  const IrModule *m = in->f->mod;
  Val *o = &in->vals[id];
  switch (n->op) {
  case OP_INPUT: memcpy(o->v, inputs[n->at.index], (size_t)o->n * sizeof *o->v); return true;
  case OP_GLOBAL: {
    int g = ir_global_find(m, n->at.name);
    if (g < 0) return fail(in, "unknown global @%s", n->at.name);
    memcpy(o->v, globals[g], (size_t)o->n * sizeof *o->v);
    return true;
  }
  case OP_CONST:
    for (int64_t k = 0; k < o->n; k++) o->v[k] = n->at.value;
    return true;
  case OP_STORE: return true; /* applied after the last node */
  case OP_DIM: o->v[0] = (double)in->vals[n->args[0]].d[n->at.axis]; return true;
  case OP_SUM:
  case OP_MEAN:
  case OP_MAX: run_reduce(in, n, o); return true;
  case OP_SOFTMAX:
  case OP_LOG_SOFTMAX: run_rowwise(in, n, o); return true;
  case OP_MATMUL: run_matmul(in, n, o); return true;
  case OP_QMATMUL: run_matmul(in, n, o), wrap_i32(o); return true;
  case OP_QCONV2D: run_conv(in, n, o), wrap_i32(o); return true;
  case OP_RESHAPE: memcpy(o->v, in->vals[n->args[0]].v, (size_t)o->n * sizeof *o->v); return true;
  case OP_TRANSPOSE: run_transpose(in, n, o); return true;
  case OP_ONEHOT: return run_onehot(in, n, o);
  case OP_SCAN: return run_scan(in, id);
  case OP_SCAN_OUT:
    memcpy(o->v, in->scan_res[n->args[0]][n->at.index], (size_t)o->n * sizeof *o->v);
    return true;
  case OP_CONCAT:
    run_concat(in, n, o);
    return true;
  case OP_SLICE:
    run_slice(in, n, o);
    return true;
  case OP_CAUSAL_MASK:
    run_causal_mask(in, n, o);
    return true;
  case OP_CONV2D:
  case OP_CONV2D_GRAD_INPUT:
  case OP_CONV2D_GRAD_WEIGHT: run_conv(in, n, o); return true;
  case OP_MAXPOOL2D:
  case OP_MAXPOOL2D_GRAD:
  case OP_AVGPOOL2D:
  case OP_AVGPOOL2D_GRAD: run_pool(in, n, o); return true;
  case OP_EMBEDDING:
  case OP_EMBEDDING_GRAD: return run_embedding(in, n, o);
  case OP_DROPOUT: run_dropout(in, n, o); return true;
  default:
    if (op_is(n->op, OPF_ELEMWISE) || n->op == OP_BROADCAST) {
      run_elementwise(in, n, o);
      return true;
    }
    return fail(in, "interp: op %s is not implemented", ir_ops[n->op].mnemonic);
  }
}

bool ir_interp(const IrFunc *f, const int64_t *syms, double *const *globals, double *const *inputs,
               double *const *outputs, char *err, size_t errlen) {
  Interp in = {.f = f, .syms = syms, .err = err, .errlen = errlen};
  if (errlen) err[0] = 0;
  in.vals = calloc((size_t)f->n + 1, sizeof *in.vals);
  in.scan_res = calloc((size_t)f->n + 1, sizeof *in.scan_res);
  if (!in.vals || !in.scan_res) return fail(&in, "interp: out of memory");
  bool ok = true;
  for (int i = 0; i < f->n && ok; i++) {
    const Type *t = &f->nodes[i].ty;
    Val *o = &in.vals[i];
    o->rank = t->sh.rank;
    o->n = 1;
    for (int k = 0; k < o->rank; k++) {
      o->d[k] = resolve(&in, t->sh.d[k]);
      o->n *= o->d[k];
    }
    if (t->dt == DT_VOID) o->n = 0;
    o->v = calloc((size_t)o->n + 1, sizeof *o->v);
    if (!o->v) ok = fail(&in, "interp: out of memory");
    else ok = run_node(&in, i, globals, inputs);
  }
  if (ok) {
    for (int r = 0; r < f->nrets; r++) {
      const Val *v = &in.vals[f->rets[r]];
      memcpy(outputs[r], v->v, (size_t)v->n * sizeof *v->v);
    }
    /* Every read is done: now the stores take effect, in program order. */
    for (int i = 0; i < f->n; i++) {
      const IrNode *n = &f->nodes[i];
      if (n->op != OP_STORE) continue;
      int g = ir_global_find(f->mod, n->at.name);
      if (g < 0) {
        ok = fail(&in, "unknown global @%s", n->at.name);
        break;
      }
      const Val *v = &in.vals[n->args[0]];
      memcpy(globals[g], v->v, (size_t)v->n * sizeof *v->v);
    }
  }
  for (int i = 0; i < f->n; i++) {
    free(in.vals[i].v);
    if (in.scan_res[i])
      for (int r = 0; r < ir_scan_nresults(f->mod, &f->nodes[i]); r++) free(in.scan_res[i][r]);
    free(in.scan_res[i]);
  }
  free(in.scan_res);
  free(in.vals);
  return ok;
}
