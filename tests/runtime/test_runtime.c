/* test_runtime.c — unit tests of libnnrt: Philox known answers, init,
 * the JSON parser, the thread pool, nnrt_sgemm and
 * command-line number parsing. The file formats (safetensors, .npy, IDX)
 * and data binding are tested in test_formats.c. Prints one line per test and closes with
 * "N passed, N failed"; exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Philox ---- */

static void test_philox(void) {
  /* Random123's kat_vectors for philox4x32_10. */
  static const uint32_t ctr[3][4] = {
      {0, 0, 0, 0}, {~0u, ~0u, ~0u, ~0u}, {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  static const uint32_t key[3][2] = {{0, 0}, {~0u, ~0u}, {0xa4093822, 0x299f31d0}};
  static const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                                      {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                                      {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  for (int i = 0; i < 3; i++) {
    uint32_t out[4];
    rt_philox4x32(ctr[i], key[i], out);
    CHECK(memcmp(out, want[i], sizeof out) == 0);
  }
  /* The stream reader walks the counter: number 4 is block 1, lane 0. */
  RtRng r;
  rt_rng_init(&r, 0, 0, 0);
  for (int i = 0; i < 4; i++)
    CHECK(rt_rng_u32(&r) == want[0][i]);
  uint32_t c1[4] = {1, 0, 0, 0}, k0[2] = {0, 0}, o1[4];
  rt_philox4x32(c1, k0, o1);
  CHECK(rt_rng_u32(&r) == o1[0]);
  CHECK(rt_u32_to_unit(0) == 0.0f && rt_u32_to_unit(~0u) < 1.0f);
}

static void test_rng_stats(void) {
  RtRng r;
  rt_rng_init(&r, 7, 3, RT_RNG_INIT);
  int counts[10] = {0};
  for (int i = 0; i < 100000; i++) {
    uint32_t v = rt_rng_below(&r, 10);
    CHECK(v < 10);
    counts[v < 10 ? v : 0]++;
  }
  for (int i = 0; i < 10; i++)
    CHECK(counts[i] > 9500 && counts[i] < 10500);
  double s = 0, s2 = 0;
  for (int i = 0; i < 50000; i++) {
    float a, b;
    rt_box_muller(rt_rng_u32(&r), rt_rng_u32(&r), &a, &b);
    CHECK(isfinite(a) && isfinite(b));
    s += a + b;
    s2 += a * a + b * b;
  }
  CHECK(fabs(s / 100000) < 0.02 && fabs(s2 / 100000 - 1) < 0.02);
}

static void test_shuffle(void) {
  enum { N = 1000 };
  static int32_t a[N], b[N], c[N];
  for (int i = 0; i < N; i++)
    a[i] = b[i] = c[i] = i;
  rt_shuffle(a, N, 42, 0, RT_RNG_SHUFFLE);
  rt_shuffle(b, N, 42, 0, RT_RNG_SHUFFLE);
  rt_shuffle(c, N, 42, 1, RT_RNG_SHUFFLE);
  CHECK(memcmp(a, b, sizeof a) == 0); /* deterministic */
  CHECK(memcmp(a, c, sizeof a) != 0); /* epochs differ */
  static char seen[N];
  int ok = 1, moved = 0;
  for (int i = 0; i < N; i++) {
    ok &= a[i] >= 0 && a[i] < N && !seen[a[i]];
    if (a[i] >= 0 && a[i] < N) seen[a[i]] = 1;
    moved += a[i] != i;
  }
  CHECK(ok && moved > N / 2);
}

/* ---- init ---- */

static const NnrtTensor tiny_globals[] = {
    {"a", NNRT_PARAM, NNRT_F32, 2, NNRT_INIT_HE_NORMAL, {300, 200}, 300, 0},
    {"b", NNRT_PARAM, NNRT_I32, 1, NNRT_INIT_ONES, {5}, 0, 0},
    {"we\"ird\\name\xc3\xa9", NNRT_PARAM, NNRT_F32, 1, NNRT_INIT_UNIFORM, {7}, -2, 3},
    {"a.m", NNRT_STATE, NNRT_F32, 2, NNRT_INIT_ONES, {300, 200}, 0, 0},
    {"opt.step", NNRT_STATE, NNRT_F32, 0, NNRT_INIT_ZEROS, {0}, 0, 0},
};
static const NnrtModel tiny = {
    .abi_version = NNRT_ABI_VERSION, .name = "tiny", .n_globals = 5, .globals = tiny_globals};


static void test_init(void) {
  RtError e = {0};
  RtGlobals g, h;
  CHECK(rt_globals_alloc(&g, &tiny, &e) == 0);
  CHECK(rt_globals_alloc(&h, &tiny, &e) == 0);
  for (int i = 0; i < g.n; i++)
    CHECK((uintptr_t)g.ptr[i] % RT_ALIGN == 0);
  CHECK(rt_globals_init(&g, &tiny, 5, &e) == 0);
  CHECK(rt_globals_init(&h, &tiny, 5, &e) == 0);
  CHECK(memcmp(g.base, h.base, g.bytes) == 0);
  const float *a = g.ptr[0];
  double s = 0, s2 = 0;
  for (int i = 0; i < 60000; i++)
    s += a[i], s2 += (double)a[i] * a[i];
  double sd = sqrt(s2 / 60000), want = sqrt(2.0 / 300);
  CHECK(fabs(s / 60000) < 0.01 * want * 10 && fabs(sd / want - 1) < 0.02);
  CHECK(((int32_t *)g.ptr[1])[4] == 1);
  const float *u = g.ptr[2];
  for (int i = 0; i < 7; i++)
    CHECK(u[i] >= -2 && u[i] < 3);
  CHECK(((float *)g.ptr[3])[123] == 0.0f); /* state is zeros whatever init says */
  /* The contract other devices reproduce: element i of global k is drawn
   * from u32 number i of the stream (seed, k, RT_RNG_INIT) alone. */
  RtRng r;
  rt_rng_init(&r, 5, 2, RT_RNG_INIT);
  for (int i = 0; i < 7; i++)
    CHECK(u[i] == (float)(-2.0 + 5.0 * rt_u32_to_unit(rt_rng_u32(&r))));
  CHECK(rt_globals_init(&h, &tiny, 6, &e) == 0); /* another seed, other values */
  CHECK(memcmp(g.ptr[0], h.ptr[0], 16) != 0);
  rt_globals_free(&g);
  rt_globals_free(&h);

  RtGlobals f;
  CHECK(rt_globals_alloc(&f, &nnrt_model, &e) == 0);
  CHECK(rt_globals_init(&f, &nnrt_model, 42, &e) == 0);
  float lim = sqrtf(6.0f / (784 + 10)), mx = 0;
  for (int64_t i = 0; i < f.numel[0]; i++)
    mx = fmaxf(mx, fabsf(((float *)f.ptr[0])[i]));
  CHECK(mx <= lim && mx > 0.9f * lim);
  CHECK(rt_globals_find_nonfinite(&f, &nnrt_model) == -1);
  ((float *)f.ptr[1])[3] = NAN;
  CHECK(rt_globals_find_nonfinite(&f, &nnrt_model) == 1);
  rt_globals_free(&f);
}

/* ---- JSON ---- */

static void test_json(void) {
  RtJsonDoc d;
  RtError e = {0};
  const char *ok = " {\"a\": [1, -2, 3.5e2, true, false, null], \"s\": \"x\\u00e9\\ud83d\\ude00\\n\", \"o\": {}, "
                   "\"big\": 99999999999999999999} ";
  CHECK(rt_json_parse(&d, ok, strlen(ok), 0, &e) == 0);
  const RtJson *root = rt_json_at(&d, 0);
  const RtJson *a = rt_json_get(&d, root, "a");
  CHECK(a && a->type == RT_JSON_ARR && a->len == 6);
  const RtJson *x = rt_json_at(&d, a->child);
  CHECK(x->is_int && x->ival == 1);
  x = rt_json_at(&d, x->next);
  CHECK(x->is_int && x->ival == -2);
  x = rt_json_at(&d, x->next);
  CHECK(!x->is_int && x->num == 350);
  const RtJson *s = rt_json_get(&d, root, "s");
  CHECK(s && strcmp(s->str, "x\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
  const RtJson *big = rt_json_get(&d, root, "big");
  CHECK(big && !big->is_int);
  CHECK(rt_json_get(&d, root, "missing") == NULL);
  rt_json_free(&d);

  static const char *bad[] = {"",        "{",        "{\"a\"}", "{\"a\":}",    "[1,]", "[01]", "{\"a\":1,}",
                              "\"\\x\"", "\"abc",    "tru",     "[1 2]",       "{} x", "-",    "1.",
                              "1e",      "\"\x01\"", "{1:2}",   "\"\\u12G4\"", "nul",  "[[]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = rt_json_parse(&d, bad[i], strlen(bad[i]), 0, &e);
    CHECK(rc == -1 && strstr(e.msg, "offset"));
  }
  /* Nesting bomb: refused, not a stack overflow. */
  char deep[20001];
  memset(deep, '[', 20000);
  deep[20000] = '\0';
  CHECK_ERR(rt_json_parse(&d, deep, 20000, 8, &e), e, "nested too deeply");
}

/* ---- pool ---- */

typedef struct {
  unsigned char *hits;
  atomic_llong sum;
  int nested;
} SumCtx;

static void inner(void *vctx, int64_t lo, int64_t hi) {
  atomic_llong *s = vctx;
  atomic_fetch_add(s, hi - lo);
}

static void sum_body(void *vctx, int64_t lo, int64_t hi) {
  SumCtx *c = vctx;
  long long s = 0;
  for (int64_t i = lo; i < hi; i++) {
    c->hits[i]++;
    s += i;
  }
  atomic_fetch_add(&c->sum, s);
  if (c->nested) { /* a loop inside a loop runs inline */
    atomic_llong k = 0;
    nnrt_parallel_for(inner, &k, 100, 1);
    if (atomic_load(&k) != 100) atomic_fetch_add(&c->sum, 1LL << 50);
  }
}

static void test_pool(void) {
  RtError e = {0};
  static unsigned char hits[100003];
  static const int64_t ns[] = {0, 1, 2, 7, 100, 1000, 100003};
  static const int64_t grains[] = {1, 7, 64, 1000};
  for (int threads = 1; threads <= 4; threads++) {
    CHECK(rt_pool_start(threads, &e) == 0 && rt_pool_threads() == threads);
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
      for (size_t b = 0; b < sizeof grains / sizeof grains[0]; b++)
        for (int nested = 0; nested < 2; nested++) {
          int64_t n = ns[a];
          memset(hits, 0, sizeof hits);
          SumCtx c = {hits, 0, nested};
          nnrt_parallel_for(sum_body, &c, n, grains[b]);
          int once = 1;
          for (int64_t i = 0; i < n; i++)
            once &= hits[i] == 1;
          CHECK(once && atomic_load(&c.sum) == n * (n - 1) / 2);
        }
    /* many tiny back-to-back loops: the dispatch protocol under stress */
    int ok = 1;
    for (int rep = 0; rep < 20000; rep++) {
      memset(hits, 0, 64);
      SumCtx c = {hits, 0, 0};
      nnrt_parallel_for(sum_body, &c, 64, 1);
      ok &= atomic_load(&c.sum) == 64 * 63 / 2;
    }
    CHECK(ok);
    rt_pool_stop();
  }
  /* without a pool: inline */
  memset(hits, 0, 10);
  SumCtx c = {hits, 0, 0};
  nnrt_parallel_for(sum_body, &c, 10, 1);
  CHECK(atomic_load(&c.sum) == 45);
}

/* ---- nnrt_sgemm ---- */

/* C = op(A) op(B) against a double-precision reference, for every ta/tb,
 * shapes that are cut by rows, by columns, or not at all, row strides wider
 * than the rows, and C's padding left alone; then bitwise the same C for
 * every thread count (OpenBLAS's own threading changed results with it). */
static void test_sgemm(void) {
  RtError e = {0};
  static const int64_t shapes[][3] = {{5, 3, 7}, {300, 70, 200}, {64, 700, 50}, {1000, 1000, 3}, {784, 256, 64}};
  int cut_rows = 0, cut_cols = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        int by_rows;
        int64_t nb = rt_gemm_blocks(m, n, k, &by_rows);
        cut_rows += nb > 1 && by_rows, cut_cols += nb > 1 && !by_rows;
        int64_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
        float *a = malloc(sizeof(float) * (size_t)((ta ? k : m) * lda));
        float *b = malloc(sizeof(float) * (size_t)((tb ? n : k) * ldb));
        float *c = malloc(sizeof(float) * (size_t)(m * ldc)), *c1 = malloc(sizeof(float) * (size_t)(m * ldc));
        RtRng r;
        rt_rng_init(&r, 7, (uint32_t)s, 0);
        for (int64_t i = 0; i < (ta ? k : m) * lda; i++)
          a[i] = rt_u32_to_unit(rt_rng_u32(&r)) - 0.5f;
        for (int64_t i = 0; i < (tb ? n : k) * ldb; i++)
          b[i] = rt_u32_to_unit(rt_rng_u32(&r)) - 0.5f;
        int ok = 1, same = 1;
        for (int threads = 1; threads <= 4; threads++) {
          CHECK(rt_pool_start(threads, &e) == 0);
          for (int64_t i = 0; i < m * ldc; i++)
            c[i] = NAN; /* beta = 0 must not read C, and the padding stays */
          nnrt_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
          rt_pool_stop();
          if (threads == 1) {
            for (int64_t i = 0; i < m && ok; i++)
              for (int64_t j = 0; j < ldc && ok; j++) {
                if (j >= n) {
                  ok = isnan(c[i * ldc + j]);
                  continue;
                }
                double want = 0;
                for (int64_t q = 0; q < k; q++)
                  want += (double)(ta ? a[q * lda + i] : a[i * lda + q]) * (tb ? b[j * ldb + q] : b[q * ldb + j]);
                ok = fabs(c[i * ldc + j] - want) <= 1e-4 * (1 + sqrt((double)k));
              }
            memcpy(c1, c, sizeof(float) * (size_t)(m * ldc));
          } else {
            for (int64_t i = 0; i < m; i++)
              same &= memcmp(c1 + i * ldc, c + i * ldc, sizeof(float) * (size_t)n) == 0;
          }
        }
        if (!ok || !same)
          fprintf(stderr, "sgemm %lldx%lldx%lld ta=%d tb=%d: %s\n", (long long)m, (long long)n, (long long)k, ta, tb,
                  !ok ? "wrong" : "depends on the thread count");
        CHECK(ok && same);
        free(a), free(b), free(c), free(c1);
      }
  CHECK(cut_rows > 0 && cut_cols > 0); /* both cuts were exercised */
}

static void test_parse(void) {
  int64_t v;
  double d;
  uint64_t u;
  CHECK(rt_parse_i64("12", 1, 100, &v) == 0 && v == 12);
  CHECK(rt_parse_i64("12x", 1, 100, &v) == -1);
  CHECK(rt_parse_i64("", 1, 100, &v) == -1);
  CHECK(rt_parse_i64("0", 1, 100, &v) == -1);
  CHECK(rt_parse_i64("99999999999999999999", 1, INT64_MAX, &v) == -1);
  CHECK(rt_parse_f64("1e-3", &d) == 0 && d == 1e-3);
  CHECK(rt_parse_f64("nan", &d) == -1 && rt_parse_f64("1e999", &d) == -1);
  CHECK(rt_parse_u64("18446744073709551615", &u) == 0 && u == UINT64_MAX);
  CHECK(rt_parse_u64("-1", &u) == -1);
  char b[64];
  int64_t dims[3] = {60000, 28, 28};
  CHECK(strcmp(rt_shape_str(b, sizeof b, 3, dims), "[60000, 28, 28]") == 0);
  CHECK(strcmp(rt_shape_str(b, sizeof b, 0, dims), "[]") == 0);
}

int main(void) {
  static const CheckTest tests[] = {
      {"philox", test_philox},     {"rng_stats", test_rng_stats}, {"shuffle", test_shuffle},
      {"init", test_init},         {"json", test_json},
      {"pool", test_pool},         {"sgemm", test_sgemm},         {"parse", test_parse},
  };
  return check_main(tests, sizeof tests / sizeof tests[0], "nnrt_test");
}
