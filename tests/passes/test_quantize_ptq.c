/* test_quantize_ptq.c — the int8 rewrite (passes/quantize_ptq.c) against
 * the f32 model it replaces, both run by the reference interpreter: a dense
 * layer (tb=0 and tb=1) and a padded, strided conv2d with random trained
 * weights and inputs, quantized with the scale calibration would give
 * (max |x| / 127). Two checks per output:
 *   - exact: it is s_x s_w[n] sum_k qx_k qw_k, the product of the rounded
 *     values (qx = round(x / s_x), qw the weight's i8 data), up to f32
 *     rounding: a compensation, scale or layout off by anything fails;
 *   - close: within the error the rounding allows against f32,
 *     |y_int8 - y| <= sum_k (s_x / 2 |w_hat_k| + |x_k| s_w / 2), and not
 *     zero (the int8 path ran). */
#include "gradcheck.h"
#include "passes/quantize.h"

int npass, nfail;

/* A global with data: uniform values in [-r/2, r], not centred, so that
 * each channel's compensation (128 x its sum) is large. */
static int add_weight(IrModule *m, const char *name, Type t, double r) {
  int64_t n = ir_numel_static(&t.sh);
  float *d = arena_alloc(m->arena, (size_t)n * sizeof *d);
  for (int64_t i = 0; i < n; i++)
    d[i] = (float)urand(-r / 2, r);
  return ir_global_add(m, (IrGlobal){.name = name, .kind = GLOBAL_PARAM, .ty = t, .data = d});
}

static void add_act_scale(IrModule *m, const char *name, const double *x, int64_t n) {
  double amax = 0;
  for (int64_t i = 0; i < n; i++)
    amax = fmax(amax, fabs(x[i]));
  float *s = arena_alloc(m->arena, sizeof *s);
  *s = (float)(amax / QUANT_A_LEVEL);
  ir_global_add(m, (IrGlobal){.name = name, .kind = GLOBAL_STATS, .ty = {.dt = DT_F32}, .data = s});
}

/* The module's globals as the interpreter's double arrays. */
static double **globals_of(const IrModule *m) {
  double **g = calloc((size_t)m->nglobals + 1, sizeof *g);
  for (int i = 0; i < m->nglobals; i++) {
    int64_t n = ir_numel_static(&m->globals[i].ty.sh);
    g[i] = calloc((size_t)n + 1, sizeof **g);
    for (int64_t k = 0; k < n; k++)
      g[i][k] = ir_data_get(m->globals[i].ty.dt, m->globals[i].data, k);
  }
  return g;
}

/* forward of m on x into y, with the globals' data. */
static bool forward(const IrModule *m, double *x, double *y) {
  double **g = globals_of(m);
  bool ok = run(ir_func_find(m, IR_FN_FORWARD), g, (double *[]){x}, (double *[]){y});
  for (int i = 0; i < m->nglobals; i++)
    free(g[i]);
  free(g);
  return ok;
}

/* x's level about the zero point, as `quantize` rounds it: in [-128, 127]. */
static double level(double x, float s) {
  double q = nearbyint((double)(float)(x / s));
  return q < -QUANT_A_ZERO ? -QUANT_A_ZERO : q > QUANT_A_QMAX - QUANT_A_ZERO ? QUANT_A_QMAX - QUANT_A_ZERO : q;
}

/* The int8 rewrite, verified. */
static bool quantize(IrModule *m) {
  Diag d;
  diag_init(&d, stdout);
  PassCtx ctx = {.diag = &d};
  return quantize_ptq(m, &ctx) && verify(m);
}

/* A global's data, by name (after the rewrite). */
static const void *data_of(const IrModule *m, const char *name) {
  int g = ir_global_find(m, name);
  return g < 0 ? NULL : m->globals[g].data;
}

/* y = x @ w (w [K,N], or [N,K] with tb) against its int8 rewrite. */
static void check_dense(int K, int N, int tb) {
  Arena *a = arena_new();
  IrModule *m = new_module(a);
  Type wt = tb ? T(F, 2, N, K) : T(F, 2, K, N), xt = T(F, 2, B, K);
  add_weight(m, "w", wt, 0.5);
  double *x = alloc_for(&xt), *y = calloc((size_t)(BATCH * N), sizeof *y),
         *yq = calloc((size_t)(BATCH * N), sizeof *yq);
  for (int64_t i = 0; i < numel(&xt); i++)
    x[i] = urand(-2, 3);
  add_act_scale(m, "w.act_scale", x, numel(&xt));
  IrFunc *f = ir_func_new(m, IR_FN_FORWARD);
  int xv = ir_input(f, "x", xt, L0), wv = ir_global_ref(f, ir_global_find(m, "w"), L0);
  ir_ret(f, ir_emit(f, OP_MATMUL, (int[]){xv, wv}, 2, &(Attrs){.tb = tb}, NULL, L0, NULL));
  bool ok = forward(m, x, y) && quantize(m) && ir_global_find(m, "w") < 0 && forward(m, x, yq);
  const int8_t *q = data_of(m, "w.q");
  const float *sw = data_of(m, "w.scale"), *sx = data_of(m, "w.act_scale");
  double worst = 0, maxerr = 0, inexact = 0;
  for (int b = 0; b < BATCH; b++)
    for (int n = 0; n < N; n++) {
      double bound = 1e-5 * fabs(y[b * N + n]) + 1e-6, dot = 0;
      for (int k = 0; k < K; k++) {
        int wi = tb ? n * K + k : k * N + n;
        bound += *sx / 2 * fabs(q[wi] * sw[n]) + fabs(x[b * K + k]) * sw[n] / 2;
        dot += level(x[b * K + k], *sx) * q[wi];
      }
      double e = fabs(yq[b * N + n] - y[b * N + n]), exact = dot * *sx * sw[n];
      worst = fmax(worst, e / bound), maxerr = fmax(maxerr, e);
      inexact = fmax(inexact, fabs(yq[b * N + n] - exact) / (1e-6 * fabs(exact) + 1e-9));
    }
  result(ok && inexact <= 1 && worst <= 1 && maxerr > 0,
         "int8 dense K=%d N=%d tb=%d: %.2f of f32 rounding from the int8 product; max error %.3g, %.2f of the rounding "
         "bound",
         K, N, tb, inexact, maxerr, worst);
  free(x), free(y), free(yq);
  arena_free(a);
}

/* conv2d(x [B,C,H,W], w [Fo,C,3,3], stride, pad) against its rewrite:
 * padding taps read the zero point, so they add nothing. */
static void check_conv(int C, int Fo, int H, int stride, int pad) {
  Arena *a = arena_new();
  IrModule *m = new_module(a);
  const int Kk = 3, OH = (H + 2 * pad - Kk) / stride + 1;
  Type wt = T(F, 4, Fo, C, Kk, Kk), xt = T(F, 4, B, C, H, H);
  add_weight(m, "cw", wt, 0.3);
  int64_t ny = (int64_t)BATCH * Fo * OH * OH;
  double *x = alloc_for(&xt), *y = calloc((size_t)ny, sizeof *y), *yq = calloc((size_t)ny, sizeof *yq);
  for (int64_t i = 0; i < numel(&xt); i++)
    x[i] = urand(0, 1);
  add_act_scale(m, "cw.act_scale", x, numel(&xt));
  IrFunc *f = ir_func_new(m, IR_FN_FORWARD);
  int xv = ir_input(f, "x", xt, L0), wv = ir_global_ref(f, ir_global_find(m, "cw"), L0);
  ir_ret(f, ir_emit(f, OP_CONV2D, (int[]){xv, wv}, 2, &(Attrs){.stride = stride, .pad = pad}, NULL, L0, NULL));
  bool ok = forward(m, x, y) && quantize(m) && ir_global_find(m, "cw") < 0 && forward(m, x, yq);
  const int8_t *q = data_of(m, "cw.q");
  const float *sw = data_of(m, "cw.scale"), *sx = data_of(m, "cw.act_scale");
  double worst = 0, maxerr = 0, inexact = 0;
  for (int b = 0; b < BATCH; b++)
    for (int o = 0; o < Fo; o++)
      for (int i = 0; i < OH; i++)
        for (int j = 0; j < OH; j++) {
          int64_t yi = (((int64_t)b * Fo + o) * OH + i) * OH + j;
          double bound = 1e-5 * fabs(y[yi]) + 1e-6, dot = 0;
          for (int c = 0; c < C; c++)
            for (int kh = 0; kh < Kk; kh++)
              for (int kw = 0; kw < Kk; kw++) {
                int ih = i * stride - pad + kh, iw = j * stride - pad + kw;
                if (ih < 0 || iw < 0 || ih >= H || iw >= H) continue;
                double xv2 = x[(((int64_t)b * C + c) * H + ih) * H + iw];
                int wq = q[((o * C + c) * Kk + kh) * Kk + kw];
                bound += *sx / 2 * fabs(wq * sw[o]) + fabs(xv2) * sw[o] / 2;
                dot += level(xv2, *sx) * wq;
              }
          double e = fabs(yq[yi] - y[yi]), exact = dot * *sx * sw[o];
          worst = fmax(worst, e / bound), maxerr = fmax(maxerr, e);
          inexact = fmax(inexact, fabs(yq[yi] - exact) / (1e-6 * fabs(exact) + 1e-9));
        }
  result(ok && inexact <= 1 && worst <= 1 && maxerr > 0,
         "int8 conv2d C=%d F=%d H=%d stride=%d pad=%d: %.2f of f32 rounding from the int8 product; max error %.3g, "
         "%.2f of the bound",
         C, Fo, H, stride, pad, inexact, maxerr, worst);
  free(x), free(y), free(yq);
  arena_free(a);
}

int main(void) {
  check_dense(37, 5, 0);
  check_dense(64, 7, 1);
  check_conv(3, 4, 7, 1, 1);
  check_conv(2, 3, 8, 2, 1);
  printf("%d passed, %d failed\n", npass, nfail);
  return nfail != 0;
}
