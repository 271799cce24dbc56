/* train.c — the `train { ... }` block: optimizer, batch, epochs, data, seed
 * into IrTrain. Each setting is a row of one table; optimizers are a table
 * of BParam lists like the builtins (bind.c does the arguments).
 *
 * Defaults (no train block, or a setting left out) are ir_module_new's:
 * adam(lr: 1e-3), batch 32, epochs 1, seed 42, no dataset (NULL: the runtime
 * decides); an optimizer named without arguments takes the defaults of the
 * table below. `clip_norm N` scales the gradients to a global L2 norm of at
 * most N before the update (passes/optim.c). The dataset
 * name is not checked here: which data sets exist is the runtime's
 * business. */
#include <math.h>
#include <string.h>

#include "lower.h"

typedef struct OptInfo {
  const char *name;
  OptKind kind;
  BParam params[6];
} OptInfo;

#define LR(def) {"lr", P_NUM, def, NULL}
#define ADAM_PARAMS                                                                                   \
  {"beta1", P_NUM, "0.9", NULL}, {"beta2", P_NUM, "0.999", NULL}, {"eps", P_NUM, "1e-8", NULL}

/* PyTorch's defaults, except SGD's lr which PyTorch leaves to the user
 * (0.01 as in Keras) and AdamW's weight decay (0.01 in both). RMSprop's rho
 * is torch's alpha. */
static const OptInfo opts[] = {
    {"adam", OPT_ADAM, {LR("1e-3"), ADAM_PARAMS}},
    {"adamw", OPT_ADAMW, {LR("1e-3"), ADAM_PARAMS, {"weight_decay", P_NUM, "0.01", NULL}}},
    {"sgd", OPT_SGD, {LR("0.01"), {"momentum", P_NUM, "0", NULL}}},
    {"rmsprop",
     OPT_RMSPROP,
     {LR("0.01"), {"rho", P_NUM, "0.99", NULL}, {"eps", P_NUM, "1e-8", NULL}, {"momentum", P_NUM, "0", NULL}}},
};
#define NOPTS ((int)(sizeof opts / sizeof *opts))

/* Valid ranges of optimizer arguments: lo < v (lo_open) or lo <= v, and
 * v < hi. */
static const struct {
  const char *name;
  double lo, hi;
  bool lo_open;
  const char *says;
} ranges[] = {
    {"lr", 0, INFINITY, true, "positive"},
    {"beta1", 0, 1, false, "in [0, 1)"},
    {"beta2", 0, 1, false, "in [0, 1)"},
    {"eps", 0, INFINITY, true, "positive"},
    {"weight_decay", 0, INFINITY, false, "zero or positive"},
    {"momentum", 0, 1, false, "in [0, 1)"},
    {"rho", 0, 1, false, "in [0, 1)"},
};

static double *opt_field(IrTrain *t, const char *name) {
  if (!strcmp(name, "lr")) return &t->lr;
  if (!strcmp(name, "beta1")) return &t->beta1;
  if (!strcmp(name, "beta2")) return &t->beta2;
  if (!strcmp(name, "eps")) return &t->eps;
  if (!strcmp(name, "weight_decay")) return &t->weight_decay;
  if (!strcmp(name, "momentum")) return &t->momentum;
  if (!strcmp(name, "rho")) return &t->rho;
  unreachable("optimizer parameter without a field");
}

/* optimizer = NAME | NAME "(" args ")" */
static void set_optimizer(Lower *L, const TrainItem *it) {
  const Expr *e = it->val;
  if (e->kind != EX_NAME && e->kind != EX_CALL) {
    diag_error(L->d, e->loc, "expected an optimizer, like adam(lr: 1e-3), adamw, sgd or rmsprop");
    return;
  }
  const OptInfo *o = NULL;
  for (int i = 0; i < NOPTS && !o; i++)
    if (!strcmp(opts[i].name, e->name)) o = &opts[i];
  if (!o) {
    const char *cands[NOPTS];
    for (int i = 0; i < NOPTS; i++) cands[i] = opts[i].name;
    const char *near = fe_suggest(e->name, cands, NOPTS);
    if (near) diag_error(L->d, e->loc, "unknown optimizer '%s'; did you mean '%s'?", e->name, near);
    else diag_error(L->d, e->loc, "unknown optimizer '%s' (expected adam, adamw, sgd or rmsprop)", e->name);
    return;
  }
  /* A bare name binds no arguments: every parameter takes its default. */
  Expr bare = {.kind = EX_CALL, .loc = e->loc, .name = e->name};
  BArg args[FE_MAX_PARAMS];
  if (!fe_bind(L, o->name, o->params, e->kind == EX_CALL ? e : &bare, args)) return;
  IrTrain *t = &L->m->train;
  t->opt = o->kind;
  t->weight_decay = t->momentum = 0;
  for (int k = 0; k < FE_MAX_PARAMS && o->params[k].name; k++) {
    double v = args[k].num;
    for (size_t r = 0; r < sizeof ranges / sizeof *ranges; r++) {
      if (strcmp(ranges[r].name, o->params[k].name)) continue;
      bool ok = (ranges[r].lo_open ? v > ranges[r].lo : v >= ranges[r].lo) && v < ranges[r].hi;
      if (!ok) diag_error(L->d, args[k].loc, "%s must be %s, got %g", ranges[r].name, ranges[r].says, v);
    }
    *opt_field(t, o->params[k].name) = v;
  }
}

/* An integer setting in [min, max]; `what` says which in the message. */
static bool read_count(Lower *L, const TrainItem *it, double min, double max, const char *what, int64_t *out) {
  double v;
  bool is_int;
  if (!fe_const_num(it->val, &v, &is_int) || !is_int || v < min || v > max) {
    diag_error(L->d, it->val->loc, "%s must be %s", it->key, what);
    return false;
  }
  *out = (int64_t)v;
  return true;
}

static void set_batch(Lower *L, const TrainItem *it) {
  int64_t v;
  if (read_count(L, it, 1, FE_MAX_INT, "a positive integer", &v)) L->m->train.batch = (int)v;
}

static void set_epochs(Lower *L, const TrainItem *it) {
  int64_t v;
  if (read_count(L, it, 1, FE_MAX_INT, "a positive integer", &v)) L->m->train.epochs = (int)v;
}

static void set_seed(Lower *L, const TrainItem *it) {
  int64_t v;
  /* Exact in a double, which is what the literal went through. */
  if (read_count(L, it, 0, 9007199254740992.0, "an integer from 0 to 2^53", &v)) L->m->train.seed = (uint64_t)v;
}

/* data = NAME | STRING */
static void set_data(Lower *L, const TrainItem *it) {
  if (it->val->kind != EX_NAME && it->val->kind != EX_STR) {
    diag_error(L->d, it->val->loc, "data must name a data set, like fashion_mnist");
    return;
  }
  L->m->train.data = arena_strdup(L->a, it->val->name);
}

/* clip_norm = positive number: the largest global gradient norm */
static void set_clip_norm(Lower *L, const TrainItem *it) {
  double v;
  bool is_int;
  if (!fe_const_num(it->val, &v, &is_int) || !(v > 0) || !isfinite(v)) {
    diag_error(L->d, it->val->loc, "clip_norm must be a positive number");
    return;
  }
  L->m->train.clip_norm = v;
}

static const struct {
  const char *key;
  void (*set)(Lower *, const TrainItem *);
} settings[] = {
    {"optimizer", set_optimizer}, {"batch", set_batch}, {"epochs", set_epochs}, {"data", set_data}, {"seed", set_seed},
    {"clip_norm", set_clip_norm},
};
#define NSETTINGS ((int)(sizeof settings / sizeof *settings))

void fe_lower_train(Lower *L) {
  const Program *g = L->prog;
  L->m->train.present = g->has_train;
  Loc seen[NSETTINGS];
  bool have[NSETTINGS] = {0};
  for (int i = 0; i < g->ntrain; i++) {
    const TrainItem *it = &g->train[i];
    int k = 0;
    while (k < NSETTINGS && strcmp(settings[k].key, it->key)) k++;
    if (k == NSETTINGS) {
      const char *cands[NSETTINGS];
      for (int j = 0; j < NSETTINGS; j++) cands[j] = settings[j].key;
      const char *near = fe_suggest(it->key, cands, NSETTINGS);
      if (near) diag_error(L->d, it->loc, "unknown train setting '%s'; did you mean '%s'?", it->key, near);
      else diag_error(L->d, it->loc, "unknown train setting '%s' (expected optimizer, batch, epochs, data, seed or clip_norm)",
                      it->key);
      continue;
    }
    if (have[k]) {
      diag_error(L->d, it->loc, "train setting '%s' is given twice", it->key);
      diag_note(L->d, seen[k], "first given here");
      continue;
    }
    have[k] = true;
    seen[k] = it->loc;
    if (it->val) settings[k].set(L, it); /* NULL: a syntax error, reported */
  }
}
