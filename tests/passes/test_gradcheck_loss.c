/* test_gradcheck_loss.c — the losses as the frontend lowers them
 * (frontend/builtins_loss.c), differentiated by autodiff and checked against
 * f64 central differences: each is a composition of ops whose rules are
 * checked one by one, but the composition has kinks (relu for |d|, the
 * clamp, huber's two pieces) that must meet the gradient the loss has. */
#include "frontend/frontend.h"
#include "gradcheck.h"

/* A model over x f32[B, 3] and one parameter w [3, K], whose loss reads the
 * labels t; `w0` NULL: w random in [-1, 1]. Checks d loss / d w. */
static void loss_gradcheck(const char *what, const char *src, int K, const double *t, const double *w0) {
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, fopen("/dev/null", "w")); /* the probability-loss cases warn, as they should */
  FeModel *fm = fe_compile(a, &d, "t.nn", src, strlen(src));
  fclose(d.out);
  bool ok = fm != NULL;
  double worst = 0;
  if (ok) {
    IrModule *m = fm->mod;
    IrFunc *g = ad_build_grad_func(m, ir_func_find(m, IR_FN_EVAL), "grad");
    ok = g && g->nrets == 2 && m->nglobals == 1 && verify(m);
    double x[BATCH * 3], w[3 * 8], dw[3 * 8], loss, scratch[3 * 8];
    for (int j = 0; j < BATCH * 3; j++)
      x[j] = urand(-1, 1);
    for (int j = 0; j < 3 * K; j++)
      w[j] = w0 ? w0[j] : urand(-1, 1);
    double *gl[] = {w}, *in[] = {x, (double *)t};
    ok = ok && run(g, gl, in, (double *[]){&loss, dw});
    const double h = 1e-6;
    for (int j = 0; ok && j < 3 * K; j++) {
      double keep = w[j], lp, lm;
      w[j] = keep + h;
      ok = run(g, gl, in, (double *[]){&lp, scratch});
      w[j] = keep - h;
      ok = ok && run(g, gl, in, (double *[]){&lm, scratch});
      w[j] = keep;
      double num = (lp - lm) / (2 * h), e = rel_err(dw[j], num);
      if (e > 1e-6) printf("  w[%d]: analytic %.12g numeric %.12g\n", j, dw[j], num);
      worst = fmax(worst, e);
    }
  }
  result(ok && worst <= 1e-6, "grad loss %-46s rel err %.1e", what, worst);
  arena_free(a);
}

#define MODEL(K, T, body)                                                                                              \
  "model m {\n input x: f32[B, 3]; input t: " T "; param w: f32[3, " #K "] = zeros\n" body "\n}\n"

void loss_checks(void) {
  const double cls[BATCH] = {0, 3, 1, 3}, bin[BATCH] = {0, 1, 1, 0}, target[BATCH] = {0.9, -1.2, 0.1, 2.5};
  loss_gradcheck("cross_entropy(softmax output)",
                 MODEL(4, "i32[B]", " p = softmax(x @ w); output p; minimize cross_entropy(p, t)"), 4, cls, NULL);
  loss_gradcheck("cross_entropy(probabilities, from_logits: false)",
                 MODEL(4, "i32[B]",
                       " p = 0.5 * softmax(x @ w) + 0.125; output p\n"
                       " minimize cross_entropy(p, t, from_logits: false)"),
                 4, cls, NULL);
  loss_gradcheck("binary_cross_entropy(sigmoid output)",
                 MODEL(1, "i32[B]", " p = sigmoid(x @ w); output p; minimize binary_cross_entropy(p, t)"), 1, bin,
                 NULL);
  /* Every logit 0 (zero-initialised weights): the gradient is sigmoid(0) - y
   * there, not the one-sided slope of a kink. */
  const double zeros[3] = {0, 0, 0};
  loss_gradcheck("binary_cross_entropy(sigmoid output) at logits 0",
                 MODEL(1, "i32[B]", " p = sigmoid(x @ w); output p; minimize binary_cross_entropy(p, t)"), 1, bin,
                 zeros);
  loss_gradcheck("binary_cross_entropy(logits, from_logits: true)",
                 MODEL(1, "f32[B]", " z = x @ w; output z; minimize binary_cross_entropy(z, t, from_logits: true)"), 1,
                 bin, NULL);
  loss_gradcheck("binary_cross_entropy(probabilities)",
                 MODEL(1, "i32[B]", " q = 0.5 * sigmoid(x @ w) + 0.25; output q; minimize binary_cross_entropy(q, t)"),
                 1, bin, NULL);
  loss_gradcheck("mae", MODEL(1, "f32[B]", " p = x @ w; output p; minimize mae(p, t)"), 1, target, NULL);
  /* delta 0.7 with targets spread over [-1.2, 2.5]: both pieces */
  loss_gradcheck("huber(delta: 0.7)", MODEL(1, "f32[B]", " p = x @ w; output p; minimize huber(p, t, delta: 0.7)"), 1,
                 target, NULL);
  loss_gradcheck("mse", MODEL(2, "f32[B, 2]", " p = x @ w; output p; minimize mse(p, t)"), 2,
                 (const double[]){0.1, -0.3, 1.2, 0.4, -0.8, 0.0, 2.0, 0.5}, NULL);
}
