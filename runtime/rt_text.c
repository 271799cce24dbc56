/* rt_text.c — text for the runtime: fortune files (Debian's fortunes
 * package), a word tokenizer, and vocabularies built, encoded, saved and
 * loaded. rt_textdata.c turns these into RtDatasets.
 *
 * A fortune file holds quotes separated by lines holding only "%" (strfile's
 * format). Fortune files in the wild carry Latin-1 and UTF-8 bytes, CRLF
 * line ends, empty quotes and a missing final "%": all are accepted, since a
 * word tokenizer over ASCII letters treats odd bytes as separators anyway.
 * What cannot be a fortune file is refused with the file and byte offset: a
 * NUL byte (a binary file, e.g. the .dat index beside each category), no
 * "%" line at all, no quote at all. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_fault.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bigger than any category Debian ships (the largest is under 1 MiB): a
 * bound so a wrong path (a disk image, /dev/zero) fails fast. */
#define FORTUNE_MAX_BYTES (64 << 20)

void rt_quotes_free(RtQuotes *q) {
  free(q->buf);
  free(q->start);
  free(q->len);
  free(q->label);
  memset(q, 0, sizeof *q);
}

static int quotes_push(RtQuotes *q, int64_t start, int64_t len, int32_t label, RtError *e) {
  if (q->n == q->cap) {
    int64_t cap = q->cap ? q->cap * 2 : 256;
    int64_t *s = rt_fault_realloc(q->start, (size_t)cap * sizeof *s);
    if (s) q->start = s;
    int64_t *l = rt_fault_realloc(q->len, (size_t)cap * sizeof *l);
    if (l) q->len = l;
    int32_t *b = rt_fault_realloc(q->label, (size_t)cap * sizeof *b);
    if (b) q->label = b;
    if (!s || !l || !b) return rt_fail(e, RT_EXIT_FAIL, "out of memory reading quotes");
    q->cap = cap;
  }
  q->start[q->n] = start;
  q->len[q->n] = len;
  q->label[q->n] = label;
  q->n++;
  return 0;
}

/* A "%" line: "%" then "\n", "\r\n" or the end of the file. */
static int is_sep_line(const char *p, int64_t n) {
  return n >= 1 && p[0] == '%' && (n == 1 || p[1] == '\n' || (p[1] == '\r' && (n == 2 || p[2] == '\n')));
}

static int blank(const char *p, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') return 0;
  return 1;
}

int rt_fortune_read(const char *path, int32_t label, RtQuotes *q, RtError *e) {
  FILE *f = rt_fault_fopen(path, "rb");
  if (!f) return rt_fail(e, RT_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  /* Appended to q->buf: the quotes of several files share one buffer, and
   * quotes hold offsets, not pointers, so the realloc cannot dangle them. */
  int64_t base = q->size, got = 0;
  int rc = -1;
  for (;;) {
    if (q->size + 65536 > q->bufcap) {
      int64_t cap = q->bufcap ? q->bufcap * 2 : 1 << 20;
      while (cap < q->size + 65536)
        cap *= 2;
      char *b = rt_fault_realloc(q->buf, (size_t)cap + 1);
      if (!b) {
        rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
        goto out;
      }
      q->buf = b;
      q->bufcap = cap;
    }
    size_t r = fread(q->buf + q->size, 1, 65536, f);
    q->size += (int64_t)r;
    got += (int64_t)r;
    if (got > FORTUNE_MAX_BYTES) {
      rt_fail(e, RT_EXIT_USAGE, "%s: over %d MiB; not a fortune file", path, FORTUNE_MAX_BYTES >> 20);
      goto out;
    }
    if (r < 65536) break;
  }
  if (ferror(f)) {
    rt_fail(e, RT_EXIT_USAGE, "%s: read error: %s", path, strerror(errno));
    goto out;
  }
  q->buf[q->size] = '\0';
  const char *t = q->buf + base;
  if (got == 0) {
    rt_fail(e, RT_EXIT_USAGE, "%s: empty file; expected quotes separated by lines holding only '%%'", path);
    goto out;
  }
  const char *nul = memchr(t, '\0', (size_t)got);
  if (nul) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %lld: NUL byte; this is a binary file, not a fortune file", path,
            (long long)(nul - t));
    goto out;
  }
  int64_t quote_start = 0, seps = 0, before = q->n;
  for (int64_t line = 0; line < got;) {
    const char *nl = memchr(t + line, '\n', (size_t)(got - line));
    int64_t next = nl ? nl - t + 1 : got;
    if (is_sep_line(t + line, next - line)) {
      seps++;
      /* Empty quotes ("%\n%\n") occur in Debian's files; they carry no text. */
      if (!blank(t + quote_start, line - quote_start) &&
          quotes_push(q, base + quote_start, line - quote_start, label, e))
        goto out;
      quote_start = next;
    }
    line = next;
  }
  if (seps == 0) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %lld: no line holding only '%%'; not a fortune file", path, (long long)got);
    goto out;
  }
  /* strfile accepts a last quote without a closing "%". */
  if (!blank(t + quote_start, got - quote_start) && quotes_push(q, base + quote_start, got - quote_start, label, e))
    goto out;
  if (q->n == before) {
    rt_fail(e, RT_EXIT_USAGE, "%s: offset %lld: no quotes, only '%%' lines and blank space", path, (long long)got);
    goto out;
  }
  rc = 0;
out:
  fclose(f);
  if (rc) q->size = base; /* drop this file's bytes, keep earlier files' */
  return rc;
}

/* Word characters: ASCII letters (lowercased), digits, apostrophes. Edge
 * apostrophes are dropped so that 'quoted' and quoted are one word while
 * don't keeps its own; a token of apostrophes alone is no word. Words longer
 * than wsize-1 bytes are cut: the same cut in build and encode, so they
 * still map consistently. */
size_t rt_text_next_word(const char *s, size_t n, size_t *pos, char *word, size_t wsize) {
  size_t i = *pos;
  for (;;) {
    while (i < n && !rt_text_is_word_char((unsigned char)s[i]))
      i++;
    if (i >= n) break;
    size_t b = i;
    while (i < n && rt_text_is_word_char((unsigned char)s[i]))
      i++;
    size_t end = i;
    while (b < end && s[b] == '\'')
      b++;
    while (end > b && s[end - 1] == '\'')
      end--;
    if (end == b) continue;
    size_t len = 0;
    for (size_t k = b; k < end && len + 1 < wsize; k++) {
      char c = s[k];
      word[len++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    word[len] = '\0';
    *pos = i;
    return len;
  }
  *pos = n;
  if (wsize) word[0] = '\0';
  return 0;
}

int rt_text_is_word_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'';
}

/*
 * Vocabulary: words with counts in an open-addressing hash table (indices
 * into v->word, -1 empty), sorted once into id order.
 */
static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

void rt_vocab_free(RtVocab *v) {
  for (int32_t i = 0; i < v->n; i++)
    free(v->word[i]);
  free(v->word);
  free(v->count);
  free(v->table);
  memset(v, 0, sizeof *v);
}

static int rehash(RtVocab *v, RtError *e) {
  int64_t cap = v->tcap ? v->tcap * 2 : 1024;
  int32_t *t = rt_fault_malloc((size_t)cap * sizeof *t);
  if (!t) return rt_fail(e, RT_EXIT_FAIL, "out of memory building the vocabulary");
  for (int64_t i = 0; i < cap; i++)
    t[i] = -1;
  for (int32_t i = 0; i < v->n; i++) {
    uint64_t h = hash_str(v->word[i]) & (uint64_t)(cap - 1);
    while (t[h] >= 0)
      h = (h + 1) & (uint64_t)(cap - 1);
    t[h] = i;
  }
  free(v->table);
  v->table = t;
  v->tcap = cap;
  return 0;
}

static int32_t vocab_find(const RtVocab *v, const char *w) {
  if (!v->tcap) return -1;
  uint64_t h = hash_str(w) & (uint64_t)(v->tcap - 1);
  while (v->table[h] >= 0) {
    if (strcmp(v->word[v->table[h]], w) == 0) return v->table[h];
    h = (h + 1) & (uint64_t)(v->tcap - 1);
  }
  return -1;
}

/* Adds w (count 0) if absent; returns its index, or -1 out of memory. */
static int32_t vocab_add(RtVocab *v, const char *w, RtError *e) {
  int32_t i = vocab_find(v, w);
  if (i >= 0) return i;
  if (v->n >= INT32_MAX - 1) return rt_fail(e, RT_EXIT_FAIL, "vocabulary too large");
  if ((int64_t)(v->n + 1) * 2 > v->tcap && rehash(v, e)) return -1;
  if (v->n == v->cap) {
    int32_t cap = v->cap ? v->cap * 2 : 1024;
    char **wd = rt_fault_realloc(v->word, (size_t)cap * sizeof *wd);
    if (wd) v->word = wd;
    int64_t *c = rt_fault_realloc(v->count, (size_t)cap * sizeof *c);
    if (c) v->count = c;
    if (!wd || !c) return rt_fail(e, RT_EXIT_FAIL, "out of memory building the vocabulary");
    v->cap = cap;
  }
  size_t len = strlen(w);
  char *copy = rt_fault_malloc(len + 1);
  if (!copy) return rt_fail(e, RT_EXIT_FAIL, "out of memory building the vocabulary");
  memcpy(copy, w, len + 1);
  v->word[v->n] = copy;
  v->count[v->n] = 0;
  uint64_t h = hash_str(w) & (uint64_t)(v->tcap - 1);
  while (v->table[h] >= 0)
    h = (h + 1) & (uint64_t)(v->tcap - 1);
  v->table[h] = v->n;
  return v->n++;
}

static const RtVocab *g_sort_vocab; /* qsort has no context argument in C11 */

static int by_count_then_word(const void *a, const void *b) {
  int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
  const RtVocab *v = g_sort_vocab;
  if (v->count[i] != v->count[j]) return v->count[i] > v->count[j] ? -1 : 1;
  return strcmp(v->word[i], v->word[j]);
}

int rt_vocab_build(RtVocab *v, const RtQuotes *q, const int32_t *idx, int64_t n, int64_t max, RtError *e) {
  memset(v, 0, sizeof *v);
  RtVocab all = {0};
  char w[RT_WORD_MAX];
  if (vocab_add(&all, RT_VOCAB_PAD, e) < 0 || vocab_add(&all, RT_VOCAB_UNK, e) < 0) goto fail;
  for (int64_t k = 0; k < n; k++) {
    int64_t i = idx ? idx[k] : k;
    const char *s = q->buf + q->start[i];
    size_t pos = 0;
    while (rt_text_next_word(s, (size_t)q->len[i], &pos, w, sizeof w)) {
      int32_t id = vocab_add(&all, w, e);
      if (id < 0) goto fail;
      all.count[id]++;
    }
  }
  /* Ids 0 and 1 are fixed; the words follow by descending count, ties in
   * strcmp order, so the same corpus gives the same ids on any machine. */
  int32_t nw = all.n - 2;
  int32_t *order = rt_fault_malloc((size_t)(nw > 0 ? nw : 1) * sizeof *order);
  if (!order) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory building the vocabulary");
    goto fail;
  }
  for (int32_t i = 0; i < nw; i++)
    order[i] = i + 2;
  g_sort_vocab = &all;
  qsort(order, (size_t)nw, sizeof *order, by_count_then_word);
  int64_t keep = max - 2 < nw ? max - 2 : nw;
  if (vocab_add(v, RT_VOCAB_PAD, e) < 0 || vocab_add(v, RT_VOCAB_UNK, e) < 0) goto fail_order;
  for (int64_t i = 0; i < keep; i++) {
    int32_t id = vocab_add(v, all.word[order[i]], e);
    if (id < 0) goto fail_order;
    v->count[id] = all.count[order[i]];
  }
  free(order);
  rt_vocab_free(&all);
  return 0;
fail_order:
  free(order);
fail:
  rt_vocab_free(&all);
  rt_vocab_free(v);
  return -1;
}

int32_t rt_vocab_id(const RtVocab *v, const char *word) {
  int32_t i = vocab_find(v, word);
  return i >= 2 ? i : RT_ID_UNK;
}

int64_t rt_text_encode(const RtVocab *v, const char *s, size_t n, int64_t len, int32_t *out) {
  char w[RT_WORD_MAX];
  size_t pos = 0;
  int64_t k = 0;
  while (k < len && rt_text_next_word(s, n, &pos, w, sizeof w))
    out[k++] = rt_vocab_id(v, w);
  for (int64_t i = k; i < len; i++)
    out[i] = RT_ID_PAD; /* padding after the words: a left-to-right RNN reads the text first */
  return k;
}

char *rt_vocab_text(const RtVocab *v, size_t *n, RtError *e) {
  size_t len = 0;
  for (int32_t i = 0; i < v->n; i++)
    len += strlen(v->word[i]) + 1;
  char *b = rt_fault_malloc(len + 1), *p = b;
  if (!b) {
    rt_fail(e, RT_EXIT_FAIL, "out of memory saving the vocabulary");
    return NULL;
  }
  for (int32_t i = 0; i < v->n; i++) {
    size_t l = strlen(v->word[i]);
    memcpy(p, v->word[i], l);
    p[l] = '\n';
    p += l + 1;
  }
  *p = '\0';
  *n = len;
  return b;
}

int rt_vocab_save(const RtVocab *v, const char *path, RtError *e) {
  size_t n;
  char *b = rt_vocab_text(v, &n, e);
  if (!b) return -1;
  int rc = rt_write_atomic(path, b, n, e);
  free(b);
  return rc;
}

int rt_vocab_parse(RtVocab *v, const char *text, size_t n, const char *where, RtError *e) {
  memset(v, 0, sizeof *v);
  char line[RT_WORD_MAX + 1];
  int64_t lineno = 0;
  int rc = -1;
  for (size_t at = 0; at < n;) {
    lineno++;
    const char *nl = memchr(text + at, '\n', n - at);
    size_t l = nl ? (size_t)(nl - (text + at)) : n - at;
    if (!nl || l > RT_WORD_MAX) {
      rt_fail(e, RT_EXIT_USAGE, "%s:%lld: line too long or not ended by a newline", where, (long long)lineno);
      goto out;
    }
    memcpy(line, text + at, l);
    line[l] = '\0';
    at += l + 1;
    const char *want = lineno == 1 ? RT_VOCAB_PAD : lineno == 2 ? RT_VOCAB_UNK : NULL;
    if (want && strcmp(line, want) != 0) {
      rt_fail(e, RT_EXIT_USAGE, "%s:%lld: expected '%s', found '%s'", where, (long long)lineno, want, line);
      goto out;
    }
    int ok = l > 0 && strlen(line) == l; /* no NUL inside */
    for (size_t i = 0; !want && i < l; i++)
      ok &= rt_text_is_word_char((unsigned char)line[i]) && !(line[i] >= 'A' && line[i] <= 'Z');
    if (!ok) {
      rt_fail(e, RT_EXIT_USAGE, "%s:%lld: '%s' is not a word (lowercase letters, digits, apostrophes)", where,
              (long long)lineno, line);
      goto out;
    }
    if (vocab_find(v, line) >= 0) {
      rt_fail(e, RT_EXIT_USAGE, "%s:%lld: '%s' appears twice", where, (long long)lineno, line);
      goto out;
    }
    if (vocab_add(v, line, e) < 0) goto out;
  }
  if (v->n < 2) {
    rt_fail(e, RT_EXIT_USAGE, "%s: expected at least the lines '%s' and '%s'", where, RT_VOCAB_PAD, RT_VOCAB_UNK);
    goto out;
  }
  rc = 0;
out:
  if (rc) rt_vocab_free(v);
  return rc;
}

int rt_vocab_load(RtVocab *v, const char *path, RtError *e) {
  memset(v, 0, sizeof *v);
  char *buf;
  int64_t size;
  if (rt_read_whole(path, &buf, &size, e)) return -1;
  int rc = rt_vocab_parse(v, buf, (size_t)size, path, e);
  free(buf);
  return rc;
}
