/* test_gradcheck_mlp.c — whole-model checks: the gradient of an MLP with
 * cross-entropy over its parameters, the train_step the autodiff pass
 * builds (signature, state globals, stores), its optimizer update against a
 * plain C transcription of torch.optim, the pipeline runner, and how much
 * simplify shrinks train_step. */
#include "gradcheck.h"

/* dense(x, NHID) |> relu |> dense(NOUT), loss = mean cross-entropy, as the
 * frontend lowers it. With l2, the loss also gets 1e-3 * sum(w1^2) through a
 * second `global` read of dense_1.w, whose gradient must join the first's. */
IrModule *build_mlp(Arena *a, const IrTrain *tr, bool l2) {
  IrModule *m = new_module(a);
  if (tr) m->train = *tr;
  const char *names[4] = {"dense_1.w", "dense_1.b", "dense_2.w", "dense_2.b"};
  Type types[4] = {T(F, 2, NIN, NHID), T(F, 1, NHID), T(F, 2, NHID, NOUT), T(F, 1, NOUT)};
  for (int i = 0; i < 4; i++)
    ir_global_add(m, (IrGlobal){.name = names[i], .kind = GLOBAL_PARAM, .ty = types[i], .init = NNRT_INIT_ZEROS});
  IrFunc *f = ir_func_new(m, IR_FN_EVAL);
  int x = ir_input(f, "x", T(F, 2, B, NIN), L0), y = ir_input(f, "y", T(I, 1, B), L0);
  int w[4];
  for (int i = 0; i < 4; i++) w[i] = ir_global_ref(f, i, L0);
  int xw = ir_emit(f, OP_MATMUL, (int[]){x, w[0]}, 2, NULL, NULL, L0, NULL);
  int h = ir_op1(f, OP_RELU, ir_op2(f, OP_ADD, xw, w[1], L0), L0);
  int logits = ir_op2(f, OP_ADD, ir_emit(f, OP_MATMUL, (int[]){h, w[2]}, 2, NULL, NULL, L0, NULL), w[3], L0);
  Type oh = T(F, 2, B, NOUT);
  int onehot = ir_emit(f, OP_ONEHOT, &y, 1, NULL, &oh, L0, NULL);
  int ls = ir_emit(f, OP_LOG_SOFTMAX, &logits, 1, &(Attrs){.axis = 1}, NULL, L0, NULL);
  int s = ir_emit(f, OP_SUM, (int[]){ir_op2(f, OP_MUL, onehot, ls, L0)}, 1, &(Attrs){.naxes = 1, .axes = {1}}, NULL, L0,
                  NULL);
  int nll = ir_op1(f, OP_NEG, s, L0);
  int loss = ir_emit(f, OP_MEAN, &nll, 1, &(Attrs){.naxes = 1, .axes = {0}}, NULL, L0, NULL);
  if (l2) {
    int w1 = ir_global_ref(f, 0, L0);
    int sq = ir_emit(f, OP_SUM, (int[]){ir_op2(f, OP_MUL, w1, w1, L0)}, 1, &(Attrs){.naxes = 2, .axes = {0, 1}}, NULL,
                     L0, NULL);
    loss = ir_op2(f, OP_ADD, loss, ir_op2(f, OP_MUL, sq, ir_scalar(f, 1e-3, L0), L0), L0);
  }
  ir_ret(f, loss);
  ir_ret(f, logits);
  return m;
}

/* Data for every global of m (random parameters, zero state). */
double **alloc_globals(const IrModule *m) {
  double **g = calloc((size_t)m->nglobals + 1, sizeof *g);
  for (int i = 0; i < m->nglobals; i++) {
    g[i] = alloc_for(&m->globals[i].ty);
    if (m->globals[i].kind == GLOBAL_PARAM)
      for (int64_t j = 0; j < numel(&m->globals[i].ty); j++) g[i][j] = urand(-0.5, 0.5);
  }
  return g;
}

void free_all(double **p, int n) {
  for (int i = 0; i < n; i++) free(p[i]);
  free(p);
}

void random_batch(double *x, double *y) {
  for (int j = 0; j < SYMS[0] * NIN; j++) x[j] = urand(-1, 1);
  for (int j = 0; j < SYMS[0]; j++) y[j] = floor(urand(0, NOUT));
}

/* ---- the MLP's parameter gradient ---- */

static void mlp_gradcheck(void) {
  Arena *a = arena_new();
  IrModule *m = build_mlp(a, NULL, true);
  IrFunc *g = ad_build_grad_func(m, ir_func_find(m, IR_FN_EVAL), "grad");
  double **gl = alloc_globals(m), x[BATCH * NIN], y[BATCH], *in[2] = {x, y}, loss;
  random_batch(x, y);
  double *out[5] = {&loss}, *scratch[5] = {&loss};
  for (int p = 0; p < 4; p++) out[p + 1] = alloc_for(&m->globals[p].ty), scratch[p + 1] = alloc_for(&m->globals[p].ty);
  bool ok = g->nrets == 5 && verify(m) && run(g, gl, in, out);
  double worst = 0, h = 1e-6;
  for (int p = 0; ok && p < 4; p++)
    for (int64_t j = 0; ok && j < numel(&m->globals[p].ty); j++) {
      double num = central_diff(g, gl, in, scratch, &loss, &gl[p][j], h, &ok), e = rel_err(out[p + 1][j], num);
      if (e > 1e-6)
        printf("  @%s[%lld]: analytic %.12g numeric %.12g\n", m->globals[p].name, (long long)j, out[p + 1][j], num);
      worst = fmax(worst, e);
    }
  result(ok && worst <= 1e-6, "grad MLP %d-%d-%d xent + L2 (two reads of a param), B=%lld: rel err %.1e", NIN, NHID,
         NOUT, (long long)SYMS[0], worst);
  for (int p = 1; p < 5; p++) free(out[p]), free(scratch[p]);
  free_all(gl, m->nglobals);
  arena_free(a);
}

/* ---- train_step's shape ---- */

static void train_step_structure(void) {
  Arena *a = arena_new();
  IrModule *m = build_mlp(a, NULL, false); /* no train block: Adam defaults */
  Diag d;
  diag_init(&d, stdout);
  bool ok = pass_autodiff(m, &(PassCtx){.diag = &d}) && verify(m);
  const IrFunc *e = ir_func_find(m, IR_FN_EVAL), *t = ir_func_find(m, IR_FN_TRAIN);
  ok = ok && t && t->nrets == e->nrets;
  int ninputs = 0, lr = -1, nstores = 0, last_read = -1, first_store = t ? t->n : 0;
  for (int i = 0; ok && i < t->n; i++) {
    const IrNode *n = &t->nodes[i];
    if (n->op == OP_INPUT) ninputs++;
    if (n->op == OP_INPUT && n->at.index == 2) lr = i;
    if (n->op == OP_STORE && nstores++ == 0) first_store = i;
    if (n->op == OP_GLOBAL) last_read = i;
  }
  ok = ok && ninputs == 3 && lr >= 0 && !strcmp(t->nodes[lr].name, "lr") && t->nodes[lr].ty.sh.rank == 0;
  /* 4 params + 4 .m + 4 .v + opt.step, each stored once, all stores last. */
  ok = ok && m->nglobals == 13 && nstores == 13 && last_read < first_store && first_store == t->n - 13;
  for (int i = 4; ok && i < m->nglobals; i++)
    ok = m->globals[i].kind == GLOBAL_STATE && m->globals[i].init == NNRT_INIT_ZEROS;
  ok = ok && ir_global_find(m, "dense_1.w.m") >= 0 && ir_global_find(m, "dense_2.b.v") >= 0 &&
       ir_global_find(m, "opt.step") >= 0 && m->globals[ir_global_find(m, "opt.step")].ty.sh.rank == 0;
  for (int r = 0; ok && r < e->nrets; r++) ok = ir_type_eq(&e->nodes[e->rets[r]].ty, &t->nodes[t->rets[r]].ty);
  result(ok, "autodiff: train_step(x, y, lr) -> (loss, logits), 9 state globals, 13 stores last");

  /* Running the pass again rebuilds train_step and reuses the state. */
  ok = pass_autodiff(m, &(PassCtx){.diag = &d}) && m->nglobals == 13 && m->nfuncs == 2 && verify(m);
  result(ok, "autodiff: a second run replaces train_step and reuses its state globals");

  IrModule *bad = new_module(a);
  Diag quiet;
  diag_init(&quiet, fopen("/dev/null", "w"));
  ok = !pass_autodiff(bad, &(PassCtx){.diag = &quiet}) && quiet.nerrors == 1;
  fclose(quiet.out);
  result(ok, "autodiff: a module without eval_step is an error, not a crash");
  arena_free(a);
}

/* ---- the optimizer against torch.optim, in C ---- */

/* Difference of two runs of the same arithmetic over a tensor: the worst
 * element against the tensor's own scale (parity.py's measure), so that
 * the state's small numbers (v = g^2) count fully, and an element that
 * cancelled (m = b1 m + (1 - b1) g with g changing sign) neither hides nor
 * inflates an error. */
static double close(const double *a, const double *b, int64_t n) {
  double d = 0, scale = 1e-300;
  for (int64_t j = 0; j < n; j++) d = fmax(d, fabs(a[j] - b[j])), scale = fmax(scale, fabs(b[j]));
  return d / scale;
}

/* One torch.optim step for one tensor; t is the step number (1-based);
 * the gradient is first scaled by clip (clip_grad_norm_'s factor, or 1). */
static void torch_step(const IrTrain *tr, int t, double lr, double *w, const double *grad, double clip, double *m1,
                       double *v, double *buf, int64_t n) {
  for (int64_t j = 0; j < n; j++) {
    double g = grad[j] * clip;
    if (tr->weight_decay != 0 && tr->opt != OPT_ADAMW) g += tr->weight_decay * w[j];
    if (tr->opt == OPT_RMSPROP) { /* v is square_avg */
      v[j] = tr->rho * v[j] + (1 - tr->rho) * g * g;
      double u = g / (sqrt(v[j]) + tr->eps);
      if (tr->momentum != 0) u = buf[j] = tr->momentum * buf[j] + u;
      w[j] -= lr * u;
      continue;
    }
    if (tr->opt == OPT_SGD) {
      if (tr->momentum != 0) g = buf[j] = t == 1 ? g : tr->momentum * buf[j] + g;
      w[j] -= lr * g;
      continue;
    }
    if (tr->opt == OPT_ADAMW) w[j] *= 1 - lr * tr->weight_decay;
    m1[j] = tr->beta1 * m1[j] + (1 - tr->beta1) * g;
    v[j] = tr->beta2 * v[j] + (1 - tr->beta2) * g * g;
    double bc1 = 1 - pow(tr->beta1, t), bc2 = 1 - pow(tr->beta2, t);
    double denom = sqrt(v[j]) / sqrt(bc2) + tr->eps;
    w[j] -= lr / bc1 * (m1[j] / denom);
  }
}

static void optimizer_check(const char *what, const IrTrain *tr, bool simplify) {
  Arena *a = arena_new();
  IrModule *m = build_mlp(a, tr, false);
  IrFunc *g = ad_build_grad_func(m, ir_func_find(m, IR_FN_EVAL), "grad");
  Diag d;
  diag_init(&d, stdout);
  bool ok = pass_autodiff(m, &(PassCtx){.diag = &d});
  if (simplify) ok = ok && pass_simplify(m, &(PassCtx){.diag = &d});
  ok = ok && verify(m);
  IrFunc *t = ir_func_find(m, IR_FN_TRAIN);
  IrTrain eff = tr ? *tr : (IrTrain){.opt = OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
  double lr = eff.opt == OPT_SGD ? 0.05 : 0.01;
  double **gl = alloc_globals(m), *ref[4], *mom[4], *m1[4], *v[4], *grads[5], loss_ref, loss, logits[BATCH * NOUT];
  for (int p = 0; p < 4; p++) {
    int64_t n = numel(&m->globals[p].ty);
    ref[p] = alloc_for(&m->globals[p].ty), mom[p] = alloc_for(&m->globals[p].ty);
    m1[p] = alloc_for(&m->globals[p].ty), v[p] = alloc_for(&m->globals[p].ty);
    grads[p + 1] = alloc_for(&m->globals[p].ty);
    memcpy(ref[p], gl[p], (size_t)n * sizeof(double));
  }
  grads[0] = &loss_ref;
  double worst = 0;
  int clipped = 0; /* steps whose gradients were scaled */
  for (int step = 1; ok && step <= 3; step++) {
    double x[BATCH * NIN], y[BATCH], *in[3] = {x, y, &lr};
    random_batch(x, y);
    ok = run(g, ref, in, grads) && run(t, gl, in, (double *[]){&loss, logits});
    worst = fmax(worst, fabs(loss - loss_ref) / fabs(loss_ref));
    /* torch.nn.utils.clip_grad_norm_: the norm over every gradient, summed
     * per tensor first as the IR does (the last bits of the factor reach
     * every moment, where Adam's m = b1 m + (1 - b1) g may cancel) */
    double norm2 = 0, clip = 1;
    for (int p = 0; p < 4; p++) {
      double sq = 0;
      for (int64_t j = 0; j < numel(&m->globals[p].ty); j++) sq += grads[p + 1][j] * grads[p + 1][j];
      norm2 += sq;
    }
    if (eff.clip_norm > 0) clip = fmin(1, eff.clip_norm / (sqrt(norm2) + 1e-6));
    clipped += clip < 1;
    for (int p = 0; ok && p < 4; p++) {
      int64_t n = numel(&m->globals[p].ty);
      torch_step(&eff, step, lr, ref[p], grads[p + 1], clip, m1[p], v[p], mom[p], n);
      const char *sfx[] = {".m", ".v", ".momentum", ".square_avg"};
      double *st[] = {m1[p], v[p], mom[p], v[p]};
      worst = fmax(worst, close(gl[p], ref[p], n));
      for (int s = 0; s < 4; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s", m->globals[p].name, sfx[s]);
        int gi = ir_global_find(m, name);
        if (gi >= 0) worst = fmax(worst, close(gl[gi], st[s], n));
      }
    }
  }
  int step_g = ir_global_find(m, "opt.step");
  ok = ok && step_g >= 0 && gl[step_g][0] == 3;
  /* A clip_norm case must clip (or it would test nothing), in every step. */
  ok = ok && clipped == (eff.clip_norm > 0 ? 3 : 0);
  result(ok && worst < 1e-12, "optimizer %-32s 3 steps vs torch.optim in C: rel err %.1e", what, worst);
  for (int p = 0; p < 4; p++) free(ref[p]), free(mom[p]), free(m1[p]), free(v[p]), free(grads[p + 1]);
  free_all(gl, m->nglobals);
  arena_free(a);
}

static void optimizer_checks(void) {
  /* lr in the train block is deliberately not the one passed: train_step must
   * use its lr input. */
  IrTrain sgd = {.present = true, .opt = OPT_SGD, .lr = 123};
  IrTrain sgdm = {.present = true, .opt = OPT_SGD, .lr = 123, .momentum = 0.9, .weight_decay = 0.01};
  IrTrain adam = {.present = true, .opt = OPT_ADAM, .lr = 123, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-3};
  IrTrain adam_l2 = adam;
  adam_l2.weight_decay = 0.05;
  IrTrain adamw = {.present = true, .opt = OPT_ADAMW, .lr = 123, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                   .weight_decay = 0.1};
  IrTrain rmsprop = {.present = true, .opt = OPT_RMSPROP, .lr = 123, .rho = 0.99, .eps = 1e-8};
  IrTrain rmsprop_m = {.present = true, .opt = OPT_RMSPROP, .lr = 123, .rho = 0.9, .eps = 1e-3, .momentum = 0.8};
  IrTrain adam_clip = adam, sgdm_clip = sgdm;
  adam_clip.clip_norm = sgdm_clip.clip_norm = 0.05;
  for (int s = 0; s < 2; s++) {
    const char *sfx = s ? " +simplify" : "";
    char name[64];
#define CASE(label, tr)                                   \
  snprintf(name, sizeof name, "%s%s", label, sfx);        \
  optimizer_check(name, tr, s)
    CASE("SGD", &sgd);
    CASE("SGD momentum=0.9 wd=0.01", &sgdm);
    CASE("Adam b=(0.8,0.95) eps=1e-3", &adam);
    CASE("Adam wd=0.05 (L2)", &adam_l2);
    CASE("AdamW wd=0.1", &adamw);
    CASE("RMSprop rho=0.99", &rmsprop);
    CASE("RMSprop rho=0.9 eps=1e-3 mom=0.8", &rmsprop_m);
    CASE("Adam clip_norm=0.05", &adam_clip);
    CASE("SGD mom wd clip_norm=0.05", &sgdm_clip);
    CASE("no train block (Adam defaults)", NULL);
#undef CASE
  }
}

/* ---- the pipeline and simplify's effect ---- */

static int count_ops(const IrFunc *f, OpKind op) {
  int k = 0;
  for (int i = 0; i < f->n; i++) k += f->nodes[i].op == op;
  return k;
}

/* x * 1.0 left in f: what the seed and generic rules produce. */
static int count_mul_one(const IrFunc *f) {
  int k = 0;
  for (int i = 0; i < f->n; i++) {
    const IrNode *n = &f->nodes[i];
    for (int a = 0; n->op == OP_MUL && a < 2; a++)
      k += f->nodes[n->args[a]].op == OP_CONST && f->nodes[n->args[a]].at.value == 1;
  }
  return k;
}

static void pipeline_checks(void) {
  Arena *a = arena_new();
  IrModule *m = build_mlp(a, &(IrTrain){.present = true, .opt = OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
                          false);
  Diag d;
  diag_init(&d, stdout);
  PassCtx ctx = {.diag = &d, .verify = true};
  bool ok = pass_run_pipeline(m, (const char *[]){"autodiff"}, 1, &ctx);
  IrFunc *t = ir_func_find(m, IR_FN_TRAIN);
  if (!t) abort();
  const OpKind shown[] = {OP_CONST, OP_GLOBAL, OP_RESHAPE, OP_BROADCAST, OP_NEG};
  int before = t->n, counts[5];
  for (int k = 0; k < 5; k++) counts[k] = count_ops(t, shown[k]);
  ok = ok && pass_run_pipeline(m, (const char *[]){"simplify"}, 1, &ctx);
  printf("info: 2-layer MLP train_step (Adam): %d nodes after autodiff, %d after simplify (", before, t->n);
  for (int k = 0; k < 5; k++)
    printf("%s%s %d -> %d", k ? ", " : "", ir_ops[shown[k]].mnemonic, counts[k], count_ops(t, shown[k]));
  printf(")\n");
  result(ok && t->n < before && count_mul_one(t) == 0, "simplify shrinks train_step %d -> %d nodes, no x*1 left",
         before, t->n);
  int again = t->n;
  ok = pass_run_pipeline(m, (const char *[]){"simplify", "dce"}, 2, &ctx) && t->n == again;
  result(ok, "simplify and dce are idempotent");

  /* The default pipeline from scratch, with timing and a disabled pass. */
  IrModule *m2 = build_mlp(a, NULL, false);
  FILE *devnull = fopen("/dev/null", "w");
  Diag quiet;
  diag_init(&quiet, devnull);
  PassCtx c2 = {.diag = &quiet, .verify = true, .disabled = {"simplify", "remat", "fuse"}, .ndisabled = 3, .dump = devnull};
  ok = pass_run_pipeline(m2, pass_default_pipeline, pass_default_pipeline_len, &c2) &&
       ir_func_find(m2, IR_FN_TRAIN)->n == before;
  result(ok && quiet.nerrors == 0, "pipeline: default passes with simplify (and a pass not in it) disabled");
  ok = !pass_run_pipeline(m2, (const char *[]){"autodiff", "no-such-pass"}, 2, &c2) && quiet.nerrors == 1 &&
       ir_func_find(m2, IR_FN_TRAIN)->n == before;
  result(ok, "pipeline: an unknown pass name is reported before anything runs");
  ok = pass_find("autodiff") && pass_find("simplify") && pass_find("dce") && !pass_find("fuse-everything");
  result(ok, "pass_find knows autodiff, simplify, dce");
  fclose(devnull);
  arena_free(a);
}

/* ---- max at a tie ---- */

/* Central differences cannot check a kink; torch.amax's rule can be checked
 * directly: the gradient of max([1, 3, 3, 2]) is [0, .5, .5, 0]. */
static void max_ties(void) {
  Arena *a = arena_new();
  IrModule *m = new_module(a);
  IrFunc *f = ir_func_new(m, "f");
  int x = ir_input(f, "x", T(F, 1, 4), L0);
  int y = ir_emit(f, OP_MAX, &x, 1, &(Attrs){.naxes = 1, .axes = {0}}, NULL, L0, NULL), g;
  ad_grad(f, y, &x, 1, &g);
  ir_ret(f, g);
  double in[4] = {1, 3, 3, 2}, out[4];
  bool ok = verify(m) && run(f, NULL, (double *[]){in}, (double *[]){out});
  ok = ok && out[0] == 0 && out[1] == 0.5 && out[2] == 0.5 && out[3] == 0;
  result(ok, "grad max at a tie: [1,3,3,2] -> [0, .5, .5, 0] (torch.amax)");
  arena_free(a);
}

void mlp_checks(void) {
  max_ties();
  mlp_gradcheck();
  train_step_structure();
  optimizer_checks();
  pipeline_checks();
}
