/* test_ir.c — unit tests of the IR text format (text_print.c,
 * text_parse.c), the verifier (verify.c) and the Graphviz printer (dot.c).
 *
 * The central property is the round trip: for any valid module m,
 * print(parse(print(m))) == print(m), byte for byte. It is checked here on
 * hand-built modules and on one using every op of ops.def (test_ir_random.c
 * adds random modules and fuzzed text). Then: the verifier rejects
 * hand-broken IR with a message naming the function and the value, and
 * parse errors point at the right line:col.
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

static IrModule *parse_str(Arena *a, const char *text, char **errs) {
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

static int reduce(IrFunc *f, OpKind op, int x, int axis, int keepdims) {
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

/* ---- the verifier ---- */

/* A small valid function to break by hand:
 *   %x = input 0; %w = global @w; %mm = matmul; %r = relu; %s = sum; store @w; return %r */
typedef struct Small {
  Arena *a;
  IrModule *m;
  IrFunc *f;
  int x, w, mm, r, s, st;
} Small;

static Small small(void) {
  Small s = {.a = arena_new()};
  s.m = ir_module_new(s.a, "small");
  int64_t B = IR_SYM(ir_sym(s.m, "B"));
  global(s.m, "w", GLOBAL_PARAM, T(DT_F32, 2, D(3), D(2)), NNRT_INIT_ZEROS, 0, 0);
  s.f = ir_func_new(s.m, "f");
  s.x = ir_input(s.f, "x", T(DT_F32, 2, B, D(3)), L0);
  s.w = ir_global_ref(s.f, 0, L0);
  s.mm = emit(s.f, OP_MATMUL, (int[]){s.x, s.w}, 2, (Attrs){0}, NULL);
  s.r = ir_op1(s.f, OP_RELU, s.mm, L0);
  name(s.f, s.r, "r");
  s.s = reduce(s.f, OP_SUM, s.r, 1, 0);
  s.st = emit(s.f, OP_STORE, (int[]){ir_op1(s.f, OP_NEG, s.w, L0)}, 1, (Attrs){.name = "w"}, NULL);
  ir_ret(s.f, s.r);
  return s;
}

/* Runs the verifier on a broken Small; checks it fails with `want` in its
 * messages. */
static void expect_verify_error(Small *s, const char *want, int line) {
  Diag d;
  diag_capture(&d);
  bool ok = ir_verify(s->m, &d);
  char *msg = diag_text(&d);
  if (!check(!ok && strstr(msg, want), want, __FILE__, line)) fprintf(stderr, "  verifier said: %s", ok ? "ok\n" : msg);
  free(msg);
  arena_free(s->a);
}
#define EXPECT_VERIFY(s, want) expect_verify_error(&(s), want, __LINE__)

static void test_verify(void) {
  Small s = small();
  Diag d;
  diag_capture(&d);
  CHECK(ir_verify(s.m, &d));
  free(diag_text(&d));
  arena_free(s.a);

  s = small(), s.f->nodes[s.r].ty = T(DT_F32, 2, IR_SYM(0), D(3));
  EXPECT_VERIFY(s, "nnc: error: verify: f: %r (relu): type is f32[B,3], but the operands give f32[B,2]");
  s = small(), s.f->nodes[s.mm].args[0] = s.r;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): operand 0 (%r) is not defined before its use");
  s = small(), s.f->nodes[s.mm].args[1] = s.mm;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): operand 1 (%2) is not defined before its use");
  s = small(), s.f->nodes[s.r].nargs = 2;
  EXPECT_VERIFY(s, "verify: f: %r (relu): has 2 operands, the op takes 1");
  s = small(), s.f->nodes[s.w].at.name = "nope";
  EXPECT_VERIFY(s, "verify: f: %1 (global): unknown global @nope");
  s = small(), s.f->nodes[s.st].at.name = "nope";
  EXPECT_VERIFY(s, "(store): unknown global @nope");
  s = small(), s.f->rets[0] = 99;
  EXPECT_VERIFY(s, "verify: f: return value 0 (%99) is out of range");
  s = small(), s.f->rets[0] = s.st;
  EXPECT_VERIFY(s, "verify: f: return value 0 (%6) is a store, which has no result");
  s = small(), ir_op1(s.f, OP_NEG, s.x, L0), s.f->nodes[s.f->n - 1].args[0] = s.st;
  EXPECT_VERIFY(s, "verify: f: %7 (neg): operand 0 (%6) is a store, which has no result");
  s = small(), s.f->nodes[s.x].at.index = 1;
  EXPECT_VERIFY(s, "verify: f: %x (input): index 1, but it is input 0 in node order");
  s = small(), s.f->nodes[s.s].at.naxes = 9;
  EXPECT_VERIFY(s, "verify: f: %4 (sum): axes has 9 entries, not 0..6");
  s = small(), s.f->nodes[s.s].at.axes[0] = 2;
  EXPECT_VERIFY(s, "verify: f: %4 (sum): axis 2 is out of range for rank 2");
  s = small(), s.f->nodes[s.mm].at.tb = 7;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): tb is 7, not in 0..1");
  s = small(), s.f->nodes[s.r].group = -2;
  EXPECT_VERIFY(s, "verify: f: %r (relu): group is -2, not in -1..2147483647");
  s = small(), s.f->nodes[s.x].group = 0;
  EXPECT_VERIFY(s, "verify: f: %x (input): an input cannot carry group");
  s = small(), s.f->nodes[s.mm].at.axis = 7; /* not matmul's: ignored */
  /* Valid groups: the store and the neg it stores in group 3, relu alone in 0. */
  s.f->nodes[s.st].group = 3, s.f->nodes[s.f->nodes[s.st].args[0]].group = 3, s.f->nodes[s.r].group = 0;
  Diag d1;
  diag_capture(&d1);
  CHECK(ir_verify(s.m, &d1));
  free(diag_text(&d1));
  arena_free(s.a);
  s = small(), s.f->nodes[s.r].op = (OpKind)999;
  EXPECT_VERIFY(s, "verify: f: %r: op 999 is unknown");
  s = small(), s.f->nodes[s.r].ty.sh.rank = 40;
  EXPECT_VERIFY(s, "verify: f: %r (relu): bad type: rank 40 is out of range (0..6)");
  s = small(), s.f->nodes[s.r].ty.sh.d[0] = IR_SYM(5);
  EXPECT_VERIFY(s, "verify: f: %r (relu): bad type: dimension 0 names no sym");
  s = small(), s.m->globals[0].ty = T(DT_F32, 2, D(2), D(3));
  EXPECT_VERIFY(s, "verify: f: %1 (global): global @w has type f32[2,3], not f32[3,2]");
  s = small(), global(s.m, "w", GLOBAL_STATE, T(DT_F32, 0), 0, 0, 0);
  EXPECT_VERIFY(s, "verify: global @w is declared twice");
  s = small(), global(s.m, "v", GLOBAL_STATE, T(DT_F32, 1, IR_SYM(0)), 0, 0, 0);
  EXPECT_VERIFY(s, "verify: global @v: dimension 0 is symbolic");
  s = small(), s.m->globals[0].ty.sh.d[0] = (int64_t)1 << 40;
  EXPECT_VERIFY(s, "verify: global @w: dimension 0 is too large");
  s = small(), s.m->train = (IrTrain){.present = true, .opt = (OptKind)5};
  EXPECT_VERIFY(s, "verify: train: optimizer 5 is unknown");
  s = small(), s.m->globals[0].init = 17;
  EXPECT_VERIFY(s, "verify: global @w: initialiser 17 is unknown");
  s = small(), s.m->globals[0].init = NNRT_INIT_SEED; /* a param, f32[3,2] */
  EXPECT_VERIFY(s, "verify: global @w: a seed is an i32[2] state global");
  s = small(), ir_func_new(s.m, "f");
  EXPECT_VERIFY(s, "verify: function 'f' is defined twice");
  s = small(), ir_func_new(s.m, "bad name");
  EXPECT_VERIFY(s, "verify: function 1: name 'bad name' is not an identifier");
  s = small();
  Type wrong = T(DT_F32, 1, D(5));
  s.f->nodes[s.f->n - 1] = (IrNode){.op = OP_RESHAPE, .nargs = 1, .args = {s.r}, .ty = wrong}; /* replaces the store */
  EXPECT_VERIFY(s, "verify: f: %6 (reshape): cannot reshape f32[B,2] to f32[5]: element counts differ");
  s = small(), s.f->nodes[s.r].ty.dt = (DType)42;
  EXPECT_VERIFY(s, "verify: f: %r (relu): bad type: element type 42 is unknown");
  s = small(), s.f->nodes[s.x].ty.dt = DT_VOID;
  EXPECT_VERIFY(s, "verify: f: %x (input): bad type: void is no tensor type");
  s = small(), s.m->globals[0].ty.dt = (DType)-1;
  EXPECT_VERIFY(s, "verify: global @w: element type -1 is unknown");
  /* Integer types pass through layout ops and casts, not arithmetic. */
  s = small(), s.f->nodes[s.x].ty.dt = DT_I8;
  EXPECT_VERIFY(s, "verify: f: %2 (matmul): matmul expects two float tensors of one rank (2 or more), or one of rank 3 "
                   "or more and a 2-d one, got i8[B,3] and f32[3,2]");
  s = small();
  Type u8 = T(DT_U8, 2, IR_SYM(0), D(3));
  int c = emit(s.f, OP_CAST, (int[]){s.x}, 1, (Attrs){0}, &u8);
  ir_ret(s.f, c);
  Diag d3;
  diag_capture(&d3);
  CHECK(ir_verify(s.m, &d3)); /* every cast between tensor types is valid */
  free(diag_text(&d3));
  s.f->nodes[c].ty.sh.d[1] = 2;
  EXPECT_VERIFY(s, "(cast): cannot cast f32[B,3] to u8[B,2]");
  /* One bad node gives one message, not one per user. */
  s = small(), s.f->nodes[s.mm].ty = T(DT_I32, 0);
  Diag d2;
  diag_capture(&d2);
  CHECK(!ir_verify(s.m, &d2) && d2.nerrors == 1);
  free(diag_text(&d2));
  arena_free(s.a);
}

/* ---- the attribute table ---- */

/* attrs.def's rows agree with each other and with ops.def: a name in braces
 * means one attribute; annotations are ints no op lists; every kind some op
 * carries prints. And CSE's equality sees every attribute but the group. */
static void test_attr_table(void) {
  unsigned used = 0;
  for (int op = 0; op < OP_COUNT; op++)
    used |= ir_ops[op].attrs;
  for (int k = 0; k < AK_COUNT; k++) {
    const AttrInfo *a = &ir_attrs[k];
    bool braces = a->place == AP_DICT || a->place == AP_NODE;
    for (int j = 0; j < k; j++)
      CHECK(!braces || (ir_attrs[j].place != AP_DICT && ir_attrs[j].place != AP_NODE) ||
            strcmp(a->text, ir_attrs[j].text));
    CHECK(a->place != AP_NODE || (a->value == AV_INT && !(used & (1u << k))));
    CHECK(a->place == AP_NODE || (used & (1u << k)));
    CHECK((a->value == AV_INTS) == (a->len_off != 0));
  }
  CHECK(A_TRANS == (A_TA | A_TB) && ir_ops[OP_MATMUL].attrs == A_TRANS);

  IrNode a = {.op = OP_MATMUL, .at = {.ta = 1}, .group = 0}, b = a;
  b.group = 5;
  CHECK(ir_attrs_eq(&a, &b) && ir_attrs_hash(&a) == ir_attrs_hash(&b));
  b.at.tb = 1;
  CHECK(!ir_attrs_eq(&a, &b));
  b = a, b.at.axis = 3; /* not matmul's */
  CHECK(ir_attrs_eq(&a, &b) && ir_attrs_hash(&a) == ir_attrs_hash(&b));
  IrNode c = {.op = OP_CONST, .at = {.value = 0.0}}, d = {.op = OP_CONST, .at = {.value = -0.0}};
  CHECK(!ir_attrs_eq(&c, &d));
  IrNode e = {.op = OP_SUM, .at = {.naxes = 2, .axes = {0, 1}}}, g = e;
  g.at.axes[2] = 9; /* past naxes: no part of the value */
  CHECK(ir_attrs_eq(&e, &g) && ir_attrs_hash(&e) == ir_attrs_hash(&g));
  g.at.naxes = 1;
  CHECK(!ir_attrs_eq(&e, &g));
}

/* ---- parse errors ---- */

#define HDR "module m\nsym B\nparam @w : f32[3,2] = zeros\nfunc f(%x: f32[B,3]) -> (f32[B,2]) {\n"

static void expect_parse_error(const char *text, const char *want, int line) {
  Arena *a = arena_new();
  char *errs;
  IrModule *m = parse_str(a, text, &errs);
  if (!check(!m && strstr(errs, want), want, __FILE__, line)) fprintf(stderr, "  parser said: %s", m ? "ok\n" : errs);
  free(errs);
  arena_free(a);
}
#define EXPECT_PARSE(text, want) expect_parse_error(text, want, __LINE__)

static void test_parse_errors(void) {
  EXPECT_PARSE(HDR "  %1 = foo %x : f32[B,3]\n", "t.nnir:5:8: error: unknown op 'foo'");
  EXPECT_PARSE(HDR "  %y = add %x : f32[B,3]\n", "t.nnir:5:8: error: 'add' takes 2 operands, got 1");
  EXPECT_PARSE(HDR "  %y = relu %x, %x, %x, %x, %x : f32[B,3]\n", "5:8: error: 'relu' takes 1 operand, got 5");
  EXPECT_PARSE(HDR "  %y = relu %z : f32[B,3]\n", "t.nnir:5:13: error: use of undefined value %z");
  EXPECT_PARSE(HDR "  %x = relu %x : f32[B,3]\n", "t.nnir:5:3: error: redefinition of value %x");
  EXPECT_PARSE(HDR "  %g = global @nope : f32[3,2]\n", "t.nnir:5:15: error: unknown global @nope");
  EXPECT_PARSE(HDR "  %y = relu %x : f64[B,3]\n", "t.nnir:5:18: error: unknown element type 'f64'");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[T,3]\n", "t.nnir:5:22: error: unknown symbolic dim 'T'");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[B,0]\n", "t.nnir:5:24: error: a dimension must be between 1 and");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[1,1,1,1,1,1,1]\n", "t.nnir:5:34: error: a type has at most 6 dimensions");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1], keepdim=0} : f32[B]\n", "t.nnir:5:26: error: unknown attribute 'keepdim'");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1]} : f32[B]\n", "t.nnir:5:8: error: 'sum' needs attribute 'keepdims'");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1], axes=[1]} : f32[B]\n", "5:26: error: attribute 'axes' is given twice");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1], keepdims=2} : f32[B]\n", "5:35: error: keepdims must be between 0 and 1");
  EXPECT_PARSE(HDR "  %y = sum %x {axes=[1] keepdims=0} : f32[B]\n",
               "5:25: error: expected ',' or '}', got 'keepdims'");
  EXPECT_PARSE(HDR "  %y = relu %x {axis=1} : f32[B,3]\n", "t.nnir:5:17: error: 'relu' has no attribute 'axis'");
  EXPECT_PARSE(HDR "  %y = relu %x {group=2, axis=1} : f32[B,3]\n", "5:26: error: 'relu' has no attribute 'axis'");
  EXPECT_PARSE(HDR "  %y = relu %x {group=-1} : f32[B,3]\n", "5:23: error: group must be between 0 and 2147483647");
  EXPECT_PARSE(HDR "  %y = relu %x : f32[B,2]\n",
               "t.nnir:5:18: error: type mismatch: relu gives f32[B,3], not the declared f32[B,2]");
  EXPECT_PARSE(HDR "  %w = global @w : f32[3,2]\n  %y = add %x, %w : f32[B,3]\n",
               "t.nnir:6:8: error: shapes cannot broadcast: dimension B against 3 (f32[B,3] and f32[3,2])");
  EXPECT_PARSE(HDR "  %w = global @w : f32[2,3]\n", "t.nnir:5:8: error: global @w has type f32[3,2], not f32[2,3]");
  EXPECT_PARSE(HDR "  %r = reshape %x : f32[7]\n", "5:8: error: cannot reshape f32[B,3] to f32[7]");
  EXPECT_PARSE(HDR "  %5 = relu %x : f32[B,3]\n", "t.nnir:5:3: error: value %5 is out of order");
  EXPECT_PARSE(HDR "  return %x\n}\n", "t.nnir:5:10: error: return value 0 has type f32[B,3], but the signature says");
  EXPECT_PARSE(HDR "  return\n}\n", "t.nnir:5:3: error: 'f' returns 0 values, but its signature declares 1");
  EXPECT_PARSE(HDR "  %y = relu %x ; f32[B,3]\n", "t.nnir:5:16: error: unexpected character ';'");
  EXPECT_PARSE(HDR "  %y = relu %x \x01 f32[B,3]\n", "t.nnir:5:16: error: unexpected byte 0x01");
  EXPECT_PARSE(HDR "  %s = store @w, %x\n", "t.nnir:5:8: error: store has no result");
  EXPECT_PARSE(HDR "  %i = input : f32[]\n", "t.nnir:5:8: error: inputs are declared in the function signature");
  EXPECT_PARSE(HDR "  relu %x : f32[B,3]\n", "t.nnir:5:3: error: the result of 'relu' needs a name");
  EXPECT_PARSE(HDR "  store @w, %x\n", "t.nnir:5:3: error: cannot store f32[B,3] into @w of type f32[3,2]");
  EXPECT_PARSE(HDR, "t.nnir:5:1: error: expected a statement ('%v = op ...', 'store' or 'return'), got end of file");
  EXPECT_PARSE(HDR "  %y = pow %x {value=1e} : f32[B,3]\n", "t.nnir:5:22: error: malformed number '1e'");
  EXPECT_PARSE(HDR "  %y = relu % : f32[B,3]\n", "t.nnir:5:13: error: expected a name after '%'");
  EXPECT_PARSE("func f() -> () {\n", "t.nnir:1:1: error: expected 'module NAME' at the start, got 'func'");
  EXPECT_PARSE("", "t.nnir:1:1: error: expected 'module NAME' at the start, got end of file");
  EXPECT_PARSE("module m\nparam @v : f32[B] = zeros\n", "t.nnir:2:16: error: unknown symbolic dim 'B'");
  EXPECT_PARSE("module m\nsym B\nparam @v : f32[B] = zeros\n", "t.nnir:3:16: error: globals have static shapes");
  EXPECT_PARSE("module m\nparam @v : f32[2] = normal(0)\n", "t.nnir:2:21: error: normal takes 2 arguments, got 1");
  EXPECT_PARSE("module m\nparam @v : f32[2] = zeros\nstate @v : f32[] = ones\n",
               "t.nnir:3:7: error: global @v is declared twice");
  EXPECT_PARSE("module m\ntrain {lr=0.1, speed=2}\n", "t.nnir:2:16: error: unknown train setting 'speed'");
  EXPECT_PARSE("module m\ntrain {optimizer=adagrad}\n", "t.nnir:2:18: error: unknown optimizer 'adagrad'");
  EXPECT_PARSE("module m\ntrain {data=\"abc}\n", "t.nnir:2:13: error: unterminated string");
  EXPECT_PARSE("module m\ntrain {seed=-1}\n", "t.nnir:2:13: error: seed must be an integer from 0 to 2^64-1");
  /* An integer constant is an integer in its type's range (the shape rule,
   * so the verifier and every builder check it too). */
  EXPECT_PARSE(HDR "  %k = const {value=0.5} : i32[2]\n",
               "t.nnir:5:8: error: an integer constant (i32) needs an integer value in its range, got 0.5");
  EXPECT_PARSE(HDR "  %k = const {value=4294967296} : i32[]\n", "5:8: error: an integer constant (i32) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=nan} : i32[]\n", "5:8: error: an integer constant (i32) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=128} : i8[]\n", "5:8: error: an integer constant (i8) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=-1} : u8[]\n", "5:8: error: an integer constant (u8) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=9223372036854775808} : i64[]\n",
               "5:8: error: an integer constant (i64) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=inf} : i64[]\n", "5:8: error: an integer constant (i64) needs an integer");
  EXPECT_PARSE(HDR "  %k = const {value=1} : void[]\n", "5:26: error: unknown element type 'void'");
  EXPECT_PARSE(HDR "  %k = const {value=1} : u16[]\n",
               "5:26: error: unknown element type 'u16' (expected f32, i32, i8, u8 or i64)");
  EXPECT_PARSE("module m\nfunc f() -> () {\n  return\n}\nfunc f() -> () {\n",
               "t.nnir:5:6: error: function 'f' is defined twice");
  /* The caret line shows the culprit. */
  EXPECT_PARSE(HDR "  %y = relu %z : f32[B,3]\n", "  %y = relu %z : f32[B,3]\n              ^\n");
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
  printf("%d passed, %d failed\n", npass, nfail);
  return nfail ? 1 : 0;
}
