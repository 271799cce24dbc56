/* test_formats.c — libnnrt's file formats: safetensors round trips and
 * corrupt files (every header byte fuzzed), and the .npy and IDX loaders
 * on good and malformed files, and binding data sets to a model's inputs
 * (with the fake model of fake_model.c), in a fresh temporary directory.
 * Prints one line per test and closes with "N passed, N failed". */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "../../runtime/rt_device.h"
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>

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

  /* Hand-written headers, like another writer's (order, metadata first, no
   * padding), and every way a header can lie. dlen: bytes of data after the
   * header (0: all 98). */
  struct {
    const char *json;
    const char *want; /* NULL: loads */
    size_t dlen;
  } cases[] = {
      {"{\"__metadata__\":{\"format\":\"pt\"},\"opt.step\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
       "\"b\":{\"dtype\":\"I32\",\"shape\":[5],\"data_offsets\":[2,22]},\"we\\\"ird\\\\name\\u00e9\":{\"dtype\":"
       "\"F32\",\"shape\":[7],\"data_offsets\":[22,50]},\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":"
       "[50,98]}}",
       NULL, 0},
      /* Extra tensors: not the model's (a foreign file holds only its tensors). */
      {"{\"extra\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"I32\",\"shape\":[5],"
       "\"data_offsets\":[2,22]},\"we\\\"ird\\\\name\\u00e9\":{\"dtype\":\"F32\",\"shape\":[7],\"data_offsets\":[22,50]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[50,98]}}",
       "tensor 'extra' is not one of model 'small''s", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4,3],\"data_offsets\":[0,48]}}",
       "offset 13: tensor 'a': expected F32 [3, 4], found F32 [4, 3]; is it a checkpoint of another model?", 48},
      {"{\"a\":{\"dtype\":\"F64\",\"shape\":[3,4],\"data_offsets\":[0,96]}}",
       "offset 13: tensor 'a': expected F32 [3, 4], found F64 [3, 4]", 96},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[60,108]}}",
       "offset 57: tensor 'a': data_offsets end 108 is past the data section (98 bytes", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,52]}}",
       "offset 57: tensor 'a': data_offsets [0, 52] hold 52 bytes, but F32 [3, 4] needs 48", 0},
      /* The reference reader's layout: sorted, contiguous from 0, to the end. */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}",
       "50 bytes after the last tensor's data (trailing garbage)", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[2,50]},\"b\":{\"dtype\":\"I32\",\"shape\":[5],"
       "\"data_offsets\":[50,70]}}",
       "tensor 'a': data_offsets begin at 2, but the data section starts at 0", 70},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},\"b\":{\"dtype\":\"I32\",\"shape\":[5],"
       "\"data_offsets\":[40,60]}}",
       "tensor 'b': data_offsets begin at 40, but the previous tensor ends at 48", 60},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},\"b\":{\"dtype\":\"I32\",\"shape\":[5],"
       "\"data_offsets\":[52,72]}}",
       "tensor 'b': data_offsets begin at 52, but the previous tensor ends at 48", 72},
      /* Names: valid UTF-8, no NUL. */
      {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}", "contains a NUL character", 48},
      {"{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}", "not valid UTF-8", 48},
      {"{\"a\xc0\x80\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}}", "not valid UTF-8", 48},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[8,4]}}", "0 <= begin <= end", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,-4],\"data_offsets\":[0,4]}}", "non-negative integers", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4]}}", "data_offsets", 0},
      {"{\"a\":[]}", "expected an object", 0},
      {"[1,2]", "must be a JSON object", 0},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]},\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],"
       "\"data_offsets\":[0,48]}}",
       "appears twice", 0},
      {"{\"b\":{\"dtype\":\"I32\",\"shape\":[5],\"data_offsets\":[0,20]}}",
       "offset 8: the header has no tensor 'a' (F32 [3, 4])", 20},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}", "bad header: offset", 0},
  };
  unsigned char data[98];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t hl = strlen(cases[c].json), dl = cases[c].dlen ? cases[c].dlen : sizeof data;
    unsigned char *buf = malloc(8 + hl + sizeof data);
    for (int i = 0; i < 8; i++)
      buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, cases[c].json, hl);
    for (size_t i = 0; i < sizeof data; i++)
      data[i] = (unsigned char)i;
    memcpy(buf + 8 + hl, data, dl);
    write_file(p, buf, 8 + hl + dl);
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

/* nnc's own files name their model, hash its parameter list and carry a
 * CRC of every tensor: another model's file is refused even when every
 * tensor the load reads matches, and a flipped bit is found. */
static void test_safetensors_identity(void) {
  static const NnrtModel part = {/* small's first parameter alone: same name, shape, dtype */
                                 .abi_version = NNRT_ABI_VERSION, .name = "part", .n_globals = 1,
                                 .globals = small_globals};
  static const NnrtModel twin = {/* small's parameters under another model name */
                                 .abi_version = NNRT_ABI_VERSION, .name = "twin", .n_globals = 5,
                                 .globals = small_globals};
  RtError e = {0};
  RtGlobals g, h, k;
  rt_globals_alloc(&g, &small, &e);
  rt_globals_alloc(&h, &part, &e);
  rt_globals_alloc(&k, &small, &e);
  fill_small(&g, 1.0f);
  const char *p = tmp("id.safetensors");
  CHECK(rt_st_save(p, &small, &g, NULL, &e) == 0);
  CHECK_ERR(rt_st_load(p, &part, &h, RT_LOAD_PARAMS, NULL, &e), e,
            "a checkpoint of model 'small', whose parameters (names, shapes, dtypes: hash ");
  CHECK(strstr(e.msg, "are not those of model 'part'") != NULL);
  CHECK(rt_st_load(p, &twin, &k, RT_LOAD_PARAMS | RT_LOAD_STATE, NULL, &e) == 0); /* a note, and it loads */
  CHECK(memcmp(g.base, k.base, g.bytes) == 0);
  /* One bit of tensor 'b' flipped: the CRC names it; the globals stay. */
  size_t n;
  unsigned char *f = read_file(p, &n);
  uint64_t hl = 0;
  for (int i = 0; i < 8; i++)
    hl |= (uint64_t)f[i] << (8 * i);
  f[8 + hl + 48 + 3] ^= 0x10; /* 'b' follows 'a' (48 bytes) */
  write_file(p, f, n);
  fill_small(&k, 7.0f);
  CHECK_ERR(rt_st_load(p, &small, &k, RT_LOAD_PARAMS, NULL, &e), e, "tensor 'b': its bytes have CRC-32 ");
  CHECK(strstr(e.msg, "the file is corrupt") != NULL);
  RtGlobals want;
  rt_globals_alloc(&want, &small, &e);
  fill_small(&want, 7.0f);
  CHECK(memcmp(k.base, want.base, k.bytes) == 0);
  /* A tensor the load does not read is not checked: state alone loads. */
  CHECK(rt_st_load(p, &small, &k, RT_LOAD_STATE, NULL, &e) == 0);
  free(f);
  rt_globals_free(&want);
  rt_globals_free(&g);
  rt_globals_free(&h);
  rt_globals_free(&k);
}

/* Globals of the integer types: slices sized by nnrt_dtypes.def, ones for
 * an integer param, and checkpoints with I8, U8 and I64 tensors. */
static const NnrtTensor int_globals[] = {
    {"q", NNRT_PARAM, NNRT_I8, 2, NNRT_INIT_ONES, {3, 50}, 0, 0},
    {"u", NNRT_PARAM, NNRT_U8, 1, NNRT_INIT_ZEROS, {70}, 0, 0},
    {"n", NNRT_STATE, NNRT_I64, 1, NNRT_INIT_ZEROS, {3}, 0, 0},
    {"w", NNRT_PARAM, NNRT_F32, 1, NNRT_INIT_UNIFORM, {2}, -1, 1},
};
static const NnrtModel ints = {
    .abi_version = NNRT_ABI_VERSION, .name = "ints", .n_globals = 4, .globals = int_globals};

static size_t up(size_t n) { return (n + RT_ALIGN - 1) / RT_ALIGN * RT_ALIGN; }

/* Saves model m's globals g to p and loads them into h, which must then
 * hold the same bytes; returns the file (n bytes) with its JSON header
 * (hl bytes from offset 8) parsed into d. */
static unsigned char *st_roundtrip(const char *p, const NnrtModel *m, const RtGlobals *g, RtGlobals *h, size_t *n,
                                   uint64_t *hl, RtJsonDoc *d) {
  RtError e = {0};
  CHECK(rt_st_save(p, m, g, NULL, &e) == 0);
  memset(h->base, 0x5a, h->bytes);
  CHECK(rt_st_load(p, m, h, RT_LOAD_PARAMS | RT_LOAD_STATE, NULL, &e) == 0);
  for (int k = 0; k < m->n_globals; k++)
    CHECK(memcmp(g->ptr[k], h->ptr[k], (size_t)g->numel[k] * rt_dtype_size(m->globals[k].dtype)) == 0);
  unsigned char *f = read_file(p, n);
  *hl = 0;
  for (int i = 0; i < 8; i++) *hl |= (uint64_t)f[i] << (8 * i);
  CHECK(rt_json_parse(d, (char *)f + 8, *hl, 8, &e) == 0);
  return f;
}

static void test_safetensors_dtypes(void) {
  RtError e = {0};
  RtGlobals g, h;
  CHECK(rt_globals_alloc(&g, &ints, &e) == 0 && rt_globals_alloc(&h, &ints, &e) == 0);
  CHECK(g.bytes == up(150) + up(70) + up(24) + up(8));
  CHECK(rt_globals_init(&g, &ints, 5, &e) == 0);
  int ones = 1;
  for (int i = 0; i < 150; i++) ones &= ((int8_t *)g.ptr[0])[i] == 1;
  CHECK(ones);
  for (int i = 0; i < 150; i++) ((int8_t *)g.ptr[0])[i] = (int8_t)(i - 75);
  for (int i = 0; i < 70; i++) ((uint8_t *)g.ptr[1])[i] = (uint8_t)(190 + i);
  const int64_t n3[3] = {-((int64_t)1 << 62), (int64_t)1 << 40, -1};
  memcpy(g.ptr[2], n3, sizeof n3);
  const char *p = tmp("ints.safetensors");
  /* The header names the types as safetensors does, with their sizes. */
  size_t n;
  uint64_t hl;
  RtJsonDoc d;
  unsigned char *f = st_roundtrip(p, &ints, &g, &h, &n, &hl, &d);
  static const struct {
    const char *name, *dtype;
    int64_t bytes;
  } want[] = {{"q", "I8", 150}, {"u", "U8", 70}, {"n", "I64", 24}, {"w", "F32", 8}};
  for (int k = 0; k < 4; k++) {
    const RtJson *t = rt_json_get(&d, &d.nodes[0], want[k].name);
    const RtJson *dt = t ? rt_json_get(&d, t, "dtype") : NULL, *o = t ? rt_json_get(&d, t, "data_offsets") : NULL;
    CHECK(dt && strcmp(dt->str, want[k].dtype) == 0);
    CHECK(o && rt_json_at(&d, rt_json_at(&d, o->child)->next)->ival - rt_json_at(&d, o->child)->ival == want[k].bytes);
  }
  rt_json_free(&d);
  free(f);

  /* Another writer's file: I8, U8 and I64 data in its own order. */
  char json[512];
  snprintf(json, sizeof json,
           "{\"n\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},\"u\":{\"dtype\":\"U8\",\"shape\":[70],"
           "\"data_offsets\":[24,94]},\"q\":{\"dtype\":\"I8\",\"shape\":[3,50],\"data_offsets\":[94,244]},"
           "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[244,252]}}");
  size_t jl = strlen(json);
  unsigned char file[8 + 512 + 252];
  for (int i = 0; i < 8; i++) file[i] = (unsigned char)((uint64_t)jl >> (8 * i));
  memcpy(file + 8, json, jl);
  unsigned char *data = file + 8 + jl;
  memcpy(data, g.ptr[2], 24), memcpy(data + 24, g.ptr[1], 70), memcpy(data + 94, g.ptr[0], 150);
  memcpy(data + 244, g.ptr[3], 8);
  write_file(p, file, 8 + jl + 252);
  memset(h.base, 0, h.bytes);
  CHECK(rt_st_load(p, &ints, &h, RT_LOAD_PARAMS | RT_LOAD_STATE, NULL, &e) == 0);
  CHECK(memcmp(h.ptr[0], g.ptr[0], 150) == 0 && memcmp(h.ptr[1], g.ptr[1], 70) == 0 &&
        memcmp(h.ptr[2], n3, 24) == 0);
  /* A type that differs in name only is still another type. */
  memcpy(strstr((char *)file + 8, "\"U8\""), "\"I8\"", 4);
  write_file(p, file, 8 + jl + 252);
  CHECK_ERR(rt_st_load(p, &ints, &h, RT_LOAD_PARAMS, NULL, &e), e, "tensor 'u': expected U8 [70], found I8 [70]");
  memcpy(strstr((char *)file + 8, "\"I64\""), "\"I32\"", 5);
  write_file(p, file, 8 + jl + 252);
  CHECK_ERR(rt_st_load(p, &ints, &h, RT_LOAD_PARAMS, NULL, &e), e,
            "tensor 'n': data_offsets [0, 24] hold 24 bytes, but I32 [3] needs 12");
  rt_globals_free(&g);
  rt_globals_free(&h);
}

/* A model reading u8 samples and i64 labels: its eval_step sums the bytes
 * and labels it gets into the loss and predicts each label exactly, so the
 * batch buffers must hold the elements at their own sizes. */
static void bytes_eval(void **args, const int64_t *syms, void *ws) {
  (void)ws;
  const uint8_t *x = args[0];
  const int64_t *y = args[1];
  float *out = args[3];
  double sum = 0;
  for (int64_t r = 0; r < syms[0]; r++) {
    for (int j = 0; j < 4; j++) sum += x[r * 4 + j];
    sum += (double)y[r];
    out[2 * r] = y[r] == 0, out[2 * r + 1] = y[r] == 1;
  }
  *(float *)args[2] = (float)sum;
}

static void test_int_inputs(void) {
  static const NnrtTensor in[] = {{"x", 0, NNRT_U8, 2, 0, {-1, 4}, 0, 0}, {"y", 0, NNRT_I64, 1, 0, {-1}, 0, 0}};
  static const NnrtTensor out[] = {{"loss", 0, NNRT_F32, 0, 0, {0}, 0, 0}, {"p", 0, NNRT_F32, 2, 0, {-1, 2}, 0, 0}};
  static const char *const syms[] = {"B"};
  NnrtModel m = {.abi_version = NNRT_ABI_VERSION, .name = "bytes", .n_syms = 1, .sym_names = syms,
                 .eval_step = {"eval_step", bytes_eval, NULL, 2, 2, in, out}, .task = NNRT_TASK_CLASSIFY};
  RtError e = {0};
  RtDataset d = {{.dtype = NNRT_U8, .rank = 2, .dims = {5, 4}, .numel = 20, .elem_bytes = 1},
                 {.dtype = NNRT_I64, .rank = 1, .dims = {5}, .numel = 5, .elem_bytes = 8}};
  d.x.data = rt_alloc(20, "x", &e), d.y.data = rt_alloc(40, "y", &e);
  for (int i = 0; i < 20; i++) ((uint8_t *)d.x.data)[i] = (uint8_t)(200 + i);
  for (int i = 0; i < 5; i++) ((int64_t *)d.y.data)[i] = i % 2;
  RtSession s;
  CHECK(rt_session_open(&s, &m, &e) == 0 && rt_session_bind(&s, &d.x, &d.y, &e) == 0);
  CHECK(rt_check_labels(&s, &d.y, &e) == 0 && rt_session_alloc(&s, 4, &e) == 0);
  const int32_t idx[3] = {4, 1, 2};
  RtMetrics mt = {0};
  CHECK(rt_run_batch(&s, &m.eval_step, &d, idx, 3, &mt, NULL, &e) == 0);
  double want = 0;
  for (int k = 0; k < 3; k++)
    for (int j = 0; j < 4; j++) want += 200 + idx[k] * 4 + j;
  want += 0 + 1 + 0; /* the labels of samples 4, 1, 2 */
  CHECK(s.loss == (float)want && mt.correct == 3 && mt.scored == 3);
  rt_session_close(&s);
  rt_data_free(&d);
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

  /* Conversion to every type checks every element first, and may change
   * the element size. */
  float src[3] = {1, -3, 200};
  RtArray c = {.dtype = NNRT_F32, .rank = 1, .dims = {3}, .numel = 3, .path = "c.npy"};
  c.data = rt_alloc(sizeof src, "c", &e);
  memcpy(c.data, src, sizeof src);
  CHECK_ERR(rt_array_convert(&c, NNRT_I8, &e), e, "c.npy: element 2 is 200; expected an integer in I8's range");
  CHECK_ERR(rt_array_convert(&c, NNRT_U8, &e), e, "element 1 is -3; expected an integer in U8's range");
  CHECK(c.dtype == NNRT_F32 && memcmp(c.data, src, sizeof src) == 0);
  CHECK(rt_array_convert(&c, NNRT_I64, &e) == 0 && c.dtype == NNRT_I64 && ((int64_t *)c.data)[1] == -3 &&
        ((int64_t *)c.data)[2] == 200);
  CHECK(rt_array_convert(&c, NNRT_I32, &e) == 0 && ((int32_t *)c.data)[2] == 200);
  ((int32_t *)c.data)[1] = 255;
  CHECK(rt_array_convert(&c, NNRT_U8, &e) == 0 && ((uint8_t *)c.data)[1] == 255 && ((uint8_t *)c.data)[2] == 200);
  CHECK(rt_npy_save(p, &c, &e) == 0); /* '|u1', one byte each */
  rt_array_free(&c);
  CHECK(rt_npy_load(p, &a, &e) == 0 && a.elem_bytes == 1 && a.dtype == NNRT_I32 && ((int32_t *)a.data)[1] == 255);
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
  /* Pixels kept as bytes (RT_DTYPE_F32_COMPACT, what a session loads for a
   * float input): a quarter of the memory, and every batch staged from them
   * is bit for bit the batch staged from the F32 set; the same loss. */
  RtDataset px;
  CHECK(rt_session_x_dtype(&s) == RT_DTYPE_F32_COMPACT);
  CHECK(rt_data_load(dirname, RT_SPLIT_TEST, RT_DTYPE_F32_COMPACT, NNRT_I32, &px, &e) == 0);
  CHECK(px.x.dtype == NNRT_U8 && px.x.scale == 1.0f / 255.0f && px.x.numel == d.x.numel);
  {
    static float xa[4 * 784], xb[4 * 784];
    int32_t ya[4], yb[4], idx[4] = {5, 0, 3, 3};
    rt_stage_batch(&s, &nnrt_model.train_step, &d, idx, 4, xa, ya);
    rt_stage_batch(&s, &nnrt_model.train_step, &px, idx, 4, xb, yb);
    CHECK(memcmp(xa, xb, sizeof xa) == 0 && memcmp(ya, yb, sizeof ya) == 0);
    RtMetrics mp;
    CHECK(rt_evaluate(&s, &px, NULL, 6, 4, &mp, NULL, &e) == 0);
    CHECK(mp.samples == 6 && rt_metrics_loss(&mp) == rt_metrics_loss(&m));
    /* converted for anything else, widened as the loader widens */
    CHECK(rt_array_convert(&px.x, NNRT_F32, &e) == 0 && px.x.scale == 0);
    CHECK(memcmp(px.x.data, d.x.data, (size_t)d.x.numel * sizeof(float)) == 0);
  }
  rt_data_free(&px);
  /* label out of range: names the file, the index, the value */
  ((int32_t *)d.y.data)[3] = 12;
  CHECK_ERR(rt_check_labels(&s, &d.y, &e), e,
            "t10k-labels-idx1-ubyte: offset 11: label 3 is 12, but the model has 10 classes");
  /* Labels of any integer type are read as such. */
  CHECK(rt_array_convert(&d.y, NNRT_I64, &e) == 0);
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
  CHECK(rt_data_load(dirname, RT_SPLIT_TEST, NNRT_U8, NNRT_I64, &d, &e) == 0); /* what a model's inputs may be */
  CHECK(d.x.dtype == NNRT_U8 && d.y.dtype == NNRT_I64 && ((int64_t *)d.y.data)[1] == 2);
  rt_data_free(&d);
  CHECK_ERR(rt_data_load(dirname, RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &d, &e), e, "no data: expected train_x.npy");
  CHECK_ERR(rt_data_load(tmp("nodir"), RT_SPLIT_TRAIN, NNRT_F32, NNRT_I32, &d, &e), e, "no such directory");
  char dd[64];
  CHECK(strcmp(rt_data_default_dir("fashion_mnist", dd, sizeof dd), "/usr/share/datasets/fashion-mnist") == 0);
  /* paths are paths: absolute, or relative to the working directory */
  CHECK(strcmp(rt_data_default_dir("/abs/my_dir", dd, sizeof dd), "/abs/my_dir") == 0);
  CHECK(strcmp(rt_data_default_dir("./my_dir", dd, sizeof dd), "./my_dir") == 0);
  CHECK(strcmp(rt_data_default_dir("data/my_set", dd, sizeof dd), "data/my_set") == 0);
  CHECK(strcmp(rt_data_default_dir(".", dd, sizeof dd), ".") == 0);
  CHECK(rt_data_default_dir(NULL, dd, sizeof dd) == NULL);
  CHECK_ERR(rt_data_dir(NULL, NULL, dd, sizeof dd, &e) == NULL ? -1 : 0, e, "its train block has no 'data' line");
}

/* An int8 dense layer's tensors as the quantize pass stores them: i8
 * weights, f32 per-column scales, i32 zero-point compensations (and a u8
 * tensor): each saved under its safetensors name with its own size, the
 * i32 little-endian as numpy's "<i4" reads it, and loaded back bit for bit,
 * the ends of each range included. */
static const NnrtTensor int8_layer_globals[] = {
    {"dense_1.w.q", NNRT_PARAM, NNRT_I8, 2, NNRT_INIT_ZEROS, {5, 3}, 0, 0},
    {"dense_1.w.scale", NNRT_PARAM, NNRT_F32, 1, NNRT_INIT_ONES, {3}, 0, 0},
    {"dense_1.w.comp", NNRT_PARAM, NNRT_I32, 1, NNRT_INIT_ZEROS, {3}, 0, 0},
    {"dense_1.x.zp", NNRT_STATS, NNRT_U8, 1, NNRT_INIT_ZEROS, {2}, 0, 0},
};
static const NnrtModel int8_layer = {
    .abi_version = NNRT_ABI_VERSION, .name = "int8_layer", .n_globals = 4, .globals = int8_layer_globals};

static void test_safetensors_int8(void) {
  RtError e = {0};
  RtGlobals g, h;
  CHECK(rt_globals_alloc(&g, &int8_layer, &e) == 0 && rt_globals_alloc(&h, &int8_layer, &e) == 0);
  CHECK(rt_globals_init(&g, &int8_layer, 1, &e) == 0);
  for (int i = 0; i < 15; i++) ((int8_t *)g.ptr[0])[i] = (int8_t)(i == 0 ? -128 : i == 1 ? 127 : i * 9 - 60);
  const float scale[3] = {0.5f, 1e-3f, 3.25f};
  const int32_t comp[3] = {INT32_MIN, INT32_MAX, -1};
  const uint8_t zp[2] = {0, 255};
  memcpy(g.ptr[1], scale, sizeof scale), memcpy(g.ptr[2], comp, sizeof comp), memcpy(g.ptr[3], zp, sizeof zp);
  size_t n;
  uint64_t hl;
  RtJsonDoc d;
  unsigned char *f = st_roundtrip(tmp("int8_layer.safetensors"), &int8_layer, &g, &h, &n, &hl, &d);
  static const char *const dtypes[4] = {"I8", "F32", "I32", "U8"};
  static const int64_t bytes[4] = {15, 12, 12, 2};
  for (int k = 0; k < 4; k++) {
    const RtJson *t = rt_json_get(&d, &d.nodes[0], int8_layer_globals[k].name);
    const RtJson *dt = t ? rt_json_get(&d, t, "dtype") : NULL, *o = t ? rt_json_get(&d, t, "data_offsets") : NULL;
    CHECK(dt && strcmp(dt->str, dtypes[k]) == 0);
    int64_t b = o ? rt_json_at(&d, o->child)->ival : -1, end = o ? rt_json_at(&d, rt_json_at(&d, o->child)->next)->ival : -1;
    CHECK(end - b == bytes[k]);
    if (k == 2 && b >= 0) { /* INT32_MIN, INT32_MAX, -1 as "<i4" */
      static const unsigned char le[12] = {0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff};
      CHECK(8 + hl + (uint64_t)end <= n && memcmp(f + 8 + hl + b, le, 12) == 0);
    }
  }
  rt_json_free(&d);
  free(f);
  rt_globals_free(&g), rt_globals_free(&h);
}

int main(void) {
  static const CheckTest tests[] = {
      {"safetensors_roundtrip", test_safetensors_roundtrip},
      {"safetensors_errors", test_safetensors_errors},
      {"safetensors_dtypes", test_safetensors_dtypes},
      {"safetensors_identity", test_safetensors_identity},
      {"safetensors_int8", test_safetensors_int8},
      {"int_inputs", test_int_inputs},
      {"npy", test_npy},
      {"idx", test_idx},
      {"data_binding", test_data_binding},
  };
  return check_main(tests, sizeof tests / sizeof tests[0], "nnrt_formats");
}
