/* test_ir_random.c — the IR text format against random input: a few
 * hundred random modules (random ops, names that need repair, inputs placed
 * anywhere, fusion groups and memory plans from the passes) round-trip; and
 * random bytes, truncations and mutations of valid text never crash the
 * parser, and whatever it accepts verifies and round-trips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_ir.h"

/* ---- random modules ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

void test_ir_seed(uint64_t seed) { rng_state = seed | 1; }
static uint32_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 2685821657736338717u) >> 32);
}
static int rndn(int n) { return (int)(rnd() % (uint32_t)n); }

static IrModule *random_module(Arena *a) {
  IrModule *m = ir_module_new(a, "rnd");
  int64_t B = IR_SYM(ir_sym(m, "B"));
  if (rndn(2)) ir_sym(m, "T");
  if (rndn(2))
    m->train = (IrTrain){
        .present = true,
        .opt = OPT_SGD,
        .lr = rndn(1000) * 1e-4,
        .batch = rndn(512),
        .data = (const char *[]){"path/to data\"x\".csv", NULL, ".hidden", "mnist", "\xc3\xa9t\xc3\xa9"}[rndn(5)],
        .task = rndn(3),
        .seed = rnd()};
  const Type pool[] = {T(DT_F32, 2, D(4), D(3)),
                       T(DT_F32, 1, D(3)),
                       T(DT_F32, 0),
                       T(DT_F32, 2, B, D(3)),
                       T(DT_F32, 2, B, D(4)),
                       T(DT_I32, 1, D(4)),
                       T(DT_I32, 1, B),
                       T(DT_F32, 2, D(4), D(10)),
                       T(DT_F32, 1, D(12)),
                       T(DT_F32, 2, D(3), D(4)),
                       T(DT_F32, 3, D(4), D(1), D(3)),
                       T(DT_F32, 2, D(1), D(3)),
                       T(DT_I8, 2, B, D(3)),
                       T(DT_U8, 1, D(3)),
                       T(DT_I64, 1, B)};
  const int npool = (int)(sizeof pool / sizeof pool[0]);
  global(m, "g.a", GLOBAL_PARAM, pool[0], NNRT_INIT_NORMAL, 0, 0.1);
  global(m, "g.b", GLOBAL_STATE, pool[1], NNRT_INIT_ZEROS, 0, 0);
  global(m, "s", GLOBAL_STATE, pool[2], NNRT_INIT_HE_NORMAL, 7, 0);
  static const double values[] = {0, -0.0, 1, 0.1, -2.5, 1e-8, 3.4028235e38, 1e-45, 12345.678, 1e300};
  static const char *const names[] = {"h", "h", "x.1", "9", "a-b", "weird name", "tmp", "7", "logits"};
  for (int fi = 0, nf = 1 + rndn(2); fi < nf; fi++) {
    IrFunc *f = ir_func_new(m, fi ? "g" : "f");
    int ninputs = rndn(4), len = 1 + rndn(30);
    for (int step = 0, tries = 0; step < len && tries < 2000; tries++) {
      if (ninputs && rndn(5) == 0) {
        int v = ir_input(f, names[rndn(9)], pool[rndn(npool)], L0);
        if (rndn(4) == 0) name(f, v, NULL);
        ninputs--, step++;
        continue;
      }
      OpKind op = (OpKind)(1 + rndn(OP_COUNT - 1));
      if (op == OP_SCAN || op == OP_SCAN_OUT) continue; /* they need a body function */
      int args[IR_MAX_ARGS], nargs = ir_ops[op].nargs, ok = 1;
      for (int k = 0; k < nargs && ok; k++) {
        ok = f->n > 0;
        if (ok) args[k] = rndn(f->n);
        ok = ok && f->nodes[args[k]].op != OP_STORE;
      }
      if (!ok) continue;
      Attrs at = {.value = values[rndn(10)], .axis = rndn(3), .keepdims = rndn(2), .ta = rndn(2), .tb = rndn(2)};
      int g = rndn(m->nglobals), rank = nargs ? f->nodes[args[0]].ty.sh.rank : 0;
      at.name = m->globals[g].name;
      if (ir_ops[op].attrs & A_PERM) { /* a random permutation of the operand's axes */
        at.naxes = rank;
        for (int i = 0; i < rank; i++)
          at.axes[i] = i;
        for (int i = rank - 1; i > 0; i--) {
          int j = rndn(i + 1), tmp = at.axes[i];
          at.axes[i] = at.axes[j], at.axes[j] = tmp;
        }
      } else {
        for (int i = 0; i < rank; i++)
          if (rndn(2)) at.axes[at.naxes++] = i;
      }
      Type hint = op == OP_GLOBAL ? m->globals[g].ty : pool[rndn(npool)];
      int v = ir_emit(f, op, args, nargs, &at, &hint, L0, NULL);
      if (v < 0) continue;
      if (rndn(2) && op != OP_STORE) name(f, v, names[rndn(9)]);
      step++;
    }
    for (int r = 0, nr = rndn(3); r < nr && f->n; r++) {
      int v = rndn(f->n);
      if (f->nodes[v].op != OP_STORE) ir_ret(f, v);
    }
  }
  /* Fusion groups (and half the time a memory plan) print and read back;
   * they come from the passes, since a random grouping breaks the rule. */
  Diag d;
  diag_capture(&d);
  PassCtx pc = {.diag = &d};
  if (rndn(2)) pass_fuse(m, &pc);
  if (rndn(2)) pass_plan_memory(m, &pc);
  free(diag_text(&d));
  return m;
}

void test_random_roundtrip(void) {
  int bad = 0;
  for (int i = 0; i < 400; i++) {
    Arena *a = arena_new();
    IrModule *m = random_module(a);
    if (!roundtrip_ok(m, "a random module")) bad++;
    arena_free(a);
    if (bad > 3) break;
  }
  CHECK(bad == 0);
}

/* ---- fuzzing ---- */

static int fuzz_runs, fuzz_parsed;

/* Parses text; whatever is accepted must verify and round-trip. */
static bool survives(const char *text, size_t len) {
  Arena *a = arena_new();
  Diag d;
  diag_capture(&d);
  IrModule *m = ir_parse(a, &d, "fuzz", text, len);
  bool ok = !m || roundtrip_ok(m, "a fuzzed text");
  fuzz_runs++, fuzz_parsed += m != NULL;
  fclose(d.out);
  arena_free(a);
  return ok;
}

void test_fuzz(void) {
  static const char *const dict[] = {"%",  "@",   "{",   "}",           "[",      "]",    ",",      ":",     "=",
                                     "->", "f32", "i32", "B",           "axes=[", "-",    "1e999",  "nan",   "-inf",
                                     "\"", "#",   "\n",  "99999999999", "%0",     "%1",   "return", "store", "func",
                                     "0",  "1",   "(",   ")",           "\\",     "\xff", "%x",     "{group=1}"};
  int bad = 0;
  Arena *a = arena_new();
  char *valid = print_str(build_mlp(a));
  char *ops = print_str(build_every_op(a));
  arena_free(a);
  size_t n = strlen(valid);
  char *buf = malloc(n + 256);
  /* Every truncation of a valid file. */
  for (size_t k = 0; k <= n; k++)
    bad += !survives(valid, k);
  for (size_t k = 0, m = strlen(ops); k <= m; k += 3)
    bad += !survives(ops, k);
  /* Random bytes, mostly from the format's own alphabet. */
  for (int it = 0; it < 3000; it++) {
    size_t len = (size_t)rndn(200);
    for (size_t i = 0; i < len; i++)
      buf[i] = rndn(4) ? "module fsym B%@{}[],:=->0123456789.e\n #\"xlt"[rndn(44)] : (char)rndn(256);
    bad += !survives(buf, len);
  }
  /* Mutations of a valid file: a byte changed, dropped, or a token inserted. */
  for (int it = 0; it < 4000; it++) {
    memcpy(buf, valid, n);
    size_t len = n;
    for (int k = 0, nm = 1 + rndn(3); k < nm; k++) {
      size_t at = (size_t)rndn((int)len);
      int what = rndn(3);
      if (what == 0)
        buf[at] = (char)rndn(256);
      else if (what == 1)
        memmove(buf + at, buf + at + 1, --len - at);
      else if (len + 16 < n + 256) {
        const char *w = dict[rndn((int)(sizeof dict / sizeof dict[0]))];
        size_t wl = strlen(w);
        memmove(buf + at + wl, buf + at, len - at);
        memcpy(buf + at, w, wl);
        len += wl;
      }
    }
    bad += !survives(buf, len);
  }
  CHECK(bad == 0);
  printf("fuzz: %d inputs, %d parsed\n", fuzz_runs, fuzz_parsed);
  free(buf);
  free(valid);
  free(ops);
}

