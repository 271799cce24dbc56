/* test_gradcheck_prune.c — the prune pass under autodiff: the gradient of
 * a masked weight against f64 central differences (zero exactly where the
 * mask is zero), and train_step keeping pruned weights and their optimizer
 * state exactly zero under every optimizer, as the runtime relies on. */
#include "gradcheck.h"
#include "passes/prune.h"

/* The MLP after the prune pass, or NULL after printing why. */
static IrModule *pruned_mlp(Arena *a, const IrTrain *tr) {
  IrModule *m = build_mlp(a, tr, true);
  Diag d;
  diag_init(&d, stdout);
  PassCtx c = {.diag = &d, .noptions = 1, .options = {{"prune", "unstructured:0.5"}}};
  return pass_prune(m, &c) && verify(m) ? m : NULL;
}

/* Half the entries of each mask zero, at random, and those of its weight
 * too (what the runtime does when it prunes). */
static void random_masks(const IrModule *m, double **gl) {
  for (int i = 0; i < m->nglobals; i++) {
    if (m->globals[i].kind != GLOBAL_MASK) continue;
    int w = ir_global_find(m, arena_strndup(m->arena, m->globals[i].name, strlen(m->globals[i].name) - 5));
    for (int64_t j = 0; j < numel(&m->globals[i].ty); j++) {
      gl[i][j] = urand(0, 1) < 0.5 ? 0 : 1;
      if (gl[i][j] == 0) gl[w][j] = 0;
    }
  }
}

static void masked_gradcheck(void) {
  Arena *a = arena_new();
  IrModule *m = pruned_mlp(a, &(IrTrain){.present = true});
  bool ok = m && m->nglobals == 6 && m->globals[4].kind == GLOBAL_MASK && m->globals[5].kind == GLOBAL_MASK;
  if (!ok) {
    result(false, "prune: the pass masks dense_1.w and dense_2.w");
    arena_free(a);
    return;
  }
  IrFunc *g = ad_build_grad_func(m, ir_func_find(m, IR_FN_EVAL), "grad");
  double **gl = alloc_globals(m), x[BATCH * NIN], y[BATCH], *in[2] = {x, y}, loss;
  random_masks(m, gl);
  random_batch(x, y);
  double *out[5] = {&loss}, *scratch[5] = {&loss};
  for (int p = 0; p < 4; p++) out[p + 1] = alloc_for(&m->globals[p].ty), scratch[p + 1] = alloc_for(&m->globals[p].ty);
  ok = g->nrets == 5 && verify(m) && run(g, gl, in, out);
  double worst = 0, h = 1e-6;
  int masked = 0, nonzero_masked = 0;
  for (int p = 0; ok && p < 4; p++) {
    int mk = ir_global_find(m, arena_printf(a, "%s.mask", m->globals[p].name));
    for (int64_t j = 0; ok && j < numel(&m->globals[p].ty); j++) {
      double num = central_diff(g, gl, in, scratch, &loss, &gl[p][j], h, &ok);
      worst = fmax(worst, rel_err(out[p + 1][j], num));
      /* The L2 term's second read of dense_1.w is masked too (every read
       * is), so the whole gradient vanishes at a masked entry. */
      if (mk >= 0 && gl[mk][j] == 0) masked++, nonzero_masked += out[p + 1][j] != 0;
    }
  }
  result(ok && worst <= 1e-6 && masked > 0 && nonzero_masked == 0,
         "grad pruned MLP (w * mask, random masks): rel err %.1e, %d masked entries, %d with a nonzero gradient", worst,
         masked, nonzero_masked);
  for (int p = 1; p < 5; p++) free(out[p]), free(scratch[p]);
  free_all(gl, m->nglobals);
  arena_free(a);
}

/* Three train steps; then every masked entry of each weight and its state
 * is exactly zero, and the kept entries moved. */
static void keeps_zeros(const char *what, const IrTrain *tr) {
  Arena *a = arena_new();
  IrModule *m = pruned_mlp(a, tr);
  Diag d;
  diag_init(&d, stdout);
  bool ok = m && pass_autodiff(m, &(PassCtx){.diag = &d}) && pass_simplify(m, &(PassCtx){.diag = &d}) && verify(m);
  if (!ok) {
    result(false, "prune: %s train_step builds", what);
    arena_free(a);
    return;
  }
  IrFunc *t = ir_func_find(m, IR_FN_TRAIN);
  double **gl = alloc_globals(m), lr = 0.05, loss, logits[BATCH * NOUT];
  random_masks(m, gl);
  double *before = calloc((size_t)numel(&m->globals[0].ty), sizeof *before);
  memcpy(before, gl[0], sizeof *before * (size_t)numel(&m->globals[0].ty));
  for (int step = 0; ok && step < 3; step++) {
    double x[BATCH * NIN], y[BATCH], *in[3] = {x, y, &lr};
    random_batch(x, y);
    ok = run(t, gl, in, (double *[]){&loss, logits});
  }
  int bad = 0, moved = 0, checked = 0;
  for (int p = 0; ok && p < 4; p++) {
    int mk = ir_global_find(m, arena_printf(a, "%s.mask", m->globals[p].name));
    if (mk < 0) continue;
    static const char *const sfx[] = {"", ".m", ".v", ".momentum", ".square_avg"};
    for (int s = 0; s < 5; s++) {
      int gi = ir_global_find(m, arena_printf(a, "%s%s", m->globals[p].name, sfx[s]));
      for (int64_t j = 0; gi >= 0 && j < numel(&m->globals[p].ty); j++)
        if (gl[mk][j] == 0) bad += gl[gi][j] != 0, checked++;
    }
    for (int64_t j = 0; p == 0 && j < numel(&m->globals[0].ty); j++) moved += gl[mk][j] != 0 && gl[0][j] != before[j];
  }
  result(ok && bad == 0 && checked > 0 && moved > 0,
         "prune: %-28s 3 steps: %d of %d masked weight/state entries nonzero, %d kept weights moved", what, bad,
         checked, moved);
  free(before);
  free_all(gl, m->nglobals);
  arena_free(a);
}

void prune_checks(void) {
  masked_gradcheck();
  IrTrain sgdm = {.present = true, .opt = OPT_SGD, .momentum = 0.9, .weight_decay = 0.01};
  IrTrain adam_l2 = {.present = true, .opt = OPT_ADAM, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.05};
  IrTrain adamw = {.present = true, .opt = OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
  IrTrain rms = {.present = true, .opt = OPT_RMSPROP, .rho = 0.9, .eps = 1e-3, .momentum = 0.8};
  IrTrain clip = adam_l2;
  clip.clip_norm = 0.05;
  keeps_zeros("SGD momentum=0.9 wd=0.01", &sgdm);
  keeps_zeros("Adam wd=0.05 (L2)", &adam_l2);
  keeps_zeros("AdamW wd=0.1", &adamw);
  keeps_zeros("RMSprop momentum=0.8", &rms);
  keeps_zeros("Adam L2 clip_norm=0.05", &clip);
}
