/* test_frontend.c — unit tests of the lexer, parser, lowering and summary.
 *
 *   test_frontend [path/to/examples/fashion_mlp.nn]
 *
 * Prints one line per failed check and a closing "N passed, N failed";
 * exits non-zero if any check failed. The diagnostics tests proper are the
 * programs in bad/ (FileCheck); here we test structure: tokens, trees, the IR
 * the lowering builds, and that no input crashes the frontend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "frontend/ast.h"
#include "frontend/frontend.h"
#include "ir/interp.h"

static int npass, nfail;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (cond) npass++;                                                           \
    else {                                                                       \
      nfail++;                                                                   \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                            \
  } while (0)

#define CHECK_STR(got, want)                                                                              \
  do {                                                                                                    \
    const char *g_ = (got), *w_ = (want);                                                                 \
    if (g_ && !strcmp(g_, w_)) npass++;                                                                   \
    else {                                                                                                \
      nfail++;                                                                                            \
      fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_ ? g_ : "(null)", w_); \
    }                                                                                                     \
  } while (0)

/* Everything written to f, as a string in the arena. */
static char *slurp(Arena *a, FILE *f) {
  long n = ftell(f);
  rewind(f);
  char *s = arena_alloc(a, (size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

/* Compiles source text; *diags receives the diagnostics. */
static FeModel *compile(Arena *a, const char *src, char **diags, int *nerrors) {
  Diag d;
  FILE *f = tmpfile();
  diag_init(&d, f);
  FeModel *fm = fe_compile(a, &d, "t.nn", src, strlen(src));
  if (nerrors) *nerrors = d.nerrors;
  char *s = slurp(a, f);
  if (diags) *diags = s;
  return fm;
}

static const IrNode *find_named(const IrFunc *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].name && !strcmp(f->nodes[i].name, name)) return &f->nodes[i];
  return NULL;
}

static int count_op(const IrFunc *f, OpKind op) {
  int n = 0;
  for (int i = 0; i < f->n; i++) n += f->nodes[i].op == op;
  return n;
}

static const char *type_of(Arena *a, const IrModule *m, const Type *t) {
  char buf[IR_TYPE_STRLEN];
  return arena_strdup(a, ir_type_str(m, t, buf, sizeof buf));
}

/* ---- lexer ---- */

static void test_lexer(void) {
  Arena *a = arena_new();
  Diag d;
  FILE *sink = tmpfile();
  diag_init(&d, sink);
  const char *src = "h = x |> relu @ w ** 2 -> : 1e-3 \"fc\\\"1\" # comment\n\n  y_2 = .5 + 784\n";
  int n;
  Token *t = lex_tokens(a, &d, "t.nn", src, strlen(src), &n);
  const char *want[] = {"h", "=", "x", "|>", "relu", "@", "w", "**", "2", "->", ":", "1e-3", "\"fc\\\"1\"", "\n",
                        "y_2", "=", ".5", "+", "784", "\n", ""};
  CHECK(n == (int)(sizeof want / sizeof *want));
  for (int i = 0; i < n && i < (int)(sizeof want / sizeof *want); i++) {
    char *got = arena_strndup(a, t[i].text, (size_t)t[i].len);
    CHECK_STR(got, want[i]);
  }
  CHECK(d.nerrors == 0);
  CHECK(t[3].kind == TK_PUNCT && t[4].kind == TK_IDENT);
  CHECK(t[11].kind == TK_NUM && !t[11].is_int && t[11].num == 1e-3);
  CHECK(t[8].kind == TK_NUM && t[8].is_int && t[8].ival == 2);
  CHECK(t[12].kind == TK_STR && !strcmp(t[12].str, "fc\"1"));
  CHECK(t[13].kind == TK_NEWLINE); /* a blank line adds no second newline */
  CHECK(t[14].loc.line == 3 && t[14].loc.col == 3 && t[14].pos == (size_t)(strchr(src, 'y') - src));
  CHECK(t[16].num == 0.5);
  CHECK(t[n - 1].kind == TK_EOF);
  CHECK(lex_is(&t[3], "|>") && !lex_is(&t[3], "|"));
  fclose(sink);

  /* Errors: reported with their place, and skipped. */
  FILE *f = tmpfile();
  diag_init(&d, f);
  src = "a $$ b\n\"open\n12abc";
  t = lex_tokens(a, &d, "t.nn", src, strlen(src), &n);
  CHECK(d.nerrors == 3);
  char *out = slurp(a, f);
  CHECK(strstr(out, "t.nn:1:3: error: unexpected character '$'") != NULL);
  CHECK(strstr(out, "t.nn:2:1: error: unterminated string") != NULL);
  CHECK(strstr(out, "t.nn:3:1: error: invalid number '12abc'") != NULL);
  CHECK(t[n - 1].kind == TK_EOF);
  arena_free(a);

  /* Memory stays linear in the source: each string's buffer is sized by
   * its line, not by the rest of the file (which made 30,000 short strings
   * cost gigabytes). */
  a = arena_new();
  enum { NSTR = 4000 };
  size_t len = 0;
  char *many = malloc(NSTR * 8 + 1);
  for (int i = 0; i < NSTR; i++) len += (size_t)sprintf(many + len, "\"abc\"\n");
  sink = tmpfile();
  diag_init(&d, sink);
  size_t before = a->used;
  t = lex_tokens(a, &d, "t.nn", many, len, &n);
  CHECK(d.nerrors == 0 && n == 2 * NSTR + 1 && t[0].kind == TK_STR && !strcmp(t[0].str, "abc"));
  CHECK(a->used - before < 200 * len);
  fclose(sink);
  free(many);
  arena_free(a);
}

/* ---- parser ---- */

/* Parses `model m { z = <expr> }` and prints z's tree. */
static char *tree(Arena *a, const char *expr) {
  Diag d;
  FILE *sink = tmpfile();
  diag_init(&d, sink);
  char *src = arena_printf(a, "model m {\n  z = %s\n}\n", expr);
  int n;
  Token *t = lex_tokens(a, &d, "t.nn", src, strlen(src), &n);
  Program *p = parse_program(a, &d, t, n);
  fclose(sink);
  if (d.nerrors || p->nstmts != 1) return arena_strdup(a, "<parse error>");
  FILE *f = tmpfile();
  parse_print_expr(f, p->stmts[0].expr);
  return slurp(a, f);
}

static void test_parser(void) {
  Arena *a = arena_new();
  CHECK_STR(tree(a, "a + b * c"), "(+ a (* b c))");
  CHECK_STR(tree(a, "a - b - c"), "(- (- a b) c)");
  CHECK_STR(tree(a, "a * b @ c"), "(* a (@ b c))");
  CHECK_STR(tree(a, "a @ b / c @ d"), "(/ (@ a b) (@ c d))");
  CHECK_STR(tree(a, "-a @ b"), "(@ (neg a) b)");
  CHECK_STR(tree(a, "-x ** 2"), "(neg (** x 2))");
  CHECK_STR(tree(a, "a ** b ** c"), "(** a (** b c))");
  CHECK_STR(tree(a, "x ** -1"), "(** x (neg 1))");
  CHECK_STR(tree(a, "(a + b) * c"), "(* (+ a b) c)");
  CHECK_STR(tree(a, "a + b |> relu"), "(relu (+ a b))");
  CHECK_STR(tree(a, "x |> dense(10, activation: relu) |> softmax"), "(softmax (dense x 10 activation=relu))");
  CHECK_STR(tree(a, "x\n    |> relu\n    |> tanh"), "(tanh (relu x))");
  CHECK_STR(tree(a, "f(a,\n    [1, 0],\n    k: -1e-3,\n)"), "(f a [1 0] k=(neg 0.001))");
  CHECK_STR(tree(a, "a +\n  b"), "(+ a b)");
  CHECK_STR(tree(a, "reshape(x, [B, -1])"), "(reshape x [B (neg 1)])");
  CHECK_STR(tree(a, "relu(x, )"), "(relu x)");
  CHECK_STR(tree(a, "f(\n  a,\n  b\n)"), "(f a b)");
  CHECK_STR(tree(a, "[\n  1,\n  2\n]"), "[1 2]");

  /* Recovery: each bad statement is reported once and the rest parses. */
  Diag d;
  FILE *sink = tmpfile();
  diag_init(&d, sink);
  const char *src = "model m {\n  a = (x\n  b = x y\n  c = relu(x)\n  d = * 2\n  output c\n}\ntrain {\n  batch\n  epochs 3\n}\n";
  int n;
  Token *t = lex_tokens(a, &d, "t.nn", src, strlen(src), &n);
  Program *p = parse_program(a, &d, t, n);
  CHECK(d.nerrors == 4);
  CHECK(p->nstmts == 5);
  CHECK(p->stmts[0].kind == ST_LET && p->stmts[0].expr->kind == EX_ERROR);
  CHECK(p->stmts[2].kind == ST_LET && p->stmts[2].expr->kind == EX_CALL);
  CHECK(p->stmts[4].kind == ST_OUTPUT);
  CHECK(p->has_train && p->ntrain == 2 && p->train[0].val == NULL && p->train[1].val->ival == 3);
  char *out = slurp(a, sink);
  CHECK(strstr(out, "t.nn:2:9: error: expected ')', found end of line") != NULL);
  arena_free(a);
}

/* ---- lowering ---- */

static const char *fashion_path = "examples/fashion_mlp.nn";

static void test_fashion_mlp(void) {
  Arena *a = arena_new();
  Diag d;
  diag_init(&d, stderr);
  FeModel *fm = fe_compile(a, &d, fashion_path, NULL, 0);
  CHECK(fm != NULL);
  if (!fm) {
    arena_free(a);
    return;
  }
  IrModule *m = fm->mod;
  CHECK_STR(m->name, "fashion_mlp");
  CHECK(m->nsyms == 1 && !strcmp(m->syms[0], "B"));
  CHECK(m->nglobals == 4);
  const char *names[] = {"dense_1.w", "dense_1.b", "dense_2.w", "dense_2.b"};
  const char *types[] = {"f32[784,256]", "f32[256]", "f32[256,10]", "f32[10]"};
  for (int i = 0; i < 4 && i < m->nglobals; i++) {
    CHECK_STR(m->globals[i].name, names[i]);
    CHECK_STR(type_of(a, m, &m->globals[i].ty), types[i]);
    CHECK(m->globals[i].kind == GLOBAL_PARAM);
  }
  CHECK(m->globals[0].init == NNRT_INIT_GLOROT_UNIFORM && m->globals[0].init_a == 784 && m->globals[0].init_b == 256);
  CHECK(m->globals[1].init == NNRT_INIT_ZEROS);

  CHECK(m->nfuncs == 2);
  IrFunc *fwd = ir_func_find(m, IR_FN_FORWARD), *ev = ir_func_find(m, IR_FN_EVAL);
  CHECK(fwd && ev);
  if (fwd && ev) {
    CHECK(count_op(fwd, OP_INPUT) == 1 && count_op(ev, OP_INPUT) == 2);
    CHECK(ev->nodes[0].op == OP_INPUT && ev->nodes[0].at.index == 0 && !strcmp(ev->nodes[0].name, "x"));
    CHECK(ev->nodes[1].op == OP_INPUT && ev->nodes[1].at.index == 1 && !strcmp(ev->nodes[1].name, "y"));
    CHECK(fwd->nrets == 1 && ev->nrets == 2);
    CHECK_STR(type_of(a, m, &fwd->nodes[fwd->rets[0]].ty), "f32[B,10]");
    CHECK_STR(type_of(a, m, &ev->nodes[ev->rets[0]].ty), "f32[]");
    CHECK_STR(type_of(a, m, &ev->nodes[ev->rets[1]].ty), "f32[B,10]");
    CHECK(find_named(fwd, "h") && find_named(fwd, "logits") && !find_named(fwd, "loss"));
    CHECK(find_named(ev, "loss") && find_named(ev, "loss")->op == OP_NEG);
    /* forward does not compute the loss */
    CHECK(count_op(fwd, OP_ONEHOT) == 0 && count_op(ev, OP_ONEHOT) == 1 && count_op(ev, OP_LOG_SOFTMAX) == 1);
    CHECK(count_op(fwd, OP_MATMUL) == 2 && count_op(fwd, OP_RELU) == 1);
  }
  Diag vd;
  diag_init(&vd, stderr);
  CHECK(ir_verify(m, &vd));

  CHECK(m->train.present && m->train.opt == OPT_ADAM && m->train.lr == 1e-3);
  CHECK(m->train.batch == 64 && m->train.epochs == 5 && !strcmp(m->train.data, "fashion_mnist"));
  CHECK(m->train.task == NNRT_TASK_CLASSIFY && m->train.seed == 42);

  /* summary: x, dense_1, relu_1, dense_2; the label input y is not a layer */
  CHECK(fm->nlayers == 4);
  if (fm->nlayers == 4) {
    CHECK_STR(fm->layers[0].kind, "input");
    CHECK_STR(fm->layers[1].name, "dense_1");
    CHECK(fm->layers[1].params == 200960);
    CHECK_STR(fm->layers[2].name, "relu_1");
    CHECK(fm->layers[3].params == 2570);
  }
  FILE *f = tmpfile();
  fe_print_summary(f, fm);
  char *s = slurp(a, f);
  CHECK(strstr(s, "Total params: 203,530 (795.04 KB)") != NULL);
  CHECK(strstr(s, "Trainable params: 203,530") != NULL);
  CHECK(strstr(s, "dense_1 (dense)") && strstr(s, "(B, 256)") && strstr(s, "200,960"));
  arena_free(a);
}

/* The summary's parameter counts of the layers builtins_rnn.c and
 * builtins_layers.c make, against Keras's model.summary() (the numbers in
 * the comments are its formulas) and PyTorch's parameters plus buffers
 * (the same, but for nn.RNN's second bias). */
static void test_layer_counts(void) {
  Arena *a = arena_new();
  char *diags;
  FeModel *fm = compile(a,
                        "model m {\n input x: f32[B, 10, 8]\n input img: f32[B, 3, 8, 8]\n input y: i32[B]\n"
                        " g = gru(x, 16)\n b = gru(x, 16, bidirectional: true)\n r = simple_rnn(x, 12)\n"
                        " c = conv1d(x, 6, 3) |> global_avgpool\n n = batch_norm(g)\n"
                        " p = batch_norm(img) |> global_maxpool\n"
                        " logits = dense(concat(concat(concat(n, b), concat(r, c)), p), 2)\n output logits\n"
                        " minimize cross_entropy(logits, y)\n}\n",
                        &diags, NULL);
  CHECK(fm != NULL);
  if (!fm) {
    fputs(diags, stderr);
    arena_free(a);
    return;
  }
  static const struct {
    const char *name;
    int64_t params;
  } want[] = {
      {"gru_1", 1248},       /* GRU(16), reset_after: 3 (16 (8 + 16) + 2 16) */
      {"gru_2", 2496},       /* Bidirectional(GRU(16)): twice that */
      {"simple_rnn_1", 252}, /* SimpleRNN(12): 12 (8 + 12 + 1) */
      {"conv1d_1", 150},     /* Conv1D(6, 3) on 8 channels: 3 8 6 + 6 */
      {"batch_norm_1", 64},  /* BatchNormalization on 16 features: 4 16 */
      {"batch_norm_2", 12},  /* on 3 channels: 4 3 */
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    int found = 0;
    for (int k = 0; k < fm->nlayers; k++)
      if (!strcmp(fm->layers[k].name, want[i].name)) {
        found = 1;
        CHECK(fm->layers[k].params == want[i].params);
      }
    CHECK(found);
  }
  FILE *f = tmpfile();
  fe_print_summary(f, fm);
  char *s = slurp(a, f);
  /* 1248 + 2496 + 252 + 150 + 64 + 12 + the dense (16 + 32 + 12 + 6 + 3) 2 + 2 = 4362, of which the
   * running statistics, 2 16 + 2 3 = 38, are not trained */
  CHECK(strstr(s, "Total params: 4,362 ") != NULL);
  CHECK(strstr(s, "Trainable params: 4,324 ") != NULL);
  CHECK(strstr(s, "Non-trainable params: 38 ") != NULL);
  arena_free(a);
}

static void test_lowering(void) {
  Arena *a = arena_new();
  char *diags;
  int nerr;

  /* Rebinding names values h, h.1, h.2; labels go last whatever the
   * declaration order; a number becomes an f32[] constant. */
  FeModel *fm = compile(a,
                        "model m {\n  input y: f32[B]\n  input x: f32[B, 4]\n  h = x * 2\n  h = h + 1\n"
                        "  h = relu(h)\n  output h\n  minimize mean((sum(h, axis: 1) - y) ** 2)\n}\n",
                        &diags, NULL);
  CHECK(fm != NULL);
  if (fm) {
    IrFunc *ev = ir_func_find(fm->mod, IR_FN_EVAL), *fwd = ir_func_find(fm->mod, IR_FN_FORWARD);
    CHECK(find_named(ev, "h") && find_named(ev, "h.1") && find_named(ev, "h.2"));
    CHECK(find_named(ev, "h.2")->op == OP_RELU && find_named(ev, "h")->op == OP_MUL);
    CHECK(!strcmp(ev->nodes[0].name, "x") && !strcmp(ev->nodes[1].name, "y"));
    CHECK(count_op(fwd, OP_INPUT) == 1 && !strcmp(fwd->nodes[0].name, "x"));
    CHECK(count_op(ev, OP_CONST) >= 2);
    CHECK(fm->mod->train.task == NNRT_TASK_REGRESS);
    /* no train block: the defaults */
    IrTrain *t = &fm->mod->train;
    CHECK(!t->present && t->opt == OPT_ADAM && t->lr == 1e-3 && t->batch == 32 && t->epochs == 1 && !t->data);
    Diag vd;
    diag_init(&vd, stderr);
    CHECK(ir_verify(fm->mod, &vd));
  } else {
    fputs(diags, stderr);
  }

  /* Many values under one name and many auto-named layers: the names are
   * h, h.1, ... and relu_1, relu_2, ..., and they cost linear time (each
   * name used to probe every suffix from 1 with a scan of every name taken:
   * 4000 bindings took over a minute; see the TIMEOUT in CMakeLists.txt). */
  {
    enum { NREL = 6000 };
    size_t cap = 128 + 16 * NREL, len = 0;
    char *src = malloc(cap);
    len += (size_t)snprintf(src, cap, "model m {\n  input x: f32[B, 4]\n  h = x\n");
    for (int i = 0; i < NREL; i++) len += (size_t)snprintf(src + len, cap - len, "  h = relu(h)\n");
    snprintf(src + len, cap - len, "  output h\n  minimize mean(h)\n}\n");
    FeModel *big = compile(a, src, &diags, NULL);
    free(src);
    CHECK(big != NULL);
    if (big) {
      IrFunc *ev = ir_func_find(big->mod, IR_FN_EVAL);
      char last[32];
      snprintf(last, sizeof last, "h.%d", NREL - 1);
      CHECK(find_named(ev, "h") && find_named(ev, "h")->op == OP_RELU && find_named(ev, last));
      CHECK(big->nlayers == NREL + 1 && !strcmp(big->layers[1].name, "relu_1") &&
            !strcmp(big->layers[NREL].name, arena_printf(a, "relu_%d", NREL)));
    }
  }

  /* binary_cross_entropy: p [B,1] against i32 labels [B] is reshaped, not
   * broadcast to [B,B]; the task is binary; the dense name is used. */
  fm = compile(a,
               "model m {\n  input x: f32[B, 3]\n  input y: i32[B]\n  p = dense(x, 1, activation: sigmoid, name: \"head\")\n"
               "  output p\n  minimize binary_cross_entropy(p, y)\n}\n"
               "train {\n  optimizer sgd(lr: 0.5, momentum: 0.9)\n  seed 7\n}\n",
               &diags, NULL);
  CHECK(fm != NULL);
  if (fm) {
    CHECK(fm->mod->train.task == NNRT_TASK_BINARY && fm->mod->train.opt == OPT_SGD);
    CHECK(fm->mod->train.lr == 0.5 && fm->mod->train.momentum == 0.9 && fm->mod->train.seed == 7);
    CHECK(ir_global_find(fm->mod, "head.w") >= 0 && ir_global_find(fm->mod, "head.b") >= 0);
    IrFunc *ev = ir_func_find(fm->mod, IR_FN_EVAL);
    CHECK(count_op(ev, OP_CAST) == 1 && count_op(ev, OP_RESHAPE) == 1);
    CHECK(ev->nodes[ev->rets[0]].ty.sh.rank == 0);
  } else {
    fputs(diags, stderr);
  }

  /* Explicit layer names don't collide with automatic ones. */
  fm = compile(a,
               "model m {\n  input x: f32[B, 3]\n  input y: i32[B]\n  h = dense(x, 4, name: \"dense_1\")\n"
               "  logits = dense(h, 2)\n  output logits\n  minimize cross_entropy(logits, y)\n}\n",
               &diags, NULL);
  CHECK(fm && ir_global_find(fm->mod, "dense_2.w") >= 0 && fm->mod->nglobals == 4);

  /* Several errors in one run, no follow-on errors. */
  fm = compile(a,
               "model m {\n  input x: f32[B, 4]\n  input y: i32[B]\n  h = relu(hh)\n  g = h @ h\n  k = relux(x)\n"
               "  logits = dense(x, -2)\n  output h\n  minimize cross_entropy(logits, y)\n}\n",
               &diags, &nerr);
  CHECK(fm == NULL && nerr == 3);
  CHECK(strstr(diags, "t.nn:4:12: error: unknown name 'hh'") != NULL);
  CHECK(strstr(diags, "t.nn:6:7: error: unknown function 'relux'; did you mean 'relu'?") != NULL);
  CHECK(strstr(diags, "t.nn:7:21: error: units must be a positive integer, got -2") != NULL);
  arena_free(a);
}

/* ---- loss semantics: eval_step through the reference interpreter ---- */

/* Runs eval_step of `src` (inputs: features [B=4, 3], then labels; one
 * parameter) on fixed data; returns the loss, NaN if it did not compile. */
static double eval_loss(const char *src, const double *x, const double *w, const double *labels) {
  Arena *a = arena_new();
  char *diags;
  FeModel *fm = compile(a, src, &diags, NULL);
  double loss = NAN, out[64];
  if (fm) {
    IrFunc *ev = ir_func_find(fm->mod, IR_FN_EVAL);
    int64_t syms[1] = {4};
    double *globals[] = {(double *)w}, *inputs[] = {(double *)x, (double *)labels}, *outputs[] = {&loss, out};
    char err[256];
    if (!ir_interp(ev, syms, globals, inputs, outputs, err, sizeof err)) {
      fprintf(stderr, "interp: %s\n", err);
      loss = NAN;
    }
  } else {
    fputs(diags, stderr);
  }
  arena_free(a);
  return loss;
}

/* A model over x f32[B, 3], the labels input `labels` ("y: i32[B]") and a
 * parameter w f32[3, cols], whose statements are body; into src[512]. */
static const char *body_source(char *src, const char *labels, int cols, const char *body) {
  snprintf(src, 512, "model m {\n input x: f32[B, 3]; input %s; param w: f32[3, %d] = zeros\n%s\n}\n", labels, cols,
           body);
  return src;
}

static double eval_body(const char *labels, int cols, const char *body, const double *x, const double *w,
                        const double *y) {
  char src[512];
  return eval_loss(body_source(src, labels, cols, body), x, w, y);
}

/* The losses mean what PyTorch's do: checked against sums written out. */
static void test_loss_values(void) {
  const double x[12] = {0.5, -1, 2, 1, 0.25, -0.5, -2, 1.5, 0, 0.75, 0.75, -1};
  const double w2[6] = {0.3, -0.2, 0.1, 0.4, -0.5, 0.6}; /* [3, 2] */
  const double w1[3] = {0.3, 0.1, -0.5};                 /* [3, 1] */
  const double cls[4] = {0, 1, 1, 0}, target[4] = {0.5, -1, 2, 0};
  double z2[4][2], z1[4];
  for (int i = 0; i < 4; i++) {
    z1[i] = z2[i][0] = z2[i][1] = 0;
    for (int k = 0; k < 3; k++) {
      z2[i][0] += x[i * 3 + k] * w2[k * 2];
      z2[i][1] += x[i * 3 + k] * w2[k * 2 + 1];
      z1[i] += x[i * 3 + k] * w1[k];
    }
  }

  /* cross_entropy = mean over the batch of -log_softmax(logits)[label] */
  double want = 0;
  for (int i = 0; i < 4; i++) want -= (z2[i][(int)cls[i]] - log(exp(z2[i][0]) + exp(z2[i][1]))) / 4;
  double got = eval_body("y: i32[B]", 2, " logits = x @ w; output logits; minimize cross_entropy(logits, y)", x, w2, cls);
  CHECK(fabs(got - want) < 1e-12);

  /* The Keras form: cross_entropy of a softmax output is that of the
   * logits under it, and with from_logits: false, of probabilities computed
   * any other way (clamped to [1e-7, 1 - 1e-7], far from these). */
  got = eval_body("y: i32[B]", 2, " probs = softmax(x @ w); output probs; minimize cross_entropy(probs, y)", x, w2, cls);
  CHECK(fabs(got - want) < 1e-12);
  got = eval_body("y: i32[B]", 2,
                  " e = exp(x @ w); p = e / sum(e, axis: 1, keepdims: true); output p\n"
                  " minimize cross_entropy(p, y, from_logits: false)",
                  x, w2, cls);
  CHECK(fabs(got - want) < 1e-12);

  /* binary_cross_entropy of p [B, 1] against i32 labels [B]: of a sigmoid
   * output, exactly (from the logits); of other probabilities, clamped to
   * [1e-7, 1 - 1e-7] as Keras (here p in [0.25, 0.75]); from logits. */
  double want_q = 0;
  want = 0;
  for (int i = 0; i < 4; i++) {
    double p = 1 / (1 + exp(-z1[i])), q = 0.5 * p + 0.25;
    want -= (cls[i] * log(p) + (1 - cls[i]) * log(1 - p)) / 4;
    want_q -= (cls[i] * log(q) + (1 - cls[i]) * log(1 - q)) / 4;
  }
  got = eval_body("y: i32[B]", 1, " p = sigmoid(x @ w); output p; minimize binary_cross_entropy(p, y)", x, w1, cls);
  CHECK(fabs(got - want) < 1e-12);
  got = eval_body("y: i32[B]", 1, " z = x @ w; output z; minimize binary_cross_entropy(z, y, from_logits: true)", x, w1, cls);
  CHECK(fabs(got - want) < 1e-12);
  got = eval_body("y: i32[B]", 1, " q = 0.5 * sigmoid(x @ w) + 0.25; output q; minimize binary_cross_entropy(q, y)", x, w1, cls);
  CHECK(fabs(got - want_q) < 1e-12);

  /* The task says how eval and predict read the output: the logits the
   * loss read give binary_logits (threshold 0), a probability binary. */
  {
    const char *srcs[3] = {" z = x @ w; output z; minimize binary_cross_entropy(z, y, from_logits: true)",
                           " z = x @ w; output z; minimize binary_cross_entropy(sigmoid(z), y)",
                           " z = x @ w; p = sigmoid(z); output p; minimize binary_cross_entropy(p, y)"};
    const int tasks[3] = {NNRT_TASK_BINARY_LOGITS, NNRT_TASK_BINARY_LOGITS, NNRT_TASK_BINARY};
    for (int i = 0; i < 3; i++) {
      Arena *ta = arena_new();
      char src[512], *diags;
      FeModel *fm = compile(ta, body_source(src, "y: i32[B]", 1, srcs[i]), &diags, NULL);
      CHECK(fm && fm->mod->train.task == tasks[i]);
      arena_free(ta);
    }
  }

  /* mae and huber (its default delta 1: |d| = 0.8 in the quadratic part,
   * the others in the linear one) as torch.nn.L1Loss and HuberLoss */
  double want_mae = 0, want_huber = 0;
  for (int i = 0; i < 4; i++) {
    double d = fabs(z1[i] - target[i]);
    want_mae += d / 4;
    want_huber += (d < 1 ? 0.5 * d * d : d - 0.5) / 4;
  }
  got = eval_body("t: f32[B]", 1, " pred = x @ w; output pred; minimize mae(pred, t)", x, w1, target);
  CHECK(fabs(got - want_mae) < 1e-12);
  got = eval_body("t: f32[B]", 1, " pred = x @ w; output pred; minimize huber(pred, t)", x, w1, target);
  CHECK(fabs(got - want_huber) < 1e-12);

  /* mse of pred [B, 1] against target [B]: elementwise, not [B, B] */
  want = 0;
  for (int i = 0; i < 4; i++) want += (z1[i] - target[i]) * (z1[i] - target[i]) / 4;
  got = eval_body("t: f32[B]", 1, " pred = x @ w; output pred; minimize mse(pred, t)", x, w1, target);
  CHECK(fabs(got - want) < 1e-12);
}

/* ---- robustness: no input crashes or hangs the frontend ---- */

static uint32_t rng_state = 12345;
static uint32_t rng(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state >> 8;
}

static void test_no_crash(const char *seed_src) {
  size_t len = strlen(seed_src);
  char *buf = malloc(len + 64);
  int ok = 0;
  /* Every prefix: unterminated blocks, calls, strings. */
  for (size_t k = 0; k <= len; k += 3) {
    Arena *a = arena_new();
    compile(a, arena_strndup(a, seed_src, k), NULL, NULL);
    arena_free(a);
    ok++;
  }
  /* Random edits: deletions, insertions of tokens and raw bytes. */
  static const char *const bits[] = {"(", ")", "[", "]", "{", "}", ",", ":", "|>", "@", "**", "-", "=",
                                     "\n", "\"", "#", "relu", "dense", "x", "0", "-1", "1e9", "\x01", "\xff",
                                     "def", "repeat", "return", " as ", "f(x)", "{i}"};
  for (int iter = 0; iter < 1500; iter++) {
    memcpy(buf, seed_src, len + 1);
    size_t n = len;
    for (int e = 0; e < 3; e++) {
      size_t at = n ? rng() % n : 0;
      if (rng() % 2 && n > 0) {
        memmove(buf + at, buf + at + 1, n - at);
        n--;
      } else {
        const char *b = bits[rng() % (sizeof bits / sizeof *bits)];
        size_t bl = strlen(b);
        if (n + bl + 1 > len + 64) continue;
        memmove(buf + at + bl, buf + at, n - at + 1);
        memcpy(buf + at, b, bl);
        n += bl;
      }
    }
    Arena *a = arena_new();
    compile(a, buf, NULL, NULL);
    arena_free(a);
    ok++;
  }
  free(buf);
  CHECK(ok > 1500);
}

/* ---- def, repeat, suggestions ---- */

static bool has_global(const IrModule *m, const char *name) { return ir_global_find(m, name) >= 0; }

static void test_defs(void) {
  Arena *a = arena_new();
  char *diags;
  int nerr;
  /* Instances number per def and per enclosing instance; name: and {i}
   * name them; a def's params are named under it; constants reach units,
   * dims and defaults; repeat 0 is nothing. */
  FeModel *fm = compile(a,
                        "def inner(h, d) {\n  param s: f32[d] = ones\n  return dense(h, d) * s\n}\n"
                        "def outer(h, d, k = 2) {\n  h = inner(h, d * k)\n  return inner(h, d), d\n}\n"
                        "model m {\n  input x: f32[B, 4]\n  w = 4\n  h = x\n"
                        "  repeat 2 as i { h, c = outer(h, w) }\n"
                        "  repeat 2 as i { repeat 2 as j { h = dense(h, w, name: \"fc{i}_{j}\") } }\n"
                        "  repeat 0 { h = dense(h, 3) }\n"
                        "  h, c = outer(h, 4, k: 1, name: \"last\")\n  output h * c\n  minimize mean(h)\n}\n",
                        &diags, &nerr);
  CHECK(fm != NULL);
  if (fm) {
    const IrModule *m = fm->mod;
    CHECK(has_global(m, "outer_1.inner_1.dense_1.w") && has_global(m, "outer_1.inner_2.dense_1.w"));
    CHECK(has_global(m, "outer_2.inner_1.s") && has_global(m, "last.inner_2.dense_1.b"));
    CHECK(has_global(m, "fc0_0.w") && has_global(m, "fc1_1.w") && !has_global(m, "dense_1.w"));
    int g = ir_global_find(m, "outer_1.inner_1.s"); /* d * k = 8 */
    CHECK(g >= 0 && m->globals[g].ty.sh.rank == 1 && m->globals[g].ty.sh.d[0] == 8);
    g = ir_global_find(m, "last.inner_1.s"); /* k: 1 */
    CHECK(g >= 0 && m->globals[g].ty.sh.d[0] == 4);
    Diag vd;
    diag_init(&vd, stderr);
    CHECK(ir_verify(fm->mod, &vd));
  } else {
    fputs(diags, stderr);
  }

  /* Expansion is bounded: a million statements is an error, not a hang. */
  fm = compile(a, "model m {\n  input x: f32[B]\n  repeat 1000 { repeat 1000 { x = x } }\n  output x\n"
                  "  minimize mean(x)\n}\n", &diags, &nerr);
  CHECK(!fm && nerr == 1 && strstr(diags, "expands to more than 100000 statements"));
  arena_free(a);

  /* Suggestions: Keras spellings only where the nnc name is a candidate;
   * no substituted letter in short names. */
  const char *fns[] = {"max", "mean", "sum", "mse", "relu", "gelu", "kernel", "stride", "cross_entropy"};
  int nf = (int)(sizeof fns / sizeof *fns);
  CHECK(!fe_suggest("mae", fns, nf) && !fe_suggest("sun", fns, nf) && !fe_suggest("selu", fns, nf));
  CHECK(!fe_suggest("msle", fns, nf) && !fe_suggest("return_sequences", fns, nf));
  CHECK_STR(fe_suggest("maen", fns, nf), "mean");
  CHECK_STR(fe_suggest("rleu", fns, nf), "relu");
  CHECK_STR(fe_suggest("MAX", fns, nf), "max");
  CHECK_STR(fe_suggest("kernel_size", fns, nf), "kernel");
  CHECK_STR(fe_suggest("Strides", fns, nf), "stride");
  CHECK_STR(fe_suggest("SparseCategoricalCrossentropy", fns, nf), "cross_entropy");
  CHECK_STR(fe_suggest("cross_entrpy", fns, nf), "cross_entropy");
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  fclose(f);
  return s;
}

/* A layer's activation: any elementwise activation builtin, with its
 * defaults (leaky_relu's alpha 0.01, elu's 1); an unknown one is an error
 * that lists them. */
static void test_layer_activations(void) {
  Arena *a = arena_new();
  char *diags;
  int nerr;
  FeModel *fm = compile(a,
                        "model m {\n  input x: f32[B, 1, 6, 6]\n  input y: i32[B]\n"
                        "  c = conv2d(x, filters: 2, kernel: 3, activation: elu)\n"
                        "  h = dense(flatten(c), 8, activation: leaky_relu)\n"
                        "  h = dense(h, 8, activation: silu)\n  z = dense(h, 3, activation: softplus)\n"
                        "  output z\n  minimize cross_entropy(z, y)\n}\n",
                        &diags, &nerr);
  CHECK(fm != NULL && nerr == 0);
  if (fm) {
    IrFunc *fwd = ir_func_find(fm->mod, IR_FN_FORWARD);
    CHECK(count_op(fwd, OP_ELU) == 1 && count_op(fwd, OP_LEAKY_RELU) == 1);
    CHECK(count_op(fwd, OP_SILU) == 1 && count_op(fwd, OP_SOFTPLUS) == 1);
    for (int i = 0; i < fwd->n; i++) {
      if (fwd->nodes[i].op == OP_LEAKY_RELU) CHECK(fwd->nodes[i].at.value == 0.01);
      if (fwd->nodes[i].op == OP_ELU) CHECK(fwd->nodes[i].at.value == 1.0);
    }
  }
  fm = compile(a, "model m {\n  input x: f32[B, 4]\n  h = dense(x, 2, activation: swishy)\n  output h\n"
                  "  minimize mean(h)\n}\n",
               &diags, &nerr);
  CHECK(fm == NULL && nerr == 1 && strstr(diags, "gelu, leaky_relu, elu, silu, softplus, softmax or none"));
  arena_free(a);
}

int main(int argc, char **argv) {
  if (argc > 1) fashion_path = argv[1];
  test_lexer();
  test_parser();
  test_fashion_mlp();
  test_lowering();
  test_layer_counts();
  test_layer_activations();
  test_loss_values();
  test_defs();
  char *src = read_all(fashion_path);
  CHECK(src != NULL);
  if (src) test_no_crash(src);
  free(src);
  /* the same for defs, repeat and unpacking, nested */
  test_no_crash("def f(h, d = 2) {\n  g = dense(h, d * 2, name: \"a{d}\")\n  repeat 2 as i { g = g + i }\n"
                "  return g, h\n}\nmodel m {\n  input x: f32[B, 4]\n  repeat 2 as j {\n"
                "    a, b = f(x, 4)\n    repeat j { x = a + b }\n  }\n  output x\n  minimize mean(x)\n}\n");
  printf("%d passed, %d failed\n", npass, nfail);
  return nfail ? 1 : 0;
}
