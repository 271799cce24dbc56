/* test_runtime.c — unit tests of libnnrt: Philox known answers, init,
 * the JSON parser, the thread pool, nnrt_sgemm, nnrt_sgemm_ep and nnrt_sgemm_batch, command-line number
 * parsing, and eval's classification report and binary scoring. The file formats (safetensors, .npy, IDX)
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
    {"bn.running_var", NNRT_STATS, NNRT_F32, 1, NNRT_INIT_ONES, {3}, 0, 0},
};
static const NnrtModel tiny = {
    .abi_version = NNRT_ABI_VERSION, .name = "tiny", .n_globals = 6, .globals = tiny_globals};

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
  CHECK(((float *)g.ptr[5])[2] == 1.0f);   /* a layer's statistics start as their init says */
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

  /* orthogonal: wide [6,20] has orthonormal rows, tall [20,6] orthonormal
   * columns; unit_forget_bias [4*3]: ones on [3, 6) only. */
  static const NnrtTensor orth_globals[] = {
      {"wide", NNRT_PARAM, NNRT_F32, 2, NNRT_INIT_ORTHOGONAL, {6, 20}, 0, 0},
      {"tall", NNRT_PARAM, NNRT_F32, 2, NNRT_INIT_ORTHOGONAL, {20, 6}, 0, 0},
      {"bias", NNRT_PARAM, NNRT_F32, 1, NNRT_INIT_UNIT_FORGET, {12}, 3, 0},
  };
  static const NnrtModel orth = {.abi_version = NNRT_ABI_VERSION, .name = "orth", .n_globals = 3, .globals = orth_globals};
  RtGlobals o;
  CHECK(rt_globals_alloc(&o, &orth, &e) == 0);
  CHECK(rt_globals_init(&o, &orth, 7, &e) == 0);
  const float *w = o.ptr[0], *t = o.ptr[1], *bias = o.ptr[2];
  double worst = 0;
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      double rw = 0, ct = 0; /* row i . row j of wide; column i . column j of tall */
      for (int k = 0; k < 20; k++) rw += (double)w[i * 20 + k] * w[j * 20 + k], ct += (double)t[k * 6 + i] * t[k * 6 + j];
      worst = fmax(worst, fmax(fabs(rw - (i == j)), fabs(ct - (i == j))));
    }
  CHECK(worst < 1e-5);
  for (int i = 0; i < 12; i++) CHECK(bias[i] == (i >= 3 && i < 6 ? 1.0f : 0.0f));
  rt_globals_free(&o);

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
  /* 13 threads: more chunks than a job's mask holds (MAX_CHUNKS), capped */
  static const int thread_counts[] = {1, 2, 3, 4, 13};
  for (size_t tc = 0; tc < sizeof thread_counts / sizeof thread_counts[0]; tc++) {
    int threads = thread_counts[tc];
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

/* nnrt_parallel_multi: several loops as one job, each element of each
 * visited exactly once, for every thread count; empty loops, a grain of 0
 * (taken as 1), and more loops than one job holds (256). */
static void test_pool_multi(void) {
  RtError e = {0};
  enum { NT = 300 };
  static unsigned char hits[NT][1000];
  static SumCtx ctx[NT];
  static NnrtTask t[NT];
  for (int threads = 1; threads <= 3; threads++) {
    CHECK(rt_pool_start(threads, &e) == 0);
    for (int ntasks = 1; ntasks <= NT; ntasks += 37) {
      memset(hits, 0, sizeof hits);
      for (int i = 0; i < ntasks; i++) {
        ctx[i] = (SumCtx){hits[i], 0, 0};
        t[i] = (NnrtTask){sum_body, &ctx[i], (i * 7919) % 1000, i % 5 == 0 ? 0 : 1 + i % 97};
      }
      nnrt_parallel_multi(t, ntasks);
      int once = 1;
      for (int i = 0; i < ntasks; i++) {
        for (int64_t k = 0; k < t[i].n; k++)
          once &= hits[i][k] == 1;
        once &= atomic_load(&ctx[i].sum) == t[i].n * (t[i].n - 1) / 2;
      }
      CHECK(once);
    }
    rt_pool_stop();
  }
}

/* ---- nnrt_sgemm ---- */

/* C = op(A) op(B) against a double-precision reference, for every ta/tb,
 * shapes that are cut by rows, by columns, along K (partial products) or
 * not at all, row strides wider than the rows, and C's padding left alone;
 * then bitwise the same C for every thread count (OpenBLAS's own threading
 * changed results with it); then C = 2 op(A) op(B) + 0.5 C over that C
 * (a K cut's first block takes beta, the others add to it). */
static void test_sgemm(void) {
  RtError e = {0};
  static const int64_t shapes[][3] = {{5, 3, 7},       {300, 70, 200}, {64, 700, 50},
                                      {1000, 1000, 3}, {784, 256, 64}, {64, 256, 784}};
  int cuts[3] = {0};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        RtGemmCut cut;
        if (rt_gemm_cut(ta, tb, m, n, k, 0, &cut) > 1) cuts[cut]++;
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
        CHECK(rt_pool_start(2, &e) == 0);
        nnrt_sgemm(ta, tb, m, n, k, 2.0f, a, lda, b, ldb, 0.5f, c, ldc);
        rt_pool_stop();
        for (int64_t i = 0; i < m && ok; i++)
          for (int64_t j = 0; j < n && ok; j++)
            ok = fabs(c[i * ldc + j] - 2.5 * c1[i * ldc + j]) <= 1e-4 * (1 + sqrt((double)k));
        if (!ok || !same)
          fprintf(stderr, "sgemm %lldx%lldx%lld ta=%d tb=%d: %s\n", (long long)m, (long long)n, (long long)k, ta, tb,
                  !ok ? "wrong" : "depends on the thread count");
        CHECK(ok && same);
        free(a), free(b), free(c), free(c1);
      }
  CHECK(cuts[RT_CUT_M] > 0 && cuts[RT_CUT_N] > 0 && cuts[RT_CUT_K] > 0); /* every cut was exercised */
}

/* nnrt_sgemm_batch: each product bitwise the one nnrt_sgemm computes (the
 * same blocks), for every ta/tb, small products (one block each: the batch
 * is what runs side by side) and one cut into blocks, strides wider than
 * the matrices (the gaps and C's row padding left alone), a shared B
 * (stride 0), and every thread count. */
static void test_sgemm_batch(void) {
  RtError e = {0};
  static const int64_t shapes[][4] = {{16, 16, 8, 12}, {5, 3, 7, 3}, {300, 70, 200, 2}, {128, 128, 32, 0}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], count = shapes[s][3] ? shapes[s][3] : 6;
        int64_t lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3;
        int64_t sa = (ta ? k : m) * lda + 5, sb = s == 1 ? 0 : (tb ? n : k) * ldb + 7, sc = m * ldc + 4;
        int64_t nb = (sb ? sb : ldb * (tb ? n : k)) * count;
        float *a = malloc(sizeof(float) * (size_t)(sa * count)), *b = malloc(sizeof(float) * (size_t)nb);
        float *c = malloc(sizeof(float) * (size_t)(sc * count)), *want = malloc(sizeof(float) * (size_t)(sc * count));
        RtRng r;
        rt_rng_init(&r, 11, (uint32_t)s, 0);
        for (int64_t i = 0; i < sa * count; i++)
          a[i] = rt_u32_to_unit(rt_rng_u32(&r)) - 0.5f;
        for (int64_t i = 0; i < nb; i++)
          b[i] = rt_u32_to_unit(rt_rng_u32(&r)) - 0.5f;
        int same = 1;
        for (int threads = 1; threads <= 4; threads++) {
          CHECK(rt_pool_start(threads, &e) == 0);
          if (threads == 1) {
            for (int64_t i = 0; i < sc * count; i++)
              want[i] = NAN;
            for (int64_t g = 0; g < count; g++)
              nnrt_sgemm(ta, tb, m, n, k, 1.0f, a + g * sa, lda, b + g * sb, ldb, 0.0f, want + g * sc, ldc);
          }
          for (int64_t i = 0; i < sc * count; i++)
            c[i] = NAN; /* beta = 0 must not read C; gaps and padding stay NaN */
          nnrt_sgemm_batch(ta, tb, m, n, k, 1.0f, a, lda, sa, b, ldb, sb, 0.0f, c, ldc, sc, count);
          rt_pool_stop();
          same &= memcmp(c, want, sizeof(float) * (size_t)(sc * count)) == 0;
        }
        if (!same)
          fprintf(stderr, "sgemm_batch %lld x %lldx%lldx%lld ta=%d tb=%d: differs from nnrt_sgemm\n", (long long)count,
                  (long long)m, (long long)n, (long long)k, ta, tb);
        CHECK(same);
        free(a), free(b), free(c), free(want);
      }
  RtGemmCut cut;
  CHECK(rt_gemm_cut(0, 0, 300, 70, 200, 0, &cut) > 1 && rt_gemm_cut(0, 0, 16, 16, 8, 0, &cut) == 1); /* both kinds ran */
}

/* nnrt_sgemm_ep: the epilogue gets every element of C exactly once, each
 * block right after it is computed (it sees the product's final values),
 * and the blocks are the same for every thread count (but a K cut's, whose
 * epilogue runs after the partial products are summed). A product with a
 * short K (the ReLU gradient's dz2 @ w^T) is cut once there is an epilogue
 * to share, not without. With whole_columns (an epilogue that sums over
 * C's rows) every block is rows [0, m), tall products included, and never
 * a K cut ([64,784]x[784,256], cut along K without it). */
typedef struct EpCheck {
  const float *c;
  int64_t ldc;
  float *out;
  int *seen;
  atomic_int nblocks;
  int64_t blocks[64][4];
} EpCheck;

static void ep_check(void *ctx, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  EpCheck *x = ctx;
  int b = atomic_fetch_add(&x->nblocks, 1);
  if (b < 64) x->blocks[b][0] = r0, x->blocks[b][1] = r1, x->blocks[b][2] = c0, x->blocks[b][3] = c1;
  for (int64_t i = r0; i < r1; i++)
    for (int64_t j = c0; j < c1; j++)
      x->seen[i * x->ldc + j]++, x->out[i * x->ldc + j] = 2 * x->c[i * x->ldc + j] + 1;
}

static int cmp_block(const void *a, const void *b) { return memcmp(a, b, 4 * sizeof(int64_t)); }

static void test_sgemm_ep(void) {
  RtError e = {0};
  static const int64_t shapes[][3] = {{5, 3, 7}, {256, 256, 10}, {64, 700, 50}, {1000, 300, 3}, {64, 256, 784}};
  int64_t first[64][4];
  for (size_t s = 0; s < 2 * sizeof shapes / sizeof shapes[0]; s++) {
    int whole = s % 2;
    int64_t m = shapes[s / 2][0], n = shapes[s / 2][1], k = shapes[s / 2][2], ldc = n + 1;
    float *a = malloc(sizeof(float) * (size_t)(m * k)), *b = malloc(sizeof(float) * (size_t)(k * n));
    float *c = malloc(sizeof(float) * (size_t)(m * ldc)), *out = malloc(sizeof(float) * (size_t)(m * ldc));
    float *out1 = malloc(sizeof(float) * (size_t)(m * ldc));
    int *seen = malloc(sizeof(int) * (size_t)(m * ldc));
    for (int64_t i = 0; i < m * k; i++)
      a[i] = (float)((i * 7) % 13) - 6;
    for (int64_t i = 0; i < k * n; i++)
      b[i] = (float)((i * 5) % 11) - 5;
    int nfirst = 0;
    RtGemmCut cut;
    rt_gemm_cut(0, 0, m, n, k, 32, &cut);
    if (k == 784) CHECK(cut == RT_CUT_K);
    for (int threads = 1; threads <= 3; threads++) {
      CHECK(rt_pool_start(threads, &e) == 0);
      memset(seen, 0, sizeof(int) * (size_t)(m * ldc));
      EpCheck x = {.c = c, .ldc = ldc, .out = out, .seen = seen};
      atomic_init(&x.nblocks, 0);
      nnrt_sgemm_ep(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, ldc, ep_check, &x, whole);
      rt_pool_stop();
      int nb = atomic_load(&x.nblocks), once = 1;
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < ldc; j++)
          once &= seen[i * ldc + j] == (j < n) && (j >= n || out[i * ldc + j] == 2 * c[i * ldc + j] + 1);
      CHECK(once && nb <= 64);
      qsort(x.blocks, (size_t)nb, sizeof x.blocks[0], cmp_block);
      if (threads == 1) {
        nfirst = nb, memcpy(first, x.blocks, sizeof first), memcpy(out1, out, sizeof(float) * (size_t)(m * ldc));
        if (!whole && cut != RT_CUT_K) CHECK(nb == rt_gemm_cut(0, 0, m, n, k, 32, &cut)); /* 32: GEMM_EP_K */
        RtGemmCut bare;
        if (k == 10) CHECK(nb > 1 && rt_gemm_cut(0, 0, m, n, k, 0, &bare) == 1);
        for (int i = 0; whole && i < nb; i++)
          CHECK(x.blocks[i][0] == 0 && x.blocks[i][1] == m);
        if (whole && m == 1000) CHECK(nb > 1); /* tall, yet cut along its 300 columns */
      } else {
        /* A K cut's epilogue runs on the rows of the loop that sums the
         * partial products, cut as any loop; only the values must agree. */
        if (whole || cut != RT_CUT_K) CHECK(nb == nfirst && !memcmp(first, x.blocks, sizeof first[0] * (size_t)nb));
        for (int64_t i = 0; i < m; i++)
          CHECK(!memcmp(out1 + i * ldc, out + i * ldc, sizeof(float) * (size_t)n));
      }
    }
    free(a), free(b), free(c), free(out), free(out1), free(seen);
  }
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

/* ---- eval's classification report ---- */

/* A 4-class confusion matrix (rows true, columns predicted) with the
 * corner cases: class 2 has no samples but one prediction, class 3 is
 * never predicted. Expected values by sklearn's formulas, by hand:
 *   class 0: tp 5, predicted 8, support 6: p 5/8, r 5/6, F1 2pr/(p+r) = 5/7
 *   class 1: tp 3, predicted 4, support 5: p 3/4, r 3/5, F1 2/3
 *   class 2: tp 0, predicted 1, support 0: p 0, r 0/0 -> 0, F1 0
 *   class 3: tp 0, predicted 0, support 2: p 0/0 -> 0, r 0, F1 0
 *   accuracy 8/13; macro: p (5/8 + 3/4)/4 = 0.34375, r (5/6 + 3/5)/4,
 *   F1 (5/7 + 2/3)/4; weighted by support (6, 5, 0, 2)/13: p 7.5/13,
 *   r 8/13 (= accuracy, as always), F1 (6 * 5/7 + 5 * 2/3)/13. */
static const int64_t report_cm[16] = {5, 1, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0};

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

static void test_class_scores(void) {
  RtClassScore per[4], avg[2];
  double acc = rt_class_scores(report_cm, 4, per, avg);
  CHECK(NEAR(acc, 8.0 / 13));
  CHECK(NEAR(per[0].precision, 0.625) && NEAR(per[0].recall, 5.0 / 6) && NEAR(per[0].f1, 5.0 / 7));
  CHECK(per[0].support == 6);
  CHECK(NEAR(per[1].precision, 0.75) && NEAR(per[1].recall, 0.6) && NEAR(per[1].f1, 2.0 / 3));
  CHECK(per[1].support == 5);
  CHECK(per[2].precision == 0 && per[2].recall == 0 && per[2].f1 == 0 && per[2].support == 0);
  CHECK(per[3].precision == 0 && per[3].recall == 0 && per[3].f1 == 0 && per[3].support == 2);
  CHECK(NEAR(avg[0].precision, 0.34375) && NEAR(avg[0].recall, (5.0 / 6 + 0.6) / 4));
  CHECK(NEAR(avg[0].f1, (5.0 / 7 + 2.0 / 3) / 4) && avg[0].support == 13);
  CHECK(NEAR(avg[1].precision, 7.5 / 13) && NEAR(avg[1].recall, 8.0 / 13));
  CHECK(NEAR(avg[1].f1, (6 * 5.0 / 7 + 5 * 2.0 / 3) / 13) && avg[1].support == 13);
  /* nothing scored */
  int64_t zero[4] = {0};
  CHECK(isnan(rt_class_scores(zero, 2, per, avg)) && avg[1].f1 == 0 && per[0].precision == 0);
}

/* What rt_print_class_report wrote to a temporary file. */
static char *report_text(const int64_t *cm, int64_t k, const char *const *names, int digits) {
  FILE *f = tmpfile();
  if (!f) return NULL;
  rt_print_class_report(f, cm, k, names, digits);
  long n = ftell(f);
  char *s = malloc((size_t)n + 1);
  rewind(f);
  if (s) s[fread(s, 1, (size_t)n, f)] = '\0';
  fclose(f);
  return s;
}

/* got (may be NULL) is want; else prints got. */
#define CHECK_TEXT(got, want)                                                                                          \
  do {                                                                                                                 \
    if (!(got) || strcmp((got), (want)) != 0) {                                                                        \
      g_failed_checks++;                                                                                               \
      fprintf(stderr, "%s:%d: text differs; got:\n%s", __FILE__, __LINE__, (got) ? (got) : "(null)\n");                \
    }                                                                                                                  \
  } while (0)

static void test_class_report(void) {
  /* The report part is what sklearn's classification_report(digits=2)
   * prints for these numbers (its format strings replayed; 0.625 rounds
   * half to even to 0.62 in both). */
  char *s = report_text(report_cm, 4, NULL, 2);
  CHECK_TEXT(s, "              precision    recall  f1-score   support\n"
                "\n"
                "           0       0.62      0.83      0.71         6\n"
                "           1       0.75      0.60      0.67         5\n"
                "           2       0.00      0.00      0.00         0\n"
                "           3       0.00      0.00      0.00         2\n"
                "\n"
                "    accuracy                           0.62        13\n"
                "   macro avg       0.34      0.36      0.35        13\n"
                "weighted avg       0.58      0.62      0.59        13\n"
                "\n"
                "confusion matrix (rows: true class, columns: predicted class)\n"
                "      0     1     2     3\n"
                "0     5     1     0     0\n"
                "1     2     3     0     0\n"
                "2     0     0     0     0\n"
                "3     1     0     1     0\n");
  free(s);
  /* names wider than "weighted avg" widen the first column; 4 digits;
   * rows of the matrix say index and name */
  static const char *const names[2] = {"a-long-class-name", "b"};
  static const int64_t cm2[4] = {1, 0, 1, 1000};
  s = report_text(cm2, 2, names, 4);
  CHECK_TEXT(s, "                   precision    recall  f1-score   support\n"
                "\n"
                "a-long-class-name     0.5000    1.0000    0.6667         1\n"
                "                b     1.0000    0.9990    0.9995      1001\n"
                "\n"
                "         accuracy                         0.9990      1002\n"
                "        macro avg     0.7500    0.9995    0.8331      1002\n"
                "     weighted avg     0.9995    0.9990    0.9992      1002\n"
                "\n"
                "confusion matrix (rows: true class, columns: predicted class)\n"
                "                        0     1\n"
                "0 a-long-class-name     1     0\n"
                "1 b                     1  1000\n");
  free(s);
}

/* A binary model whose output is its input: p = x, loss 0. */
static void binary_eval(void **args, const int64_t *syms, void *ws) {
  (void)ws;
  const float *x = args[0];
  *(float *)args[2] = 0;
  memcpy(args[3], x, (size_t)syms[0] * sizeof *x);
}

/* The same decisions from probabilities (p >= 0.5) or from logits (z >= 0,
 * NNRT_TASK_BINARY_LOGITS: a model whose output is the logits its
 * binary_cross_entropy read). */
static void binary_scoring(int32_t task, const float *values) {
  static const char *const syms[] = {"B"};
  static const NnrtTensor in[] = {{"x", 0, NNRT_F32, 2, 0, {-1, 1}, 0, 0}, {"y", 0, NNRT_I32, 1, 0, {-1}, 0, 0}};
  static const NnrtTensor out[] = {{"loss", 0, NNRT_F32, 0, 0, {0}, 0, 0}, {"p", 0, NNRT_F32, 1, 0, {-1}, 0, 0}};
  NnrtModel m = {.abi_version = NNRT_ABI_VERSION,
                 .name = "identity_binary",
                 .n_syms = 1,
                 .sym_names = syms,
                 .eval_step = {"eval_step", binary_eval, NULL, 2, 2, in, out},
                 .task = task};
  float x[6];
  memcpy(x, values, sizeof x);
  int32_t y[6] = {1, 0, 1, 0, 1, 0};
  RtDataset d = {0};
  d.x.dtype = NNRT_F32, d.x.rank = 2, d.x.dims[0] = 6, d.x.dims[1] = 1, d.x.numel = 6, d.x.data = x;
  d.y.dtype = NNRT_I32, d.y.rank = 1, d.y.dims[0] = 6, d.y.numel = 6, d.y.data = y;
  RtSession s;
  RtError e;
  RtMetrics mt;
  int64_t cm[4] = {0};
  CHECK(rt_session_open(&s, &m, &e) == 0);
  CHECK(rt_session_bind(&s, &d.x, &d.y, &e) == 0 && s.out_per == 1 && s.y_per == 1);
  CHECK(rt_session_alloc(&s, 4, &e) == 0);
  CHECK(rt_evaluate(&s, &d, NULL, 6, 4, &mt, cm, &e) == 0); /* batches of 4 and 2 */
  CHECK(mt.samples == 6 && mt.scored == 6 && mt.correct == 4);
  CHECK(cm[0] == 2 && cm[1] == 1 && cm[2] == 1 && cm[3] == 2);
  CHECK(mt.tp == 2 && mt.fp == 1 && mt.fn == 1);
  CHECK(fabs(rt_metrics_value(&mt, RT_MET_PRECISION) - 2.0 / 3) < 1e-12);
  CHECK(fabs(rt_metrics_value(&mt, RT_MET_RECALL) - 2.0 / 3) < 1e-12);
  CHECK(isnan(rt_metrics_value(&mt, RT_MET_AUC))); /* no score buffers given */
  /* With buffers: positives 0.9, 0.49, 0.7 beat 3, 2 and 3 of the
   * negatives 0.5, 0.1, 0.2: AUC 8/9. */
  RtMetrics ma;
  CHECK(rt_metrics_alloc(&ma, 6, &e) == 0);
  CHECK(rt_evaluate_add(&s, &d, NULL, 6, 4, &ma, NULL, &e) == 0 && ma.n_scores == 6);
  CHECK(fabs(rt_metrics_value(&ma, RT_MET_AUC) - 8.0 / 9) < 1e-12);
  CHECK(rt_session_metrics(&s) == (1u << RT_MET_LOSS | 1u << RT_MET_ACC | 1u << RT_MET_PRECISION |
                                   1u << RT_MET_RECALL | 1u << RT_MET_AUC));
  rt_metrics_reset(&ma);
  CHECK(ma.n_scores == 0 && ma.cap == 6 && ma.score && ma.samples == 0);
  rt_metrics_free(&ma);
  rt_session_close(&s);
}

static void test_binary_scoring(void) {
  /* p:     0.9 0.5 0.49 0.1 0.7 0.2  (0.5 counts as class 1)
   * label: 1   0   1    0   1   0    -> tp 2, fp 1, fn 1, tn 2 */
  binary_scoring(NNRT_TASK_BINARY, (const float[]){0.9f, 0.5f, 0.49f, 0.1f, 0.7f, 0.2f});
  /* the logits of those: 0 counts as class 1; 0.3 would be class 0 as a
   * probability, and is class 1 as a logit */
  binary_scoring(NNRT_TASK_BINARY_LOGITS, (const float[]){2.2f, 0.0f, -0.04f, -2.2f, 0.3f, -1.4f});
}

/* rt_auc against sklearn.metrics.roc_auc_score's values, ties included. */
static void test_auc(void) {
  float s1[] = {0.1f, 0.4f, 0.35f, 0.8f};
  uint8_t t1[] = {0, 0, 1, 1};
  CHECK(fabs(rt_auc(s1, t1, 4) - 0.75) < 1e-12); /* roc_auc_score([0,0,1,1], [.1,.4,.35,.8]) */
  float s2[] = {0.5f, 0.5f, 0.5f, 0.9f};
  uint8_t t2[] = {1, 0, 0, 1};
  CHECK(fabs(rt_auc(s2, t2, 4) - 0.75) < 1e-12); /* a tie counts one half: (0.5 + 0.5 + 1 + 1) / 4 */
  uint8_t t3[] = {1, 1, 1, 1};
  CHECK(isnan(rt_auc(s2, t3, 4)));
}

/* The schedules' formulas, spec text round trips, monitors. */
static void test_schedule(void) {
  RtSpec sp;
  RtError e;
  char buf[256];
  CHECK(rt_spec_parse("t", "step(every: 2, gamma: 0.5)", 0, &sp, &e) == 0 && sp.kind == RT_SPEC_STEP);
  for (int ep = 0; ep < 7; ep++)
    CHECK(rt_sched_lr(&sp, 0.1, 0, ep, 1000 * ep, 0) == 0.1 * pow(0.5, ep / 2));
  CHECK(strcmp(rt_spec_format(&sp, buf, sizeof buf), "step(every: 2, gamma: 0.5)") == 0);
  CHECK(rt_spec_parse("t", "cosine(warmup: 4, min_lr: 0.01)", 0, &sp, &e) == 0);
  /* 15 steps: warm-up 0..3, cosine over steps 4..14 */
  CHECK(rt_sched_lr(&sp, 1, 0, 0, 0, 15) == 0.25 && rt_sched_lr(&sp, 1, 0, 0, 3, 15) == 1);
  CHECK(rt_sched_lr(&sp, 1, 0, 0, 4, 15) == 1);                                 /* the peak */
  CHECK(fabs(rt_sched_lr(&sp, 1, 0, 0, 9, 15) - (0.01 + 0.99 * 0.5)) < 1e-15); /* half way: cos(pi/2) */
  CHECK(rt_sched_lr(&sp, 1, 0, 0, 14, 15) == 0.01 && rt_sched_lr(&sp, 1, 0, 0, 20, 15) == 0.01); /* the last step */
  CHECK(rt_spec_parse("t", "cosine", 0, &sp, &e) == 0 && rt_spec_get(&sp, "warmup") == 0);
  CHECK(rt_sched_lr(&sp, 2, 0, 0, 0, 3) == 2 && rt_sched_lr(&sp, 2, 0, 0, 1, 3) == 1 && rt_sched_lr(&sp, 2, 0, 0, 2, 3) == 0);
  CHECK(rt_spec_parse("t", " plateau ( patience: 2, factor: 0.5 ) ", 0, &sp, &e) == 0);
  CHECK(rt_sched_lr(&sp, 1, 0.125, 3, 3, 10) == 0.125); /* the plateau's own rate */
  CHECK(strcmp(rt_spec_format(&sp, buf, sizeof buf),
               "plateau(monitor: val_loss, patience: 2, factor: 0.5, min_delta: 0.0001, min_lr: 0)") == 0);
  RtSpec back;
  CHECK(rt_spec_parse("t", buf, 0, &back, &e) == 0 && memcmp(&back, &sp, sizeof sp) == 0);
  CHECK(rt_spec_parse("t", "none", 0, &sp, &e) == 0 && sp.kind == RT_SPEC_NONE);
  CHECK(rt_spec_parse("t", "val_acc(patience: 5)", 1, &sp, &e) == 0 && sp.kind == RT_SPEC_EARLY_STOP);
  CHECK(strcmp(rt_spec_format(&sp, buf, sizeof buf), "val_acc(patience: 5, min_delta: 0)") == 0);
  CHECK_ERR(rt_spec_parse("--schedule", "cosine(warmup: 1.5)", 0, &sp, &e), e, "warmup must be an integer");
  CHECK_ERR(rt_spec_parse("--schedule", "step(gamma: 0)", 0, &sp, &e), e, "gamma must be positive");
  CHECK_ERR(rt_spec_parse("--schedule", "step(every 2)", 0, &sp, &e), e, "expected ':' after every");
  CHECK_ERR(rt_spec_parse("--schedule", "step(decay: 2)", 0, &sp, &e), e, "step has no argument 'decay'");
  CHECK_ERR(rt_spec_parse("--schedule", "linear", 0, &sp, &e), e, "unknown schedule 'linear'");
  CHECK_ERR(rt_spec_parse("--early-stop", "val_f1", 1, &sp, &e), e, "'val_f1' is not a metric");
  CHECK_ERR(rt_spec_parse("--early-stop", "loss(monitor: acc)", 1, &sp, &e), e, "is the monitor");
  /* Monitors: Keras's min_delta rule, direction by metric. */
  RtMonitor mo;
  rt_monitor_init(&mo, RT_MET_N + RT_MET_LOSS, 0.1, 2);
  CHECK(rt_monitor_update(&mo, 1.0, 1) && !rt_monitor_update(&mo, 0.95, 2) && mo.wait == 1);
  CHECK(rt_monitor_update(&mo, 0.85, 3) && mo.wait == 0 && mo.best_epoch == 3 && !rt_monitor_update(&mo, NAN, 4));
  rt_monitor_init(&mo, RT_MET_ACC, 0, 1);
  CHECK(rt_monitor_update(&mo, 0.5, 1) && !rt_monitor_update(&mo, 0.5, 2) && rt_monitor_update(&mo, 0.6, 3));
  RtMonitor back_mo;
  rt_monitor_init(&back_mo, 0, 0, 0);
  rt_monitor_save(&mo, buf, sizeof buf);
  CHECK(rt_monitor_load(&back_mo, buf) == 0 && back_mo.metric == RT_MET_ACC && back_mo.best == mo.best &&
        back_mo.best_epoch == 3 && back_mo.wait == 0);
  CHECK(rt_monitor_load(&back_mo, "val_acc 0.5 x 1") == -1);
}

int main(void) {
  static const CheckTest tests[] = {
      {"philox", test_philox},
      {"rng_stats", test_rng_stats},
      {"shuffle", test_shuffle},
      {"init", test_init},
      {"json", test_json},
      {"pool", test_pool},
      {"pool_multi", test_pool_multi},
      {"sgemm", test_sgemm},
      {"sgemm_ep", test_sgemm_ep},
      {"sgemm_batch", test_sgemm_batch},
      {"parse", test_parse},
      {"class_scores", test_class_scores},
      {"class_report", test_class_report},
      {"binary_scoring", test_binary_scoring},
      {"auc", test_auc},
      {"schedule", test_schedule},
  };
  return check_main(tests, sizeof tests / sizeof tests[0], "nnrt_test");
}
