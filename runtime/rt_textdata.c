/* rt_textdata.c — text data sets named by a spec, so that a model's `data`
 * name or --data can say "the quotes of these fortune categories" instead of
 * pointing at files someone had to prepare:
 *
 *   fortunes:computers,science?len=100&vocab=10000
 *   fortunes-chars:linux?len=128
 *   fortunes-chars:all              (every category file in the directory)
 *
 * Words (fortunes:): one sample per quote, x = the ids of its first `len`
 * words padded with 0, y = the index of its category in the spec (two
 * categories: a binary task, more: multi-class). Chars (fortunes-chars:):
 * the quotes of a split joined as in the file ("%" lines between them, CR
 * dropped), cut into windows of `len` bytes; x = the bytes, y = the byte
 * after each one (a language model's targets). Byte values are the ids: NUL
 * never occurs in a fortune file, so id 0 is free to mean padding there too.
 *
 * The split is drawn per category (stratified, so both splits keep the class
 * balance) from the Philox stream (spec seed, category index, RT_RNG_SPLIT).
 * The spec carries its own seed rather than using --seed, so that eval of a
 * checkpoint sees the test set training held out whatever --seed was. The
 * vocabulary comes from the training split only: test words the training
 * split never saw are unknown, as they would be in deployment. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_fault.h"
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *g_vocab_ckpt; /* the checkpoint whose vocabulary to use, or NULL */
static char *g_vocab_text;       /* rt_text_vocab() */
static const char *g_vocab_from; /* where the last saved vocabulary came from, for the data command */

void rt_text_set_vocab_checkpoint(const char *path) { g_vocab_ckpt = path; }

const char *rt_text_vocab(void) { return g_vocab_text; }

int rt_text_is_spec(const char *s) {
  return s && (strncmp(s, "fortunes:", 9) == 0 || strncmp(s, "fortunes-chars:", 15) == 0);
}

/* Category names are file names in dir: no '/', no leading '.', so a spec
 * cannot reach outside it. */
static int good_cat(const char *c, size_t n) {
  if (n == 0 || n >= 64 || c[0] == '.') return 0;
  for (size_t i = 0; i < n; i++)
    if (!rt_text_is_word_char((unsigned char)c[i]) && c[i] != '-' && c[i] != '_' && c[i] != '.') return 0;
  return 1;
}

static int cmp_cat(const void *a, const void *b) { return strcmp(a, b); }

/* "all": the category files of sp->dir in strcmp order, so the labels (and
 * the split, drawn per category) do not depend on the directory's order.
 * A category file is a regular file (not a link: Debian's CAT.u8 links to
 * CAT) whose name has no '.', which leaves out the CAT.dat indexes. */
static int all_cats(RtTextSpec *sp, const char *s, RtError *e) {
  DIR *d = opendir(sp->dir);
  if (!d)
    return rt_fail(e, RT_EXIT_USAGE, "'%s': cannot list %s (install Debian's fortunes package, or give dir=DIR)", s,
                   sp->dir);
  sp->ncat = 0;
  int rc = 0;
  for (struct dirent *de; rc == 0 && (de = readdir(d));) {
    char path[RT_PATH_MAX];
    struct stat st;
    size_t n = strlen(de->d_name);
    if (strchr(de->d_name, '.') || !good_cat(de->d_name, n) || rt_path_join(path, sizeof path, sp->dir, de->d_name) ||
        lstat(path, &st) || !S_ISREG(st.st_mode))
      continue;
    if (sp->ncat == RT_TEXT_MAX_CATS)
      rc = rt_fail(e, RT_EXIT_USAGE, "'%s': %s holds over %d categories; name the ones to use", s, sp->dir,
                   RT_TEXT_MAX_CATS);
    else
      memcpy(sp->cat[sp->ncat++], de->d_name, n + 1);
  }
  closedir(d);
  if (rc == 0 && sp->ncat == 0) rc = rt_fail(e, RT_EXIT_USAGE, "'%s': no fortune files in %s", s, sp->dir);
  qsort(sp->cat, (size_t)sp->ncat, sizeof sp->cat[0], cmp_cat);
  return rc;
}

int rt_text_parse_spec(const char *s, RtTextSpec *sp, RtError *e) {
  memset(sp, 0, sizeof *sp);
  if (!rt_text_is_spec(s))
    return rt_fail(e, RT_EXIT_USAGE, "'%s': a text data set starts with 'fortunes:' or 'fortunes-chars:'", s);
  sp->chars = s[8] == '-';
  const char *p = strchr(s, ':') + 1;
  sp->len = sp->chars ? 128 : 100;
  sp->vocab = sp->chars ? 256 : 10000;
  sp->test = 0.2;
  snprintf(sp->dir, sizeof sp->dir, "%s", RT_FORTUNES_DIR);
  const char *q = strchr(p, '?');
  const char *end = q ? q : p + strlen(p);
  while (p < end) {
    const char *c = memchr(p, ',', (size_t)(end - p));
    size_t n = c ? (size_t)(c - p) : (size_t)(end - p);
    if (!good_cat(p, n))
      return rt_fail(e, RT_EXIT_USAGE, "'%s': bad category '%.*s' (a file name in %s: letters, digits, '-_.')", s,
                     (int)n, p, sp->dir);
    if (sp->ncat == RT_TEXT_MAX_CATS) return rt_fail(e, RT_EXIT_USAGE, "'%s': over %d categories", s, RT_TEXT_MAX_CATS);
    for (int i = 0; i < sp->ncat; i++)
      if (strlen(sp->cat[i]) == n && strncmp(sp->cat[i], p, n) == 0)
        return rt_fail(e, RT_EXIT_USAGE, "'%s': category '%.*s' given twice", s, (int)n, p);
    memcpy(sp->cat[sp->ncat], p, n);
    sp->cat[sp->ncat++][n] = '\0';
    p += n + (c ? 1 : 0);
    if (c && p == end) return rt_fail(e, RT_EXIT_USAGE, "'%s': empty category after ','", s);
  }
  if (sp->ncat == 0) return rt_fail(e, RT_EXIT_USAGE, "'%s': no category; e.g. fortunes:computers,science", s);
  int all = sp->ncat == 1 && strcmp(sp->cat[0], "all") == 0;
  if (!all && !sp->chars && sp->ncat < 2)
    return rt_fail(e, RT_EXIT_USAGE, "'%s': a classification data set needs two or more categories", s);
  int vocab_given = 0;
  char kv[RT_PATH_MAX + 16];
  const char *v;
  p = q ? q + 1 : end;
  for (int more; (more = rt_spec_param(&p, s, kv, sizeof kv, &v, e));) {
    if (more < 0) return -1;
    const char *want = NULL;
    if (strcmp(kv, "len") == 0) {
      if (rt_parse_i64(v, 1, 1 << 20, &sp->len)) want = "an integer from 1 to 1048576";
    } else if (strcmp(kv, "vocab") == 0) {
      vocab_given = 1;
      if (rt_parse_i64(v, 3, INT32_MAX, &sp->vocab)) want = "an integer >= 3 (ids 0 and 1 are padding and unknown)";
    } else if (strcmp(kv, "pad") == 0) {
      if (strcmp(v, "pre") && strcmp(v, "post")) want = "pre or post";
      sp->pad_pre = strcmp(v, "pre") == 0;
    } else if (strcmp(kv, "test") == 0) {
      if (rt_parse_f64(v, &sp->test) || !(sp->test > 0 && sp->test < 1)) want = "a fraction in (0, 1)";
    } else if (strcmp(kv, "seed") == 0) {
      if (rt_parse_u64(v, &sp->seed)) want = "an unsigned integer";
    } else if (strcmp(kv, "dir") == 0) {
      if (!*v) want = "a directory";
      snprintf(sp->dir, sizeof sp->dir, "%s", v);
    } else {
      return rt_fail(e, RT_EXIT_USAGE, "'%s': unknown key '%s'; the keys are len, vocab, pad, test, seed and dir", s,
                     kv);
    }
    if (want) return rt_fail(e, RT_EXIT_USAGE, "'%s': %s: expected %s, got '%s'", s, kv, want, v);
  }
  if (sp->chars && vocab_given)
    return rt_fail(e, RT_EXIT_USAGE, "'%s': fortunes-chars has no vocab key; its ids are the 256 byte values", s);
  if (all && all_cats(sp, s, e)) return -1; /* after the keys: dir= says where */
  if (all && !sp->chars && sp->ncat < 2)
    return rt_fail(e, RT_EXIT_USAGE, "'%s': a classification data set needs two or more categories", s);
  return 0;
}

/* The quotes of split `split`: per category, a Philox shuffle of its quotes;
 * the first round(n * test) (at least 1, at most n - 1) are the test set.
 * Returns the count; *idx is malloc'd. */
static int64_t split_indices(const RtQuotes *q, const RtTextSpec *sp, int split, int32_t **idx, RtError *e) {
  *idx = rt_fault_malloc((size_t)(q->n > 0 ? q->n : 1) * sizeof **idx);
  if (!*idx) return rt_fail(e, RT_EXIT_FAIL, "out of memory splitting the data set");
  int64_t out = 0, b = 0;
  for (int c = 0; c < sp->ncat; c++) {
    int64_t end = b;
    while (end < q->n && q->label[end] == c)
      end++;
    int64_t n = end - b;
    int32_t *local = *idx + out; /* shuffled in place, then the wanted part kept */
    int32_t *tmp = rt_fault_malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
    if (!tmp) return rt_fail(e, RT_EXIT_FAIL, "out of memory splitting the data set");
    for (int64_t i = 0; i < n; i++)
      tmp[i] = (int32_t)(b + i);
    rt_shuffle(tmp, n, sp->seed, (uint32_t)c, RT_RNG_SPLIT);
    int64_t ntest = (int64_t)(n * sp->test + 0.5);
    if (ntest < 1) ntest = 1;
    if (ntest > n - 1) ntest = n - 1;
    int64_t from = split == RT_SPLIT_TEST ? 0 : ntest, to = split == RT_SPLIT_TEST ? ntest : n;
    for (int64_t i = from; i < to; i++)
      local[i - from] = tmp[i];
    out += to - from;
    free(tmp);
    b = end;
  }
  return out;
}

/* The vocabulary a checkpoint was trained with (rt_text_set_vocab_checkpoint):
 * 1 with v loaded, 0 when there is none (no checkpoint, or one without a
 * vocabulary), -1 on error. Its __metadata__ "nnrt.vocab" is the one its
 * weights were trained with; a checkpoint written before nnc saved it there
 * has it in F.vocab.txt beside it, and a F.vocab.txt that differs from the
 * checkpoint's own is refused rather than silently ignored or used. */
static int saved_vocab(const RtTextSpec *sp, const char *spec, RtVocab *v, RtError *e) {
  if (!g_vocab_ckpt) return 0;
  char file[RT_PATH_MAX + 16], where[RT_PATH_MAX + 32];
  snprintf(file, sizeof file, "%s.vocab.txt", g_vocab_ckpt);
  char *text = NULL;
  if (rt_file_exists(g_vocab_ckpt) && rt_st_meta_text(g_vocab_ckpt, "nnrt.vocab", &text, e)) return -1;
  int rc;
  if (text) {
    snprintf(where, sizeof where, "%s (its vocabulary, nnrt.vocab)", g_vocab_ckpt);
    rc = rt_vocab_parse(v, text, strlen(text), where, e);
    char *old = NULL;
    int64_t n = 0;
    if (rc == 0 && rt_file_exists(file)) {
      if (rt_read_whole(file, &old, &n, e)) rc = -1; /* unreadable: say why, not pass it by */
      else if (strcmp(old, text) != 0)
        rc = rt_fail(e, RT_EXIT_USAGE,
                     "%s does not match the vocabulary saved in %s, which its weights were trained with; remove %s "
                     "(left by an older nnc: checkpoints now carry their vocabulary)",
                     file, g_vocab_ckpt, file);
      if (rc) rt_vocab_free(v);
    }
    free(old);
    g_vocab_from = "the checkpoint";
  } else if (rt_file_exists(file)) {
    rc = rt_vocab_load(v, file, e);
    g_vocab_from = "the vocabulary file";
  } else {
    return 0;
  }
  int inside = text != NULL;
  free(text);
  if (rc) return -1;
  if (v->n > sp->vocab) {
    rt_fail(e, RT_EXIT_USAGE, "%s: %d ids, but '%s' allows vocab=%lld; give the vocab the model was trained with",
            inside ? g_vocab_ckpt : file, v->n, spec, (long long)sp->vocab);
    rt_vocab_free(v);
    return -1;
  }
  return 1;
}

/* Remembers v as rt_text_vocab(). */
static int keep_vocab_text(const RtVocab *v, RtError *e) {
  size_t n;
  char *t = rt_vocab_text(v, &n, e);
  if (!t) return -1;
  free(g_vocab_text);
  g_vocab_text = t;
  return 0;
}

static int get_vocab(const RtQuotes *q, const RtTextSpec *sp, const char *spec, RtVocab *v, RtError *e) {
  g_vocab_from = NULL;
  int saved = saved_vocab(sp, spec, v, e);
  if (saved < 0) return -1;
  if (!saved) {
    /* Without a saved vocabulary the training split rebuilds the same one:
     * the split and the build are deterministic. */
    int32_t *idx;
    int64_t n = split_indices(q, sp, RT_SPLIT_TRAIN, &idx, e);
    int rc = n < 0 ? -1 : rt_vocab_build(v, q, idx, n, sp->vocab, e);
    free(idx);
    if (rc) return -1;
  }
  if (keep_vocab_text(v, e)) {
    rt_vocab_free(v);
    return -1;
  }
  return 0;
}

/* Chars: the split's quotes joined with "%\n" as in the file, CR dropped. */
static int load_chars(const RtQuotes *q, const RtTextSpec *sp, const char *spec, const int32_t *idx, int64_t n,
                      RtDataset *d, RtError *e) {
  int64_t total = 0;
  for (int64_t k = 0; k < n; k++)
    total += q->len[idx[k]] + 2;
  unsigned char *s = rt_fault_malloc((size_t)total + 1);
  if (!s) return rt_fail(e, RT_EXIT_FAIL, "out of memory loading '%s'", spec);
  int64_t m = 0;
  for (int64_t k = 0; k < n; k++) {
    const char *t = q->buf + q->start[idx[k]];
    for (int64_t i = 0; i < q->len[idx[k]]; i++)
      if (t[i] != '\r') s[m++] = (unsigned char)t[i];
    s[m++] = '%';
    s[m++] = '\n';
  }
  int64_t T = sp->len, windows = m > 0 ? (m - 1) / T : 0;
  int rc = -1;
  if (windows > INT32_MAX) { /* the trainer indexes samples with int32 */
    rt_fail(e, RT_EXIT_USAGE, "'%s': %lld windows of len=%lld; at most %d are supported", spec, (long long)windows,
            (long long)T, INT32_MAX);
    goto out;
  }
  if (windows == 0) {
    rt_fail(e, RT_EXIT_USAGE, "'%s': this split has %lld bytes, too few for one window of len=%lld", spec, (long long)m,
            (long long)T);
    goto out;
  }
  if (rt_array_alloc(&d->x, spec, NNRT_I32, 2, windows, T, 0, e) ||
      rt_array_alloc(&d->y, spec, NNRT_I32, 2, windows, T, 0, e))
    goto out;
  int32_t *x = d->x.data, *y = d->y.data;
  for (int64_t i = 0; i < windows * T; i++) {
    x[i] = s[i];
    y[i] = s[i + 1];
  }
  rc = 0;
out:
  free(s);
  return rc;
}

/* One sample's row of sp->len ids, padded where the spec says. */
static void encode_sample(const RtVocab *v, const RtTextSpec *sp, const char *s, size_t n, int32_t *row) {
  int64_t words = rt_text_encode(v, s, n, sp->len, row);
  if (sp->pad_pre && words < sp->len) { /* the words last, so the final state has just read them */
    memmove(row + (sp->len - words), row, sizeof *row * (size_t)words);
    for (int64_t i = 0; i < sp->len - words; i++)
      row[i] = RT_ID_PAD;
  }
}

static int text_load(const char *spec, int split, RtDataset *d, RtVocab *keep, RtTextSpec *sp, RtError *e) {
  memset(d, 0, sizeof *d);
  if (keep) memset(keep, 0, sizeof *keep);
  if (rt_text_parse_spec(spec, sp, e)) return -1;
  if (!rt_dir_exists(sp->dir))
    return rt_fail(e, RT_EXIT_USAGE, "%s: no such directory (install Debian's fortunes package, or give dir=DIR)",
                   sp->dir);
  RtQuotes q = {0};
  RtVocab v = {0};
  int32_t *idx = NULL;
  int rc = -1;
  for (int c = 0; c < sp->ncat; c++) {
    char path[RT_PATH_MAX];
    if (rt_path_join(path, sizeof path, sp->dir, sp->cat[c])) {
      rt_fail(e, RT_EXIT_USAGE, "%s: path too long", sp->dir);
      goto out;
    }
    if (!rt_file_exists(path)) {
      rt_fail(e, RT_EXIT_USAGE, "%s: no such fortune category (the files in %s are the categories)", path, sp->dir);
      goto out;
    }
    if (rt_fortune_read(path, c, &q, e)) goto out;
    if (q.n > INT32_MAX / 2) {
      rt_fail(e, RT_EXIT_USAGE, "'%s': too many quotes", spec);
      goto out;
    }
  }
  int64_t n = split_indices(&q, sp, split, &idx, e);
  if (n < 0) goto out;
  if (n == 0) {
    rt_fail(e, RT_EXIT_USAGE, "'%s': the %s split is empty", spec, split == RT_SPLIT_TRAIN ? "training" : "test");
    goto out;
  }
  if (sp->chars) {
    if (load_chars(&q, sp, spec, idx, n, d, e)) goto out;
  } else {
    if (get_vocab(&q, sp, spec, &v, e) || rt_array_alloc(&d->x, spec, NNRT_I32, 2, n, sp->len, 0, e) ||
        rt_array_alloc(&d->y, spec, NNRT_I32, 1, n, 0, 0, e))
      goto out;
    int32_t *x = d->x.data, *y = d->y.data;
    for (int64_t k = 0; k < n; k++) {
      encode_sample(&v, sp, q.buf + q.start[idx[k]], (size_t)q.len[idx[k]], x + k * sp->len);
      y[k] = q.label[idx[k]];
    }
  }
  rc = 0;
out:
  if (rc == 0 && keep)
    *keep = v;
  else
    rt_vocab_free(&v);
  free(idx);
  rt_quotes_free(&q);
  if (rc) rt_data_free(d);
  return rc;
}

int rt_text_load(const char *spec, int split, RtDataset *d, RtError *e) {
  RtTextSpec sp;
  return text_load(spec, split, d, NULL, &sp, e);
}

int rt_text_read_lines(const char *spec, const char *path, RtArray *x, RtError *e) {
  memset(x, 0, sizeof *x);
  RtTextSpec sp;
  RtVocab v = {0};
  char *buf = NULL;
  int64_t size, rows = 0;
  int rc = -1;
  if (rt_text_parse_spec(spec, &sp, e)) return -1;
  if (sp.chars)
    return rt_fail(e, RT_EXIT_USAGE,
                   "'%s' is a character data set: predict reads text for word models (fortunes:); continue text with "
                   "the sample command",
                   spec);
  int saved = saved_vocab(&sp, spec, &v, e);
  if (saved < 0) return -1;
  if (!saved) { /* the training split rebuilds the vocabulary training saw */
    RtDataset d;
    RtTextSpec again;
    if (text_load(spec, RT_SPLIT_TRAIN, &d, &v, &again, e)) return -1;
    rt_data_free(&d);
  }
  if (rt_read_whole(path, &buf, &size, e)) goto out;
  for (int64_t i = 0; i < size; i++)
    rows += buf[i] == '\n' || i == size - 1;
  if (rt_array_alloc(x, path, NNRT_I32, 2, rows, sp.len, 1, e)) goto out;
  /* One sample per line; empty lines are skipped, and x->line keeps each
   * sample's line for messages. */
  int64_t n = 0, line = 1;
  for (char *p = buf, *end = buf + size; p < end; line++) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (len > 0 && p[len - 1] == '\r') len--;
    if (len > 0) {
      encode_sample(&v, &sp, p, len, (int32_t *)x->data + n * sp.len);
      x->line[n++] = line;
    }
    if (!nl) break;
    p = nl + 1;
  }
  if (n == 0) {
    rt_fail(e, RT_EXIT_USAGE, "%s: no text; expected one sample per line", path);
    goto out;
  }
  x->dims[0] = n; /* the lines that were not empty */
  x->numel = n * sp.len;
  rc = 0;
out:
  free(buf);
  rt_vocab_free(&v);
  if (rc) rt_array_free(x);
  return rc;
}

/* A sample as text: words until padding, or bytes with escapes. */
static void print_sample(FILE *out, const RtDataset *d, int64_t i, const RtVocab *v, const RtTextSpec *sp) {
  const int32_t *x = (const int32_t *)d->x.data + i * sp->len;
  int col = 0;
  fputs("    \"", out);
  for (int64_t k = 0; k < sp->len && col < 160; k++) {
    if (sp->chars) {
      unsigned c = (unsigned)x[k];
      col += c == '\n'            ? fprintf(out, "\\n")
             : c >= 32 && c < 127 ? fprintf(out, "%c", (int)c)
                                  : fprintf(out, "\\x%02x", c);
    } else {
      if (x[k] == RT_ID_PAD) continue; /* before (pad=pre) or after the words */
      col += fprintf(out, "%s%s", col ? " " : "", x[k] < v->n ? v->word[x[k]] : "?");
    }
  }
  fprintf(out, "%s\"\n", col >= 160 ? "..." : "");
}

/* Per-class counts of y and the majority rate: the accuracy of always
 * answering the most common class, the floor a classifier must beat. */
static void print_split(FILE *out, const char *name, const RtDataset *d, const char *const *names, int64_t nnames,
                        const char *unit) {
  char xs[160], ys[160];
  rt_shape_str(xs, sizeof xs, d->x.rank, d->x.dims);
  rt_shape_str(ys, sizeof ys, d->y.rank, d->y.dims);
  fprintf(out, "%s: %lld samples, x %s %s, y %s %s\n", name, (long long)d->x.dims[0], xs, rt_dtype_name(d->x.dtype), ys,
          rt_dtype_name(d->y.dtype));
  if (rt_dtype_is_float(d->y.dtype)) { /* regression targets: their spread, the floor an MSE must beat */
    double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY, n = (double)(d->y.numel > 0 ? d->y.numel : 1);
    for (int64_t i = 0; i < d->y.numel; i++) {
      double v = rt_dtype_get(d->y.dtype, d->y.data, i);
      sum += v;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    double mean = sum / n;
    for (int64_t i = 0; i < d->y.numel; i++) {
      double dv = rt_dtype_get(d->y.dtype, d->y.data, i) - mean;
      sq += dv * dv;
    }
    fprintf(out, "  targets: min %.6g, max %.6g, mean %.6g, std %.6g (MSE of always predicting the mean: %.6g)\n", lo,
            hi, mean, sqrt(sq / n), sq / n);
    return;
  }
  if (d->y.dtype != NNRT_I32) return;
  const int32_t *y = d->y.data;
  int32_t max = -1;
  for (int64_t i = 0; i < d->y.numel; i++) {
    if (y[i] < 0 || y[i] > 65535) return; /* not class labels */
    if (y[i] > max) max = y[i];
  }
  int64_t *count = calloc((size_t)max + 1, sizeof *count); /* best effort, not a fault point: counts only */
  if (!count) return;
  for (int64_t i = 0; i < d->y.numel; i++)
    count[y[i]]++;
  int32_t best = 0;
  for (int32_t c = 0; c <= max; c++)
    if (count[c] > count[best]) best = c;
  if (max < 64) {
    fprintf(out, "  classes:");
    for (int32_t c = 0; c <= max; c++)
      if (c < nnames)
        fprintf(out, " %d (%s)=%lld", c, names[c], (long long)count[c]);
      else
        fprintf(out, " %d=%lld", c, (long long)count[c]);
    fputc('\n', out);
  }
  fprintf(out, "  majority rate: %.4f (%s %d)\n", d->y.numel ? (double)count[best] / (double)d->y.numel : 0.0, unit,
          best);
  free(count);
}

int rt_data_inspect(const char *src, int samples, FILE *out, RtError *e) {
  int text = rt_text_is_spec(src);
  RtTextSpec sp;
  RtVocab v = {0};
  RtDataset tr = {0}, te = {0};
  int rc = -1;
  if (text) {
    if (text_load(src, RT_SPLIT_TRAIN, &tr, &v, &sp, e)) goto out;
    rt_vocab_free(&v); /* the test split's load sees the same vocabulary */
    if (text_load(src, RT_SPLIT_TEST, &te, &v, &sp, e)) goto out;
  } else if (rt_data_load(src, RT_SPLIT_TRAIN, RT_DTYPE_AS_STORED, RT_DTYPE_AS_STORED, &tr, e) ||
             rt_data_load(src, RT_SPLIT_TEST, RT_DTYPE_AS_STORED, RT_DTYPE_AS_STORED, &te, e)) {
    goto out;
  }
  /* class names: a fortunes: spec's categories, a CSV's label names */
  const char *names[RT_TEXT_MAX_CATS];
  int64_t nnames = 0;
  RtNames csv = {0};
  if (text && !sp.chars)
    for (; nnames < sp.ncat; nnames++)
      names[nnames] = sp.cat[nnames];
  if (!text && (rt_csv_is_spec(src) || rt_csv_is_dir(src))) {
    if (rt_csv_class_names(src, &csv, e)) goto out;
    for (; nnames < csv.n && nnames < RT_TEXT_MAX_CATS; nnames++)
      names[nnames] = csv.name[nnames];
  }
  fprintf(out, "data set %s\n", src);
  const char *unit = text && sp.chars ? "byte" : "class";
  print_split(out, "train", &tr, names, nnames, unit);
  print_split(out, "test", &te, names, nnames, unit);
  if (csv.n > RT_TEXT_MAX_CATS) fprintf(out, "  (%d class names; the first %d shown)\n", csv.n, RT_TEXT_MAX_CATS);
  rt_names_free(&csv);
  if (text && !sp.chars) {
    int64_t words = 0, unk = 0, full = 0;
    const int32_t *x = tr.x.data;
    for (int64_t i = 0; i < tr.x.numel; i++) {
      words += x[i] != RT_ID_PAD;
      unk += x[i] == RT_ID_UNK;
    }
    for (int64_t i = 0; i < tr.x.dims[0]; i++)
      full += x[i * sp.len + (sp.pad_pre ? 0 : sp.len - 1)] != RT_ID_PAD;
    fprintf(out,
            "vocabulary: %d ids (%d words)%s%s; train: %.2f%% of kept words unknown, %.1f%% of samples fill len=%lld "
            "(longer ones are cut)\n",
            v.n, v.n - 2, g_vocab_from ? " from " : "", g_vocab_from ? g_vocab_from : "",
            words ? 100.0 * (double)unk / (double)words : 0.0, 100.0 * (double)full / (double)tr.x.dims[0],
            (long long)sp.len);
  }
  if (text && samples > 0) {
    fprintf(out, "samples (test split):\n");
    for (int64_t i = 0; i < te.x.dims[0] && i < samples; i++) {
      const int32_t *y = te.y.data;
      if (sp.chars)
        fprintf(out, "  [%lld]\n", (long long)i);
      else
        fprintf(out, "  [%lld] label %d (%s)\n", (long long)i, y[i], sp.cat[y[i]]);
      print_sample(out, &te, i, &v, &sp);
    }
  }
  rc = 0;
out:
  rt_vocab_free(&v);
  rt_data_free(&tr);
  rt_data_free(&te);
  return rc;
}
