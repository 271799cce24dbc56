/* test_runtime.c — unit tests of libnnrt: Philox known answers, init,
 * the JSON parser, safetensors round trips and corrupt files, the .npy and
 * IDX loaders on good and malformed files, data binding errors, and the
 * thread pool. Files are written to a fresh temporary directory.
 *
 * Prints one line per failed check and closes with "N passed, N failed"
 * (counting test functions); exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include <dirent.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static int g_failed_checks;
static char g_tmp[256];

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      g_failed_checks++;                                                                                               \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);                                         \
    }                                                                                                                  \
  } while (0)

/* An error whose message contains `part`. */
#define CHECK_ERR(rc, e, part)                                                                                         \
  do {                                                                                                                 \
    CHECK((rc) == -1);                                                                                                 \
    if (!strstr((e).msg, (part))) {                                                                                    \
      g_failed_checks++;                                                                                               \
      fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, (e).msg, (part));                    \
    }                                                                                                                  \
  } while (0)

static const char *tmp(const char *name) {
  static char buf[4][512];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", g_tmp, name);
  return buf[k];
}

static void write_file(const char *path, const void *data, size_t n) {
  /* A new file rather than a truncated one: ext4 flushes a file truncated
   * and rewritten on close (auto_da_alloc), which makes loops crawl. */
  unlink(path);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fwrite(data, 1, n, f);
  fclose(f);
}

static void write_gz(const char *path, const void *data, size_t n) {
  gzFile g = gzopen(path, "wb");
  gzwrite(g, data, (unsigned)n);
  gzclose(g);
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*n + 1);
  if (fread(p, 1, *n, f) != *n) *n = 0;
  fclose(f);
  return p;
}

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

/* For checkpoint tests: small, so fuzzing every header byte stays fast. */
static const NnrtTensor small_globals[] = {
    {"a", NNRT_PARAM, NNRT_F32, 2, NNRT_INIT_HE_NORMAL, {3, 4}, 3, 0},
    {"b", NNRT_PARAM, NNRT_I32, 1, NNRT_INIT_ONES, {5}, 0, 0},
    {"we\"ird\\name\xc3\xa9", NNRT_PARAM, NNRT_F32, 1, NNRT_INIT_UNIFORM, {7}, -2, 3},
    {"a.m", NNRT_STATE, NNRT_F32, 2, NNRT_INIT_ONES, {3, 4}, 0, 0},
    {"opt.step", NNRT_STATE, NNRT_F32, 0, NNRT_INIT_ZEROS, {0}, 0, 0},
};
static const NnrtModel small = {
    .abi_version = NNRT_ABI_VERSION, .name = "small", .n_globals = 5, .globals = small_globals};

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

/* ---- safetensors ---- */

static void fill_small(RtGlobals *g, float v) {
  for (int k = 0; k < g->n; k++)
    for (int64_t i = 0; i < g->numel[k]; i++) {
      if (small_globals[k].dtype == NNRT_I32)
        ((int32_t *)g->ptr[k])[i] = (int32_t)(v * 10) + (int32_t)i;
      else
        ((float *)g->ptr[k])[i] = v + (float)i * 0.5f;
    }
}

static void test_safetensors_roundtrip(void) {
  RtError e = {0};
  RtGlobals g, h;
  rt_globals_alloc(&g, &small, &e);
  rt_globals_alloc(&h, &small, &e);
  fill_small(&g, 1.0f);
  RtMeta meta = {0}, got = {0};
  rt_meta_set(&meta, "epoch", "3");
  rt_meta_set(&meta, "note", "quote\" backslash\\");
  const char *p = tmp("rt.safetensors");
  CHECK(rt_st_save(p, &small, &g, &meta, &e) == 0);
  CHECK(rt_st_load(p, &small, &h, RT_LOAD_PARAMS | RT_LOAD_STATE, &got, &e) == 0);
  CHECK(memcmp(g.base, h.base, g.bytes) == 0);
  CHECK(rt_meta_get(&got, "epoch") && strcmp(rt_meta_get(&got, "epoch"), "3") == 0);
  CHECK(rt_meta_get(&got, "note") && strcmp(rt_meta_get(&got, "note"), "quote\" backslash\\") == 0);
  /* The layout the reference reader demands: 8-aligned data start, tensors
   * contiguous from 0 to the end of the file. */
  size_t n;
  unsigned char *f = read_file(p, &n);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++)
    hl |= (uint64_t)f[i] << (8 * i);
  CHECK((8 + hl) % 8 == 0);
  RtJsonDoc d;
  CHECK(rt_json_parse(&d, (char *)f + 8, hl, 8, &e) == 0);
  int64_t end = 0;
  for (const RtJson *j = rt_json_at(&d, d.nodes[0].child); j; j = rt_json_at(&d, j->next)) {
    const RtJson *o = rt_json_get(&d, j, "data_offsets");
    if (!o) continue;
    CHECK(rt_json_at(&d, o->child)->ival == end);
    end = rt_json_at(&d, rt_json_at(&d, o->child)->next)->ival;
  }
  CHECK((uint64_t)end == n - 8 - hl);
  rt_json_free(&d);

  /* Parameters only: state untouched. */
  fill_small(&h, 9.0f);
  CHECK(rt_st_load(p, &small, &h, RT_LOAD_PARAMS, NULL, &e) == 0);
  CHECK(memcmp(g.ptr[0], h.ptr[0], 4 * 12) == 0);
  CHECK(((float *)h.ptr[3])[0] == 9.0f);

  /* Every truncation fails cleanly and leaves the globals as they were. */
  int all_fail = 1;
  fill_small(&h, 5.0f);
  for (size_t len = 0; len < n; len++) {
    write_file(tmp("trunc.safetensors"), f, len);
    all_fail &= rt_st_load(tmp("trunc.safetensors"), &small, &h, RT_LOAD_PARAMS | RT_LOAD_STATE, NULL, &e) == -1;
  }
  CHECK(all_fail);
  RtGlobals k;
  rt_globals_alloc(&k, &small, &e);
  fill_small(&k, 5.0f);
  CHECK(memcmp(h.base, k.base, h.bytes) == 0);
  rt_globals_free(&k);

  /* Header mutations never crash, and success means a well-formed header. */
  for (size_t i = 8; i < 8 + hl; i++) {
    static const char subst[] = {'{', '}', '"', '9', ',', ':', '[', '\\', (char)0xff, ' '};
    for (size_t s = 0; s < sizeof subst; s++) {
      unsigned char save = f[i];
      f[i] = (unsigned char)subst[s];
      write_file(tmp("fuzz.safetensors"), f, n);
      int rc = rt_st_load(tmp("fuzz.safetensors"), &small, &h, RT_LOAD_PARAMS, NULL, &e);
      CHECK(rc == 0 || rc == -1);
      f[i] = save;
    }
  }
  free(f);
  rt_globals_free(&g);
  rt_globals_free(&h);
}

static void test_safetensors_errors(void) {
  RtError e = {0};
  RtGlobals g;
  rt_globals_alloc(&g, &small, &e);
  const char *p = tmp("bad.safetensors");
  unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, '{', '}'};
  write_file(p, big, 10);
  CHECK_ERR(rt_st_load(p, &small, &g, RT_LOAD_PARAMS, NULL, &e), e, "offset 0: header length");
  CHECK_ERR(rt_st_load(tmp("nope.safetensors"), &small, &g, RT_LOAD_PARAMS, NULL, &e), e, "cannot open");

  /* Hand-written headers, like another writer's (order, metadata first,
   * extra tensors, no padding). */
  struct {
    const char *json;
    const char *want; /* NULL: loads */
  } cases[] = {
      {"{\"__metadata__\":{\"format\":\"pt\"},\"extra\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"b\":"
       "{\"dtype\":\"I32\",\"shape\":[5],\"data_offsets\":[2,22]},\"we\\\"ird\\\\name\\u00e9\":{\"dtype\":\"F32\","
       "\"shape\":[7],\"data_offsets\":[22,50]},\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[50,98]}}",
       NULL},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}}",
       "offset 13: tensor 'a': expected F32 [3, 4], found F32 [4, 3]; is it a checkpoint of another model?"},
      {"{\"a\":{\"dtype\":\"F64\",\"shape\":[3,4],\"data_offsets\":[0,96]}}",
       "offset 13: tensor 'a': expected F32 [3, 4], found F64 [3, 4]"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[60,108]}}",
       "offset 57: tensor 'a': data_offsets end 108 is past the data section (98 bytes"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,52]}}",
       "offset 57: tensor 'a': data_offsets [0, 52] hold 52 bytes, but F32 [3, 4] needs 48"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[8,4]}}", "0 <= begin <= end"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,-4],\"data_offsets\":[0,4]}}", "non-negative integers"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4]}}", "data_offsets"},
      {"{\"a\":[]}", "expected an object"},
      {"[1,2]", "must be a JSON object"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],"
       "\"data_offsets\":[0,48]}}",
       "appears twice"},
      {"{\"b\":{\"dtype\":\"I32\",\"shape\":[5],\"data_offsets\":[0,20]}}",
       "offset 8: the header has no tensor 'a' (F32 [3, 4])"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}", "bad header: offset"},
  };
  unsigned char data[98];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t hl = strlen(cases[c].json);
    unsigned char *buf = malloc(8 + hl + sizeof data);
    for (int i = 0; i < 8; i++)
      buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, cases[c].json, hl);
    for (size_t i = 0; i < sizeof data; i++)
      data[i] = (unsigned char)i;
    memcpy(buf + 8 + hl, data, sizeof data);
    write_file(p, buf, 8 + hl + sizeof data);
    free(buf);
    int rc = rt_st_load(p, &small, &g, RT_LOAD_PARAMS, NULL, &e);
    if (cases[c].want)
      CHECK_ERR(rc, e, cases[c].want);
    else
      CHECK(rc == 0);
    if (rc == 0) /* 'b' came from bytes 2..22 of the data */
      CHECK(memcmp(g.ptr[1], data + 2, 20) == 0);
  }
  rt_globals_free(&g);
}

/* ---- npy ---- */

static size_t make_npy(unsigned char *buf, int version, const char *dict, const void *data, size_t n) {
  size_t dl = strlen(dict), pre = version == 1 ? 10 : 12;
  memcpy(buf, "\x93NUMPY", 6);
  buf[6] = (unsigned char)version;
  buf[7] = 0;
  buf[8] = (unsigned char)(dl & 0xff);
  buf[9] = (unsigned char)(dl >> 8);
  if (version != 1) buf[10] = buf[11] = 0;
  memcpy(buf + pre, dict, dl);
  memcpy(buf + pre + dl, data, n);
  return pre + dl + n;
}

static void test_npy(void) {
  RtError e = {0};
  RtArray a;
  unsigned char buf[4096];
  const char *p = tmp("a.npy");
  int64_t i8[6] = {0, 1, 2, 3, 4, 9};
  write_file(p, buf, make_npy(buf, 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }\n", i8, sizeof i8));
  CHECK(rt_npy_load(p, &a, &e) == 0);
  CHECK(a.dtype == NNRT_I32 && a.rank == 2 && a.dims[0] == 2 && a.dims[1] == 3);
  CHECK(((int32_t *)a.data)[5] == 9);
  rt_array_free(&a);
  unsigned char u1[3] = {0, 128, 255};
  write_file(p, buf, make_npy(buf, 1, "{\"shape\": (3,), \"descr\": \"|u1\", \"fortran_order\": False}", u1, 3));
  CHECK(rt_npy_load(p, &a, &e) == 0 && a.rank == 1 && ((int32_t *)a.data)[2] == 255);
  rt_array_free(&a);
  double f8[2] = {0.25, -3};
  write_file(p, buf, make_npy(buf, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", f8, sizeof f8));
  CHECK(rt_npy_load(p, &a, &e) == 0 && a.dtype == NNRT_F32 && ((float *)a.data)[1] == -3.0f);
  CHECK(rt_array_convert(&a, NNRT_I32, &e) == -1 && strstr(e.msg, "element 0 is 0.25"));
  rt_array_free(&a);

  /* our writer, read back */
  float v[6] = {1, 2, 3, 4, 5, 6};
  RtArray w = {.dtype = NNRT_F32, .rank = 3, .dims = {1, 2, 3}, .numel = 6, .data = v};
  CHECK(rt_npy_save(p, &w, &e) == 0);
  CHECK(rt_npy_load(p, &a, &e) == 0 && a.rank == 3 && a.dims[2] == 3 && memcmp(a.data, v, sizeof v) == 0);
  rt_array_free(&a);

  struct {
    int version;
    const char *dict;
    size_t data;
    const char *want;
  } bad[] = {
      {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "'>f4' is not supported"},
      {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8,
       "expected 3 elements of '<f4' for shape [3] (12 bytes), file ends after 8"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, "4 bytes after the data"},
      {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2 }", 8, "expected ',' or ')'"},
      {1, "{'descr': '<f4', 'shape': (2,), }", 8, "expected keys"},
      {1, "{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }", 8, "True or False"},
      {1, "['descr']", 8, "offset 10: bad .npy header: expected '{'"},
      {1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", 8, "out of int32 range"},
      {7, "{}", 0, "version 7"},
  };
  int64_t huge = (int64_t)1 << 40;
  unsigned char payload[8];
  memcpy(payload, &huge, 8);
  for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
    size_t n = make_npy(buf, bad[c].version, bad[c].dict, payload, bad[c].data);
    write_file(p, buf, n);
    CHECK_ERR(rt_npy_load(p, &a, &e), e, bad[c].want);
    CHECK(strstr(e.msg, p) != NULL);
  }
  write_file(p, "\x93NUMPX\x01\x00", 8);
  CHECK_ERR(rt_npy_load(p, &a, &e), e, "offset 0: expected the .npy magic");
  /* every prefix of a good file is refused */
  size_t n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", v, 8);
  int all = 1;
  for (size_t len = 0; len < n; len++) {
    write_file(p, buf, len);
    all &= rt_npy_load(p, &a, &e) == -1;
  }
  CHECK(all);
}

/* ---- IDX ---- */

/* fill: 0 bytes i % 256, 1 labels (i * 7) % 10, -1 header only */
static size_t make_idx(unsigned char *buf, int rank, const uint32_t *dims, int fill) {
  buf[0] = buf[1] = 0;
  buf[2] = 8;
  buf[3] = (unsigned char)rank;
  size_t n = 1, at = 4;
  for (int i = 0; i < rank; i++) {
    buf[at++] = (unsigned char)(dims[i] >> 24);
    buf[at++] = (unsigned char)(dims[i] >> 16);
    buf[at++] = (unsigned char)(dims[i] >> 8);
    buf[at++] = (unsigned char)dims[i];
    n *= dims[i];
  }
  if (fill < 0) return at;
  for (size_t i = 0; i < n; i++)
    buf[at + i] = (unsigned char)(fill ? (i * 7) % 10 : (i % 256));
  return at + n;
}

/* An IDX file of 4 x 65533 bytes gzipped by hand as stored blocks, with a
 * file name padding the header so that the trailer starts at 3 * 128 KiB;
 * bad_crc flips a bit of the trailer's CRC-32. Returns the file size. */
static size_t make_late_crc_gz(const char *path, int bad_crc) {
  enum { DATA = 262144, NAME = 131036, BLK = 65535 };
  static unsigned char d[DATA], f[10 + NAME + 1 + 5 * 5 + DATA + 8];
  uint32_t dims[2] = {4, 65533};
  make_idx(d, 2, dims, -1);
  for (size_t i = 12; i < DATA; i++)
    d[i] = (unsigned char)(i * 31);
  static const unsigned char head[10] = {0x1f, 0x8b, 8, 8 /* FNAME */, 0, 0, 0, 0, 0, 3};
  size_t n = 0;
  memcpy(f, head, 10), n += 10;
  memset(f + n, 'n', NAME), n += NAME;
  f[n++] = 0;
  for (size_t at = 0; at < DATA; at += BLK) {
    size_t len = DATA - at < BLK ? DATA - at : BLK;
    unsigned char bh[5] = {at + len == DATA, (unsigned char)len, (unsigned char)(len >> 8), (unsigned char)~len,
                           (unsigned char)(~len >> 8)};
    memcpy(f + n, bh, 5), n += 5;
    memcpy(f + n, d + at, len), n += len;
  }
  uLong crc = crc32(crc32(0, Z_NULL, 0), d, DATA) ^ (bad_crc ? 1u : 0u);
  for (int i = 0; i < 4; i++)
    f[n + i] = (unsigned char)(crc >> (8 * i)), f[n + 4 + i] = (unsigned char)((uint32_t)DATA >> (8 * i));
  n += 8;
  write_file(path, f, n);
  return n;
}

static void test_idx(void) {
  RtError e = {0};
  RtArray a;
  static unsigned char buf[1 << 16];
  uint32_t d3[3] = {5, 4, 3};
  size_t n = make_idx(buf, 3, d3, 0);
  write_gz(tmp("im.gz"), buf, n);
  write_file(tmp("im"), buf, n);
  for (int gz = 0; gz < 2; gz++) {
    CHECK(rt_idx_load(tmp(gz ? "im.gz" : "im"), 1, &a, &e) == 0);
    CHECK(a.rank == 3 && a.dims[0] == 5 && a.dims[2] == 3 && a.dtype == NNRT_F32);
    CHECK(fabsf(((float *)a.data)[59] - 59.0f / 255.0f) < 1e-7f);
    rt_array_free(&a);
  }
  /* truncated, plain and gzip */
  write_file(tmp("t"), buf, n - 7);
  CHECK_ERR(rt_idx_load(tmp("t"), 1, &a, &e), e,
            "offset 16: expected 60 bytes of data for shape [5, 4, 3], file ends after 53");
  write_gz(tmp("t.gz"), buf, n - 7);
  CHECK_ERR(rt_idx_load(tmp("t.gz"), 1, &a, &e), e, "file ends after 53");
  /* a gzip stream cut short */
  size_t gn;
  unsigned char *g = read_file(tmp("im.gz"), &gn);
  write_file(tmp("cut.gz"), g, gn / 2);
  CHECK_ERR(rt_idx_load(tmp("cut.gz"), 1, &a, &e), e, "cut.gz: offset");
  /* corrupt gzip data: flip bytes in the middle of the deflate stream */
  for (size_t i = 12; i < gn - 8; i++)
    g[i] ^= 0x5a;
  write_file(tmp("bad.gz"), g, gn);
  CHECK(rt_idx_load(tmp("bad.gz"), 1, &a, &e) == -1 && strstr(e.msg, "bad.gz"));
  free(g);
  /* intact data, but the gzip trailer's CRC-32 does not match it */
  g = read_file(tmp("im.gz"), &gn);
  g[gn - 8] ^= 0x01;
  write_file(tmp("crc.gz"), g, gn);
  CHECK_ERR(rt_idx_load(tmp("crc.gz"), 0, &a, &e), e, "crc.gz: offset 0: corrupt gzip data: incorrect data check");
  free(g);
  /* The same when zlib meets the trailer only after delivering the last
   * byte of data, which the loader once took for a good end of file: data
   * that exactly fills zlib's 256 KiB output buffer, and an input chunk
   * (128 KiB, the loader's gzbuffer) that ends just before the trailer. */
  size_t ln = make_late_crc_gz(tmp("late.gz"), 0);
  CHECK(rt_idx_load(tmp("late.gz"), 0, &a, &e) == 0 && a.numel == 4 * 65533 &&
        ((int32_t *)a.data)[7] == (unsigned char)(19 * 31));
  rt_array_free(&a);
  make_late_crc_gz(tmp("late.gz"), 1);
  CHECK_ERR(rt_idx_load(tmp("late.gz"), 0, &a, &e), e,
            "late.gz: offset 262144: corrupt gzip data: incorrect data check");
  CHECK(ln == 3 * 131072 + 8);
  /* trailing data */
  write_file(tmp("t"), buf, n + 1);
  CHECK_ERR(rt_idx_load(tmp("t"), 1, &a, &e), e, "offset 76: data continues");
  /* bad magic, type, rank */
  unsigned char m[8];
  memcpy(m, buf, 8);
  m[0] = 1;
  write_file(tmp("t"), m, 8);
  CHECK_ERR(rt_idx_load(tmp("t"), 1, &a, &e), e, "offset 0: bad magic number 0x01000803");
  memcpy(m, buf, 8);
  m[2] = 0x0d;
  write_file(tmp("t"), m, 8);
  CHECK_ERR(rt_idx_load(tmp("t"), 1, &a, &e), e, "offset 2: IDX element type 0x0d");
  write_file(tmp("t"), buf, 9);
  CHECK_ERR(rt_idx_load(tmp("t"), 1, &a, &e), e, "dimension sizes");
  write_file(tmp("t"), buf, 2);
  CHECK_ERR(rt_idx_load(tmp("t"), 1, &a, &e), e, "offset 0: expected a 4-byte IDX magic");
  /* a header claiming 2^32-1 x 2^32-1 x ... fails on size, not on malloc */
  uint32_t huge[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
  make_idx(buf, 3, huge, -1);
  write_file(tmp("t"), buf, 16);
  CHECK_ERR(rt_idx_load(tmp("t"), 1, &a, &e), e, "dimensions too large");
  uint32_t d1[1] = {0x7fffffffu};
  make_idx(buf, 1, d1, -1);
  write_gz(tmp("t.gz"), buf, 8);
  CHECK_ERR(rt_idx_load(tmp("t.gz"), 0, &a, &e), e, "file ends after 0");
  CHECK_ERR(rt_idx_load(tmp("missing.gz"), 0, &a, &e), e, "missing.gz: cannot open");
}

/* ---- data sets and binding (with the fake model from fake_model.c) ---- */

static void test_data_binding(void) {
  RtError e = {0};
  static unsigned char buf[1 << 16];
  char dirname[512];
  snprintf(dirname, sizeof dirname, "%s", tmp("ds"));
  CHECK(mkdir(dirname, 0777) == 0);
  char path[600];
  /* IDX set: 6 images of 28x28, labels 0..5 */
  uint32_t di[3] = {6, 28, 28}, dl[1] = {6};
  size_t n = make_idx(buf, 3, di, 0);
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dirname);
  write_gz(path, buf, n);
  n = make_idx(buf, 1, dl, 1);
  snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dirname); /* plain also works */
  write_file(path, buf, n);
  RtDataset d;
  CHECK(rt_data_load(dirname, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &d, &e) == 0);
  RtSession s;
  CHECK(rt_session_open(&s, &nnrt_model, &e) == 0);
  CHECK(rt_session_bind(&s, &d.x, &d.y, &e) == 0);
  CHECK(s.x_per == 784 && s.y_per == 1 && s.classes == 10 && s.batch_sym == 0);
  CHECK(rt_check_labels(&s, &d.y, &e) == 0);
  CHECK(rt_session_alloc(&s, 4, &e) == 0 && s.max_batch == 4);
  CHECK(rt_globals_init(&s.g, &nnrt_model, 1, &e) == 0);
  RtMetrics m;
  CHECK(rt_evaluate(&s, &d, NULL, 6, 4, &m, NULL, &e) == 0);
  CHECK(m.samples == 6 && m.scored == 6 && isfinite(rt_metrics_loss(&m)));
  /* label out of range: names the file, the index, the value */
  ((int32_t *)d.y.data)[3] = 12;
  CHECK_ERR(rt_check_labels(&s, &d.y, &e), e,
            "t10k-labels-idx1-ubyte: offset 11: label 3 is 12, but the model has 10 classes");
  rt_data_free(&d);
  rt_session_close(&s);

  /* wrong sample shape */
  uint32_t dw[3] = {6, 28, 27};
  n = make_idx(buf, 3, dw, 0);
  snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dirname);
  write_gz(path, buf, n);
  CHECK(rt_data_load(dirname, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &d, &e) == 0);
  rt_session_open(&s, &nnrt_model, &e);
  CHECK_ERR(
      rt_session_bind(&s, &d.x, &d.y, &e), e,
      "offset 4: samples of shape [6, 28, 27] have 756 values per sample, but model input 'x' [B, 784] takes 784");
  rt_session_close(&s);
  rt_data_free(&d);

  /* count mismatch */
  uint32_t d5[1] = {5};
  n = make_idx(buf, 1, d5, 1);
  snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dirname);
  write_file(path, buf, n);
  CHECK_ERR(rt_data_load(dirname, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &d, &e), e,
            "t10k-labels-idx1-ubyte: offset 4: expected 6 labels");
  /* npy set takes precedence; labels as float are converted */
  float x[2 * 784] = {0}, y[2] = {1, 2};
  RtArray ax = {.dtype = NNRT_F32, .rank = 2, .dims = {2, 784}, .numel = 2 * 784, .data = x};
  RtArray ay = {.dtype = NNRT_F32, .rank = 1, .dims = {2}, .numel = 2, .data = y};
  snprintf(path, sizeof path, "%s/test_x.npy", dirname);
  rt_npy_save(path, &ax, &e);
  snprintf(path, sizeof path, "%s/test_y.npy", dirname);
  rt_npy_save(path, &ay, &e);
  CHECK(rt_data_load(dirname, RT_SPLIT_TEST, NNRT_F32, NNRT_I32, &d, &e) == 0);
  CHECK(d.y.dtype == NNRT_I32 && ((int32_t *)d.y.data)[1] == 2 && d.x.dims[1] == 784);
  rt_data_free(&d);
  CHECK_ERR(rt_data_load(dirname, RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &d, &e), e, "no data: expected train_x.npy");
  CHECK_ERR(rt_data_load(tmp("nodir"), RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &d, &e), e, "no such directory");
  char dd[64];
  CHECK(strcmp(rt_data_default_dir("fashion_mnist", dd, sizeof dd), "/usr/share/datasets/fashion-mnist") == 0);
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

static void cleanup(void) {
  DIR *d = opendir(g_tmp);
  if (!d) return;
  char cmd[600];
  closedir(d);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmp);
}

int main(void) {
  static const struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"philox", test_philox},
      {"rng_stats", test_rng_stats},
      {"shuffle", test_shuffle},
      {"init", test_init},
      {"json", test_json},
      {"safetensors_roundtrip", test_safetensors_roundtrip},
      {"safetensors_errors", test_safetensors_errors},
      {"npy", test_npy},
      {"idx", test_idx},
      {"data_binding", test_data_binding},
      {"pool", test_pool},
      {"sgemm", test_sgemm},
      {"parse", test_parse},
  };
  const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  snprintf(g_tmp, sizeof g_tmp, "%s/nnrt_test.XXXXXX", base);
  if (!mkdtemp(g_tmp)) {
    perror("mkdtemp");
    return 1;
  }
  int passed = 0, failed = 0;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    int before = g_failed_checks;
    double t0 = rt_now();
    tests[i].fn();
    int ok = g_failed_checks == before;
    printf("%-24s %s (%.2fs)\n", tests[i].name, ok ? "ok" : "FAILED", rt_now() - t0);
    ok ? passed++ : failed++;
  }
  cleanup();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
