/* diag.c — see diag.h. */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

void diag_init(Diag *d, FILE *out) {
  memset(d, 0, sizeof *d);
  d->out = out ? out : stderr;
  d->max_errors = 20;
}

const char *diag_source(Diag *d, const char *path, const char *text, size_t len) {
  if (d->nsources < (int)(sizeof d->sources / sizeof d->sources[0]))
    d->sources[d->nsources++] = (Source){path, text, len};
  return path;
}

static const Source *find_source(const Diag *d, const char *file) {
  for (int i = 0; i < d->nsources; i++)
    if (d->sources[i].path == file || (file && !strcmp(d->sources[i].path, file)))
      return &d->sources[i];
  return NULL;
}

/* Prints the source line of loc and a caret under its column; tabs in the
 * prefix are kept so the caret lines up in a terminal. */
static void show_line(Diag *d, Loc loc) {
  const Source *s = find_source(d, loc.file);
  if (!s || loc.line < 1) return;
  const char *p = s->text, *end = s->text + s->len;
  for (int l = 1; l < loc.line && p < end; p++)
    if (*p == '\n') l++;
  const char *eol = p;
  while (eol < end && *eol != '\n') eol++;
  fprintf(d->out, "  %.*s\n  ", (int)(eol - p), p);
  for (int i = 1; i < loc.col && p + i - 1 < eol; i++) fputc(p[i - 1] == '\t' ? '\t' : ' ', d->out);
  fputs("^\n", d->out);
}

static void report(Diag *d, Loc loc, const char *kind, const char *fmt, va_list ap) {
  if (loc.file)
    fprintf(d->out, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, kind);
  else
    fprintf(d->out, "nnc: %s: ", kind);
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  if (loc.file) show_line(d, loc);
}

void diag_error(Diag *d, Loc loc, const char *fmt, ...) {
  d->nerrors++;
  if (d->nerrors > d->max_errors) {
    if (d->nerrors == d->max_errors + 1) fprintf(d->out, "nnc: too many errors, stopping\n");
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  report(d, loc, "error", fmt, ap);
  va_end(ap);
}

void diag_warning(Diag *d, Loc loc, const char *fmt, ...) {
  d->nwarnings++;
  if (d->nerrors > d->max_errors) return;
  va_list ap;
  va_start(ap, fmt);
  report(d, loc, "warning", fmt, ap);
  va_end(ap);
}

void diag_note(Diag *d, Loc loc, const char *fmt, ...) {
  if (d->nerrors > d->max_errors) return;
  va_list ap;
  va_start(ap, fmt);
  report(d, loc, "note", fmt, ap);
  va_end(ap);
}

void diag_fatal(Diag *d, const char *fmt, ...) {
  d->nerrors++;
  va_list ap;
  va_start(ap, fmt);
  report(d, (Loc){0}, "error", fmt, ap);
  va_end(ap);
}
