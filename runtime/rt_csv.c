/* rt_csv.c — CSV data sets, as pandas users keep them: a header row naming
 * the columns, then one sample per row; the label column is named by
 * --label-column (or label= in the spec), every other column is a feature.
 *
 *   houses.csv?label=price&test=0.2&seed=0   one file, split into train/test
 *   DIR holding train.csv and test.csv       the two splits as given
 *
 * The dialect is RFC 4180 with pandas' read_csv defaults where the RFC is
 * silent: ',' separates, '"' quotes (a quoted cell may hold ',', newlines
 * and "" for a quote), CRLF or LF ends a row, a UTF-8 byte order mark and
 * empty lines are skipped, spaces around a number are allowed. Every cell
 * must be a finite number: an empty cell, NaN or inf means a missing or
 * broken value, which training would turn into a NaN loss much later, so it
 * is refused here with file:line:col and the column's name. Labels are
 * integers for a model with integer labels (classification), else any
 * number (regression).
 *
 * A single file is split like the text data sets: a Philox shuffle seeded by
 * the spec's seed (not --seed, so eval sees the rows training held out)
 * puts round(n * test) rows (at least 1, at most n - 1) in the test split;
 * each split keeps file order. */
#define _POSIX_C_SOURCE 200809L
#include "nnrt.h"
#include "rt_fault.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *g_label_column;

void rt_csv_set_label_column(const char *name) { g_label_column = name; }

/* The path part of a spec: everything before a '?'. */
static size_t path_len(const char *s) {
  const char *q = strchr(s, '?');
  return q ? (size_t)(q - s) : strlen(s);
}

int rt_csv_is_spec(const char *s) {
  if (!s || rt_text_is_spec(s)) return 0;
  size_t n = path_len(s);
  return n > 4 && (strncmp(s + n - 4, ".csv", 4) == 0 || strncmp(s + n - 4, ".CSV", 4) == 0);
}

int rt_csv_parse_spec(const char *s, RtCsvSpec *sp, RtError *e) {
  memset(sp, 0, sizeof *sp);
  sp->test = 0.2;
  size_t n = path_len(s);
  if (n >= sizeof sp->path) return rt_fail(e, RT_EXIT_USAGE, "'%s': path too long", s);
  memcpy(sp->path, s, n);
  sp->path[n] = '\0';
  const char *p = s[n] ? s + n + 1 : s + n, *v;
  char kv[512];
  for (int more; (more = rt_spec_param(&p, s, kv, sizeof kv, &v, e));) {
    if (more < 0) return -1;
    const char *want = NULL;
    if (strcmp(kv, "label") == 0) {
      if (!*v || strlen(v) >= sizeof sp->label) want = "a column name";
      snprintf(sp->label, sizeof sp->label, "%s", v);
    } else if (strcmp(kv, "test") == 0) {
      if (rt_parse_f64(v, &sp->test) || !(sp->test > 0 && sp->test < 1)) want = "a fraction in (0, 1)";
    } else if (strcmp(kv, "seed") == 0) {
      if (rt_parse_u64(v, &sp->seed)) want = "an unsigned integer";
    } else {
      return rt_fail(e, RT_EXIT_USAGE, "'%s': unknown key '%s'; the keys are label, test and seed", s, kv);
    }
    if (want) return rt_fail(e, RT_EXIT_USAGE, "'%s': %s: expected %s, got '%s'", s, kv, want, v);
  }
  /* --label-column wins over the spec's label= */
  if (g_label_column) snprintf(sp->label, sizeof sp->label, "%s", g_label_column);
  return 0;
}

const char *rt_csv_label_column(const char *spec) {
  static RtCsvSpec sp;
  RtError ignored;
  if (g_label_column) return g_label_column;
  if (!spec || !rt_csv_is_spec(spec) || rt_csv_parse_spec(spec, &sp, &ignored) || !sp.label[0]) return NULL;
  return sp.label;
}

int rt_read_whole(const char *path, char **buf, int64_t *size, RtError *e) {
  *buf = NULL;
  *size = 0;
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : rt_fault_fopen(path, "rb");
  if (!f) return rt_fail(e, RT_EXIT_USAGE, "%s: cannot open: %s", path, strerror(errno));
  int64_t cap = 1 << 16, n = 0;
  char *b = rt_fault_malloc((size_t)cap + 1);
  int rc = 0;
  while (b) {
    if (n == cap) { /* full: a failed growth leaves n == cap, which is out of memory below */
      char *nb = cap > INT64_MAX / 4 ? NULL : rt_fault_realloc(b, (size_t)cap * 2 + 1);
      if (!nb) break;
      b = nb;
      cap *= 2;
    }
    size_t r = fread(b + n, 1, (size_t)(cap - n), f);
    n += (int64_t)r;
    if (r == 0) break;
  }
  if (!b || n == cap) {
    rc = rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
  } else if (ferror(f)) {
    rc = rt_fail(e, RT_EXIT_USAGE, "%s: read error: %s", path, strerror(errno));
  } else {
    b[n] = '\0';
    *buf = b;
    *size = n;
  }
  if (!is_stdin) fclose(f);
  if (rc) free(b);
  return rc;
}

/* ---- the reader ---- */

typedef struct Cursor {
  const char *path;
  const char *s, *end;
  const char *line_start;
  int64_t line; /* 1-based line of *s */
  char *cell;   /* the current cell, unquoted; cap bytes */
  size_t cap, len;
  int64_t cell_line, cell_col; /* where the cell starts */
  RtError *e;
} Cursor;

static int64_t col_of(const Cursor *c, const char *at) { return (int64_t)(at - c->line_start) + 1; }

static int fail_at(Cursor *c, int64_t line, int64_t col, const char *fmt, ...) RT_PRINTF(4, 5);

/* "path:line:col: message" */
static int fail_at(Cursor *c, int64_t line, int64_t col, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return rt_fail(c->e, RT_EXIT_USAGE, "%s:%lld:%lld: %s", c->path, (long long)line, (long long)col, msg);
}

static int push(Cursor *c, char ch) {
  if (c->len + 1 >= c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 256;
    char *p = rt_fault_realloc(c->cell, cap);
    if (!p) return rt_fail(c->e, RT_EXIT_FAIL, "out of memory reading %s", c->path);
    c->cell = p;
    c->cap = cap;
  }
  c->cell[c->len++] = ch;
  c->cell[c->len] = '\0';
  return 0;
}

static int at_eol(const Cursor *c) {
  return c->s == c->end || *c->s == '\n' || (*c->s == '\r' && (c->s + 1 == c->end || c->s[1] == '\n'));
}

/* Steps over the end of a row (LF, CRLF or the end of the file). */
static void next_line(Cursor *c) {
  if (c->s < c->end && *c->s == '\r') c->s++;
  if (c->s < c->end && *c->s == '\n') c->s++;
  c->line++;
  c->line_start = c->s;
}

/* Reads one cell into c->cell; *more: a ',' followed (another cell of this
 * row comes). */
static int read_cell(Cursor *c, int *more) {
  c->len = 0;
  if (push(c, '\0')) return -1; /* an empty cell is "" */
  c->len = 0;
  c->cell[0] = '\0';
  c->cell_line = c->line;
  c->cell_col = col_of(c, c->s);
  const char *q = c->s;
  while (q < c->end && *q == ' ')
    q++;
  if (q < c->end && *q == '"') {
    c->s = q + 1;
    for (;;) {
      if (c->s == c->end) return fail_at(c, c->cell_line, c->cell_col, "a quoted cell never ends (no closing '\"')");
      if (*c->s == '\0') return fail_at(c, c->line, col_of(c, c->s), "a NUL byte; expected text (is this a CSV file?)");
      char ch = *c->s++;
      if (ch == '"') {
        if (c->s < c->end && *c->s == '"') {
          c->s++;
        } else {
          break;
        }
      } else if (ch == '\n') {
        c->line++;
        c->line_start = c->s;
      }
      if (push(c, ch)) return -1;
    }
    while (c->s < c->end && *c->s == ' ')
      c->s++;
    if (!at_eol(c) && *c->s != ',')
      return fail_at(c, c->line, col_of(c, c->s), "expected ',' or the end of the row after a quoted cell, found '%c'",
                     *c->s);
  } else {
    while (c->s < c->end && *c->s != ',' && !at_eol(c)) {
      if (*c->s == '\0') return fail_at(c, c->line, col_of(c, c->s), "a NUL byte; expected text (is this a CSV file?)");
      if (push(c, *c->s++)) return -1;
    }
  }
  *more = c->s < c->end && *c->s == ',';
  if (*more) c->s++;
  return 0;
}

/* pandas' read_csv markers of a missing value (its default na_values)
 * that strtod does not already read as NaN. */
static const char *const missing_marks[] = {"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "1.#IND", "1.#QNAN",
                                            "<NA>", "N/A",      "NA",  "NULL",    "None",     "n/a",    "null"};

typedef enum { CELL_NUMBER, CELL_EMPTY, CELL_MISSING, CELL_NONFINITE, CELL_TEXT } CellKind;

/* What a cell holds; spaces and tabs around it do not count. */
static CellKind cell_kind(const char *cell, double *v) {
  while (*cell == ' ' || *cell == '\t')
    cell++;
  size_t n = strlen(cell);
  while (n > 0 && (cell[n - 1] == ' ' || cell[n - 1] == '\t'))
    n--;
  if (n == 0) return CELL_EMPTY;
  char *end;
  errno = 0;
  *v = strtod(cell, &end);
  if ((size_t)(end - cell) == n)
    return isnan(*v) || isinf(*v) || fabs(*v) > 3.4028234663852886e38 ? CELL_NONFINITE : CELL_NUMBER;
  for (size_t i = 0; i < sizeof missing_marks / sizeof *missing_marks; i++)
    if (strlen(missing_marks[i]) == n && strncmp(cell, missing_marks[i], n) == 0) return CELL_MISSING;
  return CELL_TEXT;
}

/* The error for a cell that is not a number (kind != CELL_NUMBER). */
static int not_a_number(Cursor *c, CellKind kind, const char *cell, int64_t line, int64_t col, const char *column) {
  char shown[80]; /* a long cell is cut */
  snprintf(shown, sizeof shown, "%.60s%s", cell, strlen(cell) > 60 ? "..." : "");
  if (kind == CELL_EMPTY) return fail_at(c, line, col, "column '%s': empty cell; expected a number", column);
  if (kind == CELL_MISSING)
    return fail_at(c, line, col,
                   "column '%s': '%s' marks a missing value; expected a number (fill or drop missing "
                   "values first)",
                   column, shown);
  if (kind == CELL_NONFINITE)
    return fail_at(c, line, col,
                   "column '%s': '%s' is not a finite f32 number (NaN and inf are refused: fill or drop missing "
                   "values first)",
                   column, shown);
  return fail_at(c, line, col, "column '%s': expected a number, found '%s'", column, shown);
}

/* The label cells, kept as text until every row is read: they are numbers,
 * or class names when any of them is not a number. */
typedef struct Labels {
  char *text; /* the cells, each NUL-terminated */
  int64_t used, cap;
  int64_t *off, *line, *col;
  int64_t n, ncap;
} Labels;

static int labels_push(Labels *l, const Cursor *c) {
  size_t len = strlen(c->cell) + 1;
  if (l->used + (int64_t)len > l->cap) {
    int64_t cap = l->cap ? l->cap * 2 : 4096;
    while (cap < l->used + (int64_t)len)
      cap *= 2;
    char *t = rt_fault_realloc(l->text, (size_t)cap);
    if (!t) return rt_fail(c->e, RT_EXIT_FAIL, "out of memory reading %s", c->path);
    l->text = t;
    l->cap = cap;
  }
  if (l->n == l->ncap) {
    int64_t cap = l->ncap ? l->ncap * 2 : 1024;
    int64_t *o = rt_fault_realloc(l->off, (size_t)cap * sizeof *o);
    if (o) l->off = o;
    int64_t *li = o ? rt_fault_realloc(l->line, (size_t)cap * sizeof *li) : NULL;
    if (li) l->line = li;
    int64_t *co = li ? rt_fault_realloc(l->col, (size_t)cap * sizeof *co) : NULL;
    if (!co) return rt_fail(c->e, RT_EXIT_FAIL, "out of memory reading %s", c->path);
    l->col = co;
    l->ncap = cap;
  }
  memcpy(l->text + l->used, c->cell, len);
  l->off[l->n] = l->used;
  l->line[l->n] = c->cell_line;
  l->col[l->n++] = c->cell_col;
  l->used += (int64_t)len;
  return 0;
}

static void labels_free(Labels *l) {
  free(l->text);
  free(l->off);
  free(l->line);
  free(l->col);
}

void rt_names_free(RtNames *nm) {
  for (int32_t i = 0; i < nm->n; i++)
    free(nm->name[i]);
  free(nm->name);
  nm->name = NULL;
  nm->n = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Class names: the distinct cells in strcmp order (sklearn's LabelEncoder
 * order), so a file gives the same ids whatever the order of its rows. */
static int name_classes(const Labels *l, RtNames *out, int32_t *ids, const char *path, RtError *e) {
  char **all = rt_fault_malloc((size_t)(l->n > 0 ? l->n : 1) * sizeof *all);
  if (!all) return rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
  for (int64_t i = 0; i < l->n; i++)
    all[i] = l->text + l->off[i];
  qsort(all, (size_t)l->n, sizeof *all, cmp_str);
  int64_t k = 0;
  for (int64_t i = 0; i < l->n; i++)
    if (k == 0 || strcmp(all[k - 1], all[i]) != 0) all[k++] = all[i];
  out->n = 0;
  out->name = rt_fault_calloc((size_t)(k > 0 ? k : 1), sizeof *out->name);
  int rc = out->name ? 0 : rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
  for (int64_t i = 0; i < k && rc == 0; i++) {
    if (!(out->name[i] = strdup(all[i]))) rc = rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
    out->n = (int32_t)(i + 1);
  }
  for (int64_t i = 0; i < l->n && rc == 0; i++) {
    const char *key = l->text + l->off[i];
    char **hit = bsearch(&key, out->name, (size_t)out->n, sizeof *out->name, cmp_str);
    ids[i] = (int32_t)(hit - out->name);
  }
  free(all);
  if (rc) rt_names_free(out);
  return rc;
}

/* y from the label cells: numbers (integers when the model's labels are),
 * or class ids of names. */
static int make_labels(Cursor *c, const Labels *l, const char *column, int32_t y_dtype, RtArray *y,
                       const int64_t *lines, RtNames *classes) {
  int64_t first_text = -1;
  int all_i32 = 1;
  for (int64_t i = 0; i < l->n; i++) {
    double v = 0;
    const char *cell = l->text + l->off[i];
    CellKind kind = cell_kind(cell, &v);
    if (kind == CELL_TEXT && first_text < 0) first_text = i;
    if (kind != CELL_TEXT && kind != CELL_NUMBER) return not_a_number(c, kind, cell, l->line[i], l->col[i], column);
    if (kind == CELL_NUMBER && !(v == floor(v) && rt_dtype_holds(NNRT_I32, v))) all_i32 = 0;
  }
  int float_labels = y_dtype != RT_DTYPE_AS_STORED && rt_dtype_is_float(y_dtype);
  int int_labels = y_dtype != RT_DTYPE_AS_STORED && !float_labels;
  if (first_text >= 0 && float_labels)
    return fail_at(c, l->line[first_text], l->col[first_text],
                   "label column '%s': expected a number, found '%s' (class names need a classification model; this "
                   "one regresses)",
                   column, l->text + l->off[first_text]);
  /* as stored: i32 when every label is one */
  int32_t stored = first_text >= 0 || int_labels || (!float_labels && all_i32) ? NNRT_I32 : NNRT_F32;
  if (rt_array_alloc(y, c->path, stored, 1, l->n, 0, 1, c->e)) return -1;
  memcpy(y->line, lines, (size_t)l->n * sizeof *lines);
  if (first_text >= 0) {
    RtNames local = {0};
    if (name_classes(l, classes ? classes : &local, y->data, c->path, c->e)) return -1;
    rt_names_free(&local);
    return 0;
  }
  for (int64_t i = 0; i < l->n; i++) {
    double v = 0;
    const char *cell = l->text + l->off[i];
    cell_kind(cell, &v);
    if (int_labels && !(rt_dtype_holds(y_dtype, v) && rt_dtype_holds(NNRT_I32, v)))
      return fail_at(c, l->line[i], l->col[i],
                     "label column '%s': expected an integer class label, found '%s' (this model classifies; a "
                     "regression model takes any number)",
                     column, cell);
    rt_dtype_set(stored, y->data, i, v);
  }
  return y_dtype == RT_DTYPE_AS_STORED ? 0 : rt_array_convert(y, y_dtype, c->e);
}

typedef struct Grow {
  float *v;
  int64_t n, cap;
} Grow;

static int grow_push(Grow *g, float v, const char *path, RtError *e) {
  if (g->n == g->cap) {
    int64_t cap = g->cap ? g->cap * 2 : 4096;
    float *p = rt_fault_realloc(g->v, (size_t)cap * sizeof *p);
    if (!p) return rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
    g->v = p;
    g->cap = cap;
  }
  g->v[g->n++] = v;
  return 0;
}

static void list_columns(char *buf, size_t size, char **names, int64_t n) {
  size_t at = 0;
  buf[0] = '\0';
  for (int64_t i = 0; i < n && at + 1 < size; i++) {
    int w = snprintf(buf + at, size - at, "%s'%s'", i ? ", " : "", names[i]);
    if (w < 0 || (size_t)w >= size - at) {
      snprintf(buf + (size > 5 && at + 5 < size ? at : size - 5), 5, "...");
      break;
    }
    at += (size_t)w;
  }
}

int rt_csv_read(const char *path, const char *label, int32_t y_dtype, RtArray *x, RtArray *y, RtNames *classes,
                RtError *e) {
  memset(x, 0, sizeof *x);
  if (y) memset(y, 0, sizeof *y);
  char *buf;
  int64_t size;
  if (rt_read_whole(path, &buf, &size, e)) return -1;
  Cursor c = {.path = path, .s = buf, .end = buf + size, .line_start = buf, .line = 1, .e = e};
  if (size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) c.s += 3, c.line_start = c.s; /* UTF-8 BOM */
  char **names = NULL;
  int64_t ncol = 0, label_at = -1, rows = 0, lines_cap = 0;
  int64_t *lines = NULL;
  Grow feat = {0};
  Labels labs = {0};
  if (classes) memset(classes, 0, sizeof *classes);
  int rc = -1, more = 1;
  while (c.s < c.end && at_eol(&c))
    next_line(&c);
  if (c.s == c.end) {
    rt_fail(e, RT_EXIT_USAGE, "%s: empty file; expected a header row naming the columns, then one row per sample",
            path);
    goto out;
  }
  int64_t header_line = c.line;
  while (more) {
    if (read_cell(&c, &more)) goto out;
    char **p = rt_fault_realloc(names, (size_t)(ncol + 1) * sizeof *names);
    if (!p || !(p[ncol] = strdup(c.cell))) {
      if (p) names = p;
      rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
      goto out;
    }
    names = p;
    ncol++;
    if (label && strcmp(c.cell, label) == 0) {
      if (label_at >= 0) {
        fail_at(&c, c.cell_line, c.cell_col, "the header names the label column '%s' twice", label);
        goto out;
      }
      label_at = ncol - 1;
    }
  }
  char cols[400];
  if (label && label_at < 0 && y) {
    list_columns(cols, sizeof cols, names, ncol);
    rt_fail(e, RT_EXIT_USAGE, "%s:%lld: no label column '%s' in the header; the columns are %s", path,
            (long long)header_line, label, cols);
    goto out;
  }
  if (!label && y) {
    list_columns(cols, sizeof cols, names, ncol);
    rt_fail(e, RT_EXIT_USAGE,
            "%s: which column holds the labels? Name it with --label-column NAME (or label=NAME); "
            "the columns are %s",
            path, cols);
    goto out;
  }
  int64_t nfeat = ncol - (label_at >= 0);
  if (nfeat < 1) {
    rt_fail(e, RT_EXIT_USAGE, "%s:%lld: no feature columns: the header names only the label column '%s'", path,
            (long long)header_line, label);
    goto out;
  }
  next_line(&c);
  while (c.s < c.end) {
    if (at_eol(&c)) { /* an empty line: skipped, as pandas does */
      next_line(&c);
      continue;
    }
    int64_t row_line = c.line, k = 0;
    more = 1;
    while (more) {
      if (k == ncol) {
        fail_at(&c, c.line, col_of(&c, c.s), "more cells than the header's %lld columns (a ragged row)",
                (long long)ncol);
        goto out;
      }
      if (read_cell(&c, &more)) goto out;
      if (k == label_at) { /* checked once every row is read */
        if (y && labels_push(&labs, &c)) goto out;
      } else {
        double v = 0;
        CellKind kind = cell_kind(c.cell, &v);
        if (kind != CELL_NUMBER) {
          not_a_number(&c, kind, c.cell, c.cell_line, c.cell_col, names[k]);
          goto out;
        }
        if (grow_push(&feat, (float)v, path, e)) goto out;
      }
      k++;
    }
    if (k < ncol) {
      fail_at(&c, c.line, col_of(&c, c.s), "the row ends after %lld cells, but the header has %lld (a ragged row)",
              (long long)k, (long long)ncol);
      goto out;
    }
    if (rows == lines_cap) {
      lines_cap = lines_cap ? lines_cap * 2 : 1024;
      int64_t *p = rt_fault_realloc(lines, (size_t)lines_cap * sizeof *lines);
      if (!p) {
        rt_fail(e, RT_EXIT_FAIL, "out of memory reading %s", path);
        goto out;
      }
      lines = p;
    }
    lines[rows++] = row_line;
    next_line(&c);
  }
  if (rows == 0) {
    rt_fail(e, RT_EXIT_USAGE, "%s:%lld: a header but no rows; expected at least one sample after it", path,
            (long long)header_line);
    goto out;
  }
  if (rows > INT32_MAX) {
    rt_fail(e, RT_EXIT_USAGE, "%s: %lld rows; at most %d are supported", path, (long long)rows, INT32_MAX);
    goto out;
  }
  if (rt_array_alloc(x, path, NNRT_F32, 2, rows, nfeat, 1, e)) goto out;
  memcpy(x->data, feat.v, (size_t)(rows * nfeat) * sizeof(float));
  memcpy(x->line, lines, (size_t)rows * sizeof *lines);
  if (y && label_at >= 0 && make_labels(&c, &labs, names[label_at], y_dtype, y, lines, classes)) goto out;
  rc = 0;
out:
  for (int64_t i = 0; i < ncol; i++)
    free(names[i]);
  free(names);
  free(lines);
  free(feat.v);
  labels_free(&labs);
  free(c.cell);
  free(buf);
  if (rc) {
    rt_array_free(x);
    if (y) rt_array_free(y);
    if (classes) rt_names_free(classes);
  }
  return rc;
}

/* Keeps rows idx[0..n) of a (in that order). */
static int take_rows(RtArray *a, const int32_t *idx, int64_t n, RtError *e) {
  int64_t per = a->dims[0] ? a->numel / a->dims[0] : 0;
  size_t es = rt_dtype_size(a->dtype);
  char *data = rt_alloc((size_t)(n * per > 0 ? n * per : 1) * es, a->path, e);
  int64_t *line = rt_alloc((size_t)(n > 0 ? n : 1) * sizeof *line, a->path, e);
  if (!data || !line) {
    rt_free(data);
    rt_free(line);
    return -1;
  }
  for (int64_t i = 0; i < n; i++) {
    memcpy(data + (size_t)(i * per) * es, (char *)a->data + (size_t)((int64_t)idx[i] * per) * es, (size_t)per * es);
    line[i] = a->line[idx[i]];
  }
  rt_free(a->data);
  rt_free(a->line);
  a->data = data;
  a->line = line;
  a->dims[0] = n;
  a->numel = n * per;
  return 0;
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* "dir/name" into buf; 0 if it fits. */
static int dir_file(char *buf, size_t size, const char *dir, const char *name, RtError *e) {
  return rt_path_join(buf, size, dir, name) ? rt_fail(e, RT_EXIT_USAGE, "%s: path too long", dir) : 0;
}

int rt_csv_is_dir(const char *dir) {
  char p[RT_PATH_MAX];
  return rt_path_join(p, sizeof p, dir, "train.csv") == 0 && rt_file_exists(p);
}

int rt_csv_class_names(const char *src, RtNames *names, RtError *e) {
  memset(names, 0, sizeof *names);
  RtCsvSpec sp;
  char path[RT_PATH_MAX];
  const char *label = rt_csv_label_column(src);
  if (rt_csv_is_spec(src)) {
    if (rt_csv_parse_spec(src, &sp, e)) return -1;
    snprintf(path, sizeof path, "%s", sp.path);
  } else if (dir_file(path, sizeof path, src, "train.csv", e)) {
    return -1;
  }
  RtArray x, y;
  if (rt_csv_read(path, label, RT_DTYPE_AS_STORED, &x, &y, names, e)) return -1;
  rt_array_free(&x);
  rt_array_free(&y);
  return 0;
}

/* test.csv's class ids (by its own names) as train.csv's: the training
 * file decides the ids, and a class it lacks cannot be scored. */
static int remap_to_train(const char *dir, RtArray *y, const RtNames *own, RtError *e) {
  RtNames train;
  if (rt_csv_class_names(dir, &train, e)) return -1;
  int rc = 0;
  if (train.n == 0) rc = rt_fail(e, RT_EXIT_USAGE, "%s: the labels are names, but train.csv's are numbers", y->path);
  int32_t *ids = y->data;
  for (int64_t i = 0; i < y->numel && rc == 0; i++) {
    const char *key = own->name[ids[i]];
    char **hit = bsearch(&key, train.name, (size_t)train.n, sizeof *train.name, cmp_str);
    if (!hit)
      rc = rt_fail(e, RT_EXIT_USAGE, "%s:%lld: class '%s' does not occur in train.csv, which names the classes",
                   y->path, (long long)y->line[i], key);
    else
      ids[i] = (int32_t)(hit - train.name);
  }
  rt_names_free(&train);
  return rc;
}

static int load_dir(const char *dir, int split, int32_t y_dtype, RtDataset *d, RtError *e) {
  char path[RT_PATH_MAX];
  RtNames own;
  if (dir_file(path, sizeof path, dir, split == RT_SPLIT_TRAIN ? "train.csv" : "test.csv", e)) return -1;
  if (!rt_file_exists(path)) return rt_fail(e, RT_EXIT_USAGE, "%s: no such file (beside train.csv)", path);
  if (rt_csv_read(path, rt_csv_label_column(NULL), y_dtype, &d->x, &d->y, &own, e)) return -1;
  int rc = own.n > 0 && split == RT_SPLIT_TEST ? remap_to_train(dir, &d->y, &own, e) : 0;
  rt_names_free(&own);
  return rc;
}

int rt_csv_load(const char *src, int split, int32_t y_dtype, RtDataset *d, RtError *e) {
  memset(d, 0, sizeof *d);
  if (!rt_csv_is_spec(src)) {
    if (load_dir(src, split, y_dtype, d, e) == 0) return 0;
    rt_data_free(d);
    return -1;
  }
  RtCsvSpec sp;
  if (rt_csv_parse_spec(src, &sp, e)) return -1;
  if (!rt_file_exists(sp.path)) return rt_fail(e, RT_EXIT_USAGE, "%s: no such file", sp.path);
  if (rt_csv_read(sp.path, sp.label[0] ? sp.label : NULL, y_dtype, &d->x, &d->y, NULL, e)) return -1;
  int64_t n = d->x.dims[0];
  if (n < 2) {
    rt_data_free(d);
    return rt_fail(e, RT_EXIT_USAGE,
                   "%s: 1 row; a train/test split needs at least 2 (or give a directory holding train.csv and "
                   "test.csv)",
                   sp.path);
  }
  int32_t *idx = rt_fault_malloc((size_t)n * sizeof *idx);
  if (!idx) {
    rt_data_free(d);
    return rt_fail(e, RT_EXIT_FAIL, "out of memory splitting %s", sp.path);
  }
  for (int64_t i = 0; i < n; i++)
    idx[i] = (int32_t)i;
  rt_shuffle(idx, n, sp.seed, 0, RT_RNG_SPLIT);
  int64_t ntest = (int64_t)((double)n * sp.test + 0.5);
  if (ntest < 1) ntest = 1;
  if (ntest > n - 1) ntest = n - 1;
  int32_t *part = split == RT_SPLIT_TEST ? idx : idx + ntest;
  int64_t m = split == RT_SPLIT_TEST ? ntest : n - ntest;
  qsort(part, (size_t)m, sizeof *part, cmp_i32); /* file order within the split */
  int rc = take_rows(&d->x, part, m, e) || take_rows(&d->y, part, m, e) ? -1 : 0;
  free(idx);
  if (rc) rt_data_free(d);
  return rc;
}
