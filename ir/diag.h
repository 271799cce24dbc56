/* diag.h — user-facing diagnostics, one module for the whole compiler.
 *
 * Errors in the user's input go through diag_error: they print
 *   file:line:col: error: message
 *     <the source line>
 *          ^
 * and never abort. diag_warning prints the same with "warning:" for input
 * that is accepted but probably not what the user meant; it does not count
 * as an error (nwarnings). Internal bugs use unreachable() from arena.h. */
#ifndef NNC_DIAG_H
#define NNC_DIAG_H
#include <stdio.h>

/* A source position. file points at a Source registered with diag_source
 * (so the printer can show the line); line and col are 1-based. */
typedef struct Loc {
  const char *file;
  int line, col;
} Loc;

typedef struct Source {
  const char *path;
  const char *text;
  size_t len;
} Source;

typedef struct Diag {
  FILE *out;     /* where messages go (stderr by default) */
  int nerrors;   /* errors reported so far */
  int nwarnings; /* warnings reported so far */
  int max_errors; /* stop reporting after this many (0: 20) */
  int color;     /* nonzero: ANSI colours */
  Source sources[16];
  int nsources;
} Diag;

void diag_init(Diag *d, FILE *out);
/* Registers a file's text so that errors located in it show the source line.
 * `path` must outlive the Diag; the returned pointer is what Loc.file holds. */
const char *diag_source(Diag *d, const char *path, const char *text, size_t len);
void diag_error(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(Diag *d, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* An error with no source position ("nnc: error: ..."). */
void diag_fatal(Diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
