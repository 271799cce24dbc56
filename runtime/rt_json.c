/* rt_json.c — a strict, bounded JSON parser, enough for safetensors headers
 * and safe on any input (checkpoints come from anywhere); and the string
 * writer of the JSON reports (`profile --json`).
 *
 * Nodes live in one growing array linked by index (child/next), decoded
 * strings in one buffer no longer than the text (an escape never decodes to
 * more bytes than it spells), so parsing makes O(log n) allocations. Depth is
 * limited so hostile nesting cannot exhaust the stack. */
#include "nnrt.h"
#include "rt_fault.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct Parser {
  RtJsonDoc *doc;
  const char *s;
  size_t len, pos, base;
  char *out; /* next free byte of doc->strings */
  RtError *e;
} Parser;

static int perr(Parser *p, const char *what) {
  if (p->pos >= p->len)
    return rt_fail(p->e, RT_EXIT_USAGE, "offset %zu: %s, found the end of the header", p->base + p->pos, what);
  unsigned char c = (unsigned char)p->s[p->pos];
  if (c >= 0x20 && c < 0x7f)
    return rt_fail(p->e, RT_EXIT_USAGE, "offset %zu: %s, found '%c'", p->base + p->pos, what, c);
  return rt_fail(p->e, RT_EXIT_USAGE, "offset %zu: %s, found byte 0x%02x", p->base + p->pos, what, c);
}

static void skip_ws(Parser *p) {
  while (p->pos < p->len) {
    char c = p->s[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static int32_t new_node(Parser *p, int type) {
  RtJsonDoc *d = p->doc;
  if (d->n == d->cap) {
    int32_t cap = d->cap ? d->cap * 2 : 64;
    if (cap <= d->cap) {
      rt_fail(p->e, RT_EXIT_USAGE, "offset %zu: too many JSON values", p->base + p->pos);
      return -1;
    }
    RtJson *nodes = rt_fault_realloc(d->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) {
      rt_fail(p->e, RT_EXIT_FAIL, "out of memory parsing a JSON header");
      return -1;
    }
    d->nodes = nodes;
    d->cap = cap;
  }
  RtJson *j = &d->nodes[d->n];
  memset(j, 0, sizeof *j);
  j->type = type;
  j->child = j->next = -1;
  j->offset = p->base + p->pos;
  return d->n++;
}

static int hex4(Parser *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    if (p->pos >= p->len) return perr(p, "expected 4 hex digits after \\u");
    char c = p->s[p->pos];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return perr(p, "expected 4 hex digits after \\u");
    v = v * 16 + (unsigned)d;
    p->pos++;
  }
  *out = v;
  return 0;
}

static void put_utf8(Parser *p, unsigned cp) {
  if (cp < 0x80) {
    *p->out++ = (char)cp;
  } else if (cp < 0x800) {
    *p->out++ = (char)(0xC0 | (cp >> 6));
    *p->out++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *p->out++ = (char)(0xE0 | (cp >> 12));
    *p->out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *p->out++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *p->out++ = (char)(0xF0 | (cp >> 18));
    *p->out++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *p->out++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *p->out++ = (char)(0x80 | (cp & 0x3F));
  }
}

/* string = '"' chars '"'; p->pos at the opening quote. Raw bytes >= 0x80
 * pass through unchecked: names are compared byte for byte anyway. */
static int parse_string(Parser *p, const char **str, size_t *len) {
  p->pos++;
  char *start = p->out;
  for (;;) {
    if (p->pos >= p->len) return perr(p, "unterminated string");
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '"') {
      p->pos++;
      break;
    }
    if (c < 0x20) return perr(p, "control character in string");
    if (c != '\\') {
      *p->out++ = (char)c;
      p->pos++;
      continue;
    }
    p->pos++;
    if (p->pos >= p->len) return perr(p, "unterminated string");
    char esc = p->s[p->pos++];
    switch (esc) {
    case '"':
      *p->out++ = '"';
      break;
    case '\\':
      *p->out++ = '\\';
      break;
    case '/':
      *p->out++ = '/';
      break;
    case 'b':
      *p->out++ = '\b';
      break;
    case 'f':
      *p->out++ = '\f';
      break;
    case 'n':
      *p->out++ = '\n';
      break;
    case 'r':
      *p->out++ = '\r';
      break;
    case 't':
      *p->out++ = '\t';
      break;
    case 'u': {
      unsigned cp;
      if (hex4(p, &cp)) return -1;
      /* A surrogate pair is 12 text bytes for 4 UTF-8 bytes; a lone
       * surrogate (6 bytes) becomes U+FFFD (3 bytes): never longer. */
      if (cp >= 0xD800 && cp < 0xDC00 && p->pos + 1 < p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u') {
        size_t save = p->pos;
        unsigned lo;
        p->pos += 2;
        if (hex4(p, &lo)) return -1;
        if (lo >= 0xDC00 && lo < 0xE000)
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        else
          p->pos = save;
      }
      if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
      put_utf8(p, cp);
      break;
    }
    default:
      p->pos--;
      return perr(p, "bad escape in string");
    }
  }
  *len = (size_t)(p->out - start);
  *p->out++ = '\0';
  *str = start;
  return 0;
}

/* number = '-'? int frac? exp? */
static int parse_number(Parser *p, RtJson *j) {
  size_t start = p->pos;
  int is_int = 1;
  if (p->s[p->pos] == '-') p->pos++;
  if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return perr(p, "expected a digit");
  if (p->s[p->pos] == '0')
    p->pos++;
  else
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
      p->pos++;
  if (p->pos < p->len && p->s[p->pos] == '.') {
    is_int = 0;
    p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') return perr(p, "expected a digit after '.'");
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
      p->pos++;
  }
  if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
    is_int = 0;
    p->pos++;
    if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
      return perr(p, "expected a digit in the exponent");
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
      p->pos++;
  }
  /* The text is not NUL-terminated: copy the (validated) digits out. */
  char buf[64];
  size_t n = p->pos - start;
  if (n >= sizeof buf) {
    j->num = (p->s[start] == '-' ? -HUGE_VAL : HUGE_VAL);
    j->is_int = 0;
    return 0;
  }
  memcpy(buf, p->s + start, n);
  buf[n] = '\0';
  j->num = strtod(buf, NULL);
  if (is_int) {
    /* Accumulate by hand: overflow is "not an int", not an error. */
    int neg = buf[0] == '-';
    uint64_t v = 0;
    j->is_int = 1;
    for (const char *c = buf + neg; *c; c++) {
      if (v > (UINT64_MAX - 9) / 10) {
        j->is_int = 0;
        break;
      }
      v = v * 10 + (uint64_t)(*c - '0');
    }
    if (j->is_int && v > (uint64_t)INT64_MAX) j->is_int = 0;
    if (j->is_int) j->ival = neg ? -(int64_t)v : (int64_t)v;
  }
  return 0;
}

static int match_word(Parser *p, const char *w) {
  size_t n = strlen(w);
  if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0) return 0;
  p->pos += n;
  return 1;
}

/* value = object | array | string | number | true | false | null */
static int32_t parse_value(Parser *p, int depth) {
  skip_ws(p);
  if (p->pos >= p->len) return perr(p, "expected a JSON value"), -1;
  if (depth > JSON_MAX_DEPTH) return perr(p, "JSON nested too deeply"), -1;
  char c = p->s[p->pos];
  if (c == '{' || c == '[') {
    int is_obj = c == '{';
    int32_t self = new_node(p, is_obj ? RT_JSON_OBJ : RT_JSON_ARR);
    if (self < 0) return -1;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
      p->pos++;
      return self;
    }
    int32_t last = -1;
    for (;;) {
      const char *key = NULL;
      if (is_obj) {
        size_t klen;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') return perr(p, "expected a string key"), -1;
        if (parse_string(p, &key, &klen)) return -1;
        /* Keys are read as C strings everywhere: one with a NUL ("a\u0000b")
         * would silently be another key. */
        if (strlen(key) != klen) return perr(p, "object key contains a NUL character (\\u0000)"), -1;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') return perr(p, "expected ':'"), -1;
        p->pos++;
      }
      int32_t v = parse_value(p, depth + 1);
      if (v < 0) return -1;
      /* nodes may have moved: index, never hold pointers across parses */
      p->doc->nodes[v].key = key;
      if (last < 0)
        p->doc->nodes[self].child = v;
      else
        p->doc->nodes[last].next = v;
      last = v;
      p->doc->nodes[self].len++;
      skip_ws(p);
      if (p->pos < p->len && p->s[p->pos] == ',') {
        p->pos++;
        continue;
      }
      if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
        p->pos++;
        return self;
      }
      return perr(p, is_obj ? "expected ',' or '}'" : "expected ',' or ']'"), -1;
    }
  }
  if (c == '"') {
    int32_t self = new_node(p, RT_JSON_STR);
    const char *str;
    size_t len;
    if (self < 0 || parse_string(p, &str, &len)) return -1;
    p->doc->nodes[self].str = str;
    p->doc->nodes[self].len = len;
    return self;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    int32_t self = new_node(p, RT_JSON_NUM);
    if (self < 0 || parse_number(p, &p->doc->nodes[self])) return -1;
    return self;
  }
  int32_t self = new_node(p, RT_JSON_NULL);
  if (self < 0) return -1;
  if (match_word(p, "null")) return self;
  p->doc->nodes[self].type = RT_JSON_BOOL;
  if (match_word(p, "true")) {
    p->doc->nodes[self].ival = 1;
    return self;
  }
  if (match_word(p, "false")) return self;
  return perr(p, "expected a JSON value"), -1;
}

int rt_json_parse(RtJsonDoc *doc, const char *text, size_t len, size_t base_offset, RtError *e) {
  memset(doc, 0, sizeof *doc);
  doc->strings = rt_fault_malloc(len + 1);
  if (!doc->strings) return rt_fail(e, RT_EXIT_FAIL, "out of memory parsing a JSON header");
  Parser p = {doc, text, len, 0, base_offset, doc->strings, e};
  if (parse_value(&p, 0) < 0) {
    rt_json_free(doc);
    return -1;
  }
  skip_ws(&p);
  if (p.pos != p.len) {
    perr(&p, "expected the end of the JSON text");
    rt_json_free(doc);
    return -1;
  }
  return 0;
}

void rt_json_free(RtJsonDoc *doc) {
  free(doc->nodes);
  free(doc->strings);
  memset(doc, 0, sizeof *doc);
}

const RtJson *rt_json_at(const RtJsonDoc *doc, int32_t i) { return i >= 0 && i < doc->n ? &doc->nodes[i] : NULL; }

const RtJson *rt_json_get(const RtJsonDoc *doc, const RtJson *obj, const char *key) {
  if (!obj || obj->type != RT_JSON_OBJ) return NULL;
  for (const RtJson *j = rt_json_at(doc, obj->child); j; j = rt_json_at(doc, j->next))
    if (strcmp(j->key, key) == 0) return j;
  return NULL;
}

void rt_json_write_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\')
      fprintf(f, "\\%c", *c);
    else if (*c < 0x20)
      fprintf(f, "\\u%04x", *c);
    else
      fputc(*c, f);
  }
  fputc('"', f);
}
