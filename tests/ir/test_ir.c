/* test_ir.c — unit tests of the IR text format (text_print.c,
 * text_parse.c), the verifier (verify.c) and the Graphviz printer (dot.c).
 *
 * The central property is the round trip: for any valid module m,
 * print(parse(print(m))) == print(m), byte for byte. It is checked here on
 * hand-built modules and on one using every op of ops.def (test_ir_random.c
 * adds random modules and fuzzed text; test_ir_errors.c checks that the
 * verifier and the parser reject broken IR with the right message).
 *
 * Prints "N passed, N failed"; exits 1 on any failure. NNC_TEST_SEED in the
 * environment changes the random seed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_ir.h"

static int npass, nfail;

bool check(bool ok, const char *what, const char *file, int line) {
  if (ok)
    npass++;
  else {
    nfail++;
    fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
  }
  return ok;
}

const Loc L0 = {0};

Type T(DType dt, int rank, ...) {
  Type t = {.dt = dt, .sh.rank = rank};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++)
    t.sh.d[i] = va_arg(ap, int64_t);
  va_end(ap);
  return t;
}

/* ---- helpers: text in memory ---- */

static char *slurp(FILE *f) {
  fflush(f);
  long n = ftell(f);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  size_t got = fread(s, 1, (size_t)n, f);
  s[got] = 0;
  return s;
}

char *print_str(const IrModule *m) {
  FILE *f = tmpfile();
  ir_print_module(f, m);
  char *s = slurp(f);
  fclose(f);
  return s;
}

/* Diagnostics into a string: start with diag_capture, end with diag_text. */
void diag_capture(Diag *d) {
  diag_init(d, tmpfile());
  d->max_errors = 1000;
}
char *diag_text(Diag *d) {
  char *s = slurp(d->out);
  fclose(d->out);
  return s;
}

IrModule *parse_str(Arena *a, const char *text, char **errs) {
  Diag d;
  diag_capture(&d);
  IrModule *m = ir_parse(a, &d, "t.nnir", text, strlen(text));
  char *e = diag_text(&d);
  if (errs)
    *errs = e;
  else
    free(e);
  return m;
}

/* Checks print(parse(print(m))) == print(m) and that both verify. */
bool roundtrip_ok(const IrModule *m, const char *what) {
  Diag d;
  diag_capture(&d);
  bool v1 = ir_verify(m, &d);
  char *p1 = print_str(m), *p2 = NULL;
  Arena *a = arena_new();
  IrModule *m2 = ir_parse(a, &d, "printed", p1, strlen(p1));
  bool v2 = m2 && ir_verify(m2, &d);
  if (m2) p2 = print_str(m2);
  char *errs = diag_text(&d);
  bool ok = v1 && v2 && p2 && !strcmp(p1, p2);
  if (!ok)
    fprintf(stderr, "round trip of %s failed:\n%s--- printed:\n%s--- reprinted:\n%s", what, errs, p1,
            p2 ? p2 : "(none)\n");
  free(errs);
  free(p1);
  free(p2);
  arena_free(a);
  return ok;
}

/* ---- hand-built modules ---- */

int global(IrModule *m, const char *name, GlobalKind k, Type ty, int init, double a, double b) {
  return ir_global_add(m, (IrGlobal){.name = name, .kind = k, .ty = ty, .init = init, .init_a = a, .init_b = b});
}

int reduce(IrFunc *f, OpKind op, int x, int axis, int keepdims) {
  Attrs at = {.naxes = 1, .axes = {axis}, .keepdims = keepdims};
  int v = ir_emit(f, op, &x, 1, &at, NULL, L0, NULL);
  if (v < 0) unreachable("test: reduce");
  return v;
}

int emit(IrFunc *f, OpKind op, const int *args, int n, Attrs at, const Type *hint) {
  int v = ir_emit(f, op, args, n, &at, hint, L0, NULL);
  if (v < 0) unreachable("test: emit");
  return v;
}

void name(IrFunc *f, int v, const char *s) { f->nodes[v].name = s; }

/* The logits of a 784-256-10 MLP on x. */
static int mlp_logits(IrFunc *f, int x) {
  Attrs mm = {0};
  int w1 = ir_global_ref(f, 0, L0), b1 = ir_global_ref(f, 1, L0);
  name(f, w1, "w1");
  int h = ir_op1(f, OP_RELU, ir_op2(f, OP_ADD, emit(f, OP_MATMUL, (int[]){x, w1}, 2, mm, NULL), b1, L0), L0);
  name(f, h, "h");
  int w2 = ir_global_ref(f, 2, L0), b2 = ir_global_ref(f, 3, L0);
  int logits = ir_op2(f, OP_ADD, emit(f, OP_MATMUL, (int[]){h, w2}, 2, mm, NULL), b2, L0);
  name(f, logits, "logits");
  return logits;
}

/* fashion_mlp with forward, eval_step and a train_step shaped like the one
 * autodiff builds: its lr input is added after the forward nodes. */
IrModule *build_mlp(Arena *a) {
  IrModule *m = ir_module_new(a, "fashion_mlp");
  int64_t B = IR_SYM(ir_sym(m, "B"));
  m->train = (IrTrain){.present = true,
                       .opt = OPT_ADAM,
                       .lr = 1e-3,
                       .beta1 = 0.9,
                       .beta2 = 0.999,
                       .eps = 1e-8,
                       .batch = 64,
                       .epochs = 5,
                       .data = "fashion_mnist",
                       .task = NNRT_TASK_CLASSIFY,
                       .seed = 18446744073709551615u};
  global(m, "dense_1.w", GLOBAL_PARAM, T(DT_F32, 2, D(784), D(256)), NNRT_INIT_GLOROT_UNIFORM, 784, 256);
  global(m, "dense_1.b", GLOBAL_PARAM, T(DT_F32, 1, D(256)), NNRT_INIT_ZEROS, 0, 0);
  global(m, "dense_2.w", GLOBAL_PARAM, T(DT_F32, 2, D(256), D(10)), NNRT_INIT_HE_NORMAL, 256, 0);
  global(m, "dense_2.b", GLOBAL_PARAM, T(DT_F32, 1, D(10)), NNRT_INIT_NORMAL, 0, 0.01);
  global(m, "opt.step", GLOBAL_STATE, T(DT_F32, 0), NNRT_INIT_ONES, 0, 0);
  global(m, "opt.u", GLOBAL_STATE, T(DT_F32, 1, D(10)), NNRT_INIT_UNIFORM, -0.5, 0.25);

  IrFunc *fw = ir_func_new(m, IR_FN_FORWARD);
  ir_ret(fw, mlp_logits(fw, ir_input(fw, "x", T(DT_F32, 2, B, D(784)), L0)));

  IrFunc *ev = ir_func_new(m, IR_FN_EVAL);
  int x = ir_input(ev, "x", T(DT_F32, 2, B, D(784)), L0);
  int y = ir_input(ev, "y", T(DT_I32, 1, B), L0);
  int logits = mlp_logits(ev, x);
  int lsm = emit(ev, OP_LOG_SOFTMAX, &logits, 1, (Attrs){.axis = 1}, NULL);
  Type oh = T(DT_F32, 2, B, D(10));
  int hot = emit(ev, OP_ONEHOT, &y, 1, (Attrs){0}, &oh);
  int tot =
      ir_op1(ev, OP_NEG, reduce(ev, OP_SUM, reduce(ev, OP_SUM, ir_op2(ev, OP_MUL, lsm, hot, L0), 1, 0), 0, 0), L0);
  int n = emit(ev, OP_DIM, &x, 1, (Attrs){.axis = 0}, NULL);
  int loss = ir_op2(ev, OP_DIV, tot, n, L0);
  name(ev, loss, "loss");
  ir_ret(ev, loss);
  ir_ret(ev, logits);

  IrFunc *tr = ir_func_clone(m, ev, IR_FN_TRAIN);
  int lr = ir_input(tr, "lr", T(DT_F32, 0), L0);
  int step = ir_global_ref(tr, 4, L0);
  int one = ir_scalar(tr, 1, L0);
  emit(tr, OP_STORE, (int[]){ir_op2(tr, OP_ADD, step, one, L0)}, 1, (Attrs){.name = "opt.step"}, NULL);
  int b2 = ir_global_ref(tr, 3, L0);
  int upd = ir_op2(tr, OP_SUB, b2, ir_op2(tr, OP_MUL, lr, b2, L0), L0);
  emit(tr, OP_STORE, &upd, 1, (Attrs){.name = "dense_2.b"}, NULL);
  return m;
}

static void test_mlp_roundtrip(void) {
  Arena *a = arena_new();
  IrModule *m = build_mlp(a);
  CHECK(roundtrip_ok(m, "fashion_mlp"));
  char *p = print_str(m);
  CHECK(strstr(p, "train {optimizer=adam, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0, momentum=0, "
                  "batch=64, epochs=5, data=fashion_mnist, task=classify, seed=18446744073709551615}\n") != NULL);
  CHECK(strstr(p, "param @dense_1.w : f32[784,256] = glorot_uniform(784, 256)\n") != NULL);
  CHECK(strstr(p, "param @dense_2.w : f32[256,10] = he_normal(256)\n") != NULL);
  CHECK(strstr(p, "state @opt.u : f32[10] = uniform(-0.5, 0.25)\n") != NULL);
  CHECK(strstr(p, "func train_step(%x: f32[B,784], %y: i32[B], %lr: f32[]) -> (f32[], f32[B,10]) {\n") != NULL);
  CHECK(strstr(p, "  %14 = sum %13 {axes=[1], keepdims=0} : f32[B]\n") != NULL);
  CHECK(strstr(p, "  store @opt.step, %22\n") != NULL);
  /* The parsed train_step has x and y first, but lr, added last, can only
   * move up to just after %17: the numbering pins it behind the forward
   * pass. */
  Arena *b = arena_new();
  IrModule *m2 = parse_str(b, p, NULL);
  IrFunc *tr = m2 ? ir_func_find(m2, IR_FN_TRAIN) : NULL;
  CHECK(tr && tr->nodes[0].op == OP_INPUT && tr->nodes[1].op == OP_INPUT && tr->nodes[18].op == OP_INPUT &&
        tr->nodes[18].at.index == 2 && !strcmp(tr->nodes[18].name, "lr") && tr->nodes[17].op == OP_DIM);
  free(p);
  arena_free(b);
  arena_free(a);
}

/* One function using every op of ops.def; the coverage check makes this
 * test fail when an op is added and not tested here. */
IrModule *build_every_op(Arena *a) {
  IrModule *m = ir_module_new(a, "every_op");
  int64_t B = IR_SYM(ir_sym(m, "B"));
  global(m, "w", GLOBAL_PARAM, T(DT_F32, 2, D(3), D(4)), NNRT_INIT_UNIFORM, -1, 1);
  IrFunc *f = ir_func_new(m, "f");
  int x = ir_input(f, "x", T(DT_F32, 2, B, D(3)), L0), lab = ir_input(f, "labels", T(DT_I32, 1, B), L0);
  int w = ir_global_ref(f, 0, L0);
  Type s = T(DT_F32, 0), b4 = T(DT_F32, 2, B, D(4)), b12 = T(DT_F32, 1, D(12)), b43 = T(DT_F32, 2, D(4), D(3));
  int c = emit(f, OP_CONST, NULL, 0, (Attrs){.value = 0.5}, &s);
  int mm = emit(f, OP_MATMUL, (int[]){x, w}, 2, (Attrs){.ta = 0, .tb = 0}, NULL);
  int mt = emit(f, OP_MATMUL, (int[]){w, w}, 2, (Attrs){.ta = 1, .tb = 0}, NULL); /* [4,4] */
  int v = ir_op2(f, OP_ADD, mm, c, L0);
  v = ir_op2(f, OP_SUB, v, c, L0);
  v = ir_op2(f, OP_MUL, v, v, L0);
  v = ir_op2(f, OP_DIV, v, ir_op2(f, OP_EQ, v, c, L0), L0);
  static const OpKind cmp[] = {OP_NE, OP_LT, OP_LE, OP_GT, OP_GE};
  for (int i = 0; i < 5; i++)
    v = emit(f, OP_WHERE, (int[]){ir_op2(f, cmp[i], v, c, L0), v, c}, 3, (Attrs){0}, NULL);
  static const OpKind unary[] = {OP_NEG, OP_RELU, OP_STEP, OP_SIGMOID, OP_TANH, OP_GELU, OP_EXP, OP_LOG, OP_SQRT};
  for (int i = 0; i < 9; i++)
    v = ir_op1(f, unary[i], v, L0);
  v = emit(f, OP_POW, &v, 1, (Attrs){.value = 2}, NULL);
  v = emit(f, OP_LEAKY_RELU, &v, 1, (Attrs){.value = 0.01}, NULL);
  v = emit(f, OP_ELU, &v, 1, (Attrs){.value = 1}, NULL);
  v = ir_op1(f, OP_SILU, v, L0);
  v = ir_op1(f, OP_SOFTPLUS, v, L0);
  v = emit(f, OP_SOFTMAX, &v, 1, (Attrs){.axis = 1}, NULL);
  v = emit(f, OP_LOG_SOFTMAX, &v, 1, (Attrs){.axis = 0}, NULL);
  int r = emit(f, OP_SUM, &v, 1, (Attrs){.naxes = 2, .axes = {0, 1}, .keepdims = 1}, NULL);
  r = emit(f, OP_MEAN, &r, 1, (Attrs){.naxes = 1, .axes = {0}, .keepdims = 0}, NULL);
  r = emit(f, OP_MAX, &r, 1, (Attrs){.naxes = 0, .keepdims = 0}, NULL);
  int t = emit(f, OP_TRANSPOSE, &w, 1, (Attrs){.naxes = 2, .axes = {1, 0}}, NULL);
  int rs = emit(f, OP_RESHAPE, &t, 1, (Attrs){0}, &b12);
  int bc = emit(f, OP_BROADCAST, &c, 1, (Attrs){0}, &b43);
  int oh = emit(f, OP_ONEHOT, &lab, 1, (Attrs){0}, &b4);
  Type i4 = T(DT_I32, 2, B, D(4));
  int ci = emit(f, OP_CAST, &oh, 1, (Attrs){0}, &i4);
  int d = emit(f, OP_DIM, &x, 1, (Attrs){.axis = 0}, NULL);
  emit(f, OP_STORE, (int[]){ir_op1(f, OP_NEG, w, L0)}, 1, (Attrs){.name = "w"}, NULL);
  ir_ret(f, ir_op2(f, OP_ADD, r, d, L0));
  ir_ret(f, ir_op2(f, OP_MUL, t, bc, L0));
  ir_ret(f, mt), ir_ret(f, rs), ir_ret(f, ci);
  /* Sliding windows and their gradients, on an NCHW image. */
  int img = ir_input(f, "img", T(DT_F32, 4, B, D(2), D(6), D(6)), L0);
  int flt = ir_input(f, "flt", T(DT_F32, 4, D(3), D(2), D(3), D(3)), L0);
  Attrs ca = {.stride = 2, .pad = 1}, pa = {.kernel = 2, .stride = 2};
  int cv = emit(f, OP_CONV2D, (int[]){img, flt}, 2, ca, NULL); /* [B,3,3,3] */
  ir_ret(f, emit(f, OP_CONV2D_GRAD_INPUT, (int[]){img, flt, cv}, 3, ca, NULL));
  ir_ret(f, emit(f, OP_CONV2D_GRAD_WEIGHT, (int[]){img, flt, cv}, 3, ca, NULL));
  int mp = emit(f, OP_MAXPOOL2D, &img, 1, pa, NULL), ap = emit(f, OP_AVGPOOL2D, &img, 1, pa, NULL);
  ir_ret(f, emit(f, OP_MAXPOOL2D_GRAD, (int[]){img, mp}, 2, pa, NULL));
  ir_ret(f, emit(f, OP_AVGPOOL2D_GRAD, (int[]){img, ap}, 2, pa, NULL));
  int sl = emit(f, OP_SLICE, &img, 1, (Attrs){.axis = 3, .start = 1, .end = 5}, NULL);
  ir_ret(f, emit(f, OP_CONCAT, (int[]){sl, img}, 2, (Attrs){.axis = 3}, NULL));
  ir_ret(f, emit(f, OP_CAUSAL_MASK, &img, 1, (Attrs){.value = -INFINITY}, NULL));
  /* Gathers: an embedding of the labels into w's rows, its gradient, and
   * dropout keyed by an i32[2] seed and an f32[] step. */
  int emb = emit(f, OP_EMBEDDING, (int[]){lab, w}, 2, (Attrs){0}, NULL); /* [B,4] */
  ir_ret(f, emit(f, OP_EMBEDDING_GRAD, (int[]){lab, w, emb}, 3, (Attrs){0}, NULL));
  int seed = ir_input(f, "seed", T(DT_I32, 1, D(2)), L0);
  ir_ret(f, emit(f, OP_DROPOUT, (int[]){x, seed, c}, 3, (Attrs){.value = 0.25, .salt = 2}, NULL));
  /* int8: x quantized to u8 by a scalar scale, times i8 weights stored
   * [N,K], dequantized per column; img's convolution in u8 x i8. */
  Type qx = T(DT_U8, 2, B, D(3)), qimg = T(DT_U8, 4, B, D(2), D(6), D(6));
  int q = emit(f, OP_QUANTIZE, (int[]){x, c}, 2, (Attrs){.value = 128}, &qx);
  int qw = ir_input(f, "qw", T(DT_I8, 2, D(4), D(3)), L0), comp = ir_input(f, "comp", T(DT_I32, 1, D(4)), L0);
  int acc = emit(f, OP_QMATMUL, (int[]){q, qw}, 2, (Attrs){.ta = 0, .tb = 1}, NULL); /* [B,4] */
  ir_ret(f, emit(f, OP_DEQUANTIZE, (int[]){acc, comp, c}, 3, (Attrs){0}, NULL));
  int qi = emit(f, OP_QUANTIZE, (int[]){img, c}, 2, (Attrs){.value = 3}, &qimg);
  int qf = ir_input(f, "qf", T(DT_I8, 4, D(3), D(2), D(3), D(3)), L0);
  ir_ret(f, emit(f, OP_QCONV2D, (int[]){qi, qf}, 2, (Attrs){.value = 3, .stride = 2, .pad = 1}, NULL));
  /* Fake quantization per output channel of w ([1,4] scales), and its
   * straight-through gradient. */
  Attrs fq = {.value = 0, .qmin = -127, .qmax = 127};
  int sw = emit(f, OP_MAX, &w, 1, (Attrs){.naxes = 1, .axes = {0}, .keepdims = 1}, NULL);
  int wq = emit(f, OP_FAKE_QUANT, (int[]){w, sw}, 2, fq, NULL);
  ir_ret(f, emit(f, OP_FAKE_QUANT_GRAD, (int[]){w, sw, wq}, 3, fq, NULL));
  /* A scan over the rows of img with the body cell(h, x_t) -> (h + x_t, h). */
  IrFunc *cell = ir_func_new(m, "cell");
  Type row = T(DT_F32, 3, D(2), D(6), D(6));
  int h = ir_input(cell, "h", row, L0), xt = ir_input(cell, "xt", row, L0);
  ir_ret(cell, ir_op2(cell, OP_ADD, h, xt, L0)), ir_ret(cell, h);
  int h0 = emit(f, OP_CONST, NULL, 0, (Attrs){.value = 0}, &row);
  int sc = emit(f, OP_SCAN, (int[]){h0, img}, 2, (Attrs){.body = "cell", .ncarry = 1, .nseq = 1, .reverse = 1}, NULL);
  ir_ret(f, emit(f, OP_SCAN_OUT, &sc, 1, (Attrs){.index = 1}, NULL));
  return m;
}

static bool covers_every_op(const IrModule *m) {
  bool seen[OP_COUNT] = {false}, all = true;
  for (int i = 0; i < m->nfuncs; i++)
    for (int k = 0; k < m->funcs[i]->n; k++)
      seen[m->funcs[i]->nodes[k].op] = true;
  for (int op = 0; op < OP_COUNT; op++)
    if (!seen[op]) fprintf(stderr, "op '%s' is not covered\n", ir_ops[op].mnemonic), all = false;
  return all;
}

static void test_every_op(void) {
  Arena *a = arena_new();
  IrModule *m = build_every_op(a);
  CHECK(covers_every_op(m));
  CHECK(roundtrip_ok(m, "every_op"));
  arena_free(a);
  /* The golden file for FileCheck must cover every op as well. */
  FILE *f = fopen(NNC_IR_TEST_DIR "/all_ops.nnir", "rb");
  CHECK(f != NULL);
  if (!f) return;
  fseek(f, 0, SEEK_END);
  char *text = slurp(f);
  fclose(f);
  a = arena_new();
  char *errs;
  IrModule *g = parse_str(a, text, &errs);
  if (!CHECK(g != NULL)) fputs(errs, stderr);
  if (g) CHECK(covers_every_op(g));
  free(errs);
  free(text);
  arena_free(a);
}

/* ---- element types ---- */

/* The text of a golden file without its comment lines and the blank lines
 * before the module: what the printer should give back byte for byte. */
static char *strip_comments(const char *text) {
  char *out = malloc(strlen(text) + 1), *o = out;
  for (const char *l = text; *l;) {
    const char *e = strchr(l, '\n');
    size_t n = e ? (size_t)(e - l + 1) : strlen(l);
    if (*l != '#' && !(o == out && *l == '\n')) memcpy(o, l, n), o += n;
    l += n;
  }
  *o = 0;
  return out;
}

static void test_dtypes(void) {
  /* The codes of f32 and i32 are in compiled models and checkpoints. */
  CHECK(DT_VOID == 0 && DT_F32 == 1 && DT_I32 == 2 && (int)DT_F32 == NNRT_F32 && (int)DT_I8 == NNRT_I8);
  CHECK(ir_dtype_size(DT_F32) == 4 && ir_dtype_size(DT_I8) == 1 && ir_dtype_size(DT_U8) == 1 &&
        ir_dtype_size(DT_I64) == 8 && ir_dtype_size(DT_VOID) == 0 && ir_dtype_size((DType)99) == 0);
  CHECK(ir_dtype_is_float(DT_F32) && !ir_dtype_is_float(DT_I64) && ir_dtype_is_signed(DT_I8) &&
        !ir_dtype_is_signed(DT_U8));
  for (int i = 0; i < DT_COUNT; i++) {
    DType dt = (DType)i, back = DT_VOID;
    const char *nm = ir_dtype_name(dt);
    CHECK(ir_dtype_lookup(nm, strlen(nm), &back) == ir_dtype_valid(dt) && (!ir_dtype_valid(dt) || back == dt));
  }
  DType dt;
  CHECK(!ir_dtype_lookup("void", 4, &dt) && !ir_dtype_lookup("i", 1, &dt) && !ir_dtype_lookup("i88", 3, &dt));
  char list[IR_DTYPE_LISTLEN];
  CHECK(!strcmp(ir_dtype_list(list, sizeof list), "f32, i32, i8, u8 or i64"));
  CHECK(ir_dtype_holds(DT_I8, -128) && !ir_dtype_holds(DT_I8, 128) && ir_dtype_holds(DT_U8, 255) &&
        !ir_dtype_holds(DT_U8, -1) && !ir_dtype_holds(DT_I32, 0.5) && ir_dtype_holds(DT_I64, -ldexp(1, 63)) &&
        !ir_dtype_holds(DT_I64, ldexp(1, 63)) && !ir_dtype_holds(DT_I64, NAN) && ir_dtype_holds(DT_F32, 0.1) &&
        !ir_dtype_holds(DT_VOID, 0));

  /* cast, element by element (ir.h): truncation and saturation from float,
   * wrapping and extension between integers, rounding to float. */
  static const struct {
    DType from, to;
    double x, want;
  } cases[] = {
      {DT_F32, DT_I8, 300.7, 127},         {DT_F32, DT_I8, -1e30, -128},        {DT_F32, DT_I8, -1.9, -1},
      {DT_F32, DT_I8, NAN, 0},             {DT_F32, DT_I8, INFINITY, 127},      {DT_F32, DT_U8, -0.5, 0},
      {DT_F32, DT_U8, -3, 0},              {DT_F32, DT_U8, 255.9, 255},         {DT_F32, DT_U8, 256, 255},
      {DT_F32, DT_I32, 3e9, 2147483647},   {DT_F32, DT_I32, -3e9, -2147483648}, {DT_F32, DT_I32, 2.5, 2},
      {DT_F32, DT_I64, 1e19, 0x1p63},      {DT_F32, DT_I64, -1e19, -0x1p63},    {DT_F32, DT_I64, -1e10, -1e10},
      {DT_I32, DT_I8, 200, -56},           {DT_I32, DT_I8, -129, 127},          {DT_I32, DT_I8, 255, -1},
      {DT_I32, DT_U8, -1, 255},            {DT_I32, DT_U8, 256, 0},             {DT_I8, DT_U8, -1, 255},
      {DT_U8, DT_I8, 200, -56},            {DT_I64, DT_I32, 4294967297, 1},     {DT_I64, DT_I32, 2147483648, -2147483648},
      {DT_I64, DT_U8, -257, 255},          {DT_I8, DT_I64, -5, -5},             {DT_U8, DT_I64, 255, 255},
      {DT_U8, DT_F32, 255, 255},           {DT_I64, DT_F32, 16777217, 16777216}, {DT_I32, DT_F32, -7, -7},
      {DT_F32, DT_F32, 0.1, 0.1},          {DT_I64, DT_I64, 0x1p60, 0x1p60},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double got = ir_dtype_convert(cases[i].x, cases[i].from, cases[i].to);
    if (!CHECK(got == cases[i].want))
      fprintf(stderr, "  cast %s -> %s of %.17g: got %.17g, want %.17g\n", ir_dtype_name(cases[i].from),
              ir_dtype_name(cases[i].to), cases[i].x, got, cases[i].want);
  }

  /* dtypes.nnir covers every type and prints back as written. */
  FILE *f = fopen(NNC_IR_TEST_DIR "/dtypes.nnir", "rb");
  if (!CHECK(f != NULL)) return;
  fseek(f, 0, SEEK_END);
  char *text = slurp(f);
  fclose(f);
  for (int i = 0; i < DT_COUNT; i++) {
    char pat[16];
    snprintf(pat, sizeof pat, " %s[", ir_dtype_name((DType)i));
    if (ir_dtype_valid((DType)i) && !CHECK(strstr(text, pat)))
      fprintf(stderr, "  dtypes.nnir does not cover %s\n", ir_dtype_name((DType)i));
  }
  Arena *a = arena_new();
  char *errs, *want = strip_comments(text);
  IrModule *m = parse_str(a, text, &errs);
  if (!CHECK(m != NULL)) fputs(errs, stderr);
  char *got = m ? print_str(m) : NULL;
  if (m && !CHECK(!strcmp(got, want))) fprintf(stderr, "  printed:\n%s  expected:\n%s", got, want);
  free(got), free(want), free(errs), free(text);
  arena_free(a);
}

/* Names the parser could not read back are repaired by the printer, and
 * inputs may sit anywhere, even unnamed. */
static void test_names_and_inputs(void) {
  Arena *a = arena_new();
  IrModule *m = ir_module_new(a, "names");
  IrFunc *f = ir_func_new(m, "f");
  Type t = T(DT_F32, 1, D(3));
  int c = ir_const(f, 1, &t, L0);
  int x = ir_input(f, "x", t, L0);
  int u = ir_input(f, "ignored", t, L0);
  name(f, u, NULL); /* an unnamed input prints as its node id */
  int h1 = ir_op2(f, OP_ADD, c, x, L0), h2 = ir_op1(f, OP_NEG, h1, L0), h3 = ir_op1(f, OP_EXP, h2, L0);
  int h4 = ir_op1(f, OP_RELU, h3, L0), h5 = ir_op1(f, OP_TANH, h4, L0), h6 = ir_op1(f, OP_LOG, h5, L0);
  int late = ir_input(f, "late", t, L0);
  name(f, h1, "h"), name(f, h2, "h"), name(f, h3, "9"), name(f, h4, "a b"), name(f, h5, "6"), name(f, h6, "h.4");
  ir_ret(f, ir_op2(f, OP_ADD, h6, late, L0));
  ir_ret(f, u);
  char *p = print_str(m);
  CHECK(strstr(p, "func f(%x: f32[3], %2: f32[3], %late: f32[3]) -> (f32[3], f32[3]) {\n") != NULL);
  CHECK(strstr(p, "  %h.4 = neg %h : f32[3]\n") != NULL);
  CHECK(strstr(p, "  %9.5 = exp %h.4 : f32[3]\n") != NULL);
  CHECK(strstr(p, "  %a_b = relu %9.5 : f32[3]\n") != NULL);
  CHECK(strstr(p, "  %6.7 = tanh %a_b : f32[3]\n") != NULL);  /* "6" would read as node 6 */
  CHECK(strstr(p, "  %h.4.8 = log %6.7 : f32[3]\n") != NULL); /* "h.4" was taken */
  CHECK(roundtrip_ok(m, "names"));
  free(p);
  arena_free(a);
}

/* Floats print with %.9g, which is exact for every f32 value. */
static void test_floats(void) {
  static const float vals[] = {0.1f, -0.0f, 1e-45f, 3.4028235e38f, 1.17549435e-38f, 16777217.0f, -2.5f, 1e-8f};
  Arena *a = arena_new();
  IrModule *m = ir_module_new(a, "floats");
  IrFunc *f = ir_func_new(m, "f");
  Type s = T(DT_F32, 0);
  int n = (int)(sizeof vals / sizeof vals[0]);
  for (int i = 0; i < n; i++)
    ir_ret(f, ir_const(f, vals[i], &s, L0));
  ir_ret(f, ir_const(f, INFINITY, &s, L0));
  ir_ret(f, ir_const(f, -INFINITY, &s, L0));
  ir_ret(f, ir_const(f, NAN, &s, L0));
  CHECK(roundtrip_ok(m, "floats"));
  char *p = print_str(m);
  Arena *b = arena_new();
  IrModule *m2 = parse_str(b, p, NULL);
  bool exact = m2 != NULL;
  for (int i = 0; exact && i < n; i++) {
    double v = m2->funcs[0]->nodes[i].at.value;
    exact = (float)v == vals[i] && !signbit(v) == !signbit(vals[i]);
  }
  CHECK(exact);
  CHECK(m2 && isinf(m2->funcs[0]->nodes[n + 1].at.value) && isnan(m2->funcs[0]->nodes[n + 2].at.value));
  free(p);
  arena_free(b);
  arena_free(a);
}

/* Train settings are optional: the ones left out keep ir_module_new's
 * defaults, which are the frontend's and the optimizer pass's (Adam). */
static void test_train_defaults(void) {
  Arena *a = arena_new();
  IrModule *m = parse_str(a, "module m\ntrain {lr=0.1, batch=8}\n", NULL);
  CHECK(m && m->train.present && m->train.opt == OPT_ADAM && m->train.lr == 0.1 && m->train.batch == 8);
  CHECK(m && m->train.beta1 == 0.9 && m->train.beta2 == 0.999 && m->train.eps == 1e-8 && m->train.epochs == 1 &&
        m->train.seed == 42 && m->train.weight_decay == 0 && m->train.momentum == 0 && !m->train.data);
  IrModule *none = parse_str(a, "module m\n", NULL);
  CHECK(none && !none->train.present && none->train.opt == OPT_ADAM && none->train.lr == 1e-3);
  arena_free(a);
}

/* ---- Graphviz ---- */

static void test_dot(void) {
  Arena *a = arena_new();
  IrModule *m = build_mlp(a);
  FILE *f = tmpfile();
  ir_print_dot(f, m);
  char *s = slurp(f);
  fclose(f);
  CHECK(!strncmp(s, "digraph \"fashion_mlp\" {\n", 24) && strstr(s, "\n}\n"));
  CHECK(strstr(s, "subgraph cluster_0 {\n    label=\"forward\";\n") && strstr(s, "subgraph cluster_2 {"));
  CHECK(strstr(s, "g0 [label=\"param @dense_1.w\\nf32[784,256]\", shape=cylinder") != NULL);
  CHECK(strstr(s, "f0_0 [label=\"%x = input 0\\nf32[B,784]\"") != NULL);
  CHECK(strstr(s, "g0 -> f0_1 [style=dashed];") != NULL);  /* a read of @dense_1.w */
  CHECK(strstr(s, "f2_23 -> g4 [style=dashed];") != NULL); /* train_step's store to @opt.step */
  CHECK(strstr(s, "f0_0 -> f0_3 [label=\"0\"];") && strstr(s, "f0_1 -> f0_3 [label=\"1\"];"));
  int open = 0;
  for (const char *p = s; *p; p++)
    open += (*p == '{') - (*p == '}');
  CHECK(open == 0);
  free(s);
  arena_free(a);
}

int main(void) {
  const char *seed = getenv("NNC_TEST_SEED");
  if (seed) test_ir_seed(strtoull(seed, NULL, 0));
  test_mlp_roundtrip();
  test_every_op();
  test_dtypes();
  test_names_and_inputs();
  test_floats();
  test_train_defaults();
  test_random_roundtrip();
  test_verify();
  test_attr_table();
  test_parse_errors();
  test_fuzz();
  test_dot();
  test_scan_rows();
  printf("%d passed, %d failed\n", npass, nfail);
  return nfail ? 1 : 0;
}
