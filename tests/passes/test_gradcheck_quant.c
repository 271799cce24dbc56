/* test_gradcheck_quant.c — fake_quant's straight-through gradient against
 * central differences, in f64.
 *
 * fake_quant is a staircase: its true derivative is 0 between the steps,
 * which is what the differences of the op itself show (checked: the points
 * lie on flat steps). The straight-through estimator (STE) is the exact
 * derivative of the same map with the rounding taken out,
 *   g(x) = (clamp(x / s + Z, qmin - 1/2, qmax + 1/2) - Z) s,
 * at every x whose x / s + Z is not a half-integer: 1 where round(x / s) + Z
 * is in [qmin, qmax], 0 where it is clamped. So the gradient autodiff
 * emits for L = sum(fake_quant(x, s) * w) must match the central
 * differences of sum(g(x) * w) at points drawn away from the half-integers
 * (|frac(x / s) - 1/2| >= 0.1), with levels both in range and clamped; the
 * scale must get no gradient (zeros), as in PyTorch's
 * fake_quantize_per_tensor_affine / _per_channel_affine. */
#include "gradcheck.h"

typedef struct QuantCase {
  const char *name;
  Type x, s;
  double scale_lo, scale_hi; /* scales drawn from this range */
  double zero, qmin, qmax;
  double span; /* x / s + Z drawn from [qmin - span, qmax + span] */
} QuantCase;

/* The STE's surrogate g at one element. */
static double surrogate(double x, double s, const QuantCase *c) {
  double u = x / s + c->zero, lo = c->qmin - 0.5, hi = c->qmax + 0.5;
  return ((u < lo ? lo : u > hi ? hi : u) - c->zero) * s;
}

/* Flat index into s of element k of x (numpy broadcasting). */
static int64_t scale_index(const Type *x, const Type *s, int64_t k) {
  int64_t idx = 0, stride = 1;
  for (int i = x->sh.rank - 1; i >= 0; i--) {
    int64_t d = x->sh.d[i] < 0 ? BATCH : x->sh.d[i], c = k % d;
    k /= d;
    int j = i - (x->sh.rank - s->sh.rank);
    if (j >= 0 && s->sh.d[j] != 1) {
      idx += c * stride;
      stride *= s->sh.d[j];
    }
  }
  return idx;
}

static void quant_check(const QuantCase *c) {
  Arena *a = arena_new();
  IrModule *m = new_module(a);
  IrFunc *f = ir_func_new(m, "f");
  int x = ir_input(f, "x", c->x, L0), s = ir_input(f, "s", c->s, L0);
  int y = ir_emit(f, OP_FAKE_QUANT, (int[]){x, s}, 2, &(Attrs){.value = c->zero, .qmin = c->qmin, .qmax = c->qmax},
                  NULL, L0, NULL);
  if (y < 0) abort();
  int w = ir_input(f, "w", c->x, L0);
  Attrs all = {.naxes = c->x.sh.rank};
  for (int i = 0; i < c->x.sh.rank; i++)
    all.axes[i] = i;
  int prod = ir_op2(f, OP_MUL, y, w, L0);
  int loss = ir_emit(f, OP_SUM, &prod, 1, &all, NULL, L0, NULL);
  int grads[2];
  ad_grad(f, loss, (int[]){x, s}, 2, grads);
  ir_ret(f, loss), ir_ret(f, grads[0]), ir_ret(f, grads[1]);

  int64_t nx = numel(&c->x), ns = numel(&c->s);
  double *in[3] = {alloc_for(&c->x), alloc_for(&c->s), alloc_for(&c->x)};
  double *out[3] = {alloc_for(&(Type){0}), alloc_for(&c->x), alloc_for(&c->s)};
  double *tmp[3] = {alloc_for(&(Type){0}), alloc_for(&c->x), alloc_for(&c->s)};
  for (int64_t j = 0; j < ns; j++)
    in[1][j] = urand(c->scale_lo, c->scale_hi);
  int inside = 0, clamped = 0;
  for (int64_t j = 0; j < nx; j++) {
    double sj = in[1][scale_index(&c->x, &c->s, j)], u;
    do
      u = urand(c->qmin - c->span, c->qmax + c->span);
    while (fabs(u - floor(u) - 0.5) < 0.1);
    in[0][j] = (u - c->zero) * sj;
    double q = nearbyint(u);
    if (q >= c->qmin && q <= c->qmax)
      inside++;
    else
      clamped++;
    in[2][j] = urand(-1, 1);
  }
  bool ok = verify(m) && run(f, NULL, in, out);
  double worst = 0, flat = 0, sgrad = 0, h = 1e-6;
  for (int64_t j = 0; ok && j < nx; j++) {
    double keep = in[0][j], lp = 0, lm = 0;
    int64_t sj = scale_index(&c->x, &c->s, j);
    /* The surrogate's differences: only element j changes. */
    double gp = surrogate(keep + h, in[1][sj], c), gm = surrogate(keep - h, in[1][sj], c);
    double num = (gp - gm) / (2 * h) * in[2][j], e = rel_err(out[1][j], num);
    worst = fmax(worst, e);
    if (e > 1e-6) printf("  %s: d/dx[%lld] STE %.12g surrogate %.12g\n", c->name, (long long)j, out[1][j], num);
    /* The op's own differences: a flat step. */
    in[0][j] = keep + h;
    ok = run(f, NULL, in, tmp);
    lp = tmp[0][0];
    in[0][j] = keep - h;
    ok = ok && run(f, NULL, in, tmp);
    lm = tmp[0][0];
    in[0][j] = keep;
    flat = fmax(flat, fabs(lp - lm) / (2 * h));
  }
  for (int64_t j = 0; j < ns; j++)
    sgrad = fmax(sgrad, fabs(out[2][j]));
  /* simplify must not change a result. */
  double sdiff = 0;
  if (ok) {
    pass_simplify(m, &(PassCtx){0});
    ok = verify(m) && run(f, NULL, in, tmp);
    for (int64_t j = 0; ok && j < nx; j++)
      sdiff = fmax(sdiff, fabs(tmp[1][j] - out[1][j]));
    sdiff = fmax(sdiff, fabs(tmp[0][0] - out[0][0]));
  }
  result(ok && worst <= 1e-6 && flat < 1e-9 && sgrad == 0 && sdiff == 0 && inside > 0 && clamped > 0,
         "grad fake_quant %-28s STE rel err %.1e, steps flat (%.0e), d/ds 0, %d in range, %d clamped", c->name, worst,
         flat, inside, clamped);
  for (int i = 0; i < 3; i++)
    free(in[i]), free(out[i]), free(tmp[i]);
  arena_free(a);
}

void quant_checks(void) {
  const QuantCase cases[] = {
      /* QAT's activations: u8, zero point 128, one scale */
      {"u8 [B,5] per tensor", T(F, 2, B, 5), T(F, 0), 0.01, 0.1, 128, 0, 255, 40},
      /* QAT's weights: symmetric int8 per output channel, dense [in, out] */
      {"i8 [6,4] per column", T(F, 2, 6, 4), T(F, 2, 1, 4), 0.001, 0.05, 0, -127, 127, 30},
      /* ... and conv2d [O, I, kh, kw] */
      {"i8 [3,2,2,2] per filter", T(F, 4, 3, 2, 2, 2), T(F, 4, 3, 1, 1, 1), 0.01, 1, 0, -127, 127, 30},
      /* a narrow asymmetric range: most levels clamp */
      {"4-bit [B,3] Z=3 per column", T(F, 2, B, 3), T(F, 1, 3), 0.5, 2, 3, -8, 7, 6},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    quant_check(&cases[k]);
}
