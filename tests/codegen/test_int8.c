/* test_int8.c — the int8 ops through the CPU backend: qmatmul and qconv2d
 * (k_int8.c) bit for bit against the interpreter's exact integer sums, on
 * the vpdpbusd path (when this CPU has AVX-512 VNNI) and the portable one
 * (--no-vnni), with u8/i8 data whose ends (0, 255, -128, 127) come up one
 * time in four, and K, N, M not multiples of 4 or of the tile; quantize and
 * dequantize in elementwise kernels (fused with a bias add and a relu);
 * rounding against numpy's (round half to even), with an i32 sum that
 * wraps; and qmatmul's epilogue (dequantize and what follows, on each block
 * of rows of the product) against the interpreter and bit for bit against
 * the unfused kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Every dot path at -O2: vpdpbusd (when this CPU has AVX-512 VNNI), the
 * portable code with this CPU's tiles, and with generic x86-64 tiles. */
static void check_paths(IrModule *m, CheckOpts o, const char *what) {
  static const char *const paths[3] = {"vnni if the CPU has it", "portable", "portable, generic x86-64"};
  char name[200];
  for (int path = 0; path < 3; path++) {
    o.no_vnni = path > 0;
    o.generic = path == 2;
    o.full_ints = true;
    snprintf(name, sizeof name, "%s (%s)", what, paths[path]);
    EXPECT(cg_check(m, &o, name), "%s", name);
  }
}

static void test_qmatmul(void) {
  static const struct {
    int64_t M, K, N;
    int tb;
  } cases[] = {{7, 13, 37, 0}, {7, 13, 37, 1}, {33, 784, 256, 0}, {5, 1, 16, 0}, {3, 2, 10, 1},
               {25, 3, 70, 0}, {64, 64, 64, 1}, {1, 4, 1, 0},     {13, 130, 200, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t M = cases[i].M, K = cases[i].K, N = cases[i].N;
    int tb = cases[i].tb;
    char text[600], what[120];
    snprintf(text, sizeof text,
             "module qm\nsym B\nfunc forward(%%a: u8[B,%lld], %%w: i8[%lld,%lld]) -> (i32[B,%lld]) {\n"
             "  %%y = qmatmul %%a, %%w {ta=0, tb=%d} : i32[B,%lld]\n  return %%y\n}\n",
             (long long)K, (long long)(tb ? N : K), (long long)(tb ? K : N), (long long)N, tb, (long long)N);
    IrModule *m = t_parse(text);
    snprintf(what, sizeof what, "qmatmul M=%lld K=%lld N=%lld tb=%d", (long long)M, (long long)K, (long long)N, tb);
    if (m) check_paths(m, (CheckOpts){.syms = {M}}, what);
  }
  /* A batch of rows: [B,5,16] x [16,4] is one product of 5B rows. */
  IrModule *m = t_parse("module qm3\nsym B\nfunc forward(%a: u8[B,5,16], %w: i8[16,4]) -> (i32[B,5,4]) {\n"
                        "  %y = qmatmul %a, %w {ta=0, tb=0} : i32[B,5,4]\n  return %y\n}\n");
  if (m) check_paths(m, (CheckOpts){.syms = {3}}, "qmatmul of a batch of rows");
  if (m) EXPECT(cg_check(m, &(CheckOpts){.syms = {3}, .full_ints = true, .opt_set = true}, "qmatmul at -O0"), "-O0");
}

static void test_qconv2d(void) {
  static const struct {
    int64_t N, C, H, W, F, k;
    int stride, pad, zp;
  } cases[] = {{2, 3, 9, 9, 5, 3, 1, 1, 7},    {2, 3, 9, 9, 5, 3, 2, 1, 200}, {1, 1, 28, 28, 8, 3, 1, 1, 128},
               {2, 4, 5, 5, 17, 1, 1, 0, 0},   {3, 2, 4, 4, 3, 3, 1, 0, 255}, {2, 32, 7, 7, 16, 3, 1, 1, 3},
               {1, 2, 6, 11, 7, 5, 2, 2, 90}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t C = cases[i].C, H = cases[i].H, W = cases[i].W, F = cases[i].F, k = cases[i].k;
    int s = cases[i].stride, pad = cases[i].pad;
    int64_t OH = ir_window_out(H, (int)k, s, pad), OW = ir_window_out(W, (int)k, s, pad);
    char text[700], what[160];
    snprintf(text, sizeof text,
             "module qc\nsym B\nfunc forward(%%x: u8[B,%lld,%lld,%lld], %%w: i8[%lld,%lld,%lld,%lld]) -> "
             "(i32[B,%lld,%lld,%lld]) {\n"
             "  %%y = qconv2d %%x, %%w {value=%d, stride=%d, pad=%d} : i32[B,%lld,%lld,%lld]\n  return %%y\n}\n",
             (long long)C, (long long)H, (long long)W, (long long)F, (long long)C, (long long)k, (long long)k,
             (long long)F, (long long)OH, (long long)OW, cases[i].zp, s, pad, (long long)F, (long long)OH,
             (long long)OW);
    IrModule *m = t_parse(text);
    snprintf(what, sizeof what, "qconv2d x[%lld,%lld,%lld,%lld] w[%lld,%lld,%lld,%lld] stride %d pad %d zero point %d",
             (long long)cases[i].N, (long long)C, (long long)H, (long long)W, (long long)F, (long long)C, (long long)k,
             (long long)k, s, pad, cases[i].zp);
    if (m) check_paths(m, (CheckOpts){.syms = {cases[i].N}}, what);
  }
}

/* quantize by a scalar and by per-channel scales, and dequantize, then
 * bias + relu + quantize: the chain the quantize pass writes between two
 * int8 layers. The dequantize scale is a power of two and the bias an
 * integer, so every value is exact in f32 and the interpreter's doubles. */
static const char *chain =
    "module qchain\nsym B\n"
    "func forward(%x: f32[B,20], %a: i32[B,20], %comp: i32[20], %s: f32[20], %bi: i8[20]) -> "
    "(u8[B,20], i8[B,20], f32[B,20], u8[B,20]) {\n"
    "  %k = const {value=0.03125} : f32[]\n"
    "  %q = quantize %x, %k {value=128} : u8[B,20]\n"
    "  %q2 = quantize %x, %s {value=-5} : i8[B,20]\n"
    "  %ds = const {value=0.0625} : f32[]\n"
    "  %y = dequantize %a, %comp, %ds : f32[B,20]\n"
    "  %b = cast %bi : f32[20]\n"
    "  %z = add %y, %b : f32[B,20]\n"
    "  %r = relu %z : f32[B,20]\n"
    "  %q3 = quantize %r, %k {value=3} : u8[B,20]\n"
    "  return %q, %q2, %y, %q3\n}\n";

static void test_ew(void) {
  IrModule *m = t_parse(chain);
  if (!m) return;
  t_check3(m, (CheckOpts){.syms = {5}, .full_ints = true}, "quantize and dequantize");
  /* dequantize, the bias add, relu and the next quantize: one loop nest */
  t_set_fused(m, true);
  const IrFunc *f = ir_func_find(m, IR_FN_FORWARD);
  int g = -1, members = 0;
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_DEQUANTIZE) g = f->nodes[i].group;
  for (int i = 0; i < f->n; i++)
    members += g >= 0 && f->nodes[i].group == g;
  EXPECT(g >= 0 && members == 5, "dequantize, cast, add, relu, quantize fused: group %d has %d members", g, members);
  int nfused = 0;
  t_kernels(m, IR_FN_FORWARD, &nfused);
  EXPECT(nfused == 1, "one fused kernel, got %d", nfused);
}

/* ---- exact values ---- */

typedef void (*StepFn)(void **, const int64_t *, void *);
typedef int64_t (*WsFn)(const int64_t *);

/* Runs m's forward once on args (inputs then outputs) with B = batch,
 * compiled with or without VNNI; false when it does not compile. */
static bool run_batch(IrModule *m, bool no_vnni, int64_t batch, void **args) {
  CgOptions o = {.opt_level = 2, .cpu_native = true, .no_vnni = no_vnni};
  StepFn fn = (StepFn)(uintptr_t)jit_lookup_cg(m, &o, "nnc_forward");
  WsFn ws = fn ? (WsFn)(uintptr_t)jit_lookup(NULL, 0, "nnc_forward_workspace") : NULL;
  if (!ws) return false;
  int64_t syms[1] = {batch};
  void *w = aligned_alloc(64, (size_t)(ws(syms) + 64));
  fn(args, syms, w);
  free(w);
  return true;
}

static bool run(IrModule *m, bool no_vnni, void **args) { return run_batch(m, no_vnni, 0, args); }

/* Ties go to even, as numpy's round does: np.clip(np.round(x / s) + Z, lo,
 * hi) for float32 x and s (the expected rows below are its output). */
static void test_rounding(void) {
  static const float x[16] = {-2.5f,  -1.5f,  -0.5f, 0.5f,        1.5f,   2.5f,   3.5f, 126.5f,
                              127.5f, -128.5f, -129.5f, 0.49999997f, 254.5f, 255.5f, 1e30f, -1e30f};
  static const struct {
    const char *type;
    int zp;
    float scale;
    int want[16];
  } cases[] = {
      {"i8", 0, 1, {-2, -2, 0, 0, 2, 2, 4, 126, 127, -128, -128, 0, 127, 127, 127, -128}},
      {"u8", 128, 1, {126, 126, 128, 128, 130, 130, 132, 254, 255, 0, 0, 128, 255, 255, 255, 0}},
      {"i8", -3, 1, {-5, -5, -3, -3, -1, -1, 1, 123, 125, -128, -128, -3, 127, 127, 127, -128}},
      {"u8", 1, 0.5f, {0, 0, 0, 2, 4, 6, 8, 254, 255, 0, 0, 2, 255, 255, 255, 0}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[400];
    snprintf(text, sizeof text,
             "module qr\nfunc forward(%%x: f32[17], %%s: f32[]) -> (%s[17]) {\n"
             "  %%q = quantize %%x, %%s {value=%d} : %s[17]\n  return %%q\n}\n",
             cases[i].type, cases[i].zp, cases[i].type);
    IrModule *m = t_parse(text);
    if (!m) continue;
    float in[17], s = cases[i].scale;
    memcpy(in, x, sizeof x);
    in[16] = NAN; /* a NaN quantizes to the type's lowest value */
    bool u8 = cases[i].type[0] == 'u';
    int lowest = u8 ? 0 : -128;
    unsigned char out[17];
    double ref_in[17], ref_s = s, ref_out[17];
    for (int k = 0; k < 17; k++) ref_in[k] = in[k];
    char err[200];
    bool iok = ir_interp(ir_func_find(m, IR_FN_FORWARD), NULL, NULL, (double *const[]){ref_in, &ref_s},
                         (double *const[]){ref_out}, err, sizeof err);
    EXPECT(iok, "interpreter: %s", err);
    for (int portable = 0; portable < 2; portable++) {
      memset(out, 0xee, sizeof out);
      EXPECT(run(m, portable, (void *[]){in, &s, out}), "quantize compiles");
      for (int k = 0; k < 17; k++) {
        int got = u8 ? out[k] : (signed char)out[k], want = k < 16 ? cases[i].want[k] : lowest;
        EXPECT(got == want && ref_out[k] == want, "quantize %s Z=%d s=%g of %g: kernel %d, interpreter %g, numpy %d",
               cases[i].type, cases[i].zp, s, in[k], got, ref_out[k], want);
      }
    }
  }
  /* dequantize: the difference wraps in i32, then rounds to f32 (numpy:
   * (a - c).astype(np.float32) * s with int32 a, c). */
  IrModule *m = t_parse("module dq\nfunc forward(%a: i32[6], %c: i32[6], %s: f32[6]) -> (f32[6]) {\n"
                        "  %y = dequantize %a, %c, %s : f32[6]\n  return %y\n}\n");
  if (!m) return;
  int32_t a[6] = {16777217, INT32_MIN, INT32_MAX, 5, -7, 123456789}, c[6] = {0, 1, -1, 5, 9, -3};
  float s[6] = {1, 1, 1, 0.1f, 0.3f, 0.001f}, y[6];
  static const float want[6] = {16777216.0f, 2147483648.0f, -2147483648.0f, 0.0f, -4.800000190734863f, 123456.796875f};
  EXPECT(run(m, false, (void *[]){a, c, s, y}), "dequantize compiles");
  for (int k = 0; k < 6; k++) EXPECT(y[k] == want[k], "dequantize %d - %d times %g: %.9g, numpy %.9g", a[k], c[k], s[k], y[k], want[k]);
}

/* 255 x -128 summed 70000 times is below -2^31: the i32 sum wraps (the
 * interpreter's rule, and C's int32 arithmetic below). */
static void test_wrap(void) {
  enum { K = 70000, N = 3 };
  IrModule *m = t_parse("module wrap\nfunc forward(%a: u8[2,70000], %w: i8[70000,3]) -> (i32[2,3]) {\n"
                        "  %y = qmatmul %a, %w {ta=0, tb=0} : i32[2,3]\n  return %y\n}\n");
  if (!m) return;
  unsigned char *a = malloc(2 * K);
  signed char *w = malloc((size_t)K * N);
  memset(a, 255, 2 * K), memset(w, -128, (size_t)K * N);
  a[K] = 1; /* row 1 starts with a 1: its sums differ by 254 * 128 */
  int64_t exact = (int64_t)255 * -128 * K;
  int32_t want0 = (int32_t)(uint32_t)(uint64_t)exact, want1 = (int32_t)(uint32_t)(uint64_t)(exact + 254 * 128);
  for (int portable = 0; portable < 2; portable++) {
    int32_t y[2 * N] = {0};
    EXPECT(run(m, portable, (void *[]){a, w, y}), "qmatmul compiles");
    for (int j = 0; j < N; j++)
      EXPECT(y[j] == want0 && y[N + j] == want1, "wrapped sums %d %d, want %d %d", y[j], y[N + j], want0, want1);
  }
  free(a), free(w);
}

/* ---- qmatmul's epilogue ---- */

/* Two int8 layers as the quantize pass writes them: with qepilogue each
 * qmatmul roots its users (dequantize, the bias, relu, the next quantize),
 * which k_int8.c runs on each block of rows of the product right after
 * computing it. The first layer's u8 output is returned too (an export of
 * the epilogue that the next product reads). */
static const char *qmlp =
    "module qmlp\nsym B\n"
    "func forward(%x: u8[B,45], %w1: i8[45,37], %c1: i32[37], %s1: f32[37], %b1: f32[37], %w2: i8[10,37], "
    "%c2: i32[10], %s2: f32[10]) -> (f32[B,10], u8[B,37]) {\n"
    "  %k = const {value=0.5} : f32[]\n"
    "  %a1 = qmatmul %x, %w1 {ta=0, tb=0} : i32[B,37]\n"
    "  %y1 = dequantize %a1, %c1, %s1 : f32[B,37]\n"
    "  %z1 = add %y1, %b1 : f32[B,37]\n"
    "  %h = relu %z1 : f32[B,37]\n"
    "  %q = quantize %h, %k {value=128} : u8[B,37]\n"
    "  %a2 = qmatmul %q, %w2 {ta=0, tb=1} : i32[B,10]\n"
    "  %y2 = dequantize %a2, %c2, %s2 : f32[B,10]\n"
    "  return %y2, %q\n}\n";

static uint32_t lcg(uint64_t *st) { return (uint32_t)((*st = *st * 6364136223846793005ull + 1442695040888963407ull) >> 33); }

/* One forward of qmlp at batch B on fixed pseudo-random data; the outputs
 * into y (B x 10 f32) and q (B x 37 u8). */
static bool run_qmlp(IrModule *m, bool no_vnni, int64_t B, float *y, unsigned char *q) {
  uint64_t st = 12345;
  unsigned char *x = malloc((size_t)B * 45);
  signed char w1[45 * 37], w2[10 * 37];
  int32_t c1[37], c2[10];
  float s1[37], b1[37], s2[10];
  for (int64_t i = 0; i < B * 45; i++) x[i] = (unsigned char)lcg(&st);
  for (int i = 0; i < 45 * 37; i++) w1[i] = (signed char)lcg(&st);
  for (int i = 0; i < 10 * 37; i++) w2[i] = (signed char)lcg(&st);
  for (int i = 0; i < 37; i++)
    c1[i] = (int32_t)(lcg(&st) % 20000) - 10000, s1[i] = (float)(lcg(&st) % 1000 + 1) * 1e-6f,
    b1[i] = (float)((int)(lcg(&st) % 200) - 100) * 0.01f;
  for (int i = 0; i < 10; i++) c2[i] = (int32_t)(lcg(&st) % 2000) - 1000, s2[i] = (float)(lcg(&st) % 1000 + 1) * 1e-5f;
  bool ok = run_batch(m, no_vnni, B, (void *[]){x, w1, c1, s1, b1, w2, c2, s2, y, q});
  free(x);
  return ok;
}

static void test_epilogue(void) {
  IrModule *m = t_parse(qmlp);
  if (!m) return;
  /* Against the interpreter, unfused and fused, on every dot path; B = 29
   * ends in a partial block of rows. */
  t_set_fused(m, false);
  check_paths(m, (CheckOpts){.syms = {29}}, "int8 MLP (unfused)");
  t_set_fused(m, true);
  const IrFunc *f = ir_func_find(m, IR_FN_FORWARD);
  int groups[2] = {-1, -1}, nq = 0, members[2] = {0, 0};
  for (int i = 0; i < f->n; i++)
    if (f->nodes[i].op == OP_QMATMUL && nq < 2) groups[nq++] = f->nodes[i].group;
  for (int i = 0; i < f->n; i++)
    for (int j = 0; j < 2; j++)
      members[j] += groups[j] >= 0 && f->nodes[i].group == groups[j];
  EXPECT(groups[0] >= 0 && groups[1] >= 0 && members[0] == 5 && members[1] == 2,
         "each qmatmul roots its epilogue: groups %d (%d members), %d (%d members)", groups[0], members[0], groups[1],
         members[1]);
  int nfused = 0, nk = t_kernels(m, IR_FN_FORWARD, &nfused);
  EXPECT(nk == 2 && nfused == 2, "two kernels, each a qmatmul with its epilogue: %d kernels, %d fused", nk, nfused);
  check_paths(m, (CheckOpts){.syms = {29}}, "int8 MLP (qmatmul epilogues)");

  /* Fused and unfused give the same bits, and so do other cuts of the row
   * blocks among the pool's tasks (the test pool runs them last to first). */
  for (int portable = 0; portable < 2; portable++)
    for (int64_t B = 1; B <= 64; B += 21) {
      float *y[3];
      unsigned char *q[3];
      for (int v = 0; v < 3; v++) {
        y[v] = malloc(sizeof(float) * (size_t)B * 10), q[v] = malloc((size_t)B * 37);
        t_set_fused(m, v > 0);
        hk_grain = v == 2 ? 1 : 0;
        EXPECT(run_qmlp(m, portable, B, y[v], q[v]), "int8 MLP compiles");
      }
      hk_grain = 0;
      for (int v = 1; v < 3; v++)
        EXPECT(!memcmp(y[0], y[v], sizeof(float) * (size_t)B * 10) && !memcmp(q[0], q[v], (size_t)B * 37),
               "int8 MLP B=%lld%s: fused%s differs from unfused in its bits", (long long)B,
               portable ? " (portable)" : "", v == 2 ? " (one row block per task)" : "");
      for (int v = 0; v < 3; v++) free(y[v]), free(q[v]);
    }
}

void test_int8(void) {
  test_qmatmul();
  test_qconv2d();
  test_ew();
  test_rounding();
  test_wrap();
  test_epilogue();
}
