/* rt_safetensors.c — checkpoints in the safetensors format, so that PyTorch
 * (safetensors.torch.load_file) reads what we write and we read what it
 * writes.
 *
 * Layout: u64 little-endian N, N bytes of JSON header, then the raw data.
 * The header maps each tensor name to {"dtype","shape","data_offsets":[b,e]}
 * (offsets relative to the data start) plus "__metadata__", an object of
 * string -> string. We pad the header with spaces to a multiple of 8 and
 * write the tensors contiguously in globals order: the reference reader
 * insists that the tensors exactly cover the data section.
 *
 * Reading is as strict as the format's reference implementation: the
 * header at most 100 MB, tensor names valid UTF-8 (the JSON reader refuses
 * NUL in keys), data_offsets sorted, contiguous from 0 and ending exactly at
 * the end of the file. nnc's own files also carry, in __metadata__, the
 * model's name ("nnrt.model"), a hash of its parameter list ("nnrt.params":
 * names, shapes, dtypes) and a CRC-32 of each tensor's bytes ("nnrt.crc32",
 * in data order): a checkpoint of another model is refused by name even
 * when every shape happens to match, and a flipped bit by its CRC. Files
 * without them (PyTorch's) are checked by names, shapes and dtypes alone,
 * and may hold only tensors the model has.
 *
 * The runtime assumes a little-endian host (x86-64, AArch64), like the
 * generated code does. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_fault.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nnrt checkpoints assume a little-endian host"
#endif

/* The reference implementation refuses larger headers; so do we, before
 * allocating anything a hostile length asks for. */
#define ST_MAX_HEADER (100u << 20)

void rt_meta_set(RtMeta *m, const char *key, const char *value) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->key[i], key) == 0) {
      snprintf(m->value[i], sizeof m->value[i], "%s", value);
      return;
    }
  if (m->n == RT_META_MAX) return;
  snprintf(m->key[m->n], sizeof m->key[m->n], "%s", key);
  snprintf(m->value[m->n], sizeof m->value[m->n], "%s", value);
  m->n++;
}

const char *rt_meta_get(const RtMeta *m, const char *key) {
  for (int i = 0; i < m->n; i++)
    if (strcmp(m->key[i], key) == 0) return m->value[i];
  return NULL;
}

/* FNV-1a, 64 bits, over the model's parameters in globals order: name,
 * safetensors dtype and shape of each (optimizer state, statistics and masks
 * are left out: an inference binary, a QAT or a pruned build of one model
 * all share its parameters). */
static uint64_t params_hash(const NnrtModel *m) {
  uint64_t h = 1469598103934665603ull;
  char buf[64];
  for (int32_t i = 0; i < m->n_globals; i++) {
    const NnrtTensor *t = &m->globals[i];
    if (t->kind != NNRT_PARAM) continue;
    for (int part = 0; part < 2 + t->rank; part++) {
      const char *s = part == 0 ? t->name : part == 1 ? rt_dtype_name(t->dtype) : buf;
      if (part >= 2) snprintf(buf, sizeof buf, "%lld", (long long)t->dims[part - 2]);
      for (const unsigned char *c = (const unsigned char *)s;; c++) {
        h = (h ^ *c) * 1099511628211ull;
        if (!*c) break; /* the NUL separates the parts */
      }
    }
  }
  return h;
}

static void params_hash_str(const NnrtModel *m, char out[17]) {
  snprintf(out, 17, "%016llx", (unsigned long long)params_hash(m));
}

static uint32_t crc_bytes(const void *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  const Bytef *b = p;
  while (n > 0) { /* crc32 takes a uInt length */
    uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
    c = crc32(c, b, k);
    b += k, n -= k;
  }
  return (uint32_t)c;
}

/* ---- writing ---- */

typedef struct Buf {
  char *p;
  size_t n, cap;
  int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = rt_fault_realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void buf_str(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

static void buf_fmt(Buf *b, const char *fmt, long long v) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, fmt, v);
  buf_put(b, tmp, (size_t)n);
}

/* A JSON string literal: names are the user's, so escape everything JSON
 * requires. */
static void buf_json_str(Buf *b, const char *s) {
  buf_put(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      buf_put(b, esc, 2);
    } else if (c == '\n') { /* a vocabulary's line ends: readable and short */
      buf_put(b, "\\n", 2);
    } else if (c < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", c);
      buf_put(b, esc, 6);
    } else {
      buf_put(b, (const char *)&c, 1);
    }
  }
  buf_put(b, "\"", 1);
}

int rt_st_save(const char *path, const NnrtModel *m, const RtGlobals *g, const RtMeta *meta, RtError *e) {
  Buf h = {0};
  buf_str(&h, "{");
  uint64_t off = 0;
  for (int32_t i = 0; i < m->n_globals; i++) {
    const NnrtTensor *t = &m->globals[i];
    uint64_t bytes = (uint64_t)g->numel[i] * rt_dtype_size(t->dtype);
    buf_str(&h, i ? "," : "");
    buf_json_str(&h, t->name);
    buf_str(&h, ":{\"dtype\":\"");
    buf_str(&h, rt_dtype_name(t->dtype));
    buf_str(&h, "\",\"shape\":[");
    for (int d = 0; d < t->rank; d++)
      buf_fmt(&h, d ? ",%lld" : "%lld", (long long)t->dims[d]);
    buf_fmt(&h, "],\"data_offsets\":[%lld", (long long)off);
    buf_fmt(&h, ",%lld]}", (long long)(off + bytes));
    off += bytes;
  }
  /* __metadata__: the caller's entries, then the model's identity and the
   * tensors' CRCs (in data order, which is globals order). */
  buf_str(&h, m->n_globals ? ",\"__metadata__\":{" : "\"__metadata__\":{");
  for (int i = 0; meta && i < meta->n; i++) {
    buf_json_str(&h, meta->key[i]);
    buf_str(&h, ":");
    buf_json_str(&h, meta->value[i]);
    buf_str(&h, ",");
  }
  if (meta && meta->vocab) { /* long: not an RtMeta value */
    buf_str(&h, "\"nnrt.vocab\":");
    buf_json_str(&h, meta->vocab);
    buf_str(&h, ",");
  }
  char hash[17];
  params_hash_str(m, hash);
  buf_str(&h, "\"nnrt.model\":");
  buf_json_str(&h, m->name ? m->name : "");
  buf_str(&h, ",\"nnrt.params\":\"");
  buf_str(&h, hash);
  buf_str(&h, "\",\"nnrt.crc32\":\"");
  for (int32_t i = 0; i < m->n_globals; i++) {
    char c[16];
    snprintf(c, sizeof c, "%s%08x", i ? " " : "",
             crc_bytes(g->ptr[i], (size_t)g->numel[i] * rt_dtype_size(m->globals[i].dtype)));
    buf_str(&h, c);
  }
  buf_str(&h, "\"}}");
  /* Data starts 8-aligned: readers may map it in place. (Not while out of
   * memory: the buffer no longer grows; found by NNRT_FAULT=malloc:N.) */
  while (h.n % 8 && !h.oom)
    buf_str(&h, " ");
  if (h.oom) {
    free(h.p);
    return rt_fail(e, RT_EXIT_FAIL, "out of memory writing %s", path);
  }

  uint8_t len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (uint8_t)((uint64_t)h.n >> (8 * i));
  /* The length, the header, then each global's data straight from its slice. */
  RtChunk *chunks = rt_fault_malloc((size_t)(m->n_globals + 2) * sizeof *chunks);
  int rc = -1;
  if (!chunks) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory writing %s", path);
  } else {
    chunks[0] = (RtChunk){len8, 8};
    chunks[1] = (RtChunk){h.p, h.n};
    for (int32_t i = 0; i < m->n_globals; i++)
      chunks[i + 2] = (RtChunk){g->ptr[i], (size_t)g->numel[i] * rt_dtype_size(m->globals[i].dtype)};
    rc = rt_write_atomic_chunks(path, chunks, m->n_globals + 2, e);
  }
  free(chunks);
  free(h.p);
  return rc;
}

/* ---- reading ---- */

static int64_t st_dtype_size(const char *dt) {
  static const struct {
    const char *name;
    int size;
  } table[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},  {"I32", 4},     {"I16", 2},    {"I8", 1},
               {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(dt, table[i].name) == 0) return table[i].size;
  return 0;
}

/* One validated header entry. */
typedef struct StEntry {
  const char *name;
  const char *dtype;
  int32_t rank;
  int64_t dims[NNRT_MAX_RANK];
  int64_t begin, end; /* relative to the data section */
  size_t offset;      /* of the entry in the file, for messages */
} StEntry;

static int bad_entry(RtError *e, const char *path, const RtJson *j, const char *name, const char *what) {
  return rt_fail(e, RT_EXIT_USAGE, "%s: offset %zu: tensor '%s': %s", path, j->offset, name, what);
}

/* Whether s is valid UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF), as the reference reader's Rust strings must be. */
static int valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    unsigned c = *p++, n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 9;
    if (n == 9) return 0;
    uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1f : n == 2 ? c & 0x0f : c & 0x07;
    for (unsigned k = 0; k < n; k++, p++) {
      if ((*p >> 6) != 2) return 0;
      cp = cp << 6 | (*p & 0x3f);
    }
    static const uint32_t least[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  }
  return 1;
}

static int parse_entry(const RtJsonDoc *doc, const RtJson *j, const char *path, uint64_t data_size, StEntry *out,
                       RtError *e) {
  const char *name = j->key;
  if (!valid_utf8(name)) return bad_entry(e, path, j, "?", "the tensor name is not valid UTF-8");
  if (j->type != RT_JSON_OBJ) return bad_entry(e, path, j, name, "expected an object");
  const RtJson *dt = rt_json_get(doc, j, "dtype");
  const RtJson *shape = rt_json_get(doc, j, "shape");
  const RtJson *offs = rt_json_get(doc, j, "data_offsets");
  if (!dt || dt->type != RT_JSON_STR) return bad_entry(e, path, j, name, "expected a string \"dtype\"");
  if (!shape || shape->type != RT_JSON_ARR) return bad_entry(e, path, j, name, "expected an array \"shape\"");
  if (!offs || offs->type != RT_JSON_ARR || offs->len != 2)
    return bad_entry(e, path, j, name, "expected \"data_offsets\": [begin, end]");
  out->name = name;
  out->dtype = dt->str;
  out->offset = j->offset;
  out->rank = 0;
  int64_t numel = 1;
  for (const RtJson *d = rt_json_at(doc, shape->child); d; d = rt_json_at(doc, d->next)) {
    if (d->type != RT_JSON_NUM || !d->is_int || d->ival < 0)
      return bad_entry(e, path, d, name, "shape entries must be non-negative integers");
    if (out->rank == NNRT_MAX_RANK) return bad_entry(e, path, d, name, "rank above NNRT_MAX_RANK (6) is not supported");
    if (rt_mul64(numel, d->ival, &numel)) return bad_entry(e, path, d, name, "shape too large");
    out->dims[out->rank++] = d->ival;
  }
  const RtJson *b = rt_json_at(doc, offs->child), *en = rt_json_at(doc, b->next);
  if (b->type != RT_JSON_NUM || !b->is_int || b->ival < 0 || en->type != RT_JSON_NUM || !en->is_int ||
      en->ival < b->ival)
    return bad_entry(e, path, offs, name, "data_offsets must be integers 0 <= begin <= end");
  out->begin = b->ival;
  out->end = en->ival;
  if ((uint64_t)out->end > data_size)
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: offset %zu: tensor '%s': data_offsets end %lld is past the data section (%llu bytes; the file "
                   "is truncated or corrupt)",
                   path, offs->offset, name, (long long)out->end, (unsigned long long)data_size);
  int64_t esize = st_dtype_size(out->dtype), bytes;
  if (esize && (rt_mul64(numel, esize, &bytes) || bytes != out->end - out->begin)) {
    char sh[160];
    rt_shape_str(sh, sizeof sh, out->rank, out->dims);
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: offset %zu: tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, but %s %s needs %lld", path,
                   offs->offset, name, (long long)out->begin, (long long)out->end, (long long)(out->end - out->begin),
                   out->dtype, sh, (long long)(numel * esize));
  }
  return 0;
}

static int by_begin(const void *a, const void *b) {
  const StEntry *x = *(const StEntry *const *)a, *y = *(const StEntry *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors' bytes must tile the data section: sorted by offset, each
 * starting where the previous ends, from 0 to the end of the file. order
 * receives the entries in data order. */
static int check_layout(StEntry *ents, int n, StEntry **order, uint64_t data_size, uint64_t hlen, const char *path,
                        RtError *e) {
  for (int i = 0; i < n; i++)
    order[i] = &ents[i];
  qsort(order, (size_t)n, sizeof *order, by_begin);
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    const StEntry *t = order[i];
    if (t->begin != at)
      return rt_fail(e, RT_EXIT_USAGE,
                     "%s: offset %zu: tensor '%s': data_offsets begin at %lld, but %s %lld: the tensors must cover "
                     "the data section in order, without gaps or overlaps",
                     path, t->offset, t->name, (long long)t->begin,
                     i ? "the previous tensor ends at" : "the data section starts at", (long long)at);
    at = t->end;
  }
  if ((uint64_t)at != data_size)
    return rt_fail(e, RT_EXIT_USAGE, "%s: offset %llu: %llu bytes after the last tensor's data (trailing garbage)", path,
                   (unsigned long long)(8 + hlen + (uint64_t)at), (unsigned long long)(data_size - (uint64_t)at));
  return 0;
}

/* A string of __metadata__, or NULL. */
static const char *meta_str(const RtJsonDoc *doc, const RtJson *md, const char *key) {
  const RtJson *v = md ? rt_json_get(doc, md, key) : NULL;
  return v && v->type == RT_JSON_STR ? v->str : NULL;
}

/* Is the file one of model m's? nnc's files name their model and hash its
 * parameter list: another list is refused even when the names and shapes
 * that this load reads happen to match. *same is set when the hash matches
 * (the file's other tensors are then the same model's training state). */
static int check_identity(const RtJsonDoc *doc, const RtJson *md, const NnrtModel *m, const char *path, int *same,
                          RtError *e) {
  const char *name = meta_str(doc, md, "nnrt.model"), *hash = meta_str(doc, md, "nnrt.params");
  const char *format = meta_str(doc, md, "format");
  *same = format && strcmp(format, "nnrt") == 0; /* older nnc checkpoints, before the hash */
  int32_t nparams = 0;
  for (int32_t i = 0; i < m->n_globals; i++)
    nparams += m->globals[i].kind == NNRT_PARAM;
  /* A view without parameters (nnc reading a QAT checkpoint's observers
   * alone) has no parameter list to compare: it reads tensors by name. */
  if (!hash || !nparams) return 0;
  char mine[17];
  params_hash_str(m, mine);
  if (strcmp(hash, mine) != 0)
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: a checkpoint of model '%s', whose parameters (names, shapes, dtypes: hash %s) are not those of "
                   "model '%s' (hash %s); give a checkpoint of this model",
                   path, name ? name : "?", hash, m->name, mine);
  if (name && m->name && strcmp(name, m->name) != 0)
    fprintf(stderr, "note: %s is a checkpoint of model '%s'; its parameters are those of '%s', so it loads\n", path,
            name, m->name);
  *same = 1;
  return 0;
}

/* The stored CRC of the tensor at data position i, from "nnrt.crc32";
 * -1 when the file has none (or too few). */
static int64_t stored_crc(const char *list, int i) {
  if (!list) return -1;
  const char *p = list;
  for (int k = 0; k < i; k++) {
    p = strchr(p, ' ');
    if (!p) return -1;
    p++;
  }
  char *end;
  unsigned long v = strtoul(p, &end, 16);
  return end == p + 8 ? (int64_t)v : -1;
}

/* Reads and parses the header of the open file f: *fsize the file's size,
 * *hlen the header's length, *text its bytes (the caller frees them and the
 * document). The root is a JSON object. */
static int read_header(FILE *f, const char *path, uint64_t *fsize, uint64_t *hlen, char **text, RtJsonDoc *doc,
                       RtError *e) {
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
    return rt_fail(e, RT_EXIT_USAGE, "%s: not a regular file", path);
  *fsize = (uint64_t)st.st_size;
  uint8_t len8[8];
  if (fread(len8, 1, 8, f) != 8)
    return rt_fail(e, RT_EXIT_USAGE, "%s: offset 0: expected an 8-byte header length, file has %llu bytes", path,
                   (unsigned long long)*fsize);
  *hlen = 0;
  for (int i = 0; i < 8; i++)
    *hlen |= (uint64_t)len8[i] << (8 * i);
  if (*hlen < 2 || *hlen > ST_MAX_HEADER || *hlen > *fsize - 8)
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: offset 0: header length %llu is impossible (file has %llu bytes after it, limit %u); not a "
                   "safetensors file?",
                   path, (unsigned long long)*hlen, (unsigned long long)(*fsize - 8), ST_MAX_HEADER);
  *text = rt_fault_malloc(*hlen);
  if (!*text) return rt_fail(e, RT_EXIT_FAIL, "%s: out of memory reading the header", path);
  if (fread(*text, 1, *hlen, f) != *hlen) return rt_fail(e, RT_EXIT_USAGE, "%s: offset 8: header truncated", path);
  if (rt_json_parse(doc, *text, *hlen, 8, e)) {
    char msg[sizeof e->msg];
    snprintf(msg, sizeof msg, "%s", e->msg);
    return rt_fail(e, RT_EXIT_USAGE, "%s: bad header: %s", path, msg);
  }
  if (rt_json_at(doc, 0)->type != RT_JSON_OBJ)
    return rt_fail(e, RT_EXIT_USAGE, "%s: offset 8: header must be a JSON object", path);
  return 0;
}

int rt_st_meta_text(const char *path, const char *key, char **out, RtError *e) {
  *out = NULL;
  FILE *f = rt_fault_fopen(path, "rb");
  if (!f) return rt_fail(e, RT_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  uint64_t fsize, hlen;
  char *text = NULL;
  RtJsonDoc doc = {0};
  int rc = read_header(f, path, &fsize, &hlen, &text, &doc, e);
  const RtJson *md = rc ? NULL : rt_json_get(&doc, rt_json_at(&doc, 0), "__metadata__");
  const char *v = md && md->type == RT_JSON_OBJ ? meta_str(&doc, md, key) : NULL;
  if (v && !(*out = strdup(v))) rc = rt_fail(e, RT_EXIT_FAIL, "%s: out of memory reading the header", path);
  rt_json_free(&doc);
  free(text);
  fclose(f);
  return rc;
}

int rt_st_load(const char *path, const NnrtModel *m, RtGlobals *g, unsigned kinds, RtMeta *meta, RtError *e) {
  FILE *f = rt_fault_fopen(path, "rb");
  if (!f) return rt_fail(e, RT_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  int rc = -1;
  char *text = NULL;
  StEntry *ents = NULL, **order = NULL;
  unsigned char *staged = NULL;
  RtJsonDoc doc = {0};
  uint64_t fsize, hlen;
  if (read_header(f, path, &fsize, &hlen, &text, &doc, e)) goto out;
  const RtJson *root = rt_json_at(&doc, 0);
  uint64_t data_size = fsize - 8 - hlen;
  ents = rt_fault_calloc(root->len + 1, sizeof *ents);
  if (!ents) {
    rt_fail(e, RT_EXIT_FAIL, "%s: out of memory reading the header", path);
    goto out;
  }
  int n = 0;
  const RtJson *md = NULL;
  for (const RtJson *j = rt_json_at(&doc, root->child); j; j = rt_json_at(&doc, j->next)) {
    if (strcmp(j->key, "__metadata__") == 0) {
      if (j->type != RT_JSON_OBJ) {
        rt_fail(e, RT_EXIT_USAGE, "%s: offset %zu: __metadata__ must be an object", path, j->offset);
        goto out;
      }
      md = j;
      for (const RtJson *k = rt_json_at(&doc, j->child); meta && k; k = rt_json_at(&doc, k->next))
        if (k->type == RT_JSON_STR && strcmp(k->key, "nnrt.crc32") != 0 && strcmp(k->key, "nnrt.vocab") != 0)
          rt_meta_set(meta, k->key, k->str);
      continue;
    }
    for (int i = 0; i < n; i++)
      if (strcmp(ents[i].name, j->key) == 0) {
        rt_fail(e, RT_EXIT_USAGE, "%s: offset %zu: tensor '%s' appears twice", path, j->offset, j->key);
        goto out;
      }
    if (parse_entry(&doc, j, path, data_size, &ents[n], e)) goto out;
    n++;
  }
  /* Check the layout, the identity and every wanted global before touching
   * any, so a bad file leaves the model as it was. */
  order = rt_fault_calloc((size_t)n + 1, sizeof *order);
  if (!order) {
    rt_fail(e, RT_EXIT_FAIL, "%s: out of memory", path);
    goto out;
  }
  if (check_layout(ents, n, order, data_size, hlen, path, e)) goto out;
  StEntry **match = rt_fault_calloc((size_t)m->n_globals + 1, sizeof *match);
  if (!match) {
    rt_fail(e, RT_EXIT_FAIL, "%s: out of memory", path);
    goto out;
  }
  for (int32_t k = 0; k < m->n_globals; k++) {
    const NnrtTensor *t = &m->globals[k];
    if (!(kinds & (1u << t->kind))) continue;
    for (int i = 0; i < n && !match[k]; i++)
      if (strcmp(ents[i].name, t->name) == 0) match[k] = &ents[i];
    char want[160], got[160];
    rt_shape_str(want, sizeof want, t->rank, t->dims);
    /* A checkpoint of the model trained without pruning has no masks: they
     * are all ones (below), and pruning starts from its dense weights. */
    if (!match[k] && t->kind == NNRT_MASK) continue;
    if (!match[k] && t->kind == NNRT_STATS && (kinds & RT_LOAD_STATS_OPTIONAL)) {
      fprintf(stderr, "note: %s has no statistic '%s'; it starts from its initial value\n", path, t->name);
      continue;
    }
    if (!match[k]) {
      rt_fail(e, RT_EXIT_USAGE, "%s: offset 8: the header has no tensor '%s' (%s %s)%s", path, t->name,
              rt_dtype_name(t->dtype), want,
              t->kind == NNRT_STATE ? "; optimizer state is saved only in training checkpoints"
                                    : "; is it a checkpoint of another model?");
      free(match);
      goto out;
    }
    const StEntry *s = match[k];
    int same = s->rank == t->rank;
    for (int d = 0; same && d < t->rank; d++)
      same = s->dims[d] == t->dims[d];
    if (strcmp(s->dtype, rt_dtype_name(t->dtype)) != 0 || !same) {
      rt_shape_str(got, sizeof got, s->rank, s->dims);
      rt_fail(e, RT_EXIT_USAGE, "%s: offset %zu: tensor '%s': expected %s %s, found %s %s%s", path, s->offset, t->name,
              rt_dtype_name(t->dtype), want, s->dtype, got, same ? "" : "; is it a checkpoint of another model?");
      free(match);
      goto out;
    }
  }
  /* The tensors this load reads match; is the file the model's? (After the
   * per-tensor checks: their messages say exactly what differs.) */
  int same_model;
  if (check_identity(&doc, md, m, path, &same_model, e)) {
    free(match);
    goto out;
  }
  for (int i = 0; i < n && !same_model; i++) { /* a foreign file holds only tensors the model has */
    int32_t k = 0;
    while (k < m->n_globals && strcmp(m->globals[k].name, ents[i].name) != 0)
      k++;
    if (k == m->n_globals) {
      rt_fail(e, RT_EXIT_USAGE,
              "%s: offset %zu: tensor '%s' is not one of model '%s''s; is it a checkpoint of another model?", path,
              ents[i].offset, ents[i].name, m->name);
      free(match);
      goto out;
    }
  }
  /* Read and check every wanted tensor's bytes (CRC) into one buffer, then
   * copy: a corrupt tensor leaves the model as it was too. */
  const char *crcs = meta_str(&doc, md, "nnrt.crc32");
  uint64_t total = 0;
  for (int32_t k = 0; k < m->n_globals; k++)
    if (match[k]) total += (uint64_t)(match[k]->end - match[k]->begin);
  staged = rt_fault_malloc(total ? (size_t)total : 1);
  if (!staged) {
    rt_fail(e, RT_EXIT_FAIL, "%s: out of memory reading %llu bytes of tensors", path, (unsigned long long)total);
    free(match);
    goto out;
  }
  uint64_t at = 0;
  for (int32_t k = 0; k < m->n_globals; k++) {
    const StEntry *s = match[k];
    if (!s) continue;
    size_t bytes = (size_t)(s->end - s->begin);
    if (fseeko(f, (off_t)(8 + hlen + (uint64_t)s->begin), SEEK_SET) != 0 || fread(staged + at, 1, bytes, f) != bytes) {
      rt_fail(e, RT_EXIT_USAGE, "%s: offset %llu: cannot read tensor '%s' (%zu bytes)", path,
              (unsigned long long)(8 + hlen + (uint64_t)s->begin), s->name, bytes);
      free(match);
      goto out;
    }
    int pos = 0;
    while (order[pos] != s)
      pos++;
    int64_t want = stored_crc(crcs, pos);
    uint32_t got = crc_bytes(staged + at, bytes);
    if (want >= 0 && (uint32_t)want != got) {
      rt_fail(e, RT_EXIT_USAGE,
              "%s: offset %llu: tensor '%s': its bytes have CRC-32 %08x, but the file recorded %08x when it was "
              "written: the file is corrupt",
              path, (unsigned long long)(8 + hlen + (uint64_t)s->begin), s->name, got, (uint32_t)want);
      free(match);
      goto out;
    }
    at += bytes;
  }
  at = 0;
  for (int32_t k = 0; k < m->n_globals; k++) {
    const StEntry *s = match[k];
    if (!s && (kinds & (1u << NNRT_MASK)) && m->globals[k].kind == NNRT_MASK)
      for (int64_t i = 0; i < g->numel[k]; i++)
        ((float *)g->ptr[k])[i] = 1.0f;
    if (!s) continue;
    size_t bytes = (size_t)(s->end - s->begin);
    memcpy(g->ptr[k], staged + at, bytes);
    at += bytes;
  }
  free(match);
  rc = 0;
out:
  rt_json_free(&doc);
  free(staged);
  free(order);
  free(ents);
  free(text);
  fclose(f);
  return rc;
}
