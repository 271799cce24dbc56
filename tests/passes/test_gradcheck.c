/* test_gradcheck.c — autodiff against central differences, in f64.
 *
 * For every differentiable op of ops.def (with broadcasting, axis and flag
 * variants), a tiny function y = op(x...) is reduced to a scalar
 * L = sum(y * w) with fixed random weights w; the gradient autodiff emits
 * (run by the reference interpreter) must match (L(x+h) - L(x-h)) / 2h
 * element by element. The same is done for a whole MLP with cross-entropy
 * over its parameters, and the optimizer update of train_step is compared,
 * step by step, with a plain C transcription of torch.optim's SGD, Adam and
 * AdamW. Every function is also run after `simplify`, which must not change
 * a single result. */
#include "gradcheck.h"

int npass, nfail;

/* ---- per-op checks ---- */

typedef struct OpCase OpCase;
struct OpCase {
  const char *name;
  int nin;
  Type in[3];
  double lo, hi;   /* inputs drawn from [lo, hi); i32 inputs from [0, hi) */
  OpKind op;       /* for the generic builder */
  Attrs at;
  Type out;        /* declared result type (OPF_TYPED ops) */
  int (*build)(IrFunc *f, const int *x, const OpCase *c);
};

static int b_generic(IrFunc *f, const int *x, const OpCase *c) {
  int v = ir_emit(f, c->op, x, ir_ops[c->op].nargs, &c->at, op_is(c->op, OPF_TYPED) ? &c->out : NULL, L0, NULL);
  if (v < 0) abort();
  return v;
}

/* Cross-entropy as the frontend writes it: mean(-sum(onehot(y) * log_softmax(z))). */
static int b_xent(IrFunc *f, const int *x, const OpCase *c) {
  (void)c;
  Type oh = T(F, 2, B, 5);
  int onehot = ir_emit(f, OP_ONEHOT, &x[1], 1, NULL, &oh, L0, NULL);
  int ls = ir_emit(f, OP_LOG_SOFTMAX, &x[0], 1, &(Attrs){.axis = 1}, NULL, L0, NULL);
  int prod = ir_op2(f, OP_MUL, onehot, ls, L0);
  int s = ir_emit(f, OP_SUM, &prod, 1, &(Attrs){.naxes = 1, .axes = {1}}, NULL, L0, NULL);
  int nll = ir_op1(f, OP_NEG, s, L0);
  return ir_emit(f, OP_MEAN, &nll, 1, &(Attrs){.naxes = 1, .axes = {0}}, NULL, L0, NULL);
}

/* A value used several times: the contributions must add up. */
static int b_reuse(IrFunc *f, const int *x, const OpCase *c) {
  (void)c;
  int sq = ir_op2(f, OP_MUL, x[0], x[0], L0);
  return ir_op2(f, OP_ADD, ir_op2(f, OP_MUL, sq, ir_op1(f, OP_EXP, x[0], L0), L0), ir_op1(f, OP_TANH, x[0], L0), L0);
}

/* layernorm as the frontend lowers it (builtins.c): (x - mean) /
 * sqrt(var + eps) over c->at.axis, then * gamma + beta when given (the
 * layer_norm layer, over the last axis). */
static int b_layernorm(IrFunc *f, const int *x, const OpCase *c) {
  Attrs ax = {.naxes = 1, .axes = {c->at.axis}, .keepdims = 1};
  int mu = ir_emit(f, OP_MEAN, &x[0], 1, &ax, NULL, L0, NULL);
  int d = ir_op2(f, OP_SUB, x[0], mu, L0), d2 = ir_op2(f, OP_MUL, d, d, L0);
  int var = ir_emit(f, OP_MEAN, &d2, 1, &ax, NULL, L0, NULL);
  Type s = T(F, 0);
  int sd = ir_op1(f, OP_SQRT, ir_op2(f, OP_ADD, var, ir_const(f, 1e-5, &s, L0), L0), L0);
  int y = ir_op2(f, OP_DIV, d, sd, L0);
  if (c->nin == 3) y = ir_op2(f, OP_ADD, ir_op2(f, OP_MUL, y, x[1], L0), x[2], L0);
  return y;
}

/* Attention's pattern: softmax over the last axis of masked scores (the
 * -inf entries get weight 0 and no gradient). */
static int b_masked_softmax(IrFunc *f, const int *x, const OpCase *c) {
  (void)c;
  int mk = ir_emit(f, OP_CAUSAL_MASK, &x[0], 1, &(Attrs){.value = -INFINITY}, NULL, L0, NULL);
  return ir_emit(f, OP_SOFTMAX, &mk, 1, &(Attrs){.axis = 2}, NULL, L0, NULL);
}

/* Non-differentiable ops in the path: step and eq pass no gradient, dim is
 * a run-time constant. */
static int b_nondiff(IrFunc *f, const int *x, const OpCase *c) {
  (void)c;
  int st = ir_op2(f, OP_MUL, ir_op1(f, OP_STEP, x[0], L0), x[0], L0);
  int eq = ir_op2(f, OP_MUL, ir_op2(f, OP_EQ, x[0], x[0], L0), x[0], L0);
  int d = ir_emit(f, OP_DIM, &x[0], 1, &(Attrs){.axis = 0}, NULL, L0, NULL);
  return ir_op2(f, OP_DIV, ir_op2(f, OP_ADD, st, eq, L0), d, L0);
}

/* where(a > 0.2, b, c) with the mask from a comparison: b and c get the
 * gradient where they are picked (summed over broadcast axes), a none (the
 * comparisons pass none); lt/le/ge/ne/eq masks multiply in as constants. */
static int b_where(IrFunc *f, const int *x, const OpCase *c) {
  (void)c;
  int cond = ir_op2(f, OP_GT, x[0], ir_scalar(f, 0.2, L0), L0);
  int w = ir_emit(f, OP_WHERE, (int[]){cond, x[1], x[2]}, 3, NULL, NULL, L0, NULL);
  if (w < 0) abort();
  static const OpKind cmp[] = {OP_LT, OP_LE, OP_GE, OP_NE, OP_EQ};
  for (size_t i = 0; i < sizeof cmp / sizeof *cmp; i++)
    w = ir_op2(f, OP_ADD, w, ir_op2(f, OP_MUL, ir_op2(f, cmp[i], x[0], ir_scalar(f, -0.3, L0), L0), x[0], L0), L0);
  return w;
}

/* dropout with a fixed seed and step (constants): a fixed mask, so the op
 * is linear in x and the differences see exactly the regenerated mask. */
static int b_dropout(IrFunc *f, const int *x, const OpCase *c) {
  Type st = T(I, 1, 2), s = T(F, 0);
  int seed = ir_const(f, 12345, &st, L0), step = ir_const(f, 3, &s, L0);
  int v = ir_emit(f, OP_DROPOUT, (int[]){x[0], seed, step}, 3, &c->at, NULL, L0, NULL);
  if (v < 0) abort();
  return v;
}

/* Runs one case and records its result. */
static void gradcheck(const OpCase *c) {
  Arena *a = arena_new();
  IrModule *m = new_module(a);
  IrFunc *f = ir_func_new(m, "f");
  int x[3], wrt[3], nw = 0;
  for (int i = 0; i < c->nin; i++) {
    x[i] = ir_input(f, (const char *[]){"a", "b", "c"}[i], c->in[i], L0);
    if (c->in[i].dt == DT_F32) wrt[nw++] = x[i];
  }
  int y = c->build(f, x, c);
  Type yt = f->nodes[y].ty;
  int w = ir_input(f, "w", yt, L0);
  int loss = ir_op2(f, OP_MUL, y, w, L0);
  if (yt.sh.rank) {
    Attrs all = {.naxes = yt.sh.rank};
    for (int i = 0; i < yt.sh.rank; i++) all.axes[i] = i;
    loss = ir_emit(f, OP_SUM, &loss, 1, &all, NULL, L0, NULL);
  }
  int grads[3];
  ad_grad(f, loss, wrt, nw, grads);
  ir_ret(f, loss);
  for (int k = 0; k < nw; k++) ir_ret(f, grads[k]);

  double *in[4] = {0}, *out[4] = {0}, *ana[4] = {0}, *sout[4] = {0};
  for (int i = 0; i < c->nin; i++) {
    in[i] = alloc_for(&c->in[i]);
    for (int64_t j = 0; j < numel(&c->in[i]); j++)
      in[i][j] = c->in[i].dt == DT_I32 ? floor(urand(0, c->hi)) : urand(c->lo, c->hi);
  }
  in[c->nin] = alloc_for(&yt);
  for (int64_t j = 0; j < numel(&yt); j++) in[c->nin][j] = urand(-1, 1);
  for (int k = 0; k <= nw; k++) {
    const Type *t = &f->nodes[f->rets[k]].ty;
    out[k] = alloc_for(t), ana[k] = alloc_for(t), sout[k] = alloc_for(t);
  }

  /* ana: the loss and the analytic gradients at x; out: scratch. */
  bool ok = verify(m) && run(f, NULL, in, ana);
  double worst = 0, h = 1e-6;
  for (int k = 0, i = 0; ok && i < c->nin; i++) {
    if (c->in[i].dt != DT_F32) continue;
    k++;
    for (int64_t j = 0; ok && j < numel(&c->in[i]); j++) {
      double keep = in[i][j], lp, lm;
      in[i][j] = keep + h;
      ok = run(f, NULL, in, out);
      lp = out[0][0];
      in[i][j] = keep - h;
      ok = ok && run(f, NULL, in, out);
      lm = out[0][0];
      in[i][j] = keep;
      double num = (lp - lm) / (2 * h), e = rel_err(ana[k][j], num);
      worst = fmax(worst, e);
      if (e > 1e-6)
        printf("  %s: d/d%s[%lld] analytic %.12g numeric %.12g\n", c->name, (const char *[]){"a", "b", "c"}[i],
               (long long)j, ana[k][j], num);
    }
  }
  /* simplify must not change a single result: its identities are exact and
   * it folds nothing that would round differently. */
  int before = f->n;
  double sdiff = 0;
  if (ok) {
    pass_simplify(m, &(PassCtx){0});
    ok = verify(m) && run(f, NULL, in, sout);
    for (int k = 0; ok && k <= nw; k++)
      for (int64_t j = 0; j < numel(&f->nodes[f->rets[k]].ty); j++) sdiff = fmax(sdiff, fabs(sout[k][j] - ana[k][j]));
  }
  result(ok && worst <= 1e-6 && sdiff == 0, "grad %-36s rel err %.1e  (simplify %3d -> %3d nodes)", c->name, worst,
         before, f->n);
  if (sdiff != 0) printf("  simplify changed a result by %g\n", sdiff);
  for (int i = 0; i <= c->nin; i++) free(in[i]);
  for (int k = 0; k <= nw; k++) free(out[k]), free(ana[k]), free(sout[k]);
  arena_free(a);
}

#define AX(n, ...) .at = {.naxes = n, .axes = {__VA_ARGS__}}

static void op_checks(void) {
  /* Binary ops, each with every broadcasting pattern. */
  static const struct {
    const char *name;
    Type a, b;
  } bc[] = {
      {"[3,4]·[3,4]", {F, {2, {3, 4}}}, {F, {2, {3, 4}}}},   {"[3,4]·[4]", {F, {2, {3, 4}}}, {F, {1, {4}}}},
      {"[4]·[3,4]", {F, {1, {4}}}, {F, {2, {3, 4}}}},       {"[3,1]·[1,4]", {F, {2, {3, 1}}}, {F, {2, {1, 4}}}},
      {"[2,3,4]·[3,1]", {F, {3, {2, 3, 4}}}, {F, {2, {3, 1}}}}, {"[3,4]·[]", {F, {2, {3, 4}}}, {F, {0, {0}}}},
      {"[]·[B,4]", {F, {0, {0}}}, {F, {2, {B, 4}}}},          {"[B,4]·[1,4]", {F, {2, {B, 4}}}, {F, {2, {1, 4}}}},
  };
  const OpKind bin[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV};
  for (int o = 0; o < 4; o++)
    for (size_t k = 0; k < sizeof bc / sizeof bc[0]; k++) {
      char name[64];
      snprintf(name, sizeof name, "%s %s", ir_ops[bin[o]].mnemonic, bc[k].name);
      OpCase c = {name, 2, {bc[k].a, bc[k].b}, bin[o] == OP_DIV ? 0.5 : -1, 2, .op = bin[o], .build = b_generic};
      gradcheck(&c);
    }

  Type x34 = T(F, 2, 3, 4), x234 = T(F, 3, 2, 3, 4), xb4 = T(F, 2, B, 4);
  const OpCase un[] = {
      {"neg", 1, {x34}, -1, 1, OP_NEG, .build = b_generic},
      {"relu", 1, {x234}, -1, 1, OP_RELU, .build = b_generic},
      {"sigmoid", 1, {x34}, -2, 2, OP_SIGMOID, .build = b_generic},
      {"tanh", 1, {xb4}, -2, 2, OP_TANH, .build = b_generic},
      {"gelu", 1, {xb4}, -3, 3, OP_GELU, .build = b_generic},
      {"leaky_relu 0.01", 1, {x234}, -1, 1, OP_LEAKY_RELU, {.value = 0.01}, .build = b_generic},
      {"leaky_relu 0.3", 1, {xb4}, -2, 2, OP_LEAKY_RELU, {.value = 0.3}, .build = b_generic},
      {"elu 1", 1, {x234}, -2, 2, OP_ELU, {.value = 1}, .build = b_generic},
      {"elu 0.5", 1, {xb4}, -3, 3, OP_ELU, {.value = 0.5}, .build = b_generic},
      {"silu", 1, {xb4}, -4, 4, OP_SILU, .build = b_generic},
      {"softplus", 1, {x34}, -5, 5, OP_SOFTPLUS, .build = b_generic},
      {"exp", 1, {x34}, -1, 1, OP_EXP, .build = b_generic},
      {"log", 1, {x34}, 0.5, 2, OP_LOG, .build = b_generic},
      {"sqrt", 1, {x34}, 0.5, 2, OP_SQRT, .build = b_generic},
      {"pow 2", 1, {x34}, -1, 1, OP_POW, {.value = 2}, .build = b_generic},
      {"pow 3", 1, {x34}, -1, 1, OP_POW, {.value = 3}, .build = b_generic},
      {"pow 0.5", 1, {x34}, 0.5, 2, OP_POW, {.value = 0.5}, .build = b_generic},
      {"pow -1", 1, {x34}, 0.5, 2, OP_POW, {.value = -1}, .build = b_generic},
      {"pow 0", 1, {x34}, -1, 1, OP_POW, {.value = 0}, .build = b_generic},
      {"cast f32->f32", 1, {x34}, -1, 1, OP_CAST, .out = x34, .build = b_generic},
  };
  for (size_t k = 0; k < sizeof un / sizeof un[0]; k++) {
    gradcheck(&un[k]);
  }

  /* Reductions over each axis set, with and without keepdims. */
  static const struct {
    int n, axes[3];
  } rs[] = {{1, {0}}, {1, {1}}, {1, {2}}, {2, {0, 2}}, {2, {1, 2}}, {3, {0, 1, 2}}};
  const OpKind red[] = {OP_SUM, OP_MEAN, OP_MAX};
  for (int o = 0; o < 3; o++)
    for (size_t k = 0; k < sizeof rs / sizeof rs[0]; k++)
      for (int keep = 0; keep < 2; keep++) {
        char name[64], axes[16] = "";
        for (int j = 0; j < rs[k].n; j++)
          snprintf(axes + strlen(axes), sizeof axes - strlen(axes), "%s%d", j ? "," : "", rs[k].axes[j]);
        snprintf(name, sizeof name, "%s [2,3,4] axes=%s keepdims=%d", ir_ops[red[o]].mnemonic, axes, keep);
        OpCase c = {name, 1, {x234}, -1, 1, red[o], .build = b_generic};
        c.at.naxes = rs[k].n, c.at.keepdims = keep;
        memcpy(c.at.axes, rs[k].axes, sizeof rs[k].axes);
        gradcheck(&c);
      }
  /* Over the symbolic batch: mean divides by a run-time `dim`. */
  for (int o = 0; o < 3; o++)
    for (int keep = 0; keep < 2; keep++) {
      char name[64];
      snprintf(name, sizeof name, "%s [B,4] axes=0 keepdims=%d", ir_ops[red[o]].mnemonic, keep);
      OpCase c = {name, 1, {xb4}, -1, 1, red[o], AX(1, 0), .build = b_generic};
      c.at.keepdims = keep;
      gradcheck(&c);
    }

  const OpKind rows[] = {OP_SOFTMAX, OP_LOG_SOFTMAX};
  for (int o = 0; o < 2; o++) {
    for (int ax = 0; ax < 2; ax++) {
      char name[64];
      snprintf(name, sizeof name, "%s [3,4] axis=%d", ir_ops[rows[o]].mnemonic, ax);
      gradcheck(&(OpCase){name, 1, {x34}, -2, 2, rows[o], {.axis = ax}, .build = b_generic});
    }
    for (int ax = 0; ax < 3; ax++) {
      char name[64];
      snprintf(name, sizeof name, "%s [2,3,4] axis=%d", ir_ops[rows[o]].mnemonic, ax);
      gradcheck(&(OpCase){name, 1, {x234}, -2, 2, rows[o], {.axis = ax}, .build = b_generic});
    }
  }

  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      char name[64];
      snprintf(name, sizeof name, "matmul ta=%d tb=%d", ta, tb);
      Type A = ta ? T(F, 2, 4, 3) : T(F, 2, 3, 4), Bm = tb ? T(F, 2, 2, 4) : T(F, 2, 4, 2);
      gradcheck(&(OpCase){name, 2, {A, Bm}, -1, 1, OP_MATMUL, {.ta = ta, .tb = tb}, .build = b_generic});
      snprintf(name, sizeof name, "matmul [B,..] ta=%d tb=%d", ta, tb);
      A = ta ? T(F, 2, 4, B) : T(F, 2, B, 4);
      gradcheck(&(OpCase){name, 2, {A, Bm}, -1, 1, OP_MATMUL, {.ta = ta, .tb = tb}, .build = b_generic});
    }

  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      char name[64];
      snprintf(name, sizeof name, "batched matmul [2,..] ta=%d tb=%d", ta, tb);
      Type A = ta ? T(F, 3, 2, 4, 3) : T(F, 3, 2, 3, 4), Bm = tb ? T(F, 3, 2, 2, 4) : T(F, 3, 2, 4, 2);
      gradcheck(&(OpCase){name, 2, {A, Bm}, -1, 1, OP_MATMUL, {.ta = ta, .tb = tb}, .build = b_generic});
      snprintf(name, sizeof name, "batched matmul [B,..] ta=%d tb=%d", ta, tb);
      A = ta ? T(F, 3, B, 4, 3) : T(F, 3, B, 3, 4), Bm = tb ? T(F, 3, B, 2, 4) : T(F, 3, B, 4, 2);
      gradcheck(&(OpCase){name, 2, {A, Bm}, -1, 1, OP_MATMUL, {.ta = ta, .tb = tb}, .build = b_generic});
    }

  for (int ta = 0; ta < 2; ta++) /* two batch axes: attention's [B,H,T,dh] products */
    for (int tb = 0; tb < 2; tb++) {
      char name[64];
      snprintf(name, sizeof name, "batched matmul [B,2,..] ta=%d tb=%d", ta, tb);
      Type A = ta ? T(F, 4, B, 2, 4, 3) : T(F, 4, B, 2, 3, 4), Bm = tb ? T(F, 4, B, 2, 2, 4) : T(F, 4, B, 2, 4, 2);
      gradcheck(&(OpCase){name, 2, {A, Bm}, -1, 1, OP_MATMUL, {.ta = ta, .tb = tb}, .build = b_generic});
    }
  gradcheck(&(OpCase){"matmul [B,2,3,4] x [4,2]", 2, {T(F, 4, B, 2, 3, 4), T(F, 2, 4, 2)}, -1, 1, OP_MATMUL,
                      .build = b_generic});

  for (int tb = 0; tb < 2; tb++) { /* [G,M,K] x [K,N]: one right operand for the batch */
    char name[64];
    snprintf(name, sizeof name, "matmul [B,3,4] x [4,2] tb=%d", tb);
    Type A = T(F, 3, B, 3, 4), Bm = tb ? T(F, 2, 2, 4) : T(F, 2, 4, 2);
    gradcheck(&(OpCase){name, 2, {A, Bm}, -1, 1, OP_MATMUL, {.tb = tb}, .build = b_generic});
  }

  /* Sliding windows: kernel sizes, strides and paddings, with windows that
   * overlap (stride < kernel), tile, and skip inputs (stride > kernel). */
  static const struct {
    int c, h, w, f, k, stride, pad;
  } convs[] = {{1, 5, 5, 2, 3, 1, 0}, {2, 5, 6, 3, 3, 1, 1}, {2, 7, 7, 2, 3, 2, 1},
               {3, 6, 5, 2, 2, 2, 0}, {2, 4, 4, 1, 1, 1, 0}, {1, 6, 6, 2, 3, 3, 2}};
  for (size_t k = 0; k < sizeof convs / sizeof convs[0]; k++) {
    char name[80];
    int cc = convs[k].c, kk = convs[k].k;
    snprintf(name, sizeof name, "conv2d [%s,%d,%d,%d]*[%d,%d,%d,%d] stride=%d pad=%d", k % 2 ? "B" : "2", cc, convs[k].h, convs[k].w,
             convs[k].f, cc, kk, kk, convs[k].stride, convs[k].pad);
    Type x = k % 2 ? T(F, 4, B, cc, convs[k].h, convs[k].w) : T(F, 4, 2, cc, convs[k].h, convs[k].w);
    gradcheck(&(OpCase){name, 2, {x, T(F, 4, convs[k].f, cc, kk, kk)}, -1, 1, OP_CONV2D,
                        {.stride = convs[k].stride, .pad = convs[k].pad}, .build = b_generic});
  }
  static const struct {
    int h, w, k, stride;
  } pools[] = {{4, 4, 2, 2}, {5, 5, 2, 2}, {5, 6, 3, 1}, {7, 7, 3, 2}, {4, 4, 1, 1}, {6, 6, 2, 3}};
  for (size_t k = 0; k < sizeof pools / sizeof pools[0]; k++)
    for (int avg = 0; avg < 2; avg++) {
      char name[80];
      OpKind op = avg ? OP_AVGPOOL2D : OP_MAXPOOL2D;
      snprintf(name, sizeof name, "%s [%s,3,%d,%d] kernel=%d stride=%d", ir_ops[op].mnemonic, k % 2 ? "B" : "2", pools[k].h, pools[k].w,
               pools[k].k, pools[k].stride);
      Type x = k % 2 ? T(F, 4, B, 3, pools[k].h, pools[k].w) : T(F, 4, 2, 3, pools[k].h, pools[k].w);
      gradcheck(&(OpCase){name, 1, {x}, -1, 1, op, {.kernel = pools[k].k, .stride = pools[k].stride},
                          .build = b_generic});
    }

  const OpCase layout[] = {
      {"reshape [2,3,4]->[6,4]", 1, {x234}, -1, 1, OP_RESHAPE, .out = {F, {2, {6, 4}}}, .build = b_generic},
      {"reshape [B,4]->[B,2,2]", 1, {xb4}, -1, 1, OP_RESHAPE, .out = {F, {3, {B, 2, 2}}}, .build = b_generic},
      {"transpose [2,3,4] perm=2,0,1", 1, {x234}, -1, 1, OP_TRANSPOSE, AX(3, 2, 0, 1), .build = b_generic},
      {"transpose [2,3,4] perm=1,2,0", 1, {x234}, -1, 1, OP_TRANSPOSE, AX(3, 1, 2, 0), .build = b_generic},
      {"transpose [B,4] perm=1,0", 1, {xb4}, -1, 1, OP_TRANSPOSE, AX(2, 1, 0), .build = b_generic},
      {"broadcast [3,1]->[2,3,4]", 1, {{F, {2, {3, 1}}}}, -1, 1, OP_BROADCAST, .out = x234, .build = b_generic},
      {"broadcast [4]->[B,4]", 1, {{F, {1, {4}}}}, -1, 1, OP_BROADCAST, .out = xb4, .build = b_generic},
      {"broadcast []->[3,4]", 1, {{F, {0, {0}}}}, -1, 1, OP_BROADCAST, .out = x34, .build = b_generic},
  };
  for (size_t k = 0; k < sizeof layout / sizeof layout[0]; k++) {
    gradcheck(&layout[k]);
  }

  /* Index ranges: at either end, in the middle, whole; over the batch's
   * neighbours. */
  const OpCase ranges[] = {
      {"concat [2,3,4]+[2,1,4] axis=1", 2, {x234, T(F, 3, 2, 1, 4)}, -1, 1, OP_CONCAT, {.axis = 1}, .build = b_generic},
      {"concat [B,4]+[B,2] axis=1", 2, {xb4, T(F, 2, B, 2)}, -1, 1, OP_CONCAT, {.axis = 1}, .build = b_generic},
      {"concat [3,4]+[2,4] axis=0", 2, {x34, T(F, 2, 2, 4)}, -1, 1, OP_CONCAT, {.axis = 0}, .build = b_generic},
      {"slice [2,3,4] axis=2 [1,3)", 1, {x234}, -1, 1, OP_SLICE, {.axis = 2, .start = 1, .end = 3}, .build = b_generic},
      {"slice [2,3,4] axis=1 [0,2)", 1, {x234}, -1, 1, OP_SLICE, {.axis = 1, .start = 0, .end = 2}, .build = b_generic},
      {"slice [B,4] axis=1 [2,4)", 1, {xb4}, -1, 1, OP_SLICE, {.axis = 1, .start = 2, .end = 4}, .build = b_generic},
      {"slice [3,4] axis=0 [0,3)", 1, {x34}, -1, 1, OP_SLICE, {.axis = 0, .start = 0, .end = 3}, .build = b_generic},
  };
  gradcheck(
      &(OpCase){"causal_mask [2,3,4] value=0", 1, {x234}, -1, 1, OP_CAUSAL_MASK, {.value = 0}, .build = b_generic});
  gradcheck(
      &(OpCase){"causal_mask [B,4] value=0.5", 1, {xb4}, -1, 1, OP_CAUSAL_MASK, {.value = 0.5}, .build = b_generic});
  gradcheck(&(OpCase){"softmax(causal_mask [B,3,3])", 1, {T(F, 3, B, 3, 3)}, -2, 2, .build = b_masked_softmax});
  gradcheck(&(OpCase){"softmax(causal_mask [2,3,5])", 1, {T(F, 3, 2, 3, 5)}, -2, 2, .build = b_masked_softmax});
  for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
    gradcheck(&ranges[k]);
  }

  gradcheck(&(OpCase){"cross-entropy onehot/log_softmax", 2, {{F, {2, {B, 5}}}, {I, {1, {B}}}}, -2, 5,
                      .build = b_xent});
  gradcheck(&(OpCase){"reuse x*x*exp(x)+tanh(x)", 1, {x34}, -1, 1, .build = b_reuse});
  for (int ax = 0; ax < 3; ax++) {
    char name[64];
    snprintf(name, sizeof name, "layernorm [2,3,4] axis=%d", ax);
    gradcheck(&(OpCase){name, 1, {x234}, -2, 2, .at = {.axis = ax}, .build = b_layernorm});
  }
  gradcheck(&(OpCase){
      "layer_norm [B,4] gamma beta", 3, {xb4, T(F, 1, 4), T(F, 1, 4)}, -2, 2, .at = {.axis = 1}, .build = b_layernorm});
  gradcheck(&(OpCase){"step/eq/dim pass no gradient", 1, {xb4}, -1, 1, .build = b_nondiff});
  gradcheck(&(OpCase){"where(a > 0.2, b, c) + comparisons", 3, {x234, x234, x234}, -1, 1, .build = b_where});
  gradcheck(&(OpCase){"where [B,4] ? [4] : []", 3, {xb4, T(F, 1, 4), T(F, 0)}, -1, 1, .build = b_where});
  gradcheck(&(OpCase){"where [3,1] ? [1,4] : [3,4]", 3, {T(F, 2, 3, 1), T(F, 2, 1, 4), x34}, -1, 1, .build = b_where});

  /* Gathers: ids drawn from [0, 5), so rows repeat and the scatter-add
   * must sum them; dropout at two rates and sites. */
  gradcheck(&(OpCase){"embedding [B,3] ids, [5,4] table", 2, {T(I, 2, B, 3), T(F, 2, 5, 4)}, -1, 5, OP_EMBEDDING,
                      .build = b_generic});
  gradcheck(&(OpCase){"embedding [7] ids, [5,2] table", 2, {T(I, 1, 7), T(F, 2, 5, 2)}, -1, 5, OP_EMBEDDING,
                      .build = b_generic});
  gradcheck(&(OpCase){"dropout [B,7] rate 0.5", 1, {T(F, 2, B, 7)}, -1, 1, .at = {.value = 0.5, .salt = 1},
                      .build = b_dropout});
  gradcheck(&(OpCase){"dropout [2,3,4] rate 0.2 salt 9", 1, {x234}, -1, 1, .at = {.value = 0.2, .salt = 9},
                      .build = b_dropout});
}


int main(void) {
  op_checks();
  mlp_checks();
  prune_checks();
  scan_checks();
  loss_checks();
  quant_checks();
  printf("%d passed, %d failed\n", npass, nfail);
  return nfail ? 1 : 0;
}
